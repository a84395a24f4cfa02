"""`flowrl-jax plan`: does a run's config fit on its devices, before renting them?

From the config alone (no weights, no checkpoint, no devices: abstract shapes on an abstract
mesh of `config.mesh.data/fsdp/tensor`), the bytes one device holds of

- the parameters (policy and the algorithm's heads, `param_dtype`, training layout),
- the optimizer state (AdamW's two moments, sharded like the weights),
- the gradients (the accumulator and one micro-batch's),
- the reference weights (a frozen copy, when the algorithm needs one),
- the rollout weights (the copy resharded to the rollout layout, in the compute dtype),
- the KV cache of one sampler call and the sampler's transients,
- the activations of one training micro-batch, for each remat policy,

and the peak of the two phases of a step (rollout; update) against `mesh.device_memory_gib`.
The architecture is the model directory's `config.json` when `model_path` has one, else
`model.architecture` (a preset such as `qwen2.5-7b`, or a config.json path).

Parameter, optimizer, gradient and KV-cache bytes are exact for this code's layouts (the test
suite compares them with a loaded model). Activations are an estimate of what XLA keeps for
the backward pass of this decoder (no fused attention: the [S, S] scores of each head are
materialised); XLA's own temporaries and fragmentation come on top, so leave some headroom.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.tree_util import keystr, tree_flatten_with_path

from flowrl_jax.algos import make_algorithm
from flowrl_jax.distributed import (
    SAMPLER_RULES,
    abstract_mesh,
    bytes_per_device,
    kv_cache_sharding,
    logical_to_spec,
    rows_sharding,
)
from flowrl_jax.models import REMAT_POLICIES, Decoder, ModelConfig
from flowrl_jax.models.config import resolve_dtype
from flowrl_jax.models.presets import architecture
from flowrl_jax.sampling.sampler import bucket_length
from flowrl_jax.train.config import validate
from flowrl_jax.train.step import PolicyModel

GIB = 1024**3


@dataclasses.dataclass
class Plan:
    """Per-device bytes of each item of a run, the peak of each phase, and the verdict."""

    model: str
    mesh: dict[str, int]
    device_memory: int  # bytes
    items: dict[str, int]
    activations: dict[str, int]  # one micro-batch, by remat policy
    remat: str
    phases: dict[str, int] = dataclasses.field(init=False)

    def __post_init__(self):
        i = self.items
        resident = i["parameters"] + i["optimizer state"] + i["reference weights"]
        self.phases = {
            "rollout": resident + i["rollout weights"] + i["KV cache"] + i["sampler transients"],
            "update": resident + i["gradients"] + self.activations[self.remat],
        }

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    @property
    def fits(self) -> bool:
        return self.peak <= self.device_memory

    def reason(self) -> str:
        """Why it does not fit: the phase over the limit and its largest items."""
        phase = max(self.phases, key=self.phases.get)
        fixes = ["shard more (a larger mesh.fsdp or mesh.tensor)"]
        if phase == "update":
            fixes += ["lower optim.micro_batch_size"]
            fixes += [] if self.remat == "full" else ["set model.remat=full"]
        else:
            fixes += ["lower rollout.prompts_per_call"]
        return (
            f"does not fit: the {phase} phase needs {_gib(self.phases[phase])} per device, "
            f"more than mesh.device_memory_gib={self.device_memory / GIB:g} GiB; "
            f"{', or '.join(fixes)}."
        )

    def report(self) -> str:
        m = self.mesh
        lines = [
            f"model: {self.model}",
            f"mesh: data={m['data']} fsdp={m['fsdp']} tensor={m['tensor']} "
            f"({m['data'] * m['fsdp'] * m['tensor']} devices of "
            f"{self.device_memory / GIB:g} GiB)",
            "",
            "per device                         GiB",
        ]
        for name, value in self.items.items():
            lines.append(f"  {name:<30} {value / GIB:9.2f}")
        for policy, value in self.activations.items():
            mark = "  <- model.remat" if policy == self.remat else ""
            lines.append(f"  {'activations, remat=' + policy:<30} {value / GIB:9.2f}{mark}")
        lines.append("")
        for phase, value in self.phases.items():
            lines.append(f"  peak of the {phase + ' phase':<18} {value / GIB:9.2f}")
        if self.fits:
            lines += ["", f"fits: peak {_gib(self.peak)} of {_gib(self.device_memory)} per device"]
        else:
            lines += ["", self.reason()]
        return "\n".join(lines)


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def model_architecture(config: ml_collections.ConfigDict) -> tuple[ModelConfig, str]:
    """The run's architecture and where it came from: model_path's config.json, else
    model.architecture."""
    if os.path.isfile(os.path.join(config.model_path, "config.json")):
        return ModelConfig.from_pretrained(config.model_path), config.model_path
    if config.model.architecture:
        return architecture(config.model.architecture), config.model.architecture
    raise FileNotFoundError(
        f"model_path={config.model_path!r} has no config.json and model.architecture is not "
        "set: plan needs the architecture (--config.model.architecture=qwen2.5-7b, or a path "
        "to a config.json)."
    )


def make_plan(config: ml_collections.ConfigDict) -> Plan:
    """The memory plan of `config` (validated first)."""
    validate(config)
    sizes = {k: config.mesh[k] for k in ("data", "fsdp", "tensor")}
    if -1 in sizes.values():
        raise ValueError(
            f"config.mesh={sizes}: plan has no devices to infer a -1 from; give every size."
        )
    if config.mesh.device_memory_gib <= 0:
        raise ValueError(
            "config.mesh.device_memory_gib is not set: give the memory of one device in GiB "
            "(e.g. 80 for an H100 80GB, 95 for a TPU v5p, 16 for a v5e)."
        )
    mesh = abstract_mesh(**sizes)
    arch, source = model_architecture(config)
    algo = make_algorithm(config.algo)
    dtype = resolve_dtype(config.dtype)
    param_dtype = resolve_dtype(config.param_dtype)

    def build():
        rngs = nnx.Rngs(0)
        lm = Decoder(arch, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        return PolicyModel(lm, **algo.heads(lm, rngs))

    params = nnx.state(nnx.eval_shape(build), nnx.Param)
    on_device = _param_bytes(params, mesh)
    param_bytes = sum(d for d, _ in on_device.values())
    lm_params = nnx.state(nnx.eval_shape(build).lm, nnx.Param)
    rollout_bytes = sum(
        d for d, _ in _param_bytes(lm_params, mesh, SAMPLER_RULES, dtype=dtype).values()
    )
    items = {
        "parameters": param_bytes,
        "optimizer state": _optimizer_bytes(params, on_device),
        "gradients": 2 * param_bytes,
        "reference weights": param_bytes if algo.needs_reference else 0,
        "rollout weights": rollout_bytes,
        **_sampler_bytes(config, arch, mesh, dtype),
    }
    activations = {
        policy: activation_bytes(config, arch, mesh, dtype, policy) for policy in REMAT_POLICIES
    }
    return Plan(
        model=f"{source} ({arch.num_params / 1e9:.2f} B parameters, {config.param_dtype} "
        f"weights, {config.dtype} compute)",
        mesh=sizes,
        device_memory=int(config.mesh.device_memory_gib * GIB),
        items=items,
        activations=activations,
        remat=config.model.remat,
    )


def _param_bytes(
    params: Any, mesh: Any, rules: Any = None, *, dtype: Any = None
) -> dict[str, tuple[int, int]]:
    """keystr(path) -> (bytes on one device, total bytes) of every parameter, placed by
    `rules` and stored in `dtype` (default: their own)."""
    out = {}
    for path, var in nnx.to_flat_state(params):
        shape, stored = var.value.shape, dtype or var.value.dtype
        axes = var.get_metadata().get("logical_axes") or (None,) * len(shape)
        spec = logical_to_spec(axes, shape, mesh, rules)
        key = keystr(tuple(jax.tree_util.DictKey(p) for p in path))
        out[key] = (
            bytes_per_device(shape, stored, spec, mesh),
            bytes_per_device(shape, stored, (), mesh),
        )
    return out


def _optimizer_bytes(params: Any, on_device: dict[str, tuple[int, int]]) -> int:
    """The state of AdamW with a learning-rate schedule (what `optim.make_optimizer` builds),
    each moment sharded like its parameter."""
    state = jax.eval_shape(optax.adamw(optax.constant_schedule(1.0)).init, params)
    total = 0
    for path, leaf in tree_flatten_with_path(state)[0]:
        nbytes = int(np.prod(leaf.shape, dtype=np.int64)) * np.dtype(leaf.dtype).itemsize
        keys = [keystr(path[i:-1]) for i in range(len(path))]  # drop the trailing `.value`
        match = next((on_device[k] for k in keys if k in on_device), None)
        total += nbytes if match is None else nbytes * match[0] // max(match[1], 1)
    return total


def _rows_per_device(mesh: Any, rows: int) -> int:
    spec = rows_sharding(mesh, rows, 1).spec
    return bytes_per_device((rows,), np.int8, spec, mesh)


def _split(n: int, mesh: Any) -> int:
    """n heads (or MLP units, vocabulary entries) on one device: split over tensor if it divides."""
    t = mesh.shape["tensor"]
    return n // t if n % t == 0 else n


def _sampler_bytes(config, arch: ModelConfig, mesh: Any, dtype: Any) -> dict[str, int]:
    """The largest sampler call of the run (a training step's or an evaluation's)."""
    prompts = config.rollout.prompts_per_call or config.rollout.prompts_per_step
    rows = prompts * max(config.rollout.group_size, config.eval.num_samples)
    p_b = bucket_length(config.data.max_prompt_len)
    slots = p_b + bucket_length(config.rollout.max_new_tokens)
    item = np.dtype(dtype).itemsize
    cache = 0
    for n in (rows, prompts):  # the prefill's cache and its copy per sample
        shape = (n, arch.num_kv_heads, slots, arch.head_dim)
        spec = kv_cache_sharding(mesh, n, arch.num_kv_heads).spec
        cache += 2 * arch.num_layers * bytes_per_device(shape, dtype, spec, mesh)
    # one layer of the prefill (float32 scores of the prompt), and a decode step's float32
    # logits with the filtering's probabilities and cumulative sums
    prefill_rows = _rows_per_device(mesh, prompts)
    prefill = prefill_rows * _split(arch.num_heads, mesh) * p_b * p_b * (8 + item)
    prefill += prefill_rows * p_b * arch.hidden_size * item * 4
    decode = _rows_per_device(mesh, rows) * _split(arch.vocab_size, mesh) * 4 * 3
    return {"KV cache": cache, "sampler transients": prefill + decode}


def activation_bytes(config, arch: ModelConfig, mesh: Any, dtype: Any, remat: str) -> int:
    """Estimated bytes one device keeps for the backward pass of one training micro-batch."""
    rows_per_mini = (
        config.optim.mini_batch_prompts or config.rollout.prompts_per_step
    ) * config.rollout.group_size
    rows = _rows_per_device(mesh, config.optim.micro_batch_size or rows_per_mini)
    s = config.data.max_prompt_len + config.rollout.max_new_tokens
    d, h, b = arch.hidden_size, arch.head_dim, np.dtype(dtype).itemsize
    n, k, f = (_split(x, mesh) for x in (arch.num_heads, arch.num_kv_heads, arch.intermediate_size))
    qkv = (n + 2 * k) * h
    # everything one layer's backward needs: norms and residuals, q/k/v before and after
    # RoPE (float32 inside), float32 scores and probabilities, attention output, the MLP
    layer = s * (b * (5 * d + 2 * qkv + n * h + 4 * f) + 4 * (n + k) * h) + (8 + b) * n * s * s
    kept = {
        "none": arch.num_layers * layer,
        "full": arch.num_layers * s * d * b + layer,
        "dots": arch.num_layers * s * b * (3 * d + qkv + 2 * f) + layer,
    }[remat]
    chunk = config.model.logprob_chunk or config.rollout.max_new_tokens
    chunk = min(chunk, config.rollout.max_new_tokens)
    head = chunk * _split(arch.vocab_size, mesh) * 4 * 4  # logits, log-softmax, exp, gradient
    hidden = 3 * s * d * 4  # final hidden states, their norm and gradient
    return rows * (kept + head + hidden)
