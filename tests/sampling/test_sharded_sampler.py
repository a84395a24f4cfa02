"""The sampler with the model split over `tensor` and the batch over (data, fsdp), on an
8-device CPU mesh in a subprocess, equals the unsharded sampler."""

from __future__ import annotations

import os
import subprocess
import sys


def test_sharded_sampling_equals_unsharded():
    here = os.path.dirname(__file__)
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env = {**os.environ, "XLA_FLAGS": flags.strip()}
    proc = subprocess.run(
        [sys.executable, os.path.join(here, "sharded_sample.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=here,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SHARDED_SAMPLE_OK" in proc.stdout
