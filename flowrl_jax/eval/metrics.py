"""Evaluation metrics on the host, in NumPy (docs/algorithms.md §6).

Pass@k     1 − C(n−c, k)/C(n, k), unbiased (Chen et al., arXiv 2107.03374), as a stable product
Avg@k      mean correctness of k samples (FlowRL, arXiv 2509.15207)
distinct-n distinct n-grams / all n-grams (Li et al., arXiv 1510.03055)
retention  fraction of base-solved problems still solved (DPH-RL, arXiv 2509.07430)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Pass@k of one problem with n samples of which c are correct (arXiv 2107.03374).

    1 − C(n−c, k)/C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i), summed in log space
    (−expm1(Σ log1p(−k/i))), accurate for n in the thousands.

    Args:
      n: samples drawn (n ≥ 1).
      c: correct samples (0 ≤ c ≤ n).
      k: the k of Pass@k (1 ≤ k ≤ n).

    Returns:
      The probability that at least one of k samples drawn without replacement is correct.
    """
    n, c, k = int(n), int(c), int(k)
    if not (n >= 1 and 0 <= c <= n and 1 <= k <= n):
        raise ValueError(
            f"pass_at_k needs n >= 1, 0 <= c <= n and 1 <= k <= n; got {n=}, {c=}, {k=}"
        )
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(-np.expm1(np.sum(np.log1p(-k / i))))


def pass_at_k_curve(correct: np.ndarray, ks: Iterable[int]) -> np.ndarray:
    """Pass@k averaged over problems, for each k in ``ks``.

    Args:
      correct: [P, n] correctness (bool or 0/1) of n samples for each of P problems.
      ks: the values of k (each 1 ≤ k ≤ n).

    Returns:
      [len(ks)] float64 mean Pass@k.
    """
    correct = np.asarray(correct)
    if correct.ndim != 2:
        raise ValueError(f"correct must be [problems, samples], got shape {correct.shape}")
    n = correct.shape[1]
    counts = np.count_nonzero(correct, axis=1)
    return np.array([np.mean([pass_at_k(n, c, k) for c in counts]) for k in ks], dtype=np.float64)


def avg_at_k(correct: np.ndarray, k: int | None = None) -> float:
    """Avg@k: mean correctness of the first k samples of each problem (all when k is None).

    Args:
      correct: [P, n] (or [n]) correctness.
      k: samples per problem to use, 1 ≤ k ≤ n.
    """
    correct = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    if k is not None:
        if not 1 <= k <= correct.shape[1]:
            raise ValueError(f"avg_at_k needs 1 <= k <= {correct.shape[1]}, got k={k}")
        correct = correct[:, :k]
    return float(np.mean(correct))


def distinct_n(sequences: Sequence[Sequence[int]], n: int) -> float:
    """Distinct-n: number of distinct n-grams over the total number of n-grams (arXiv 1510.03055).

    Args:
      sequences: token lists (e.g. a problem's responses).
      n: n-gram order (n ≥ 1).

    Returns:
      A ratio in [0, 1]; 0 when no sequence has n tokens.
    """
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1, got n={n}")
    grams = [tuple(seq[i : i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def retention(base_solved: np.ndarray, solved: np.ndarray) -> float:
    """Fraction of the problems the base model solves that the trained model still solves.

    Args:
      base_solved: [P] bool, solved by the base model.
      solved: [P] bool, solved by the trained model.

    Returns:
      A ratio in [0, 1]; 1.0 (nothing to lose) when the base model solves nothing.
    """
    base_solved, solved = np.asarray(base_solved, bool), np.asarray(solved, bool)
    total = np.count_nonzero(base_solved)
    return float(np.count_nonzero(base_solved & solved) / total) if total else 1.0
