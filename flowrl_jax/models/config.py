"""Decoder configuration, read from and written to a Hugging Face `config.json`.

One config covers the families the seed papers train: Qwen2 / Qwen2.5 (q/k/v bias),
Qwen3 (per-head q/k RMSNorm, explicit head_dim) and Llama 3 (llama3 rope scaling).
Both the transformers 4.x keys (`rope_theta`, `rope_scaling`) and the 5.x key
(`rope_parameters`) are understood.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax.numpy as jnp

SUPPORTED_MODEL_TYPES = ("qwen2", "qwen3", "llama")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


class ConfigError(ValueError):
    """A config.json that this decoder cannot represent faithfully."""


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """Llama 3 frequency-dependent RoPE scaling (`rope_type: llama3`)."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of a decoder-only transformer (all sizes static)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    qkv_bias: bool = False
    qk_norm: bool = False
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 32768
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None

    def __post_init__(self):
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ConfigError(
                f"model_type {self.model_type!r} is not supported; "
                f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}."
            )
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_attention_heads={self.num_heads} is not a multiple of "
                f"num_key_value_heads={self.num_kv_heads}."
            )
        if self.head_dim % 2:
            raise ConfigError(f"head_dim={self.head_dim} must be even for rotary embeddings.")

    @property
    def num_params(self) -> int:
        """Parameter count (embeddings counted once when tied)."""
        d, f, h = self.hidden_size, self.intermediate_size, self.head_dim
        attn = d * h * (2 * self.num_heads + 2 * self.num_kv_heads)
        if self.qkv_bias:
            attn += h * (self.num_heads + 2 * self.num_kv_heads)
        if self.qk_norm:
            attn += 2 * h
        block = attn + 3 * d * f + 2 * d
        emb = self.vocab_size * d * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * block + emb + d

    # ----------------------------------------------------------------- HF I/O

    @classmethod
    def from_hf_dict(cls, cfg: dict[str, Any], source: str = "config.json") -> ModelConfig:
        """Builds a config from a Hugging Face config dict, refusing what we cannot run."""

        def need(key: str) -> Any:
            if key not in cfg:
                raise ConfigError(f"{source}: required key {key!r} is missing.")
            return cfg[key]

        model_type = cfg.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ConfigError(
                f"{source}: model_type {model_type!r} is not supported; supported: "
                f"{', '.join(SUPPORTED_MODEL_TYPES)} (Qwen2/Qwen2.5 use 'qwen2')."
            )
        act = cfg.get("hidden_act", "silu")
        if act != "silu":
            raise ConfigError(f"{source}: hidden_act {act!r} is not supported; only 'silu'.")
        if cfg.get("use_sliding_window", False):
            raise ConfigError(
                f"{source}: use_sliding_window=true is not supported; set it to false "
                "(the released Qwen checkpoints ship with it off)."
            )
        if cfg.get("mlp_bias", False):
            raise ConfigError(f"{source}: mlp_bias=true is not supported.")
        attention_bias = cfg.get("attention_bias", model_type == "qwen2")
        if model_type == "qwen2" and not attention_bias and "attention_bias" in cfg:
            raise ConfigError(f"{source}: qwen2 without q/k/v bias is not supported.")

        rope = dict(cfg.get("rope_parameters") or {})
        scaling = dict(cfg.get("rope_scaling") or {})
        rope_theta = float(cfg.get("rope_theta", rope.get("rope_theta", 10000.0)))
        rope_type = scaling.get("rope_type", scaling.get("type")) or rope.get("rope_type")
        params = scaling or rope
        rope_scaling = None
        if rope_type == "llama3":
            try:
                rope_scaling = RopeScaling(
                    factor=float(params["factor"]),
                    low_freq_factor=float(params["low_freq_factor"]),
                    high_freq_factor=float(params["high_freq_factor"]),
                    original_max_position_embeddings=int(
                        params["original_max_position_embeddings"]
                    ),
                )
            except KeyError as e:
                raise ConfigError(f"{source}: llama3 rope scaling lacks key {e}.") from None
        elif rope_type not in (None, "default"):
            raise ConfigError(
                f"{source}: rope type {rope_type!r} is not supported; "
                "supported: 'default', 'llama3'."
            )

        hidden = int(need("hidden_size"))
        heads = int(need("num_attention_heads"))
        head_dim = cfg.get("head_dim") or hidden // heads
        return cls(
            model_type=model_type,
            vocab_size=int(need("vocab_size")),
            hidden_size=hidden,
            intermediate_size=int(need("intermediate_size")),
            num_layers=int(need("num_hidden_layers")),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(head_dim),
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=rope_theta,
            rope_scaling=rope_scaling,
            qkv_bias=bool(attention_bias),
            qk_norm=model_type == "qwen3",
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 32768)),
            bos_token_id=cfg.get("bos_token_id"),
            eos_token_id=cfg.get("eos_token_id"),
            pad_token_id=cfg.get("pad_token_id"),
        )

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> ModelConfig:
        file = os.path.join(path, "config.json")
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"{file} does not exist: a model directory needs the Hugging Face config.json "
                "next to its safetensors."
            )
        with open(file, encoding="utf-8") as f:
            return cls.from_hf_dict(json.load(f), source=file)

    def to_hf_dict(self, dtype: str = "float32") -> dict[str, Any]:
        """A config.json that `transformers` (4.x and 5.x) loads into the same architecture."""
        architectures = {
            "qwen2": "Qwen2ForCausalLM",
            "qwen3": "Qwen3ForCausalLM",
            "llama": "LlamaForCausalLM",
        }
        rope: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling is not None:
            rope = {"rope_type": "llama3", "rope_theta": self.rope_theta}
            rope.update(dataclasses.asdict(self.rope_scaling))
        out: dict[str, Any] = {
            "architectures": [architectures[self.model_type]],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": None if self.rope_scaling is None else dict(rope),
            "rope_parameters": rope,
            "attention_bias": self.qkv_bias,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "use_sliding_window": False,
            "dtype": dtype,
            "torch_dtype": dtype,
        }
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def resolve_dtype(dtype: str | Any | None, default: Any = jnp.float32) -> Any:
    """Accepts 'float32' / 'bfloat16' / a jnp dtype; None gives `default`."""
    if dtype is None:
        return default
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not supported; use one of {sorted(_DTYPES)}.")
        return _DTYPES[dtype]
    return jnp.dtype(dtype).type


def dtype_name(dtype: Any) -> str:
    return jnp.dtype(dtype).name
