"""`make demo`: FlowRL against GRPO on the embedded Countdown task, on a laptop CPU, no download.

1. The base policy (a tiny Qwen2-architecture decoder the project trains itself, see
   `flowrl_jax.train.pretrain`) is built into `artifacts/countdown_base` unless it is cached.
2. Short RL runs with FlowRL and with GRPO start from it (the `countdown_config` recipe, same
   seed), each exporting its final policy as Hugging Face safetensors.
3. The base and both trained policies, each loaded back from its exported directory, are
   evaluated on the same held-out test problems with many samples per problem and the same
   sampling key (common random numbers: differences between rows are less noisy than rows),
   exactly as `flowrl-jax eval` evaluates a checkpoint.
4. A table (Pass@1, Pass@8, Pass@64, distinct correct solutions per problem, fraction of the
   base-solved problems still solved) is printed and written with the raw numbers and a Pass@k
   plot into the run directory: `table.md`, `results.json`, `passk.png`.

Everything is seeded: the same command on the same machine prints the same numbers.

    python -m flowrl_jax.demo [--steps=40] [--algorithms=flowrl,grpo] [--set optim.lr=1e-4]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ml_collections

from flowrl_jax.logs import setup_logging

if TYPE_CHECKING:
    from flowrl_jax.tasks.countdown.base_policy import BaseRecipe


def display_name(name: str) -> str:
    """How the report names a policy: the algorithm's display name, or `name` itself."""
    from flowrl_jax.algos import algorithm_names, get_algorithm

    return get_algorithm(name).display_name if name in algorithm_names() else name


def labels(names: Sequence[str]) -> dict[str, str]:
    return {n: display_name(n) for n in names}


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; the defaults are `make demo`'s."""

    workdir: str = "runs/demo"
    base_path: str = "artifacts/countdown_base"
    algorithms: tuple[str, ...] = ("flowrl", "grpo")
    seed: int = 0
    steps: int | None = None  # RL steps; None keeps countdown_config's
    overrides: tuple[tuple[str, Any], ...] = ()  # (dotted config key, value) for the RL runs
    eval_problems: int = 200  # the test split's size in countdown_config
    eval_split: str = "test"  # or "train": the RL problems themselves (the smoke test's check)
    eval_samples: int = 64
    table_ks: tuple[int, ...] = (1, 8, 64)
    recipe: BaseRecipe | None = None  # None: the default recipe
    progress: bool = True


REPORT_FILES = ("table.md", "results.json", "passk.png")

RESERVED = {"workdir": "--workdir", "model_path": "--base", "seed": "--seed", "steps": "--steps"}
"""RL config keys the demo sets itself, and the demo's flags for them."""


def rl_config(algorithm: str, demo: DemoConfig) -> ml_collections.ConfigDict:
    """`countdown_config(algorithm)` pointed at the demo's base model and run directory."""
    from flowrl_jax.train.config import countdown_config, set_key

    config = countdown_config(algorithm)
    with config.unlocked():
        config.model_path = os.path.abspath(demo.base_path)
        config.workdir = os.path.join(demo.workdir, algorithm)
        config.seed = demo.seed
        if demo.steps is not None:
            config.steps = demo.steps
        config.eval.num_samples = 0  # the demo evaluates every policy itself, identically
        config.log.progress = demo.progress
        if demo.recipe is not None:
            demo.recipe.apply_to(config)
        for key, value in demo.overrides:
            if key in RESERVED:
                raise ValueError(f"--set {key}: the demo sets it; use {RESERVED[key]} instead.")
            set_key(config, key, value)
    return config


def check_demo(demo: DemoConfig) -> None:
    """Every setting checked before minutes of training: each RL config as a run checks it."""
    from flowrl_jax.algos import algorithm_names
    from flowrl_jax.train.config import validate

    if not demo.algorithms:
        raise ValueError("--algorithms is empty: name at least one, e.g. --algorithms=grpo.")
    if len(set(demo.algorithms)) < len(demo.algorithms):
        raise ValueError(f"--algorithms={','.join(demo.algorithms)} names one twice.")
    unknown = [a for a in demo.algorithms if a not in algorithm_names()]
    if unknown:
        raise ValueError(
            f"--algorithms: unknown {', '.join(unknown)}; known: {', '.join(algorithm_names())}."
        )
    if demo.steps is not None and demo.steps < 1:
        raise ValueError(f"--steps={demo.steps} must be >= 1.")
    if demo.eval_samples < 1 or demo.eval_problems < 1:
        raise ValueError(
            f"--eval-samples={demo.eval_samples} and --eval-problems={demo.eval_problems} "
            "must be >= 1."
        )
    if demo.eval_split not in ("train", "test"):
        raise ValueError(f"eval_split={demo.eval_split!r} must be 'train' or 'test'.")
    for algorithm in demo.algorithms:
        config = rl_config(algorithm, demo)
        validate(config)
    available = config.data.num_train if demo.eval_split == "train" else config.data.num_eval
    if demo.eval_split == "test" and demo.recipe is not None:
        available = min(available, demo.recipe.num_test)  # the rest trained the base policy
    if demo.eval_problems > available:
        raise ValueError(
            f"--eval-problems={demo.eval_problems}, but the {demo.eval_split} split has "
            f"{available} problems the base policy was not trained on (data.num_eval and "
            "BaseRecipe.num_test): ask for at most that many."
        )


def train_policy(algorithm: str, demo: DemoConfig) -> dict[str, Any]:
    """One RL run from the base policy; returns its exported directory and training curve."""
    from flowrl_jax.train.trainer import Trainer

    config = rl_config(algorithm, demo)
    shutil.rmtree(config.workdir, ignore_errors=True)  # a fresh run, not an appended one
    start = time.perf_counter()
    Trainer(config).train()
    seconds = time.perf_counter() - start
    with open(os.path.join(config.workdir, "metrics.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if "reward" in r]
    timed = rows[1:] or rows  # the first step compiles; a one-step run has only that one
    return {
        "export": os.path.join(config.workdir, "export"),
        "steps": config.steps,
        "seconds": round(seconds, 1),
        "reward": [r["reward"] for r in rows],
        "median_step_seconds": {
            k.removeprefix("time/"): round(statistics.median(r[k] for r in timed), 3)
            for k in rows[0]
            if k.startswith("time/")
        },
        "config": json.loads(config.to_json_best_effort()),
    }


def evaluate_policies(
    paths: dict[str, str], demo: DemoConfig, config: Any
) -> dict[str, dict[str, Any]]:
    """Each policy at `paths` (HF directories) on the same test problems and sampling keys."""
    import jax

    from flowrl_jax.data import tokenize_prompts
    from flowrl_jax.eval.evaluate import evaluate_configured
    from flowrl_jax.eval.metrics import pass_at_k_curve, retention
    from flowrl_jax.models import from_pretrained, load_tokenizer
    from flowrl_jax.rollout import make_scorer
    from flowrl_jax.tasks import get_task

    split = "train" if demo.eval_split == "train" else "eval"
    problems = get_task(config.task).problems(config.data, split)[: demo.eval_problems]
    n = demo.eval_samples
    curve_ks = sorted({1, *(2**i for i in range(n.bit_length())), n, *demo.table_ks})
    curve_ks = [k for k in curve_ks if k <= n]
    # `flowrl-jax eval` with these eval settings (and the run's seed as key) gives these rows.
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.eval.update(
            num_problems=demo.eval_problems,
            num_samples=n,
            temperature=1.0,
            top_p=1.0,
            ks=tuple(curve_ks),
        )
    key = jax.random.key(config.seed)
    results: dict[str, dict[str, Any]] = {}
    with make_scorer(config) as score:
        for name, path in paths.items():
            start = time.perf_counter()
            model = from_pretrained(path)
            tokenizer = load_tokenizer(path, vocab_size=model.config.vocab_size)
            prompts = tokenize_prompts(problems, tokenizer, config.data.max_prompt_len)
            if demo.progress:
                print(
                    f"evaluating {display_name(name)}: {len(prompts)} problems x {n} samples",
                    flush=True,
                )
            r = evaluate_configured(model, tokenizer, prompts, score, key, config)
            results[name] = {
                "metrics": r.metrics,
                "pass_at_k": dict(
                    zip(curve_ks, pass_at_k_curve(r.correct, curve_ks).tolist(), strict=True)
                ),
                "solved": r.correct.any(axis=1),
                "accuracy": r.correct.mean(axis=1),
                "seconds": round(time.perf_counter() - start, 1),
            }
    base_solved = results["base"]["solved"]
    for r in results.values():
        r["metrics"]["retention"] = retention(base_solved, r["solved"])
        r["solved"] = r["solved"].tolist()
    return results


def run_demo(demo: DemoConfig) -> dict[str, Any]:
    """Build (or reuse) the base, train, evaluate, write the report; returns the results."""
    from flowrl_jax.eval.report import (
        differences_text,
        machine,
        markdown_table,
        paired_differences,
        plot_pass_at_k,
    )
    from flowrl_jax.tasks.countdown.base_policy import BaseRecipe, ensure_base_model

    start = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    demo = dataclasses.replace(demo, recipe=demo.recipe or BaseRecipe())
    recipe = demo.recipe
    check_demo(demo)
    os.makedirs(demo.workdir, exist_ok=True)
    for name in REPORT_FILES:  # no stale report beside new runs if this one fails
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(demo.workdir, name))
    timings: dict[str, float] = {}
    ensure_base_model(demo.base_path, recipe, progress=demo.progress)
    timings["base_model"] = round(time.perf_counter() - start, 1)

    runs = {}
    for algorithm in demo.algorithms:
        if demo.progress:
            print(f"RL with {display_name(algorithm)} from the base policy", flush=True)
        runs[algorithm] = train_policy(algorithm, demo)
        timings[f"train_{algorithm}"] = runs[algorithm]["seconds"]

    t = time.perf_counter()
    paths = {"base": demo.base_path, **{a: r["export"] for a, r in runs.items()}}
    results = evaluate_policies(paths, demo, rl_config(demo.algorithms[0], demo))
    timings["evaluation"] = round(time.perf_counter() - t, 1)
    timings["total"] = round(time.perf_counter() - start, 1)

    steps = {a: r["steps"] for a, r in runs.items()}
    ks = [k for k in demo.table_ks if k <= demo.eval_samples]
    names = labels(results)
    table = markdown_table(results, ks, steps, names)
    differences = paired_differences(results)
    num_problems = len(results["base"]["solved"])
    report = {
        "table": table,
        "policies": {
            name: {
                "metrics": r["metrics"],
                "pass_at_k": r["pass_at_k"],
                "eval_seconds": r["seconds"],
                "solved": r["solved"],
                "accuracy": r["accuracy"].tolist(),
            }
            for name, r in results.items()
        },
        "pass_at_1_differences": differences,
        "pass_at_1_differences_text": differences_text(differences, num_problems, names),
        "training": {a: {k: v for k, v in r.items() if k != "export"} for a, r in runs.items()},
        "eval": {
            "problems": demo.eval_problems,
            "samples": demo.eval_samples,
            "temperature": 1.0,
            "split": demo.eval_split,
        },
        "seed": demo.seed,
        "base_recipe": dataclasses.asdict(recipe),
        "timings_s": timings,
        "machine": {**machine(), "load_average_at_start": load_at_start},
    }
    with open(os.path.join(demo.workdir, "table.md"), "w", encoding="utf-8") as f:
        f.write(f"{table}\n\n{report['pass_at_1_differences_text']}\n")
    with open(os.path.join(demo.workdir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    plot_pass_at_k(
        results,
        os.path.join(demo.workdir, "passk.png"),
        f"Countdown {demo.eval_split} split, {num_problems} problems x {demo.eval_samples} samples",
        names,
    )
    return report


def same_path(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _parse_set(text: str) -> tuple[str, Any]:
    from flowrl_jax.train.config import parse_assignment

    try:
        return parse_assignment(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowrl_jax.demo",
        description="Base policy -> RL with FlowRL and GRPO -> Pass@k and diversity table.",
    )
    parser.add_argument("--workdir", default=DemoConfig.workdir)
    parser.add_argument(
        "--base",
        default=DemoConfig.base_path,
        help="base policy: built here if missing; a base the project built elsewhere is reused "
        "with its own recipe; your own HF model directory is used as it is",
    )
    parser.add_argument(
        "--algorithms",
        default=",".join(DemoConfig.algorithms),
        help="comma-separated algorithm names (flowrl_jax/algos)",
    )
    parser.add_argument("--seed", type=int, default=DemoConfig.seed)
    parser.add_argument("--steps", type=int, default=None, help="RL steps per algorithm")
    parser.add_argument("--eval-problems", type=int, default=DemoConfig.eval_problems)
    parser.add_argument("--eval-samples", type=int, default=DemoConfig.eval_samples)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_parse_set,
        default=[],
        metavar="KEY=VALUE",
        help="RL config override, e.g. optim.lr=3e-4",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    from flowrl_jax.tasks.countdown.base_policy import recorded_recipe

    demo = DemoConfig(
        workdir=args.workdir,
        base_path=args.base,
        # A base built with other settings (`pretrain --steps=300 --out=DIR`) is kept as built
        # when named explicitly; the default path follows the current default recipe.
        recipe=None if same_path(args.base, DemoConfig.base_path) else recorded_recipe(args.base),
        algorithms=tuple(a for a in args.algorithms.split(",") if a),
        seed=args.seed,
        steps=args.steps,
        overrides=tuple(args.overrides),
        eval_problems=args.eval_problems,
        eval_samples=args.eval_samples,
        progress=not args.no_progress,
    )
    report = run_demo(demo)
    m = report["machine"]
    print()
    print(report["table"])
    print()
    print(report["pass_at_1_differences_text"])
    print()
    t = report["timings_s"]
    print(
        f"{m['cores']} x {m['cpu']} (load average {m['load_average'][0]:.1f}): total "
        f"{t['total']:.0f} s = base policy {t['base_model']:.0f} s, "
        + ", ".join(f"{display_name(a)} {t[f'train_{a}']:.0f} s" for a in demo.algorithms)
        + f", evaluation {t['evaluation']:.0f} s"
    )
    for a in demo.algorithms:
        split = dict(report["training"][a]["median_step_seconds"])
        total = split.pop("step")
        parts = " + ".join(f"{k} {v:.2f}" for k, v in split.items())
        name = display_name(a)
        which = "median RL step (after the first)"
        if report["training"][a]["steps"] == 1:
            which = "RL step (the only one, compilation included)"
        print(f"{name} {which}: {total:.2f} s = {parts}")
    print(f"wrote {os.path.join(demo.workdir, 'table.md')}, results.json and passk.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
