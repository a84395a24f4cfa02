"""Fixtures of the loss-kernel tests: float64 mode, random masks, poisoned padding, trace counts."""

import jax
import numpy as np
import pytest


@pytest.fixture
def x64():
    """Run the test with jax_enable_x64 and restore the previous setting afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _make_mask(rng, b, t, *, contiguous=True, empty_row=True):
    """[b, t] bool response mask: right-padded (or scattered) rows, row 0 empty if asked."""
    if contiguous:
        lengths = rng.integers(1, t + 1, size=b)
        mask = np.arange(t)[None, :] < lengths[:, None]
    else:
        mask = rng.random((b, t)) < 0.6
        mask[:, -1] |= ~mask.any(axis=1)
    if empty_row and b > 1:
        mask[0] = False
    return mask


def _poison(x, mask):
    """Copy of ``x`` with NaN / +inf / -inf in the masked-out positions."""
    x = np.array(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    junk = np.array([np.nan, np.inf, -np.inf])[np.arange(x.size).reshape(x.shape) % 3]
    return np.where(mask, x, junk.astype(x.dtype))


def _trace_count(fn):
    """(jitted fn, counter) where counter[0] counts traces (= compilations per shape)."""
    counter = [0]

    def traced(*args):
        counter[0] += 1
        return fn(*args)

    return jax.jit(traced), counter


@pytest.fixture
def make_mask():
    return _make_mask


@pytest.fixture
def poison():
    return _poison


@pytest.fixture
def trace_count():
    return _trace_count
