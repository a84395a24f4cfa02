"""The study's report: per-variant metrics with intervals over seeds, plots, and verdicts.

Input, per setting: the base's and every variant's evaluation on the same problems, as arrays
`correct` [seeds, problems, samples] and `distinct` [seeds, problems] (the base has one
"seed"), and each run's training curves. Everything here is a function of those arrays; the
study command (`flowrl_jax/study.py`) loads them from the run directories.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flowrl_jax.eval.metrics import pass_at_k
from flowrl_jax.eval.stats import (
    HOLDS,
    Comparison,
    Interval,
    combine,
    compare,
    seed_interval,
    verdict_greater,
    verdict_not_worse,
)

BASE = "base"


@dataclasses.dataclass
class Evaluated:
    """One variant (or the base) of one setting, over its seeds."""

    correct: np.ndarray  # [S, N, n] bool
    distinct: np.ndarray  # [S, N]
    curves: list[dict[str, list[float]]] = dataclasses.field(default_factory=list)  # per seed

    def pass_at(self, k: int) -> np.ndarray:
        """[S, N] per-problem unbiased Pass@k."""
        n = self.correct.shape[-1]
        counts = self.correct.sum(-1)
        return np.vectorize(lambda c: pass_at_k(n, int(c), k))(counts)

    def solved(self) -> np.ndarray:
        return self.correct.any(-1)


def per_problem(metric: str, ev: Evaluated, base: Evaluated) -> np.ndarray:
    """[S, problems] values of `metric` (pass@k, distinct_correct, retention)."""
    if metric.startswith("pass@"):
        return ev.pass_at(int(metric.removeprefix("pass@")))
    if metric == "distinct_correct":
        return ev.distinct.astype(np.float64)
    if metric == "retention":  # solved, on the problems the base solved
        return ev.solved()[:, base.solved()[0]].astype(np.float64)
    raise ValueError(f"unknown study metric {metric!r}; use pass@k, distinct_correct, retention")


def summary(metric: str, ev: Evaluated, base: Evaluated) -> Interval:
    """The metric's mean over problems, as mean ± 95% interval over seeds (nan when there is
    no problem to average, e.g. retention when the base solved none)."""
    values = per_problem(metric, ev, base)
    if values.shape[-1] == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    return seed_interval(values.mean(-1))


def final_entropy(ev: Evaluated) -> Interval | None:
    values = [c["entropy"][-1] for c in ev.curves if c.get("entropy")]
    return seed_interval(values) if values else None


# ------------------------------------------------------------------------------ claims


@dataclasses.dataclass(frozen=True)
class Part:
    """One comparison a claim rests on: `a` > `b` (greater) or `a` ≥ `b` − margin."""

    setting: str
    metric: str
    a: str
    b: str
    kind: str = "greater"
    margin: float = 0.0

    def text(self, labels: Mapping[str, str]) -> str:
        a, b = labels.get(self.a, self.a), labels.get(self.b, self.b)
        rel = ">" if self.kind == "greater" else f"≥ (− {self.margin:g})"
        return f"{a} {rel} {b} on {self.metric} ({self.setting})"


def judge(part: Part, results: Mapping[str, Mapping[str, Evaluated]]) -> tuple[str, Comparison]:
    runs = results[part.setting]
    base = runs[BASE]
    a = per_problem(part.metric, runs[part.a], base)
    b = per_problem(part.metric, runs[part.b], base)
    if len(b) == 1 and len(a) > 1:  # the base: one evaluation against every seed
        b = np.repeat(b, len(a), axis=0)
    if len(a) == 1 and len(b) > 1:
        a = np.repeat(a, len(b), axis=0)
    c = compare(a, b)
    if part.kind == "greater":
        return verdict_greater(c), c
    if part.kind == "not_worse":
        return verdict_not_worse(c, part.margin), c
    raise ValueError(f"claim part kind {part.kind!r}: use 'greater' or 'not_worse'")


def claim_verdicts(claims: Sequence[Mapping[str, Any]], results) -> list[dict[str, Any]]:
    """Each claim's verdict (`combine` of its parts') with the numbers it rests on; parts whose
    variants or setting were not run are left out (and said so)."""
    out = []
    for claim in claims:
        parts, missing = [], []
        for p in claim["parts"]:
            part = Part(**p)
            runs = results.get(part.setting, {})
            if part.a not in runs or part.b not in runs:
                missing.append(part)
                continue
            parts.append((part, *judge(part, results)))
        verdicts = [v for _, v, _ in parts]
        out.append(
            {
                "id": claim["id"],
                "title": claim["title"],
                "verdict": combine(verdicts) if verdicts else "not run",
                "parts": parts,
                "missing": missing,
            }
        )
    return out


# ------------------------------------------------------------------------------ markdown


def setting_table(
    runs: Mapping[str, Evaluated], ks: Sequence[int], labels: Mapping[str, str]
) -> str:
    base = runs[BASE]
    header = ["policy", *(f"Pass@{k}" for k in ks), "distinct correct", "retention", "entropy"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, ev in runs.items():
        cells = [summary(f"pass@{k}", ev, base).text() for k in ks]
        cells.append(summary("distinct_correct", ev, base).text(2))
        cells.append(summary("retention", ev, base).text())
        entropy = final_entropy(ev)
        cells.append(entropy.text(2) if entropy else "")
        seeds = f" ({len(ev.correct)} seeds)" if name != BASE else ""
        lines.append("| " + " | ".join([labels.get(name, name) + seeds, *cells]) + " |")
    return "\n".join(lines)


def verdict_section(verdicts: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    lines = []
    for v in verdicts:
        partial = (
            f" (on the {len(v['parts'])} of {len(v['parts']) + len(v['missing'])} comparisons "
            "that were run)"
            if v["parts"] and v["missing"]
            else ""
        )
        lines.append(
            f"### Claim {v['id']}: {v['title']}\n\n**Verdict: {v['verdict']}{partial}.**\n"
        )
        for part, verdict, c in v["parts"]:
            seeds = ", ".join(f"{d:+.3f}" for d in c.per_seed)
            lines.append(
                f"- {part.text(labels)}: difference {c.paired.mean:+.3f}, 95% interval "
                f"[{c.paired.low:+.3f}, {c.paired.high:+.3f}] paired over {c.paired.n} problems; "
                f"per seed {seeds}; over seeds {c.seeds.text()} → {verdict}"
            )
        for part in v["missing"]:
            lines.append(f"- {part.text(labels)}: not in this study's runs")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ plots


def plot_setting(
    runs: Mapping[str, Evaluated], ks: Sequence[int], path: str, title: str, labels: Mapping
) -> None:
    """Three panels: Pass@k curves (band: min..max over seeds), training accuracy and entropy
    over steps (mean over seeds), and distinct correct solutions against Pass@1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    base = runs[BASE]
    for name, ev in runs.items():
        label = labels.get(name, name)
        curve = np.stack([ev.pass_at(k).mean(-1) for k in ks], axis=-1)  # [S, K]
        (line,) = axes[0].plot(ks, curve.mean(0), marker="o", ms=3, label=label)
        axes[0].fill_between(ks, curve.min(0), curve.max(0), color=line.get_color(), alpha=0.15)
        for ax, key in ((axes[1], "accuracy"), (axes[2], "entropy")):
            series = [c[key] for c in ev.curves if c.get(key)]
            if series:
                steps = min(map(len, series))
                mean = np.mean([s[:steps] for s in series], axis=0)
                ax.plot(np.arange(1, steps + 1), mean, color=line.get_color(), label=label)
        p1 = per_problem("pass@1", ev, base).mean(-1)
        dc = ev.distinct.mean(-1)
        axes[3].scatter(p1, dc, color=line.get_color(), s=12, alpha=0.5)
        axes[3].scatter(p1.mean(), dc.mean(), color=line.get_color(), s=60, marker="D")
    axes[0].set(xscale="log", xlabel="k", ylabel="Pass@k", title="Pass@k (band: seeds' range)")
    axes[0].set_xscale("log", base=2)
    axes[1].set(xlabel="RL step", ylabel="training accuracy", title="training accuracy")
    axes[2].set(xlabel="RL step", ylabel="entropy", title="entropy (tokens, nats)")
    axes[3].set(xlabel="Pass@1", ylabel="distinct correct / problem", title="diversity vs accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    path: str,
    *,
    header: str,
    results: Mapping[str, Mapping[str, Evaluated]],
    claims: Sequence[Mapping[str, Any]],
    ks: Sequence[int],
    labels: Mapping[str, str],
    notes: Mapping[str, str],
) -> dict[str, Any]:
    """Writes the Markdown report and one PNG per setting beside it; returns the verdicts."""
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    table_ks = [k for k in ks if k in (1, 8, max(ks))] or list(ks)
    verdicts = claim_verdicts(claims, results)
    sections = [header, "## Verdicts\n", verdict_section(verdicts, labels)]
    for setting, runs in results.items():
        png = f"{stem}_{setting}.png"
        plot_setting(runs, ks, os.path.join(folder, png), f"setting: {setting}", labels)
        sections += [
            f"## Setting `{setting}`\n",
            notes.get(setting, ""),
            "",
            setting_table(runs, table_ks, labels),
            "",
            f"![{setting}]({png})",
            "",
        ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(sections).rstrip() + "\n")
    held = sum(v["verdict"] == HOLDS for v in verdicts)
    return {"verdicts": verdicts, "held": held, "path": path}
