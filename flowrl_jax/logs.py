"""Logging for the command-line entry points (`flowrl-jax`, the demo, the base-model build)."""

from __future__ import annotations

import logging
import os


def setup_logging() -> None:
    """Our messages at INFO, other libraries' at WARNING (orbax logs every checkpoint operation
    at INFO), and no advice from transformers that PyTorch is missing: we never use it.

    Call it after absl has parsed flags, which lowers the root logger to INFO.
    """
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("flowrl_jax").setLevel(logging.INFO)
