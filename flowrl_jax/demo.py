"""`make demo`: the end-to-end check that runs until the embedded Countdown demo lands.

Builds a tiny Qwen2-architecture decoder, exports it to Hugging Face safetensors through the
project's own export, loads it back through the same code a real checkpoint uses, and checks
that the logits agree.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from flax import nnx

from flowrl_jax.models import Decoder, ModelConfig, from_pretrained, save_pretrained


def main(workdir: str = "runs/demo") -> int:
    config = ModelConfig(
        model_type="qwen2", vocab_size=64, hidden_size=64, intermediate_size=128, num_layers=2,
        num_heads=4, num_kv_heads=2, head_dim=16, qkv_bias=True,
    )
    model = Decoder(config, rngs=nnx.Rngs(0))
    path = save_pretrained(model, os.path.join(workdir, "tiny_qwen2"))
    reloaded = from_pretrained(path)
    ids = np.random.default_rng(0).integers(0, 64, (2, 8))
    diff = np.abs(np.asarray(model(ids).logits) - np.asarray(reloaded(ids).logits)).max()
    print(f"exported {config.num_params:,} parameters to {path}; reload max |diff| = {diff:.1e}")
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
