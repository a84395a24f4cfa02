"""Session fixtures of the sampler tests."""

from __future__ import annotations

import pytest
from sampling_fixtures import random_decoder, tiny_config

from flowrl_jax.models import Decoder


@pytest.fixture(scope="session")
def model() -> Decoder:
    """97-token vocabulary, 2 layers."""
    return random_decoder(tiny_config(), seed=0, head_scale=10.0)


@pytest.fixture(scope="session")
def small_vocab_model() -> Decoder:
    """16-token vocabulary, 1 layer, for the sampling-statistics tests."""
    return random_decoder(tiny_config(vocab_size=16, num_layers=1), seed=1, head_scale=8.0)
