"""What an env knows lives on its family (``deep.envs.problem.MetaProblemFamily``).

Every registered family answers the same questions with the same signatures (batched env with a
seed, horizon, reveal oracle, evaluation batch size, per-benchmark method settings), and no
module outside ``deep/envs/`` decides anything by comparing an env's name.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

from deep.envs import make, reference_city, reference_cooking, reference_sign, registered_names
from deep.envs.problem import NO_GOAL, MetaProblemFamily

ROOT = Path(__file__).resolve().parents[1]
NAMES = registered_names()
SIGN_SEED = 22  # from this reset's start pose the first frame does not read the sign
ORACLE_START = {"sign": (SIGN_SEED,)}  # the sign oracle also takes the episode's start


def _family(name: str) -> MetaProblemFamily:
    family = make(name)
    missing = [m for m in family.requires if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    return family


def _first_problems(family: MetaProblemFamily, n: int) -> np.ndarray:
    return np.resize(family.problem_ids("test"), n)


def _obs_equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


def test_every_family_has_the_same_make_batched_signature():
    for name in NAMES:
        params = list(inspect.signature(type(make(name)).make_batched).parameters.values())
        assert [p.name for p in params] == ["self", "num_envs", "seed"], name
        assert params[2].default == 0, name


@pytest.mark.parametrize("name", NAMES)
def test_make_batched_takes_a_seed(name):
    family = _family(name)
    n = 2
    problems = _first_problems(family, n)
    env = family.make_batched(n, seed=3)
    assert env.num_envs == n
    obs = env.reset(problems, NO_GOAL)
    again = family.make_batched(n, seed=3).reset(problems, NO_GOAL)
    assert _obs_equal(obs, again)
    positional = family.make_batched(n, 3).reset(problems, NO_GOAL)
    assert _obs_equal(obs, positional)
    if name != "sign":  # no randomness of their own: the seed changes nothing
        assert _obs_equal(obs, family.make_batched(n, seed=4).reset(problems, NO_GOAL))
        assert _obs_equal(obs, family.make_batched(n).reset(problems, NO_GOAL))


def test_sign_start_poses_are_seeded_as_before():
    family = _family("sign")
    from deep.envs.sign import BatchedSignEnv, SignConfig

    n, seed = 2, 7
    env = family.make_batched(n, seed=seed)
    assert env.seeds == [seed, seed + 1]  # env i: seed + i at its first reset
    assert family.make_batched(1).seeds == [0]
    reference = BatchedSignEnv(SignConfig(), n, seed=seed)
    problems = np.array([0, 2])
    assert _obs_equal(env.reset(problems, NO_GOAL), reference.reset(problems, NO_GOAL))
    assert [e.agent_pose for e in env.envs] == [e.agent_pose for e in reference.envs]
    other = family.make_batched(n, seed=seed + 10)
    other.reset(problems, NO_GOAL)
    assert [e.agent_pose for e in other.envs] != [e.agent_pose for e in env.envs]


@pytest.mark.parametrize("name", NAMES)
def test_horizon_is_a_property(name):
    family = make(name)
    assert family.horizon == family.config.horizon == 20 or (
        name == "bandit" and family.horizon == family.config.H
    )
    short = make(name, H=3) if name == "bandit" else make(name, horizon=7)
    assert short.horizon == (3 if name == "bandit" else 7)
    assert isinstance(short.horizon, int)


def _revealing_script(family: MetaProblemFamily, problem: int) -> list[int]:
    if family.name in ("vanilla_bus", "distracting_bus", "map"):
        return reference_city.scripted_exploration(family.name, family.config.variant)
    if family.name in ("cooking", "cooking_no_goals"):
        return reference_cooking.scripted_exploration(family.name, problem)
    if family.name == "sign":
        return reference_sign.reveal_actions(SIGN_SEED, family.config)
    return list(family.config.informative_sequence)  # the bandit


@pytest.mark.parametrize("name", NAMES)
def test_reveal_oracle(name):
    family = _family(name)
    oracle = family.reveal_oracle()
    assert callable(oracle) and oracle.cache_info().maxsize == 1 << 16  # cached per sequence
    assert family.reveal_oracle() is not oracle  # each call: a fresh cache
    start = ORACLE_START.get(name, ())
    for problem in family.problem_ids("test")[:3].tolist():
        script = tuple(_revealing_script(family, problem))
        assert oracle(problem, script, *start) is True
        assert oracle(problem, (), *start) is False
    assert oracle.cache_info().hits == 0 and oracle.cache_info().currsize > 0
    oracle(problem, script, *start)
    assert oracle.cache_info().hits == 1


def test_reveal_oracle_by_variant():
    assert make("cooking", variant="official").reveal_oracle() is None  # paper variant only
    official = make("map", variant="official").reveal_oracle()
    script = tuple(reference_city.scripted_exploration("map", "official"))
    assert official is not None and official(3, script)


@pytest.mark.parametrize(
    "name, options",
    [("map", {}), ("distracting_bus", {}), ("cooking", {}), ("cooking", {"stage_reward": "add"})],
)
def test_optimal_action_values_satisfy_bellman_and_start_at_the_optimum(name, options):
    # Q*(s_t, a_t) = r_t + max_a Q*(s_{t+1}, a) (0 after the end) along random episodes, and
    # max_a Q*(s_0, a) is the exact optimum of the (problem, goal) pair
    family = make(name, **options)
    env = family.make_env(split="all")
    rng = np.random.default_rng(0)
    for _ in range(12):
        problem = family.sample_problem(rng, "train")
        goal = family.sample_goal(rng, problem)
        env.reset(options={"problem": problem, "goal": family.goal_option(goal)})
        q = family.optimal_action_values(env.unwrapped, 0)
        _, exploit = family.oracle_policies(problem)
        t, done = 0, False
        while not done:
            action = int(rng.integers(len(q))) if rng.random() < 0.5 else exploit(env.unwrapped, t)
            _, reward, terminated, truncated, _ = env.step(action)
            t, done = t + 1, terminated or truncated
            q_next = None if done else family.optimal_action_values(env.unwrapped, t)
            assert q[action] == pytest.approx(reward + (0.0 if done else q_next.max()), abs=1e-9)
            q = q_next
    env.reset(options={"problem": problem, "goal": family.goal_option(goal)})
    _, exploit = family.oracle_policies(problem)
    best = family.optimal_action_values(env.unwrapped, 0).max()
    total, t, done = 0.0, 0, False
    while not done:  # pi*'s return from the start is max_a Q*(s_0, a)
        _, reward, terminated, truncated, _ = env.step(exploit(env.unwrapped, t))
        total, t, done = total + reward, t + 1, terminated or truncated
    assert total == pytest.approx(best, abs=1e-6)
    assert make("map", variant="official").optimal_action_values(None, 0) is None
    assert make("bandit").optimal_action_values(None, 0) is None


@pytest.mark.parametrize("name", NAMES)
def test_eval_num_envs(name):
    family = make(name)
    if name == "sign":  # rendering is the cost: evaluate with the training batch
        assert family.eval_num_envs(8, 500) == 8
        assert family.eval_num_envs(16, 4) == 16
    else:
        assert family.eval_num_envs(8, 500) == 100
        assert family.eval_num_envs(8, 30) == 30


def _config_fields() -> dict[str, set[str]]:
    from deep.dream import DreamConfig
    from deep.erl2 import ERL2Config
    from deep.import_policy import ImportConfig
    from deep.varibad import VariBadConfig

    def names(*classes: type) -> set[str]:
        return {f.name for c in classes for f in dataclasses.fields(c)}

    return {
        "dream": names(DreamConfig),
        "baseline": names(ERL2Config, ImportConfig, VariBadConfig),
    }


def test_method_config_changes():
    fields = _config_fields()
    for name in NAMES:
        changes = make(name).method_config_changes
        assert set(changes) <= set(fields), name
        for role, change in changes.items():
            assert set(change) <= fields[role], (name, role)  # no typo: a real config field
        with pytest.raises(TypeError):
            changes["dream"] = {}  # type: ignore[index]
        if name not in ("sign", "cooking", "cooking_no_goals"):
            assert dict(changes) == {}, name
    for name in ("cooking", "cooking_no_goals"):  # the observation hides the recipe stage
        kitchen = make(name).method_config_changes
        assert {role: dict(c) for role, c in kitchen.items()} == {
            "dream": {"exploitation_policy": "recurrent"}
        }
    sign = make("sign").method_config_changes
    assert {role: dict(c) for role, c in sign.items()} == {
        "dream": {"exploration_penalty": 0.0},
        "baseline": {"replay_capacity": 10_000, "state_decoder": False},
    }
    with pytest.raises(TypeError):
        sign["dream"]["exploration_penalty"] = 1.0  # type: ignore[index]


# ------------------------------------------------------------- no env-name tests outside envs

SCANNED = ("deep", "analysis", "benchmarks")
"""Packages scanned (recursively), all but ``deep/envs``: the one place that knows env names."""
KNOWN_EXCEPTIONS: dict[str, str] = {}
"""Files allowed to test env names, with the reason (none)."""


def _is_env_literal(node: ast.AST, constants: set[str]) -> bool:
    """An env name as a string, a module constant holding env names, or a collection of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in NAMES
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.Starred):
        return _is_env_literal(node.value, constants)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_env_literal(e, constants) for e in node.elts)
    return False


ALLOW_MARK = "# env-name-ok:"
"""A line carrying this comment, with its reason, is not a dispatch (e.g. validating a CLI list)."""


def _env_name_tests(path: Path) -> list[int]:
    """Lines comparing something with an env name (``==``, ``!=``, ``in``, ``match``)."""
    text = path.read_text(encoding="utf-8")
    allowed = {i for i, line in enumerate(text.splitlines(), 1) if ALLOW_MARK in line}
    tree = ast.parse(text, filename=str(path))
    constants: set[str] = set()
    for stmt in tree.body:  # module constants such as SIGN = "sign", CITY = ("map", ...)
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if _is_env_literal(stmt.value, constants):
                constants |= {t.id for t in targets if isinstance(t, ast.Name)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            if any(_is_env_literal(o, constants) for o in [node.left, *node.comparators]):
                lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and _is_env_literal(node.value, constants):
            lines.append(node.lineno)
    return sorted(set(lines) - allowed)


def _scanned_files() -> list[Path]:
    envs = ROOT / "deep" / "envs"
    files = (p for top in SCANNED for p in (ROOT / top).rglob("*.py"))
    return sorted(p for p in files if envs not in p.parents)


def test_the_scan_finds_env_name_tests(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        'SIGN = "sign"\n'
        'CITY = ("map", "vanilla_bus")\n'
        "def f(family, name):\n"
        '    a = family.name == "sign"\n'
        '    b = name in ("cooking", "cooking_no_goals")\n'
        "    c = name == SIGN or name in CITY\n"
        '    d = "bandit" != name\n'
        '    for n in ("map", "sign"):\n'  # iterating is not a test
        "        pass\n"
        '    e = name in ("acting", "bandit")\n'  # not a set of env names
        "    f = name not in CITY  # env-name-ok: validating a choice\n"
        "    return a, b, c, d, e, f\n"
    )
    assert _env_name_tests(source) == [4, 5, 6, 7]


def test_no_module_outside_envs_compares_env_names():
    found = {str(p.relative_to(ROOT)): _env_name_tests(p) for p in _scanned_files()}
    found = {path: lines for path, lines in found.items() if lines}
    unexpected = {p: lines for p, lines in found.items() if p not in KNOWN_EXCEPTIONS}
    assert not unexpected, (
        f"env names compared outside deep/envs (ask the family instead): {unexpected}"
    )
    # A file of KNOWN_EXCEPTIONS without a hit any more should leave the list (not checked
    # here: those files are being reworked by other changes).
