"""Run with 8 host devices: a run checkpointed on (fsdp=4, tensor=2) resumes on (data=8) with
the same parameters and takes the step the uninterrupted run takes; on the (fsdp=4, tensor=2)
mesh the optimizer state is sharded like the weights, and `plan` counts the bytes one device
really holds."""

import os
import shutil
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax
import numpy as np
from flax import nnx
from train_fixtures import toy_config

from flowrl_jax.train.plan import make_plan
from flowrl_jax.train.trainer import Trainer

SAVED_ON = {"mesh.data": 1, "mesh.fsdp": 4, "mesh.tensor": 2}
RESUMED_ON = {"mesh.data": 8, "mesh.fsdp": 1, "mesh.tensor": 1}


def config(model_path: str, workdir: str, steps: int, mesh: dict):
    # lr 1e-3: AdamW moves a weight by about lr whatever its gradient, so the float noise of
    # another mesh's sums shows in proportion to lr
    return toy_config(model_path, workdir, "grpo", steps=steps, **mesh, **{"optim.lr": 1e-3})


def params(trainer: Trainer) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(trainer.params)]


def device_bytes(tree) -> int:
    """The most bytes any one device holds of `tree`."""
    per_device: dict = {}
    for x in jax.tree.leaves(tree):
        for shard in x.addressable_shards:
            per_device[shard.device] = per_device.get(shard.device, 0) + shard.data.nbytes
    return max(per_device.values())


def main(model_path: str, workdir: str) -> None:
    assert jax.device_count() == 8
    run = f"{workdir}/run"
    straight = Trainer(config(model_path, run, 3, {**SAVED_ON, "checkpoint.every": 1}))
    straight.train()  # checkpoints after steps 1, 2 and 3

    mu = straight.opt_state[1][0].mu
    for (path, p), (_, m) in zip(
        nnx.to_flat_state(nnx.state(straight.model, nnx.Param)),
        nnx.to_flat_state(mu),
        strict=True,
    ):
        assert m.value.sharding.is_equivalent_to(p.value.sharding, p.value.ndim), path
    sharded = [p for p in jax.tree.leaves(straight.params) if not p.sharding.is_fully_replicated]
    assert sharded, "nothing is sharded on (fsdp=4, tensor=2)"
    plan_config = config(model_path, f"{workdir}/plan", 3, SAVED_ON)
    with plan_config.unlocked():
        plan_config.mesh.device_memory_gib = 1.0
    plan = make_plan(plan_config)
    assert plan.items["parameters"] == device_bytes(straight.params), plan.items
    assert plan.items["optimizer state"] == device_bytes(straight.opt_state), plan.items
    print(f"plan: {plan.items['parameters']} parameter bytes per device, as allocated")

    like = {"params": straight.params, "opt_state": straight.opt_state}
    at_step_2 = jax.tree.map(np.asarray, straight.checkpointer.restore(2, like)[0]["params"])
    straight.checkpointer.close()
    shutil.rmtree(os.path.join(run, "checkpoints", "3"))  # the run stopped after step 2

    resumed = Trainer(config(model_path, run, 3, RESUMED_ON))
    assert resumed.restore() and resumed.step == 2
    for a, b in zip(params(resumed), jax.tree.leaves(at_step_2), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(p.sharding.is_fully_replicated for p in jax.tree.leaves(resumed.params))
    resumed.train(resume=True)
    diff = max(
        float(np.abs(a - b).max()) for a, b in zip(params(resumed), params(straight), strict=True)
    )
    print(f"step 3 resumed on data=8 vs uninterrupted on fsdp=4 x tensor=2: max diff {diff:.2e}")
    assert diff < 1e-5
    print("CROSS_MESH_OK")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
