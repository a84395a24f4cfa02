"""`flowrl-jax study --config=configs/study/<preset>.py` (`make study`): do the papers' claims
hold at small scale?

For each setting (a base policy on the embedded Countdown task), every variant (an algorithm
and its overrides) is trained from the same base with the same rollout budget and several
seeds, in parallel processes; each trained policy and the base are evaluated on the same
held-out problems with the same sampling key. The report (the preset's `report` path) gives,
per variant, Pass@k, distinct correct solutions per problem, base-solved retention and entropy
over training as mean ± 95% interval over seeds, plots, and a verdict per claim computed from
the intervals (`flowrl_jax.eval.stats`).

Resumable: a run whose `result.npz` exists is not redone, so the command may run in parts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np

from flowrl_jax.logs import setup_logging

RESULT = "result.npz"

# ------------------------------------------------------------------------------ presets'
# What the presets (configs/study/*.py) share: the variants (algorithms and ablations) and
# the claims.

VARIANTS = {
    "grpo": {"algorithm": "grpo"},
    "dr_grpo": {"algorithm": "dr_grpo"},
    # DAPO's dynamic sampling as the recipe runs it would stop a run whose prompts are mostly
    # uniform (the hard setting) and multiply its rollouts by up to 10: at most 2 extra
    # rollouts per step, then the batch is filled with uniform groups (logged as ds_filled).
    "dapo": {"algorithm": "dapo", "overrides": {"algo": {"max_resample": 2, "ds_fill": True}}},
    "lite_ppo": {"algorithm": "lite_ppo"},
    "reinforce_pp": {"algorithm": "reinforce_pp"},
    "rloo": {"algorithm": "rloo"},
    "ppo": {"algorithm": "ppo"},
    "flowrl": {"algorithm": "flowrl"},
    # D_pef at the paper's threshold (solved 8 times in 8) would hold about 1 of the 4000
    # training prompts for a base with Pass@1 0.13; half the samples right keeps about 200 of
    # them (the study's base evaluation, binomial), so the stored samples' term acts.
    "dph_forward_kl": {
        "algorithm": "dph_forward_kl",
        "label": "DPH-F (D_pef ≥ 4/8)",
        "overrides": {"algo": {"pef_correct": 4}},
    },
    "dph_js": {
        "algorithm": "dph_js",
        "label": "DPH-JS (D_pef ≥ 4/8)",
        "overrides": {"algo": {"pef_correct": 4}},
    },
    "dph_alpha": {
        "algorithm": "dph_alpha",
        "label": "DPH-α (D_pef ≥ 4/8)",
        "overrides": {"algo": {"pef_correct": 4}},
    },
    "rkl": {"algorithm": "grpo_rkl", "label": "RKL"},
    # FlowRL's ablations (arXiv 2509.15207, Table 4): no importance weight, another β.
    "flowrl_no_weight": {
        "algorithm": "flowrl",
        "label": "FlowRL w/o weight",
        "overrides": {"algo": {"weight_mode": "none"}},
    },
    "flowrl_beta5": {
        "algorithm": "flowrl",
        "label": "FlowRL β=5",
        "overrides": {"algo": {"beta": 5.0}},
    },
    # Lite PPO's two ablations (arXiv 2508.08221): the std of the normalisation, the aggregation.
    "lite_ppo_group_std": {
        "algorithm": "lite_ppo",
        "label": "Lite PPO, group std",
        "overrides": {"algo": {"advantage": "group_norm", "adv_std": "group"}},
    },
    "lite_ppo_no_std": {
        "algorithm": "lite_ppo",
        "label": "Lite PPO, no std",
        "overrides": {"algo": {"advantage": "group_norm", "adv_std": "none"}},
    },
    "lite_ppo_seq": {
        "algorithm": "lite_ppo",
        "label": "Lite PPO, seq-mean",
        "overrides": {"algo": {"loss_agg_mode": "seq-mean-token-mean"}},
    },
}


def _parts(metric, a, bs, setting, kind="greater", margin=0.0):
    return [dict(setting=setting, metric=metric, a=a, b=b, kind=kind, margin=margin) for b in bs]


def claims(large_k: int, hard: str | None, dph_settings: Sequence[str] = ("main",)) -> list[dict]:
    """The papers' claims as comparisons (`flowrl_jax/eval/stats.py` judges each); `large_k` is
    the k of "Pass@k at large k", `hard` the setting with concentrated rewards (or None),
    `dph_settings` those where DPH-RL has stored samples to keep: D_pef, the problems the base
    solves in at least `pef_correct` of 8 samples, is empty when the base rarely solves anything
    (then DPH-RL is PPO-clip and its claim cannot be tested there)."""
    pk = f"pass@{large_k}"
    settings = ["main"] + ([hard] if hard else [])
    flowrl = []
    for s in settings:
        flowrl += _parts("distinct_correct", "flowrl", ["grpo", "ppo"], s)
        flowrl += _parts(pk, "flowrl", ["grpo", "ppo"], s)
        flowrl += _parts("pass@1", "flowrl", ["grpo", "ppo"], s, "not_worse", 0.01)
    dph = []
    for s in settings:
        dph += _parts(pk, "base", ["grpo", "dapo"], s)
    for s in dph_settings:
        for d in ("dph_forward_kl", "dph_js"):
            dph += _parts(pk, d, ["base"], s, "not_worse", 0.02)
            dph += _parts("pass@1", d, ["base"], s)
            dph += _parts(pk, d, ["rkl"], s)
    lite = []
    for s in settings:
        lite += _parts("pass@1", "lite_ppo", ["grpo", "dapo"], s, "not_worse", 0.01)
    std = _parts("pass@1", "lite_ppo", ["lite_ppo_group_std"], hard or "main")
    std += _parts("pass@1", "lite_ppo_no_std", ["lite_ppo_group_std"], hard or "main")
    return [
        {
            "id": "1",
            "title": "FlowRL finds more distinct correct solutions and a higher Pass@k at large k "
            "than GRPO and PPO, at similar or better Pass@1",
            "parts": flowrl,
        },
        {
            "id": "1b",
            "title": "FlowRL's ablations: the importance weight and β = 15 help (Pass@1)",
            "parts": _parts("pass@1", "flowrl", ["flowrl_no_weight", "flowrl_beta5"], "main"),
        },
        {
            "id": "2",
            "title": "GRPO and DAPO push Pass@k at large k below the base; forward KL and JS on "
            "stored base samples keep it close to the base while raising Pass@1, and beat "
            "reverse KL at large k",
            "parts": dph,
        },
        {
            "id": "3",
            "title": "Lite PPO (group mean, batch std, token-level) does at least as well as "
            "GRPO and DAPO",
            "parts": lite,
        },
        {
            "id": "3b",
            "title": "With concentrated rewards, batch std (Lite PPO) and no std beat group std",
            "parts": std,
        },
        {
            "id": "3c",
            "title": "Token-level aggregation beats sequence-level for a base model",
            "parts": _parts("pass@1", "lite_ppo", ["lite_ppo_seq"], "main"),
        },
    ]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the study: a variant of a setting with one seed."""

    setting: str
    variant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.setting}/{self.variant}/seed{self.seed}"


# ------------------------------------------------------------------------------ configs


def recipe(study: Any, setting: str):
    """The base-policy recipe of `setting` (`BaseRecipe` fields from the preset)."""
    from flowrl_jax.tasks.countdown.base_policy import BaseRecipe

    return BaseRecipe(**study.settings[setting].recipe)


def base_path(study: Any, setting: str) -> str:
    return os.path.join(study.workdir, setting, "base")


def run_config(study: Any, spec: RunSpec) -> ml_collections.ConfigDict:
    """The RL config of one run: the embedded task's recipe for its algorithm, pointed at the
    setting's base and data, with the study's budget and the variant's overrides."""
    from flowrl_jax.train.config import countdown_config

    variant = study.variants[spec.variant]
    config = countdown_config(variant.algorithm)
    with config.unlocked():
        recipe(study, spec.setting).apply_to(config)
        config.model_path = os.path.abspath(base_path(study, spec.setting))
        config.workdir = os.path.join(study.workdir, spec.setting, spec.variant, f"seed{spec.seed}")
        config.seed = spec.seed
        config.eval.num_samples = 0  # evaluated below, every policy identically
        config.log.progress = False
        config.log.tensorboard = False
        config.reward.num_workers = 1
        for overrides in (study.rl, study.settings[spec.setting].rl, variant.get("overrides", {})):
            _apply(config, overrides)
    return config


def _apply(config: Any, overrides: Any, where: str = "") -> None:
    """Sets the keys of a nested mapping ({"optim": {"lr": 1e-5}}) in the run config; an
    unknown key fails naming it."""
    for key, value in dict(overrides).items():
        if key not in config:
            raise KeyError(f"study override {where}{key!r}: the run config has no such key")
        if isinstance(value, Mapping | ml_collections.ConfigDict):
            _apply(config[key], value, f"{where}{key}.")
        else:
            config[key] = value


def specs(study: Any) -> list[RunSpec]:
    return [
        RunSpec(setting, variant, seed)
        for setting in study.settings
        for variant in study.settings[setting].variants
        for seed in study.seeds
    ]


def check(study: Any) -> None:
    """Every run's config passes a run's checks before anything trains."""
    from flowrl_jax.train.config import validate

    for name, setting in study.settings.items():
        unknown = [v for v in setting.variants if v not in study.variants]
        if unknown:
            raise ValueError(f"settings.{name}.variants: no variant named {unknown}.")
    for spec in specs(study):
        validate(run_config(study, spec))
    if len(study.seeds) < 1 or len(set(study.seeds)) < len(study.seeds):
        raise ValueError(f"seeds={tuple(study.seeds)}: give at least one, none twice.")


# ------------------------------------------------------------------------------ one run


def eval_config(study: Any, setting: str) -> ml_collections.ConfigDict:
    """The evaluation every policy of a setting gets (the first variant's run config)."""
    first = RunSpec(setting, study.settings[setting].variants[0], study.seeds[0])
    config = run_config(study, first)
    with config.unlocked():
        config.eval.update(
            num_problems=study.eval.problems,
            num_samples=study.eval.samples,
            temperature=study.eval.temperature,
            top_p=1.0,
            ks=tuple(k for k in ks(study) if k <= study.eval.samples),
        )
    return config


def ks(study: Any) -> list[int]:
    n = study.eval.samples
    return sorted({1, *(2**i for i in range(n.bit_length())), n})


def evaluate_policy(path: str, config: Any, seed: int, out: str) -> None:
    """Evaluates the HF model at `path` with sampling key `seed`; saves the per-problem arrays
    to `out` (result.npz)."""
    import jax

    from flowrl_jax.train import runs

    policy = runs.policy_from_model(path, config)
    r = runs.evaluate_policy(config, policy, jax.random.key(seed))
    tmp = f"{out}.tmp.npz"
    np.savez(tmp, correct=r.correct, distinct=r.distinct)
    os.replace(tmp, out)


def train_and_evaluate(study_json: str, spec: RunSpec) -> dict[str, Any]:
    """One run in a worker process: train (from scratch: a half-done run is redone), export,
    evaluate; returns its seconds."""
    setup_logging()
    import jax

    from flowrl_jax.train.trainer import Trainer

    study = ml_collections.ConfigDict(json.loads(study_json))
    # Seeds of one variant compile the same programs: a shared XLA cache compiles them once.
    jax.config.update("jax_compilation_cache_dir", os.path.join(study.workdir, "xla_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    config = run_config(study, spec)
    start = time.perf_counter()
    shutil.rmtree(config.workdir, ignore_errors=True)
    Trainer(config).train()
    export = os.path.join(config.workdir, "export")
    evaluate_policy(
        export, eval_config(study, spec.setting), study.eval.seed, result_path(study, spec)
    )
    return {"seconds": round(time.perf_counter() - start, 1)}


# ------------------------------------------------------------------------------ the study


def run_study(study: Any, *, progress: bool = True) -> dict[str, Any]:
    """Builds the bases, runs what is not done yet (in parallel), evaluates, reports."""
    from flowrl_jax.tasks.countdown.base_policy import ensure_base_model

    check(study)
    say = print if progress else (lambda *a, **k: None)
    for setting in study.settings:
        path = ensure_base_model(
            base_path(study, setting), recipe(study, setting), progress=progress
        )
        result = os.path.join(path, RESULT)
        if not os.path.exists(result):
            evaluate_policy(path, eval_config(study, setting), study.eval.seed, result)
    todo = [s for s in specs(study) if not os.path.exists(result_path(study, s))]
    total = len(specs(study))
    say(
        f"study {study.name}: {total - len(todo)} of {total} runs done, {len(todo)} to run",
        flush=True,
    )
    workers = study.parallel or max(1, (os.cpu_count() or 1) // 2)
    study_json = study.to_json()
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = {pool.submit(train_and_evaluate, study_json, s): s for s in todo}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            spec = futures[future]
            info = future.result()
            elapsed = time.perf_counter() - start
            say(
                f"[{total - len(todo) + done}/{total}] {spec.name} in {info['seconds']:.0f} s "
                f"(study {elapsed / 60:.1f} min)",
                flush=True,
            )
    return write_report(study)


def result_path(study: Any, spec: RunSpec) -> str:
    return os.path.join(study.workdir, spec.setting, spec.variant, f"seed{spec.seed}", RESULT)


# ------------------------------------------------------------------------------ the report


def _curves(workdir: str) -> dict[str, list[float]]:
    """A run's training accuracy and entropy per step, from its metrics.jsonl."""
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if "accuracy" in r]
    return {k: [r[k] for r in rows] for k in ("accuracy", "entropy", "reward")}


def load_results(study: Any):
    """{setting: {"base" | variant: Evaluated}} of every finished run."""
    from flowrl_jax.eval.study_report import BASE, Evaluated

    results = {}
    for setting in study.settings:
        base = os.path.join(base_path(study, setting), RESULT)
        if not os.path.exists(base):
            continue
        with np.load(base) as data:
            runs = {BASE: Evaluated(data["correct"][None], data["distinct"][None])}
        for variant in study.settings[setting].variants:
            done = [
                s
                for s in study.seeds
                if os.path.exists(result_path(study, RunSpec(setting, variant, s)))
            ]
            if not done:
                continue
            arrays, curves = [], []
            for seed in done:
                spec = RunSpec(setting, variant, seed)
                with np.load(result_path(study, spec)) as data:
                    arrays.append((data["correct"], data["distinct"]))
                curves.append(_curves(os.path.dirname(result_path(study, spec))))
            correct, distinct = (np.stack(x) for x in zip(*arrays, strict=True))
            runs[variant] = Evaluated(correct, distinct, curves)
        results[setting] = runs
    return results


def labels(study: Any) -> dict[str, str]:
    """How the report names each variant: its `label`, else its algorithm's display name."""
    from flowrl_jax.algos import get_algorithm

    return {
        name: v.get("label") or get_algorithm(v.algorithm).display_name
        for name, v in study.variants.items()
    }


def write_report(study: Any) -> dict[str, Any]:
    """The report at `study.report` from the runs done so far."""
    from flowrl_jax.eval import study_report
    from flowrl_jax.eval.report import machine

    results = load_results(study)
    m = machine()
    seeds = ", ".join(map(str, study.seeds))
    command = f"flowrl-jax study --config={study.get('preset_path', '<preset>')}"
    header = "\n".join(
        [
            f"# Study: do the papers' claims hold at small scale? (preset `{study.name}`)",
            "",
            f"Produced entirely by `{command}`"
            + (" (`make study`)" if study.name == "fast" else "")
            + f" on {m['cores']} × {m['cpu']} ({m['backend']}, JAX {m['jax']}); nothing in "
            "this file is typed by hand. Every variant is trained from the same base policy "
            f"with the same rollout budget ({_budget(study)}) and seeds {seeds}; every policy "
            f"is evaluated on the same {study.eval.problems} held-out problems with "
            f"{study.eval.samples} samples each at temperature {study.eval.temperature} and "
            "the same sampling key. Cells are mean ± half-width of the 95% t-interval over "
            "seeds; verdicts rest on differences paired over problems and on every seed's "
            "difference agreeing (`flowrl_jax/eval/stats.py`): *holds* when the interval "
            "excludes 0 in the claimed direction and every seed agrees, *does not hold* when "
            "it excludes 0 the other way and every seed agrees, *inconclusive* otherwise.",
            "",
            _completeness(study),
            study.get("summary", ""),
        ]
    )
    path = study.report
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    report = study_report.write(
        path,
        header=header,
        results=results,
        claims=study.claims,
        ks=[k for k in ks(study) if k <= study.eval.samples],
        labels={**labels(study), study_report.BASE: "base"},
        notes={name: s.get("about", "") for name, s in study.settings.items()},
    )
    lines = [
        f"{v['id']} {v['title']}: {v['verdict']}"
        + (f" ({len(v['missing'])} comparisons not run)" if v["parts"] and v["missing"] else "")
        for v in report["verdicts"]
    ]
    return {**report, "summary": "\n".join(lines)}


def _completeness(study: Any) -> str:
    """A line naming the runs not done yet (empty when every run is done)."""
    missing = [s.name for s in specs(study) if not os.path.exists(result_path(study, s))]
    if not missing:
        return ""
    return (
        f"**Incomplete: {len(specs(study)) - len(missing)} of {len(specs(study))} runs done**; "
        f"missing: {', '.join(missing)}. Rerunning the command runs only those and rewrites "
        "this report.\n"
    )


def _budget(study: Any) -> str:
    """The study's RL overrides as `key value` text ("steps 40, prompts_per_step 32, ...")."""

    def flat(node: Any) -> list[str]:
        return [
            part
            for key, value in dict(node).items()
            for part in (
                flat(value)
                if isinstance(value, Mapping | ml_collections.ConfigDict)
                else [f"{key} {value}"]
            )
        ]

    return ", ".join(flat(study.rl))


def load_preset(path: str) -> ml_collections.ConfigDict:
    """A study preset: a Python file whose `get_config()` returns the study's ConfigDict."""
    import importlib.util

    if not os.path.isfile(path):
        raise FileNotFoundError(f"study preset {path!r} does not exist (configs/study/*.py).")
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # presets may build on each other (full.py on fast.py)
    try:
        spec = importlib.util.spec_from_file_location("study_preset", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.get_config()
    finally:
        sys.path.remove(folder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flowrl-jax study", description="Train every variant x seed, evaluate, report."
    )
    parser.add_argument("--config", required=True, help="a study preset, configs/study/*.py")
    parser.add_argument("--report-only", action="store_true", help="report the runs done")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    study = load_preset(args.config)
    with study.unlocked():
        study.preset_path = os.path.relpath(args.config)
    if args.report_only:
        report = write_report(study)
    else:
        report = run_study(study, progress=not args.no_progress)
    print(report["summary"])
    print(f"wrote {report['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
