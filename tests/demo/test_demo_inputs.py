"""The demo's command line and its checks: bad input fails in seconds, naming the flag, and
nothing a user owns is deleted."""

from __future__ import annotations

import argparse
import os

import pytest
from demo_fixtures import TINY_RECIPE

from flowrl_jax.demo import DemoConfig, _parse_set, check_demo, rl_config, run_demo
from flowrl_jax.tasks.countdown.base_policy import (
    build_base_model,
    ensure_base_model,
    recorded_recipe,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("optim.lr=5e-5", 5e-5),
        ("algo.length_normalize=false", False),
        ("algo.length_normalize=False", False),
        ("eval.ks=(1, 4)", (1, 4)),
        ("eval.ks=[1,4]", [1, 4]),
        ("algo.clip_ratio_c=null", None),
        ("algo.clip_ratio_c=None", None),
        ("reward.task_options=abc", "abc"),
    ],
)
def test_set_values_parse(text, value):
    assert _parse_set(text) == (text.partition("=")[0], value)


def test_set_needs_key_and_value():
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        _parse_set("optim.lr")


def _config(*overrides):
    return rl_config("grpo", DemoConfig(overrides=tuple(_parse_set(o) for o in overrides)))


def test_set_assigns_typed_values():
    config = _config(
        "algo.length_normalize=false", "eval.ks=[1,4]", "algo.clip_ratio_c=null", "optim.lr=1"
    )
    assert config.algo.length_normalize is False
    assert config.eval.ks == (1, 4)
    assert config.algo.clip_ratio_c is None
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("algo.length_normalize=no", r"algo.length_normalize='no'.*bool"),
        ("rollout.group_size=2.5", r"rollout.group_size=2.5.*int"),
        ("optim.lr=abc", r"optim.lr='abc'.*float"),
        ("algo.betta=3", r"no key 'betta' in 'algo' \(keys: .*beta"),
        ("foo.bar=1", r"no section 'foo'"),
        ("workdir=/tmp/x", r"use --workdir"),
        ("model_path=/tmp/x", r"use --base"),
    ],
)
def test_bad_set_names_the_key(override, match):
    with pytest.raises((ValueError, KeyError), match=match):
        _config(override)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"algorithms": ()}, "--algorithms is empty"),
        ({"algorithms": ("grpo", "grpo")}, "names one twice"),
        ({"algorithms": ("flowrl", "grpoo")}, r"unknown grpoo; known: .*dr_grpo"),
        ({"steps": 0}, r"--steps=0"),
        ({"eval_samples": 0}, r"--eval-samples=0"),
        ({"eval_problems": 300}, r"--eval-problems=300.*at most"),
        ({"overrides": (("rollout.temperature", 0.0),)}, r"FlowRL needs rollout.temperature"),
    ],
)
def test_bad_demo_settings_fail_before_any_work(changes, match, tmp_path):
    base = tmp_path / "base"
    # Tiny budgets, so that a check that lets bad input through costs seconds, not minutes.
    small = dict(recipe=TINY_RECIPE, steps=1, eval_problems=2, eval_samples=2, progress=False)
    demo = DemoConfig(workdir=str(tmp_path / "run"), base_path=str(base), **{**small, **changes})
    with pytest.raises(ValueError, match=match):
        run_demo(demo)
    assert not base.exists()  # failed before building the base policy


def test_every_algorithm_passes_the_demo_checks():
    from flowrl_jax.algos import algorithm_names

    check_demo(DemoConfig(algorithms=tuple(algorithm_names()), recipe=TINY_RECIPE))


def test_a_directory_that_is_not_a_model_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="does not load as a model"):
        ensure_base_model(mine, TINY_RECIPE, progress=False)
    with pytest.raises(FileExistsError, match="will not be replaced"):
        build_base_model(mine, TINY_RECIPE, progress=False)
    assert os.listdir(mine) == ["notes.txt"]


def test_a_built_base_keeps_its_recipe(tiny_base):
    assert recorded_recipe(tiny_base) == TINY_RECIPE
    assert recorded_recipe(os.path.dirname(tiny_base)) is None
