"""Run with 8 host devices: the sharded forward equals the unsharded one on several meshes."""

import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax
import numpy as np

from flowrl_jax.distributed import make_mesh
from flowrl_jax.models import from_pretrained


def main(path: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    ids = np.random.default_rng(0).integers(0, 300, (8, 9))
    mask = np.ones((8, 9), np.int32)
    mask[1, :4] = 0
    ref = np.asarray(from_pretrained(path)(ids, mask).logits)
    for shape in [dict(data=8), dict(data=1, fsdp=4, tensor=2), dict(data=1, tensor=8)]:
        mesh = make_mesh(**shape)
        model = from_pretrained(path, mesh=mesh)
        specs = {
            str(v.value.sharding.spec)
            for v in jax.tree.leaves(model, is_leaf=lambda x: hasattr(x, "value"))
        }
        out = jax.jit(lambda m, i, k: m(i, k).logits)(model, ids, mask)
        diff = float(np.abs(np.asarray(out) - ref)[mask.astype(bool)].max())
        print(f"mesh {shape}: max diff {diff:.2e}; {len(specs)} distinct param specs")
        assert diff < 1e-4, shape
        if shape != dict(data=8):
            assert len(specs) > 1, f"nothing was sharded on {shape}"
    print("SHARDED_OK")


if __name__ == "__main__":
    main(sys.argv[1])
