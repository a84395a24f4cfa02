"""`make demo` end to end with tiny budgets: base model -> FlowRL and GRPO -> evaluation."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from demo_fixtures import SMOKE_RL, TINY_RECIPE

from flowrl_jax.demo import DemoConfig, run_demo
from flowrl_jax.eval.report import paired_differences


@pytest.fixture(scope="module")
def report(tiny_base, tmp_path_factory):
    demo = DemoConfig(
        workdir=str(tmp_path_factory.mktemp("demo_run")),
        base_path=tiny_base,
        recipe=TINY_RECIPE,
        steps=15,
        overrides=SMOKE_RL,
        eval_split="train",
        eval_problems=16,
        eval_samples=32,
        table_ks=(1, 8, 32),
        progress=False,
    )
    return demo, run_demo(demo)


def test_writes_the_report(report):
    demo, result = report
    for name in ("table.md", "results.json", "passk.png"):
        assert os.path.getsize(os.path.join(demo.workdir, name)) > 0
    with open(os.path.join(demo.workdir, "results.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["table"] == result["table"]
    rows = result["table"].splitlines()
    assert rows[0].startswith("| policy | Pass@1 | Pass@8 | Pass@32 | distinct correct")
    assert [r.split("|")[1].strip() for r in rows[2:]] == [
        "base",
        "FlowRL (15 steps)",
        "GRPO (15 steps)",
    ]
    assert result["policies"]["base"]["metrics"]["retention"] == 1.0
    pass_at_1 = {name: p["pass_at_k"][1] for name, p in result["policies"].items()}
    differences = result["pass_at_1_differences"]
    assert list(differences) == ["flowrl - base", "grpo - base", "grpo - flowrl"]
    for pair, d in differences.items():
        a, b = pair.split(" - ")
        assert d["mean"] == pytest.approx(pass_at_1[a] - pass_at_1[b], abs=1e-9)
        assert d["stderr"] > 0
    for algorithm in ("flowrl", "grpo"):  # the time split of a step, medians over steps
        split = result["training"][algorithm]["median_step_seconds"]
        assert {"rollout", "verify", "reference", "update", "step"} <= set(split)
        assert 0 < split["rollout"] <= split["step"] and 0 < split["update"] <= split["step"]
    table_md = pathlib.Path(demo.workdir, "table.md").read_text(encoding="utf-8")
    assert saved["pass_at_1_differences_text"] in table_md


def test_paired_differences_by_hand():
    # Per-problem differences [0.5, 0]: mean 0.25, sample std 0.5/sqrt(2), stderr 0.25.
    results = {"base": {"accuracy": [0.0, 0.5]}, "flowrl": {"accuracy": [0.5, 0.5]}}
    assert paired_differences(results) == {
        "flowrl - base": {"mean": 0.25, "stderr": pytest.approx(0.25)}
    }


@pytest.mark.parametrize("algorithm", ["flowrl", "grpo"])
def test_rl_raises_pass_at_1_on_its_problems(report, algorithm):
    """The policy after RL solves its training problems more often than the base, and the
    training reward rose along the way."""
    _, result = report
    base = result["policies"]["base"]["pass_at_k"][1]
    trained = result["policies"][algorithm]["pass_at_k"][1]
    reward = result["training"][algorithm]["reward"]
    assert trained > base + 0.05, (base, trained, reward)
    assert sum(reward[-3:]) / 3 > sum(reward[:3]) / 3 + 0.05, reward
