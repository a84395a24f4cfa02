"""Run with 8 host devices: the sampler on the policy resharded to the rollout layout gives the
greedy tokens of the unsharded sampler, and its compiled decode loop gathers no weights (the
training layout's does: every decoded token all-gathers the fsdp-split weights)."""

import os
import re
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax
import numpy as np
from flax import nnx

from flowrl_jax.distributed import make_mesh, rollout_copy, rows_sharding, shard_model
from flowrl_jax.models import Decoder, ModelConfig
from flowrl_jax.sampling import local_rows, sample
from flowrl_jax.sampling.sampler import _left_pad, _sample_program, bucket_length

# qwen2: vocabulary 97, hidden 32, MLP 64, 2 layers, 4 query / 2 kv heads of 8, q/k/v bias
CONFIG = ModelConfig("qwen2", 97, 32, 64, 2, 4, 2, 8, qkv_bias=True)
B, P, T, G = 4, 6, 8, 2


def prompts():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, CONFIG.vocab_size, (B, P)).astype(np.int32)
    mask = np.ones((B, P), bool)
    mask[1, :3] = False
    return ids, mask


COLLECTIVE = re.compile(
    r"= \(?(\w+)\[([\d,]*)\][^\n]*? (all-gather|all-reduce|reduce-scatter|all-to-all|"
    r"collective-permute)(?:-start)?\([^\n]*?(?:replica_groups=([^ ]+(?: \{[^}]*\})?)|"
    r"source_target_pairs=(\{[^ ]*\}))"
)


def replica_groups(text: str) -> list[list[int]]:
    """Device groups of an HLO collective, from any of XLA's three notations: explicit
    `{{0,1},{2,3}}`, iota `[4,2]<=[2,2,2]T(0,2,1)`, or `mesh['a'=2,...] {'a'}` (the groups
    vary along the named axes)."""
    if text.startswith("{{"):
        return [[int(d) for d in g.split(",")] for g in re.findall(r"\{([\d,]+)\}", text)]
    if text.startswith("["):
        m = re.match(r"\[(\d+),(\d+)\]<=\[([\d,]+)\](?:T\(([\d,]+)\))?", text)
        groups, size = int(m.group(1)), int(m.group(2))
        dims = [int(d) for d in m.group(3).split(",")]
        ids = np.arange(int(np.prod(dims))).reshape(dims)
        if m.group(4):
            ids = ids.transpose([int(p) for p in m.group(4).split(",")])
        return ids.reshape(groups, size).tolist()
    axes = re.findall(r"'(\w+)'=(\d+)", text)
    names, sizes = [a for a, _ in axes], [int(n) for _, n in axes]
    varying = [names.index(a) for a in re.findall(r"'(\w+)'", text.split("]", 1)[1])]
    ids = np.arange(int(np.prod(sizes))).reshape(sizes)
    fixed = [i for i in range(len(sizes)) if i not in varying]
    return ids.transpose(fixed + varying).reshape(-1, int(np.prod([sizes[i] for i in varying])))


def decode_loop_collectives(model: Decoder, mesh) -> list[tuple[str, tuple[int, ...], set]]:
    """(kind, result shape, mesh axes its device groups span) of every collective in the
    compiled decode loop's body (and what it calls), for a greedy call of the sampler."""
    ids, mask = _left_pad(*prompts(), bucket_length(P), 0)
    spec = rows_sharding(mesh, B, 2)
    graphdef, state = nnx.split(model)
    hlo = (
        _sample_program.lower(
            graphdef,
            state,
            jax.device_put(ids, spec),
            jax.device_put(mask, spec),
            jax.random.key(0),
            np.float32(1.0),
            np.float32(1.0),
            np.int32(T),
            bucket_new=bucket_length(T),
            num_samples=G,
            stop_ids=(),
            top_k=0,
            greedy=True,
            use_top_p=False,
            pad_id=0,
            mesh=mesh,
        )
        .compile()
        .as_text()
    )
    blocks = {}
    for block in re.split(r"\n(?=\S)", hlo):  # one computation per block
        m = re.match(r"(?:ENTRY )?%?([\w.\-]+)", block)
        if m:
            blocks[m.group(1)] = block
    todo, body = re.findall(r"body=%?([\w.\-]+)", hlo), set()
    while todo:
        name = todo.pop()
        if name not in body and name in blocks:
            body.add(name)
            todo += re.findall(r"(?:calls|to_apply|body)=%?([\w.\-]+)", blocks[name])
    coords = {d.id: np.argwhere(mesh.devices == d)[0] for d in mesh.devices.flat}
    position = {i: coords[d.id] for i, d in enumerate(mesh.devices.flat)}
    out = []
    for name in body:
        for _, dims, kind, groups, pairs in COLLECTIVE.findall(blocks[name]):
            if pairs:
                members = [[int(a), int(b)] for a, b in re.findall(r"\{(\d+),(\d+)\}", pairs)]
            else:
                members = replica_groups(groups)
            spanned = {
                axis
                for group in members
                for i, axis in enumerate(mesh.axis_names)
                if len({int(position[d][i]) for d in group}) > 1
            }
            out.append((kind, tuple(int(d) for d in dims.split(",") if d), spanned))
    return out


def main() -> None:
    assert jax.device_count() == 8
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    ids, mask = prompts()
    key = jax.random.key(1)
    reference = sample(
        Decoder(CONFIG, rngs=nnx.Rngs(0)),
        ids,
        mask,
        key,
        temperature=0.0,
        max_new_tokens=T,
        num_samples=G,
    )

    training = shard_model(Decoder(CONFIG, rngs=nnx.Rngs(0)), mesh)
    rollout = rollout_copy(training, mesh)
    out = sample(
        rollout, ids, mask, key, temperature=0.0, max_new_tokens=T, num_samples=G, mesh=mesh
    )
    np.testing.assert_array_equal(local_rows(out.tokens), np.asarray(reference.tokens))
    assert "fsdp" in str(training.layers[0].mlp.up_proj.value.sharding.spec)  # left as it was
    assert "fsdp" not in str(rollout.layers[0].mlp.up_proj.value.sharding.spec)
    print("greedy tokens equal the unsharded sampler's")

    # what a decoded token costs in communication: the rollout layout talks over `tensor`
    # only (the heads' and the MLP's partial sums, the vocabulary's logits); the training
    # layout also over fsdp, every token, whether XLA gathers weights or moves activations
    weights = set()
    for var in jax.tree.leaves(nnx.state(rollout, nnx.Param)):
        weights |= {tuple(var.shape), tuple(var.addressable_shards[0].data.shape)}
    for name, model in (("training", training), ("rollout", rollout)):
        found = decode_loop_collectives(model, mesh)
        over = sorted({a for _, _, axes in found for a in axes})
        gathers = [s for kind, s, _ in found if kind == "all-gather" and s in weights]
        print(
            f"{name} layout: {len(found)} collectives per decoded token over {over}; "
            f"all-gathers of a weight's shape: {gathers}"
        )
        if name == "training":
            assert any({"fsdp", "data"} & axes for _, _, axes in found), found
        else:
            assert found and all(axes <= {"tensor"} for _, _, axes in found), found
            assert not gathers, gathers
    print("ROLLOUT_LAYOUT_OK")


if __name__ == "__main__":
    sys.exit(main())
