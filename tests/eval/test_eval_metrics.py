"""Pass@k, Avg@k, distinct-n and retention (docs/algorithms.md §6)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from flowrl_jax.eval import avg_at_k, distinct_n, pass_at_k, pass_at_k_curve, retention


def exact_pass_at_k(n, c, k):
    """1 − C(n−c, k)/C(n, k) in exact rational arithmetic."""
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 16, 100, 1024])
def test_pass_at_k_matches_exact_binomials(n):
    rng = np.random.default_rng(n)
    random_cs, random_ks = rng.integers(0, n + 1, 20), rng.integers(1, n + 1, 20)
    cases = {(0, 1), (n, 1), (n, n), (0, n), (1, 1), (1, n)}
    cases |= {(int(c), int(k)) for c, k in zip(random_cs, random_ks, strict=True)}
    for c, k in cases:
        c, k = min(c, n), min(max(k, 1), n)
        expected = exact_pass_at_k(n, c, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-300), (n, c, k)


def test_pass_at_k_tiny_values_are_accurate():
    # One correct of 1024: Pass@1 = 1/1024 exactly; Pass@k grows linearly as k/n.
    assert pass_at_k(1024, 1, 1) == pytest.approx(1 / 1024, rel=1e-14)
    assert pass_at_k(1024, 1, 100) == pytest.approx(100 / 1024, rel=1e-14)
    assert pass_at_k(1024, 1000, 30) == 1.0  # n − c < k


def test_pass_at_k_identities():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


def test_pass_at_k_curve_averages_over_problems():
    correct = np.array([[1, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0]], bool)
    curve = pass_at_k_curve(correct, [1, 2, 4])
    expected = [np.mean([pass_at_k(4, c, k) for c in (1, 3, 0)]) for k in (1, 2, 4)]
    np.testing.assert_allclose(curve, expected, rtol=1e-12)
    np.testing.assert_allclose(curve[0], correct.mean(), rtol=1e-12)  # Pass@1 = Avg@n
    assert curve[-1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="problems, samples"):
        pass_at_k_curve(np.ones(4), [1])


def test_avg_at_k():
    correct = np.array([[1, 0, 1, 1], [0, 0, 1, 0]])
    assert avg_at_k(correct) == pytest.approx(4 / 8)
    assert avg_at_k(correct, k=2) == pytest.approx(1 / 4)
    assert avg_at_k([1, 0, 0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k=5"):
        avg_at_k(correct, k=5)


def test_distinct_n():
    seqs = [[1, 2, 3], [1, 2, 4], [5]]
    assert distinct_n(seqs, 1) == pytest.approx(5 / 7)
    assert distinct_n(seqs, 2) == pytest.approx(3 / 4)  # (1,2) twice, (2,3), (2,4)
    assert distinct_n(seqs, 3) == pytest.approx(1.0)
    assert distinct_n(seqs, 4) == 0.0
    assert distinct_n([[7, 7, 7, 7]], 2) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        distinct_n(seqs, 0)


def test_retention():
    base = np.array([1, 1, 0, 1], bool)
    assert retention(base, np.array([1, 0, 1, 1], bool)) == pytest.approx(2 / 3)
    assert retention(np.zeros(3, bool), np.ones(3, bool)) == 1.0
