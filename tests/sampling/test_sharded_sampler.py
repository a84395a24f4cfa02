"""The sampler with the model split over `tensor` and the batch over (data, fsdp), on an
8-device CPU mesh in a subprocess, equals the unsharded sampler."""

from __future__ import annotations

import os

from multidevice import run_on_8_devices


def test_sharded_sampling_equals_unsharded():
    script = os.path.join(os.path.dirname(__file__), "sharded_sample.py")
    run_on_8_devices(script, done="SHARDED_SAMPLE_OK")
