"""The study: verdicts computed from intervals (checked on synthetic numbers), and the runner on
a tiny budget producing a report with every section."""

from __future__ import annotations

import dataclasses
import os
import sys

import ml_collections
import numpy as np
import pytest

from flowrl_jax.eval import stats
from flowrl_jax.eval.study_report import BASE, Evaluated, Part, claim_verdicts, judge

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "demo"))
from demo_fixtures import TINY_RECIPE


def _runs(shifts=(0.05, 0.05, 0.05), problems: int = 200, n: int = 64):
    """Variants a and b on the same problems; seed s of a is seed s of b with a fraction
    `shifts[s]` of its wrong samples made right (or of its right ones made wrong, if < 0)."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.6, (len(shifts), problems, 1))
    b = rng.random((len(shifts), problems, n)) < p
    a = b.copy()
    for seed, shift in enumerate(shifts):
        flip = rng.random((problems, n)) < abs(shift)
        a[seed] = (b[seed] | flip) if shift > 0 else (b[seed] & ~flip)
    ones = np.ones((len(shifts), problems))
    base = Evaluated(b[:1], ones[:1])
    return {"main": {BASE: base, "a": Evaluated(a, ones), "b": Evaluated(b, ones)}}


@pytest.mark.parametrize(
    ("shifts", "kind", "margin", "expected"),
    [
        ((0.05, 0.05, 0.05), "greater", 0.0, stats.HOLDS),
        ((-0.05, -0.05, -0.05), "greater", 0.0, stats.FAILS),
        ((0.0, 0.0, 0.0), "greater", 0.0, stats.INCONCLUSIVE),  # no difference at all
        ((0.08, 0.08, -0.03), "greater", 0.0, stats.INCONCLUSIVE),  # a seed disagrees
        ((0.0, 0.0, 0.0), "not_worse", 0.02, stats.HOLDS),
        ((-0.1, -0.1, -0.1), "not_worse", 0.02, stats.FAILS),
    ],
)
def test_verdicts_on_synthetic_numbers(shifts, kind, margin, expected):
    part = Part("main", "pass@1", "a", "b", kind, margin)
    verdict, c = judge(part, _runs(shifts))
    assert verdict == expected, c
    if shifts == (0.08, 0.08, -0.03):
        assert c.paired.low > 0  # the paired interval alone would have said "holds"


def test_a_claim_fails_on_any_failed_part_and_holds_only_when_all_hold():
    assert stats.combine([stats.HOLDS, stats.HOLDS]) == stats.HOLDS
    assert stats.combine([stats.HOLDS, stats.INCONCLUSIVE]) == stats.INCONCLUSIVE
    assert stats.combine([stats.INCONCLUSIVE, stats.FAILS]) == stats.FAILS
    claims = [
        {"id": "x", "title": "t", "parts": [dict(setting="main", metric="pass@1", a="a", b="zz")]}
    ]
    (v,) = claim_verdicts(claims, _runs())
    assert v["verdict"] == "not run" and len(v["missing"]) == 1


def test_intervals_by_hand():
    i = stats.seed_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2) = 4.303
    assert i.mean == 2.0 and i.high - i.mean == pytest.approx(4.303 / np.sqrt(3), rel=1e-3)
    d = stats.paired_interval(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[0.0, 2.0, 2.0, 4.0]]))
    assert d.mean == pytest.approx(0.5) and d.n == 4


def test_runner_on_a_tiny_budget_writes_every_section(tmp_path):
    from flowrl_jax.study import VARIANTS, claims, load_results, run_study

    study = ml_collections.ConfigDict()
    study.name = "tiny"
    study.workdir = str(tmp_path / "runs")
    study.report = str(tmp_path / "docs" / "study.md")
    study.summary = ""
    study.seeds = (0,)
    study.parallel = 1
    study.rl = {
        "steps": 2,
        "data": {"num_train": 16},
        "rollout": {"prompts_per_step": 4, "group_size": 4},
        "optim": {"mini_batch_prompts": 2},
    }
    study.eval = ml_collections.ConfigDict(dict(problems=8, samples=4, temperature=1.0, seed=1))
    study.variants = {k: VARIANTS[k] for k in ("grpo", "flowrl")}
    recipe = {k: v for k, v in dataclasses.asdict(TINY_RECIPE).items()}
    study.settings = {
        "main": {"about": "tiny", "recipe": recipe, "rl": {}, "variants": ["grpo", "flowrl"]}
    }
    study.claims = claims(4, None)
    report = run_study(study, progress=False)
    with open(study.report, encoding="utf-8") as f:
        text = f.read()
    for section in (
        "# Study",
        "## Verdicts",
        "### Claim 1:",
        "## Setting `main`",
        "study_main.png",
    ):
        assert section in text
    assert os.path.getsize(tmp_path / "docs" / "study_main.png") > 0
    assert report["verdicts"][0]["verdict"] in (stats.HOLDS, stats.FAILS, stats.INCONCLUSIVE)
    assert "not in this study's runs" in text  # PPO was not run
    assert "comparisons that were run)" in text  # so a verdict says it rests on a part
    assert "Incomplete" not in text  # every run is done
    results = load_results(study)["main"]
    assert (
        results["grpo"].correct.shape == (1, 8, 4)
        and len(results["flowrl"].curves[0]["accuracy"]) == 2
    )
    # resumable: a second call trains nothing
    mtime = os.path.getmtime(tmp_path / "runs" / "main" / "grpo" / "seed0" / "result.npz")
    run_study(study, progress=False)
    assert os.path.getmtime(tmp_path / "runs" / "main" / "grpo" / "seed0" / "result.npz") == mtime


@pytest.mark.parametrize("preset", ["fast", "full"])
def test_presets_load_and_every_run_config_validates(preset):
    from flowrl_jax.study import check, load_preset, specs

    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "study")
    study = load_preset(os.path.join(root, f"{preset}.py"))
    check(study)
    assert len(study.seeds) >= 3 and len(specs(study)) >= 12 * 3
