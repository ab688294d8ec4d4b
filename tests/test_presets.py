"""deep.presets: presets set the fields a config has; --method-arg overrides parse by type."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from deep.dqn import LinearSchedule
from deep.dream import DreamConfig
from deep.presets import PRESETS, apply_overrides, apply_preset
from deep.train import METHODS, main


@dataclasses.dataclass(frozen=True)
class _Toy:
    lr: float = 0.5
    min_replay: int = 100
    name: Literal["a", "b"] = "a"
    flag: bool = False
    maybe: int | None = None
    epsilon: LinearSchedule = dataclasses.field(default_factory=LinearSchedule)


def test_paper_preset_is_the_defaults():
    assert apply_preset("paper", DreamConfig()) == DreamConfig()


def test_tiny_sets_only_the_fields_a_config_has():
    toy = apply_preset("tiny", _Toy())
    assert toy.lr == 1e-3 and toy.min_replay == 16  # fields the toy has
    assert toy.epsilon.steps < 250_000 and toy.name == "a"  # others untouched
    dream = apply_preset("tiny", DreamConfig())
    assert (dream.min_explore_replay, dream.min_exploit_replay, dream.batch_size) == (16, 16, 8)


@pytest.mark.parametrize("config", [DreamConfig(), _Toy()])
def test_epsilon1_fixes_every_schedule_at_one(config):
    out = apply_preset("epsilon1", config)
    for f in dataclasses.fields(out):
        value = getattr(out, f.name)
        if isinstance(value, LinearSchedule):
            assert all(value.value(t) == 1.0 for t in (0, 10, 10**7))


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: " + ", ".join(PRESETS)):
        apply_preset("huge", DreamConfig())


def test_overrides_parse_by_the_field_type():
    toy = apply_overrides(
        _Toy(), {"lr": "2e-3", "min_replay": "1_000", "name": "b", "flag": "true", "maybe": "7"}
    )
    assert (toy.lr, toy.min_replay, toy.name, toy.flag, toy.maybe) == (2e-3, 1000, "b", True, 7)
    assert apply_overrides(_Toy(), {}) == _Toy()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": "fast"}, "lr='fast' is invalid; allowed: a number"),
        ({"min_replay": "1.5"}, "allowed: an integer"),
        ({"name": "c"}, "allowed: a, b"),
        ({"flag": "yes"}, "allowed: true or false"),
        ({"epsilon": "0.1"}, "no field 'epsilon'"),  # schedules are not scalar overrides
        ({"nope": "1"}, "no field 'nope'; allowed: flag, lr, maybe, min_replay, name"),
    ],
)
def test_bad_overrides_name_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_overrides(_Toy(), overrides)


def test_dream_config_validation_still_applies():
    with pytest.raises(ValueError, match="batch_size=0"):
        apply_overrides(DreamConfig(), {"batch_size": "0"})


def test_every_registered_method_builds_its_config():
    for name, spec in METHODS.items():
        module = __import__(spec.module, fromlist=[spec.cls])
        factory = module
        for part in spec.config.split("."):
            factory = getattr(factory, part)
        cfg = factory()
        for preset in PRESETS:
            assert dataclasses.is_dataclass(apply_preset(preset, cfg)), name
        assert hasattr(module, spec.cls), name


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method-arg", "lambda"], "--method-arg lambda: allowed: KEY=VALUE"),
        (["--method-arg", "bottleneck=max"], "bottleneck='max' is invalid; allowed: hinge, min"),
        (["--method-arg", "wrong=1"], "method config has no field 'wrong'"),
    ],
)
def test_cli_method_arg_errors_are_one_line(tmp_path, capsys, args, needle):
    assert main([*args, "--steps", "10", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err
    assert not (tmp_path / "r").exists()
