"""A tiny base policy built by the project's own recipe in seconds, shared by the demo tests."""

from __future__ import annotations

import pytest
from demo_fixtures import TINY_RECIPE

from flowrl_jax.tasks.countdown.base_policy import build_base_model


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("demo") / "base"
    return build_base_model(out, TINY_RECIPE, progress=False)
