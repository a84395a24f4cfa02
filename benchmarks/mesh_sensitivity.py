"""How far an algorithm's parameters move when only the summation order changes: 3 RL steps on
the toy task in one process of 8 CPU devices, on the mesh (data=2, fsdp=4) and on (data=1,
fsdp=8), from the same half-trained toy policy; prints the largest parameter difference.

It is the yardstick for `tests/distributed/test_multihost.py`, whose two-process runs differ
from one process by summation order too (the policy and configs are that test's fixtures).

    python benchmarks/mesh_sensitivity.py                      # lite_ppo and dph_forward_kl
    python benchmarks/mesh_sensitivity.py --algorithms flowrl
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

TESTS = pathlib.Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "train")]
MESHES = ((2, 4), (1, 8))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algorithms", nargs="+", default=["lite_ppo", "dph_forward_kl"])
    args = p.parse_args(argv)
    from conftest import save_random_checkpoint, toy_policy_after_grpo

    from flowrl_jax.data.tokenizer import build_char_tokenizer

    tmp = pathlib.Path(tempfile.mkdtemp())
    tiny = save_random_checkpoint(tmp / "model", build_char_tokenizer(tmp / "tokenizer"))
    half = toy_policy_after_grpo(tiny, tmp / "half", 12)  # as the test's half_solved_toy_policy
    config = tmp / "config.py"
    overrides = {"steps": 3, "optim.lr": 1e-3, "eval.num_samples": 0, "checkpoint.export_hf": True}
    config.write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS / 'train')!r})\n"
        "from train_fixtures import toy_config\n\n\n"
        "def get_config(algorithm):\n"
        f"    return toy_config({half!r}, 'unset', algorithm, **{overrides!r})\n"
    )
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env = {**os.environ, "XLA_FLAGS": flags.strip()}
    for algorithm in args.algorithms:
        exported = []
        for data, fsdp in MESHES:
            workdir = tmp / f"{algorithm}_{data}x{fsdp}"
            subprocess.run(
                [sys.executable, "-m", "flowrl_jax.train", "train",
                 f"--config={config}:{algorithm}", f"--config.workdir={workdir}",
                 f"--config.mesh.data={data}", f"--config.mesh.fsdp={fsdp}"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            exported.append(load_file(str(workdir / "export" / "model.safetensors")))
        a, b = exported
        diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        print(f"{algorithm}: mesh {MESHES[0]} vs {MESHES[1]}, one process: max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
