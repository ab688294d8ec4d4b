"""Recording one meta-RL trial (exploration episode, then exploitation episodes) as a GIF.

:func:`record_trial` runs a trial of any family whose single env renders ``rgb_array`` frames
and returns captioned frames; :func:`write_gif` encodes them with Pillow (which matplotlib
already depends on) and writes the file atomically with :func:`common.io.atomic_write_bytes`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from common.io import atomic_write_bytes
from deep.envs.problem import NO_GOAL, MetaProblemFamily

__all__ = ["Policy", "record_trial", "scripted_policy", "write_gif"]

Policy = Callable[[Any, int], int]
"""``policy(env.unwrapped, t) -> action``: may read the env's state (oracles, scripts)."""


def scripted_policy(actions: Sequence[int], idle: int) -> Policy:
    """The policy playing ``actions[t]`` at step ``t``, then ``idle`` once they run out."""

    def policy(env: Any, t: int) -> int:
        return int(actions[t]) if t < len(actions) else idle

    return policy


CAPTION_HEIGHT = 14


def _caption(frame: np.ndarray, text: str, scale: int) -> np.ndarray:
    """Upscale ``frame`` by ``scale`` (nearest) and put ``text`` in a strip above it."""
    big = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    img = Image.new("RGB", (big.shape[1], big.shape[0] + CAPTION_HEIGHT), (255, 255, 255))
    img.paste(Image.fromarray(big), (0, CAPTION_HEIGHT))
    ImageDraw.Draw(img).text((2, 1), text, fill=(0, 0, 0))
    return np.asarray(img)


def record_trial(
    family: MetaProblemFamily,
    problem: int,
    goals: Sequence[int],
    explore: Policy,
    exploit: Policy,
    *,
    min_width: int = 180,
    seed: int | None = None,
    options: Sequence[Mapping[str, Any] | None] | None = None,
) -> tuple[list[np.ndarray], list[float]]:
    """Frames and returns of one trial: the exploration episode, then one episode per goal.

    Every frame carries a caption: the episode, its goal, the step and the return so far.
    ``seed`` seeds the first reset (the exploration episode); later resets continue the env's
    random stream (Gymnasium's convention), so a seed fixes every episode's start (the sign
    task's start pose; the grid worlds always start in the same cell). ``options``: extra reset
    options per episode, exploration first (e.g. the sign env's ``{"start": (x, z, heading)}``),
    ``None`` for none; ``problem`` and ``goal`` are always set from the arguments.
    """
    episodes = [("explore", NO_GOAL, explore)] + [("exploit", g, exploit) for g in goals]
    if options is not None and len(options) != len(episodes):
        raise ValueError(
            f"options has {len(options)} entries; allowed: one per episode "
            f"({len(episodes)}: the exploration episode, then one per goal)"
        )
    env = family.make_env(render_mode="rgb_array")
    frames: list[np.ndarray] = []
    returns: list[float] = []
    for i, (label, goal, policy) in enumerate(episodes):
        extra = dict(options[i] or {}) if options is not None else {}
        extra.update(problem=problem, goal=None if goal == NO_GOAL else goal)
        env.reset(seed=seed if i == 0 else None, options=extra)
        first = env.render()
        scale = max(1, -(-min_width // first.shape[1]))
        total, t, done = 0.0, 0, False
        goal_text = "" if goal == NO_GOAL else f" goal {goal}"
        frames.append(_caption(first, f"mu {problem} {label}{goal_text} t=0", scale))
        while not done:
            _, reward, term, trunc, _ = env.step(policy(env.unwrapped, t))
            total += float(reward)
            t += 1
            done = term or trunc
            text = f"mu {problem} {label}{goal_text} t={t} R={total:+.2f}"
            frames.append(_caption(env.render(), text, scale))
        returns.append(total)
    env.close()
    return frames, returns


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 4.0) -> Path:
    """Write ``frames`` (H, W, 3 uint8, same size) as a looping GIF, atomically."""
    if not frames:
        raise ValueError("no frames to write; allowed: a non-empty list of RGB frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(1000 / fps),
        loop=0,
        optimize=True,
    )
    atomic_write_bytes(path, buf.getvalue())
    return path
