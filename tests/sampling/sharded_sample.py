"""Run with 8 host devices: sampling with a sharded model equals sampling with a replicated one."""

import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax
import numpy as np
from sampling_fixtures import ragged_prompts, random_decoder, tiny_config

from flowrl_jax.distributed import SAMPLER_RULES, make_mesh, shard_model
from flowrl_jax.sampling import local_rows, sample


def main() -> None:
    assert jax.device_count() == 8, jax.devices()
    config = tiny_config(num_layers=1)
    ids, mask = ragged_prompts((6, 2, 9, 4), 9, 97, seed=1)
    opts = dict(temperature=0.9, top_k=30, max_new_tokens=8, stop_ids=(3, 11), num_samples=2)
    key = jax.random.key(3)
    ref = sample(random_decoder(config, 0, 10.0), ids, mask, key, **opts)

    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    model = shard_model(random_decoder(config, 0, 10.0), mesh, SAMPLER_RULES)
    out = sample(model, ids, mask, key, mesh=mesh, **opts)
    spec = out.tokens.sharding.spec
    print("tokens sharding", spec, "| q_proj", model.layers[0].attn.q_proj.value.sharding.spec)
    assert spec[0] == ("data", "fsdp"), spec
    for name in ("tokens", "mask", "lengths", "truncated"):
        np.testing.assert_array_equal(local_rows(getattr(out, name)), getattr(ref, name), name)
    diff = np.abs(np.asarray(out.logprobs) - np.asarray(ref.logprobs)).max()
    print(f"max log-prob diff {diff:.2e}")
    assert diff < 1e-5
    print("SHARDED_SAMPLE_OK")


if __name__ == "__main__":
    sys.exit(main())
