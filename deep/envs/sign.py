"""The 3D "sign" benchmark of DREAM Sec. 6.2 / App. B.1, on Farama's ``miniworld`` (2.1.0).

A first-person MiniWorld maze (``miniworld.envs.sign.Sign``, the authors' own env, upstreamed):
a top room (x 0–10, z 0–6.5) above a bottom room (x 0–10, z 6.75–13) that is reached through
an opening at x 0–6; a wall separates the rooms at x 6–10. Six objects: boxes at (1, 1)
blue, (9, 1) red, (9, 5) green; keys at (5, 1) blue, (1, 5) red, (1, 9) green. A sign on the
bottom room's east wall at (10, 10.25) reads "BLUE", "RED" or "GREEN" (black letters on grey:
the colour is only in the word). The agent starts in the top room, on the far side of the
wall from the sign (from much of the start region it can still read the sign through the
opening: see :mod:`deep.envs.reference_sign`).

* Problem μ ∈ {0, 1, 2}: the sign says blue (0), red (1) or green (2). Train = test = all 3.
* Goal g ∈ {0, 1} per exploitation episode: the object type. ``paper``: 0 = key, 1 = box
  (App. B.1); ``official``: 0 = box, 1 = key (the authors' code and ``miniworld``).
* Reward: +1 for touching the object of the sign's colour and the goal's type, −1 for touching
  any other object, 0 otherwise (no step penalty); 0 always in an exploration episode (no goal).
* Actions: turn left, turn right (45°), move forward (0.7), end episode. Horizon 20.
* Observation: the 80×60 RGB first-person image and the goal (see :class:`SignEnv`).

``miniworld`` is imported lazily, on the first env construction, after
:func:`deep.envs._headless.configure` (so importing this module needs no display and no GL).
:class:`SignEnv` is one Gymnasium 1.x env; :class:`BatchedSignEnv` holds ``num_envs`` of them
(rendering is the cost, so there is nothing to vectorise) behind the interface of
:class:`deep.envs.city.BatchedCityEnv`. Each env keeps its static scene in its own OpenGL display
list (plain MiniWorld envs share one per process, see :func:`_core_class`); its frames are
byte-identical to ``miniworld``'s own ``Sign`` at the same pose (tested). Reference returns:
:mod:`deep.envs.reference_sign`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from deep.envs.problem import (
    NO_GOAL,
    ORACLE_CACHE_SIZE,
    MetaProblemFamily,
    ProblemFactor,
    RevealOracle,
    cached_oracle,
    check_action,
    check_config_keys,
    check_num_envs,
    check_render_mode,
    check_reset_inputs,
    check_reset_options,
    check_step_inputs,
    frozen_changes,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

    from deep.envs.render import Policy

__all__ = [
    "ACTIONS",
    "COLORS",
    "GYM_ID",
    "OBJECTS",
    "OBS_SHAPE",
    "START_SIZE",
    "BatchedSignEnv",
    "SignConfig",
    "SignEnv",
    "SignFamily",
    "goal_object_type",
    "target_object",
]

VARIANTS = ("paper", "official")
COLORS = ("blue", "red", "green")
"""Sign colour of problem μ (index = μ); the order of ``miniworld``'s code and the authors'."""
OBJECT_TYPES = ("box", "key")
"""Object types in ``miniworld``'s order (``Sign._objects[type][colour]``)."""
OBJECTS = tuple(f"{c} {t}" for t in OBJECT_TYPES for c in COLORS)
"""Object ``j = 3 * type + colour``: blue box, red box, green box, blue key, red key, green key."""
GOAL_NAMES = {"paper": ("key", "box"), "official": ("box", "key")}
ACTIONS = ("turn_left", "turn_right", "move_forward", "end_episode")
OBS_HEIGHT, OBS_WIDTH = 60, 80
OBS_SHAPE = (OBS_HEIGHT, OBS_WIDTH, 3)
GYM_ID = "deep/Sign-v0"
END_EPISODE = 3
START_SIZE = 3 + len(OBJECTS)
"""Length of an episode's start (:attr:`SignEnv.start`): the agent's pose, the objects' headings."""


def goal_object_type(goal: int, variant: str = "paper") -> int:
    """The object type (0 box, 1 key) that goal ``goal`` asks for in ``variant``."""
    return OBJECT_TYPES.index(GOAL_NAMES[variant][goal])


def target_object(problem: int, goal: int, variant: str = "paper") -> int:
    """Index in :data:`OBJECTS` of the object that gives +1 in problem μ with goal g."""
    return 3 * goal_object_type(goal, variant) + problem


@dataclass(frozen=True)
class SignConfig:
    """Configuration of the sign benchmark (the image is always 80×60, as in the paper)."""

    variant: Literal["paper", "official"] = "paper"
    """"paper": goal 0 = key, 1 = box; "end episode" ends the episode where the agent stands.
    "official": goal 0 = box, 1 = key; "end episode" first moves the agent back 0.7 (the
    authors' code passes action 3 to MiniWorld, where it is "move back") and a touch there
    counts."""
    horizon: int = 20
    """Steps per episode (paper: 20)."""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if not (isinstance(self.horizon, int) and self.horizon >= 1):
            raise ValueError(f"horizon={self.horizon!r} is invalid; allowed: integers >= 1")


def observation_space() -> spaces.Dict:
    """``{"image": Box(0, 255, (60, 80, 3), uint8), "goal": Discrete(3, start=-1)}``."""
    return spaces.Dict(
        {
            "image": spaces.Box(0, 255, OBS_SHAPE, dtype=np.uint8),
            "goal": spaces.Discrete(3, start=NO_GOAL),
        }
    )


class SignFamily(MetaProblemFamily):
    """The problem family of the sign benchmark: 3 sign colours, train = test = all."""

    name = "sign"
    n_problems = len(COLORS)
    n_goals = len(OBJECT_TYPES)
    requires = ("miniworld",)

    method_config_changes: ClassVar[Mapping[str, Mapping[str, Any]]] = frozen_changes(
        {
            "dream": {"exploration_penalty": 0.0},
            "baseline": {"replay_capacity": 10_000, "state_decoder": False},
        }
    )
    """The paper's MiniWorld settings (App. B.3/B.4): DREAM's exploration penalty c of Eq. 5
    is 0 on MiniWorld (App. B.4; 0.01 elsewhere); the baselines' replay holds 10,000 trials
    on the sign task (App. B.4; 16,000 elsewhere); VariBAD has no state decoder there (App.
    B.3: the observation is an image, with no state vector to predict)."""

    def __init__(self, config: SignConfig) -> None:
        self.config = config

    def _split_ids(self, split: str) -> np.ndarray:
        return np.arange(self.n_problems)

    @property
    def gym_id(self) -> str:
        """The Gymnasium registry ID of the single env."""
        return GYM_ID

    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> gym.Env:
        """Single Gymnasium env (via ``gymnasium.make``); ``env.unwrapped`` is a SignEnv."""
        self.problem_ids(split)  # validates the split name
        return gym.make(GYM_ID, config=self.config, render_mode=render_mode, split=split)

    def make_batched(self, num_envs: int, seed: int = 0) -> BatchedSignEnv:
        """``num_envs`` SignEnvs stepped together; ``seed`` fixes their start poses.

        Env ``i`` is seeded with ``seed + i`` at its first reset (see :class:`BatchedSignEnv`,
        which also takes ``seed=None``: start poses from the OS).
        """
        return BatchedSignEnv(self.config, num_envs, seed=seed)

    def factors(self) -> tuple[ProblemFactor, ...]:
        """The sign's colour (μ itself; task-relevant)."""
        about = "the sign's colour: " + ", ".join(COLORS)
        return (ProblemFactor("colour", len(COLORS), True, about),)

    def problem_factors(self, problem: int) -> dict[str, int]:
        """``{"colour": μ}``."""
        return {"colour": self.check_problem(problem)}

    def exploration_visits(
        self,
        problems: np.ndarray,
        obs: Mapping[str, np.ndarray],
        actions: np.ndarray,
        lengths: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per exploration episode: forward moves, turns, and whether it ended itself (1.0).

        Whether the sign was read needs the episode's start: :meth:`reveal_oracle`.
        """
        taken = np.arange(actions.shape[1])[None, :] < lengths[:, None]

        def count(*names: str) -> np.ndarray:
            hit = np.isin(actions, [ACTIONS.index(n) for n in names])
            return (hit & taken).sum(1).astype(float)

        return {
            "forward_moves": count("move_forward"),
            "turns": count("turn_left", "turn_right"),
            "ended_episode": count("end_episode"),
        }

    def reveal_oracle(self) -> RevealOracle:
        """The exact oracle ``oracle(problem, actions, start)``; ``start`` is required.

        Whether the sign is read depends on the episode's start too: ``start`` is its
        :attr:`SignEnv.start` (what :class:`BatchedSignEnv` records in ``starts`` and the trial
        loop in each episode record), or a reset seed or pose as
        :func:`~deep.envs.reference_sign.reveals_all` takes. ``oracle.reveal_step`` (same
        arguments) is :func:`~deep.envs.reference_sign.reveal_step`: the first prefix length
        that reveals, or None. Both are cached per ``(problem, actions, start)`` and share
        the replay, so asking both costs one replay per word; the replays run in one
        :class:`SignEnv` of the oracle's own, built at its first use.
        """
        from deep.envs import reference_sign

        config = self.config
        replay_env = functools.cache(lambda: SignEnv(config))

        @functools.lru_cache(maxsize=ORACLE_CACHE_SIZE)
        def reveal_step(problem: int, actions: tuple[int, ...], start: Any = None) -> int | None:
            if start is None:
                raise ValueError(
                    "the sign task's oracle needs the episode's start; "
                    "allowed: oracle(problem, actions, start) with start = SignEnv.start"
                )
            return reference_sign.reveal_step(problem, start, actions, env=replay_env())

        def sign(problem: int, actions: tuple[int, ...], start: Any = None) -> bool:
            return reveal_step(problem, actions, start) is not None

        oracle = cached_oracle(sign)
        oracle.reveal_step = reveal_step  # type: ignore[attr-defined]
        return oracle

    def eval_num_envs(self, train_num_envs: int, eval_trials: int) -> int:
        """``train_num_envs``: each env renders its own frames, so fewer, fuller batches."""
        return train_num_envs

    def oracle_policies(self, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
        """(read the sign from the pose of ``reset(seed=seed)``, then end; π*).

        The exploration (:func:`~deep.envs.reference_sign.reveal_actions`) is planned from the
        start pose of ``reset(seed=seed)``, so it is only right for an episode reset with that
        seed; π* (:func:`~deep.envs.reference_sign.optimal_exploitation`) is planned at
        ``t = 0`` of each episode from the live env's pose, so it works from any start.
        """
        from deep.envs import reference_sign
        from deep.envs.render import scripted_policy

        self.check_problem(problem)
        explore = scripted_policy(reference_sign.reveal_actions(seed, self.config), END_EPISODE)
        plan: list[int] = []

        def exploit(env: Any, t: int) -> int:
            if t == 0:
                plan[:] = reference_sign.optimal_exploitation(env)
            return plan[t] if t < len(plan) else 0

        return explore, exploit

    def reference_table(
        self, variant: str = "paper", split: str = "test", train_split: str | None = None
    ) -> pd.DataFrame:
        """:func:`deep.envs.reference_sign.reference_table` (on up to 2 worker processes)."""
        from deep.envs import reference_sign  # imports miniworld: only when asked for

        return reference_sign.reference_table(variant=variant, workers=min(2, os.cpu_count() or 1))

    def reference_reveals_all(
        self, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
    ) -> bool:
        """Not from the actions alone: the start matters (see :meth:`reveal_oracle`)."""
        raise ValueError(
            "the sign task's oracle needs the episode's start; "
            "allowed: SignFamily.reveal_oracle() or reference_sign.reveals_all"
        )


@register("sign")
def _family_factory(**kwargs: Any) -> SignFamily:
    check_config_keys(kwargs, "the sign env")
    return SignFamily(SignConfig(**kwargs))


if GYM_ID not in gym.registry:
    gym.register(GYM_ID, entry_point="deep.envs.sign:SignEnv", kwargs={"config": SignConfig()})


@functools.cache
def _core_class() -> type:
    """``miniworld.envs.sign.Sign`` with its static scene in a display list of its own.

    MiniWorld compiles every env's static scene (walls, floor, the sign) into display list 1,
    and all pyglet contexts of a process share display lists: with two envs in one process,
    each renders the sign of whichever env was reset last. This subclass allocates a list per
    env (never list 1, which plain MiniWorld envs in the process keep using); the two methods
    are ``MiniWorldEnv._render_static`` and ``_render_world`` of miniworld 2.1.0 with list 1
    replaced by it. Importing miniworld here (headless) keeps it lazy.
    """
    from deep.envs import _headless

    _headless.configure()
    from miniworld.envs.sign import Sign
    from pyglet import gl

    class OwnListSign(Sign):  # type: ignore[misc]
        _static_list = 0

        def _render_static(self) -> None:
            if not self._static_list:
                self._static_list = gl.glGenLists(1)
                if self._static_list == 1:  # leave list 1 to plain MiniWorld envs
                    self._static_list = gl.glGenLists(1)
            gl.glNewList(self._static_list, gl.GL_COMPILE)
            # As upstream: light_pos is an array, so "+ [1]" adds 1 to each of its 3 entries.
            light_pos = (gl.GLfloat * 4)(*self.light_pos + [1])  # noqa: RUF005
            gl.glLightfv(gl.GL_LIGHT0, gl.GL_POSITION, light_pos)
            gl.glLightfv(gl.GL_LIGHT0, gl.GL_AMBIENT, (gl.GLfloat * 4)(*self.light_ambient))
            gl.glLightfv(gl.GL_LIGHT0, gl.GL_DIFFUSE, (gl.GLfloat * 4)(*self.light_color))
            gl.glEnable(gl.GL_LIGHTING)
            gl.glEnable(gl.GL_LIGHT0)
            gl.glShadeModel(gl.GL_SMOOTH)
            gl.glEnable(gl.GL_COLOR_MATERIAL)
            gl.glColorMaterial(gl.GL_FRONT_AND_BACK, gl.GL_AMBIENT_AND_DIFFUSE)
            gl.glEnable(gl.GL_TEXTURE_2D)
            for room in self.rooms:
                room._render()
            for ent in self.entities:
                if ent.is_static:
                    ent.render()
            gl.glEndList()

        def _render_world(self, frame_buffer: Any, render_agent: bool) -> np.ndarray:
            if not self._static_list:  # closed, then used again
                self._render_static()
            gl.glCallList(self._static_list)
            for ent in self.entities:
                if not ent.is_static and ent is not self.agent:
                    ent.render()
            if render_agent:
                self.agent.render()
            return frame_buffer.resolve()

        def close(self) -> None:
            if self._static_list:
                self.shadow_window.switch_to()
                gl.glDeleteLists(self._static_list, 1)
                self._static_list = 0
            super().close()

    return OwnListSign


def _make_core(horizon: int) -> Any:
    """A MiniWorld sign env (see :func:`_core_class`), without its GL chatter on stdout."""
    core_class = _core_class()
    with contextlib.redirect_stdout(io.StringIO()):  # "Falling back to num_samples=4"
        # The "window" size is that of MiniWorld's human-view frame buffer, which is never used
        # here: the smallest one saves about 30 MB per env.
        return core_class(
            max_episode_steps=horizon,
            obs_width=OBS_WIDTH,
            obs_height=OBS_HEIGHT,
            window_width=OBS_WIDTH,
            window_height=OBS_HEIGHT,
        )


class SignEnv(gym.Env):
    """One episode of the DREAM sign task (a wrapped ``miniworld.envs.sign.Sign``).

    ## Description
    See the module docstring for the map. μ (the word on the sign) and the goal (the object
    type) are chosen at every reset; ``miniworld``'s own ``Sign`` fixes both at construction.

    ## Action Space
    ``Discrete(4)``: 0 turn left 45°, 1 turn right 45°, 2 move forward 0.7 (blocked by walls),
    3 end episode (``official`` variant: move back 0.7 first, as the authors' code does).

    ## Observation Space
    ``Dict({"image": Box(0, 255, (60, 80, 3), uint8), "goal": Discrete(3, start=-1)})``. The
    image is what the agent sees, height × width × RGB (the authors' code transposes it to
    (3, 80, 60)); it does not show the goal. ``goal`` is the episode's goal in the variant's
    encoding, or ``-1`` (``NO_GOAL``) in an exploration episode.

    ## Rewards
    With a goal: +1 for touching the object of the sign's colour and the goal's type, −1 for
    touching any other object, 0 otherwise. Without a goal: 0. The agent touches an object when
    its centre is closer than object radius + 0.4 + 0.77 (``MiniWorldEnv.near``).

    ## Starting State
    Drawn from ``self.np_random`` (seeded by ``reset(seed=...)``): object orientations, then
    the agent's pose, uniform in x 3.6–5.4, z 3.6–6.4 (``place_agent(4..5, 4..6)`` widened by
    the agent radius) with a uniform heading. μ and the goal are drawn first, always, and then
    replaced by ``options={"problem": μ, "goal": g}`` where given (``"goal": None`` or ``-1``:
    no goal), so a seed gives the same start pose and frames for every μ and goal. The
    authors' code never seeds. ``options["start"] = (x, z, heading)`` overrides the pose;
    ``options["start"] = env.start`` of an earlier episode (pose and object orientations,
    :attr:`start`) starts that episode again exactly: the same frames for the same actions.

    ## Episode End
    Terminated on touching an object or on "end episode"; truncated after ``horizon`` steps.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        config: SignConfig | None = None,
        *,
        render_mode: str | None = None,
        split: str = "train",
    ) -> None:
        self.config = config if config is not None else SignConfig()
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.family = SignFamily(self.config)
        self.split_ids = self.family.problem_ids(split)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = observation_space()
        self._core = _make_core(self.config.horizon)
        from miniworld.miniworld import MiniWorldEnv

        self._move = MiniWorldEnv.step.__get__(self._core)  # dynamics without Sign's reward
        self._objects = [obj for pair in self._core._objects for obj in pair]
        self._top_fb: Any = None
        self.problem = int(self.split_ids[0])
        self.goal = NO_GOAL
        self.t = 0
        self._frame = np.zeros(OBS_SHAPE, dtype=np.uint8)
        self._done = True
        self._start = (math.nan,) * START_SIZE

    @property
    def start(self) -> tuple[float, ...]:
        """The current episode's start: the agent's pose at its reset, then the objects' headings.

        ``(x, z, heading, *headings)``, the objects in :data:`OBJECTS` order; NaN before the
        first reset. ``reset(options={"start": start})`` starts the episode again from exactly
        this state, whatever the seed (the seed's draws are overridden).
        """
        return self._start

    @property
    def core(self) -> Any:
        """The wrapped ``miniworld.envs.sign.Sign`` (for planners: agent pose, collisions)."""
        return self._core

    @property
    def agent_pose(self) -> tuple[float, float, float]:
        """``(x, z, heading)`` of the agent; heading in radians, forward = (cos, −sin)."""
        agent = self._core.agent
        return float(agent.pos[0]), float(agent.pos[2]), float(agent.dir)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; see the class docstring for ``options``."""
        super().reset(seed=seed)
        options = check_reset_options(options, ("problem", "goal", "start"))
        # Both are drawn whatever the options, so the start pose depends on the seed alone.
        problem = int(self.np_random.choice(self.split_ids))
        goal = int(self.np_random.integers(len(OBJECT_TYPES)))
        if "problem" in options:
            problem = self.family.check_problem(options["problem"])
        if "goal" in options:
            goal = self.family.goal_option(options["goal"])
        self.problem, self.goal = problem, goal
        core = self._core
        core.np_random = self.np_random  # one stream: the world and pose come from the seed
        core.set_color_index(problem)
        core._goal = 0 if goal == NO_GOAL else goal_object_type(goal, self.config.variant)
        self._frame = core.reset()[0]["obs"]
        self._objects = [obj for pair in core._objects for obj in pair]
        if "start" in options:
            self._place(options["start"])
            self._frame = core.render_obs()
        agent = core.agent
        pose = (float(agent.pos[0]), float(agent.pos[2]), float(agent.dir))
        self._start = pose + tuple(float(obj.dir) for obj in self._objects)
        self.t = 0
        self._done = False
        return self._obs(), self._info(None)

    def _place(self, start: Any) -> None:
        """Put the agent at ``start[:3] = (x, z, heading)`` and turn the objects to ``start[3:]``.

        ``start`` is a pose or a whole :attr:`start`; anything else raises ValueError.
        """
        ok = isinstance(start, tuple | list) and len(start) in (3, START_SIZE)
        ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in start)
        if not ok:
            raise ValueError(
                f"start={start!r} is invalid; allowed: a tuple (x, z, heading), or "
                f"(x, z, heading) then the {len(OBJECTS)} objects' headings (SignEnv.start)"
            )
        agent = self._core.agent
        pos = np.array([float(start[0]), 0.0, float(start[1])])
        if self._core.intersect(agent, pos, agent.radius) or self._touched(pos) is not None:
            raise ValueError(
                f"start={tuple(start)!r} is invalid: it is in a wall or touches an object; "
                "allowed: a free pose, e.g. x 3.6-5.4, z 3.6-6.4"
            )
        agent.pos = pos
        agent.dir = float(start[2])
        for obj, heading in zip(self._objects, start[3:], strict=False):
            obj.dir = float(heading)

    def _touched(self, pos: np.ndarray | None = None) -> int | None:
        """Index of the object the agent touches (the last one, as ``Sign.step``), or None."""
        agent = self._core.agent
        if pos is None:
            pos = agent.pos
        reach = 1.1 * self._core.max_forward_step
        touched = None
        for j, obj in enumerate(self._objects):  # the same arithmetic as MiniWorldEnv.near
            if np.linalg.norm(obj.pos - pos) < obj.radius + agent.radius + reach:
                touched = j
        return touched

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Advance one step."""
        check_action(self.action_space, action, self._done, show=repr)
        action = int(action)
        self.t += 1
        touched = None
        if action != END_EPISODE or self.config.variant == "official":
            # MiniWorld's action 3 is "move back": the authors' end episode moves back first.
            self._frame = self._move(action)[0]
            touched = self._touched()
        else:
            self._core.step_count += 1  # nothing moves: the frame is unchanged
            self._frame = self._frame.copy()  # but returned as a fresh array, as every frame
        reward = 0.0
        if touched is not None and self.goal != NO_GOAL:
            hit = touched == target_object(self.problem, self.goal, self.config.variant)
            reward = 1.0 if hit else -1.0
        terminated = touched is not None or action == END_EPISODE
        truncated = (not terminated) and self.t >= self.config.horizon
        self._done = terminated or truncated
        return self._obs(), reward, terminated, truncated, self._info(touched)

    def _obs(self) -> dict[str, Any]:
        return {"image": self._frame, "goal": np.int64(self.goal)}

    def _info(self, touched: int | None) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "goal": self.goal,
            "t": self.t,
            "touched": None if touched is None else OBJECTS[touched],
        }

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the agent's view and a top view side by side, (60, 160, 3) uint8."""
        if self.render_mode != "rgb_array":
            return None
        if self._top_fb is None:
            from miniworld.opengl import FrameBuffer

            with contextlib.redirect_stdout(io.StringIO()):
                self._top_fb = FrameBuffer(OBS_WIDTH, OBS_HEIGHT, 4)
        top = self._core.render_top_view(self._top_fb)
        return np.concatenate([self._frame, top], axis=1)

    def close(self) -> None:
        """Close MiniWorld's window, if one was opened (never in ``rgb_array`` mode)."""
        self._core.close()


class BatchedSignEnv:
    """``num_envs`` independent sign episodes stepped together (one :class:`SignEnv` each).

    The interface of :class:`deep.envs.city.BatchedCityEnv`: resets are explicit, never
    automatic: :meth:`reset` takes the problems and goals (``-1`` = no goal) of the envs
    selected by ``mask``; an env whose episode has ended must be reset before it is stepped
    again (stepping it raises). Observations are a dict of arrays, ``{"image": (num_envs, 60,
    80, 3) uint8, "goal": (num_envs,) int64}``, the batched form of the single env's Dict.

    ``seed``: env ``i`` is seeded with ``seed + i`` at its first reset (Gymnasium's vector-env
    convention) and continues its own stream after that; ``None`` seeds from the OS. So env
    ``i`` matches a :class:`SignEnv` reset first with ``seed=seed + i``, then with no seed,
    with the same options. State arrays (``problem``, ``goal``, ``t``, ``done``, ``starts``) are
    public and read-only by convention; ``starts[i]`` is env ``i``'s :attr:`SignEnv.start` at its
    last reset (NaN before the first), what the reveal oracle needs besides the actions.
    """

    def __init__(self, config: SignConfig, num_envs: int, seed: int | None = None) -> None:
        self.num_envs = n = check_num_envs(num_envs)
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(f"seed={seed!r} is invalid; allowed: None or an integer")
        self.config = config
        self.family = SignFamily(config)
        self.n_actions = len(ACTIONS)
        self.observation_space = observation_space()
        self.envs = [SignEnv(config) for _ in range(self.num_envs)]
        self.seeds: list[int | None] = [
            None if seed is None else int(seed) + i for i in range(self.num_envs)
        ]
        self._seeded = np.zeros(n, dtype=bool)
        self.problem = np.zeros(n, dtype=np.int64)
        self.goal = np.full(n, NO_GOAL, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)
        self.starts = np.full((n, START_SIZE), np.nan)
        self._images = np.zeros((n, *OBS_SHAPE), dtype=np.uint8)

    def reset(
        self,
        problems: np.ndarray | int,
        goals: np.ndarray | int,
        mask: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Reset the envs where ``mask`` is True (all if None); return all observations.

        ``problems`` and ``goals`` broadcast to the number of selected envs.
        """
        idx, problems, goals = check_reset_inputs(self.family, self.num_envs, problems, goals, mask)
        for i, problem, goal in zip(idx.tolist(), problems.tolist(), goals.tolist(), strict=True):
            seed = None if self._seeded[i] else self.seeds[i]
            self._seeded[i] = True
            obs, _ = self.envs[i].reset(seed=seed, options={"problem": problem, "goal": goal})
            self._images[i] = obs["image"]
            self.starts[i] = self.envs[i].start
            self.problem[i], self.goal[i], self.t[i], self.done[i] = problem, goal, 0, False
        return self._obs()

    def step(
        self, actions: np.ndarray, *, active: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Step the envs; return ``(obs, reward, terminated, truncated)`` arrays.

        ``active`` (bool, shape ``(num_envs,)``; None = all) selects the envs to step: the others
        are not stepped at all (same state, image and ``t``) and get reward 0, terminated and
        truncated False; their actions are ignored (any integer, not checked) and they may
        have ended.
        """
        actions, active = check_step_inputs(
            actions, active, self.num_envs, self.n_actions, self.done
        )
        n = self.num_envs
        rows = np.arange(n) if active is None else np.flatnonzero(active)
        reward = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        for i in rows.tolist():
            obs, reward[i], terminated[i], truncated[i], _ = self.envs[i].step(int(actions[i]))
            self._images[i] = obs["image"]
        self.t[rows] += 1
        self.done[rows] = terminated[rows] | truncated[rows]
        return self._obs(), reward, terminated, truncated

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self._images.copy(), "goal": self.goal.copy()}

    def rng_state(self) -> dict[str, Any]:
        """Where each env's random stream (start poses) stands, for checkpoints."""
        return {
            "seeded": self._seeded.tolist(),
            "streams": [
                env.np_random.bit_generator.state if seeded else None
                for env, seeded in zip(self.envs, self._seeded, strict=True)
            ],
        }

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Continue the streams saved by :meth:`rng_state` (same ``num_envs``)."""
        if len(state["seeded"]) != self.num_envs:
            raise ValueError(
                f"rng state of {len(state['seeded'])} envs; allowed: exactly {self.num_envs}"
            )
        self._seeded[:] = state["seeded"]
        for env, stream in zip(self.envs, state["streams"], strict=True):
            if stream is not None:
                env.np_random.bit_generator.state = stream

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()
