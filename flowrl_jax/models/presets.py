"""Architectures by name, for planning memory without a checkpoint (`flowrl-jax plan`).

Each preset is the architecture part of the released model's Hugging Face `config.json`
(no weights, no tokenizer), so `architecture("qwen2.5-7b")` is the `ModelConfig` that
`from_pretrained` would build from that checkpoint's directory.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flowrl_jax.models.config import ConfigError, ModelConfig

_QWEN2 = dict(model_type="qwen2", hidden_act="silu", use_sliding_window=False)
_QWEN2_SMALL = dict(_QWEN2, vocab_size=151936, tie_word_embeddings=True)
_QWEN2_LARGE = dict(_QWEN2, vocab_size=152064, tie_word_embeddings=False)
_MATH = dict(rope_theta=10000.0, max_position_embeddings=4096)


def _layout(hidden, intermediate, layers, heads, kv_heads, **extra) -> dict[str, Any]:
    return dict(
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        **extra,
    )


PRESETS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(_QWEN2_SMALL, **_layout(896, 4864, 24, 14, 2), rope_theta=1e6),
    "qwen2.5-1.5b": dict(_QWEN2_SMALL, **_layout(1536, 8960, 28, 12, 2), rope_theta=1e6),
    "qwen2.5-3b": dict(_QWEN2_SMALL, **_layout(2048, 11008, 36, 16, 2), rope_theta=1e6),
    "qwen2.5-7b": dict(_QWEN2_LARGE, **_layout(3584, 18944, 28, 28, 4), rope_theta=1e6),
    "qwen2.5-14b": dict(_QWEN2_LARGE, **_layout(5120, 13824, 48, 40, 8), rope_theta=1e6),
    "qwen2.5-32b": dict(_QWEN2_LARGE, **_layout(5120, 27648, 64, 40, 8), rope_theta=1e6),
    "qwen2.5-math-1.5b": dict(_QWEN2_SMALL, **_layout(1536, 8960, 28, 12, 2), **_MATH),
    "qwen2.5-math-7b": dict(_QWEN2_LARGE, **_layout(3584, 18944, 28, 28, 4), **_MATH),
    # Qwen2.5-Math-7B's layout, distilled with a 128k context (its config.json: rope_theta
    # 10000, max_position_embeddings 131072, use_sliding_window false)
    "deepseek-r1-distill-qwen-7b": dict(
        _QWEN2_LARGE,
        **_layout(3584, 18944, 28, 28, 4),
        rope_theta=10000.0,
        max_position_embeddings=131072,
    ),
    "qwen3-8b": dict(
        model_type="qwen3",
        vocab_size=151936,
        tie_word_embeddings=False,
        head_dim=128,
        rope_theta=1e6,
        **_layout(4096, 12288, 36, 32, 8),
    ),
    "llama3.1-8b": dict(
        model_type="llama",
        vocab_size=128256,
        tie_word_embeddings=False,
        rope_theta=500000.0,
        rope_scaling=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=8192,
        ),
        **_layout(4096, 14336, 32, 32, 8),
    ),
}


def architecture(name_or_path: str) -> ModelConfig:
    """A preset's `ModelConfig`, or the one of a `config.json` (or of the directory holding it)."""
    if name_or_path in PRESETS:
        return ModelConfig.from_hf_dict(PRESETS[name_or_path], source=f"preset {name_or_path!r}")
    path = os.fspath(name_or_path)
    if os.path.isdir(path):
        return ModelConfig.from_pretrained(path)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return ModelConfig.from_hf_dict(json.load(f), source=path)
    raise ConfigError(
        f"architecture {name_or_path!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor "
        "a config.json file or a model directory."
    )
