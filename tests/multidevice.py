"""Run a test script on an 8-device CPU mesh: XLA takes its device count at start-up, so the
script runs in a subprocess with the flag added to the suite's XLA_FLAGS."""

from __future__ import annotations

import os
import subprocess
import sys


def run_on_8_devices(script: str, *args: str, done: str, timeout: int = 300) -> None:
    """Runs `script args` beside it (its directory as cwd); asserts exit 0 and that it printed
    `done` (the line a script prints after its last check, so a silent early exit fails)."""
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    proc = subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XLA_FLAGS": flags.strip()},
        cwd=os.path.dirname(os.path.abspath(script)),
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert done in proc.stdout
