"""Rollouts in the rollout layout: the policy resharded for the sampler (replicated over data
and fsdp, split over tensor) samples what the unsharded policy samples, and decoding a token
communicates over `tensor` only (the training layout's decode talks over fsdp every token)."""

from __future__ import annotations

import os

from multidevice import run_on_8_devices


def test_rollout_layout_samples_the_same_and_decodes_without_fsdp_traffic():
    script = os.path.join(os.path.dirname(__file__), "rollout_layout.py")
    run_on_8_devices(script, done="ROLLOUT_LAYOUT_OK")
