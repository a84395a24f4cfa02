"""Reports of evaluated policies: paired differences, Markdown tables, Pass@k plots, and the
machine the figures were measured on. `results` maps a policy's name to its evaluation
(`pass_at_k` {k: value}, `metrics`, per-problem `accuracy`); `labels` maps names to the
names shown."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def paired_differences(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Pass@1 of each policy minus each earlier one, with its standard error.

    Paired over problems (the same problems and sampling key for every policy), so the
    problems' difficulty cancels: the standard error is that of the mean of per-problem
    accuracy differences, std / sqrt(n), much smaller than a single row's.
    """
    names = list(results)
    out = {}
    for i, a in enumerate(names):
        for b in names[:i]:
            d = np.asarray(results[a]["accuracy"]) - np.asarray(results[b]["accuracy"])
            stderr = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            out[f"{a} - {b}"] = {"mean": float(d.mean()), "stderr": float(stderr)}
    return out


def differences_text(
    differences: dict[str, dict[str, float]], num_problems: int, labels: Mapping[str, str]
) -> str:
    """One line: each pair's Pass@1 difference ± its standard error, `labels` naming them."""
    pairs = []
    for pair, d in differences.items():
        a, b = (labels.get(n, n) for n in pair.split(" - "))
        pairs.append(f"{a} - {b} {d['mean']:+.3f} ± {d['stderr']:.3f}")
    return (
        f"Pass@1 differences, paired over the {num_problems} problems (± one standard error): "
        + ", ".join(pairs)
    )


def markdown_table(
    results: dict[str, dict[str, Any]],
    ks: Sequence[int],
    steps: Mapping[str, int],
    labels: Mapping[str, str],
) -> str:
    """Pass@k, distinct correct solutions and base-solved retention per policy (a row each)."""
    header = [
        "policy",
        *(f"Pass@{k}" for k in ks),
        "distinct correct / problem",
        "base-solved still solved",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        label = labels.get(name, name)
        if name in steps:
            label += f" ({steps[name]} steps)"
        cells = [f"{r['pass_at_k'][k]:.3f}" for k in ks]
        cells += [f"{r['metrics']['distinct_correct']:.2f}", f"{r['metrics']['retention']:.3f}"]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def plot_pass_at_k(
    results: dict[str, dict[str, Any]], path: str, title: str, labels: Mapping[str, str]
) -> None:
    """Pass@k against k (log scale) for every policy, saved as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in results.items():
        ks = sorted(r["pass_at_k"])
        label = labels.get(name, name)
        ax.plot(ks, [r["pass_at_k"][k] for k in ks], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted(next(iter(results.values()))["pass_at_k"])
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.minorticks_off()
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("Pass@k")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> dict[str, Any]:
    """What the numbers were measured on (CPU model, cores, load), for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import jax

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
