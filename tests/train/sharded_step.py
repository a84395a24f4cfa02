"""With 8 host devices: the same train step on a 1-device mesh and on 8-device meshes agrees."""

import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax
import numpy as np
from train_fixtures import toy_config, use_sgd

from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.trainer import Trainer


def run(model_path: str, workdir: str, algorithm: str, mesh: dict, batch=None):
    overrides = {f"mesh.{k}": v for k, v in mesh.items()}
    if algorithm == "flowrl":
        overrides["algo.logz_dropout"] = 0.0
    trainer = Trainer(toy_config(model_path, workdir, algorithm, **overrides))
    use_sgd(trainer)
    if batch is None:
        with make_scorer(trainer.config) as score:
            batch, _ = trainer.collect(jax.random.key(0), score, {})
        batch = jax.tree.map(np.asarray, batch)
    trainer.update(batch, jax.random.key(1))
    return batch, [np.asarray(x) for x in jax.tree.leaves(trainer.params)]


def main(model_path: str, workdir: str) -> None:
    assert jax.device_count() == 8
    for algorithm in ("grpo", "flowrl"):
        batch, ref = run(
            model_path, f"{workdir}/{algorithm}_1", algorithm, dict(data=1, fsdp=1, tensor=1)
        )
        for mesh in (dict(data=8, fsdp=1, tensor=1), dict(data=2, fsdp=2, tensor=2)):
            _, params = run(model_path, f"{workdir}/{algorithm}_{mesh}", algorithm, mesh, batch)
            diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, params, strict=True))
            scale = max(float(np.abs(a).max()) for a in ref)
            print(f"{algorithm} mesh {mesh}: max |param diff| after one SGD update = {diff:.2e}")
            assert diff <= 1e-5 * max(1.0, scale), (algorithm, mesh, diff, scale)
    print("SHARDED_STEP_OK")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
