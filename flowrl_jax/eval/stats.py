"""Statistics for comparing trained policies: intervals over seeds, paired differences over
problems, and a verdict per claim computed from them.

The study's design: every variant is trained with several seeds, and every policy is evaluated
on the same problems with the same sampling key. A metric of variant A therefore comes as a
[seeds, problems] array. Two intervals describe a difference A − B:

- over seeds: the per-seed differences of the problem means, a t-interval (seed-to-seed
  variation of training, few degrees of freedom);
- paired over problems: the per-problem differences of the seed means, a normal interval
  (the problems' difficulty cancels; tighter, but blind to how much training varies).

A claim "A > B" *holds* when the paired interval lies above 0 and every seed's difference is
positive, *does not hold* when the interval lies below 0 and every seed's difference is
negative, and is *inconclusive* otherwise. "A ≈ B within m" (non-inferiority) holds when the
paired interval's lower end is above −m.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
Z95 = 1.959963984540054


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (exact table to 30)."""
    table = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
    table += (2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)
    table += (2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
    if df < 1:
        return math.nan
    return table[df - 1] if df <= len(table) else Z95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval [low, high] and the number of values it rests on."""

    mean: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.mean):
            return "n/a"
        if not math.isfinite(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {(self.high - self.low) / 2:.{digits}f}"


def seed_interval(values: Sequence[float]) -> Interval:
    """Mean ± t-interval of per-seed values (a single seed has no interval: ±nan)."""
    x = np.asarray(values, np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan, len(x))
    half = t_quantile(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, len(x))


def paired_interval(a: np.ndarray, b: np.ndarray) -> Interval:
    """Mean difference A − B with a normal 95% interval, paired over problems.

    a, b: [seeds, problems] (or [problems]); seeds are averaged first.
    """
    d = np.asarray(a, np.float64).reshape(-1, np.shape(a)[-1]).mean(0)
    d = d - np.asarray(b, np.float64).reshape(-1, np.shape(b)[-1]).mean(0)
    mean = float(d.mean())
    if len(d) < 2:
        return Interval(mean, math.nan, math.nan, len(d))
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(len(d))
    return Interval(mean, mean - half, mean + half, len(d))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A − B on one metric: both intervals and each seed's difference."""

    paired: Interval
    seeds: Interval
    per_seed: tuple[float, ...]


def compare(a: np.ndarray, b: np.ndarray) -> Comparison:
    """a, b: [seeds, problems] per-problem values of one metric for variants A and B."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    n = min(len(a), len(b))  # seed s of A against seed s of B: both share the eval key
    per_seed = tuple(float(x) for x in a[:n].mean(1) - b[:n].mean(1))
    return Comparison(paired_interval(a, b), seed_interval(per_seed), per_seed)


def verdict_greater(c: Comparison) -> str:
    """Whether A > B: see the module docstring."""
    if c.paired.low > 0 and all(d > 0 for d in c.per_seed):
        return HOLDS
    if c.paired.high < 0 and all(d < 0 for d in c.per_seed):
        return FAILS
    return INCONCLUSIVE


def verdict_not_worse(c: Comparison, margin: float) -> str:
    """Whether A is at least B − margin (non-inferiority)."""
    if c.paired.low > -margin:
        return HOLDS
    if c.paired.high < -margin:
        return FAILS
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """A claim made of parts holds when every part holds and fails when any part fails."""
    if any(v == FAILS for v in verdicts):
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE
