"""Suite-wide settings: tests compile many tiny programs, so make XLA compile them quickly.

- Cheaper CPU code generation (the programs run for microseconds; compiling dominates).
- A persistent compilation cache shared by every test process of this run, so identical
  programs (the sampler and forward of the shared tiny models) compile once.
Both are environment variables, so the subprocess tests (8-device meshes) inherit them; they
append their device-count flag to XLA_FLAGS.
"""

import os
import tempfile

os.environ["XLA_FLAGS"] = " ".join(
    [
        os.environ.get("XLA_FLAGS", ""),
        "--xla_backend_optimization_level=0",
        "--xla_llvm_disable_expensive_passes=true",
    ]
).strip()
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "flowrl_jax_test_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
