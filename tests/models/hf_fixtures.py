"""Tiny random Hugging Face checkpoints written by the tests themselves (no download)."""

from __future__ import annotations

import os

import torch
import transformers

TINY = dict(
    vocab_size=300,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-6,
)

ARCHS = {
    "qwen2": lambda: transformers.Qwen2Config(
        **TINY, rope_theta=10000.0, tie_word_embeddings=False
    ),
    "qwen2_tied": lambda: transformers.Qwen2Config(
        **TINY, rope_theta=1e6, tie_word_embeddings=True
    ),
    "qwen3": lambda: transformers.Qwen3Config(
        **TINY, head_dim=24, rope_theta=1e6, tie_word_embeddings=True, attention_bias=False
    ),
    "llama3": lambda: transformers.LlamaConfig(
        **TINY,
        rope_theta=500000.0,
        rope_scaling=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=64,
        ),
        tie_word_embeddings=False,
    ),
}


def make_hf_checkpoint(arch: str, path: str | os.PathLike, seed: int = 0):
    """Saves a randomly initialised HF model of `arch` to `path`; returns the torch model."""
    torch.manual_seed(seed)
    config = ARCHS[arch]()
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # random, non-trivial norms and biases so every weight matters
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model.save_pretrained(path, safe_serialization=True)
    return model


def torch_logits(model, ids, mask):
    with torch.no_grad():
        out = model(
            input_ids=torch.as_tensor(ids, dtype=torch.long),
            attention_mask=torch.as_tensor(mask, dtype=torch.long),
        )
    return out.logits.float().numpy()
