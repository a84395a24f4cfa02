"""Suite-wide settings: tests compile many tiny programs, so make XLA compile them quickly.

- Cheaper CPU code generation (the programs run for microseconds; compiling dominates).
- A persistent compilation cache shared by every test process of this run, so identical
  programs (the sampler and forward of the shared tiny models) compile once.
Both are environment variables, so the subprocess tests (8-device meshes) inherit them; they
append their device-count flag to XLA_FLAGS.
"""

import os
import tempfile

import pytest

os.environ["XLA_FLAGS"] = " ".join(
    [
        os.environ.get("XLA_FLAGS", ""),
        "--xla_backend_optimization_level=0",
        "--xla_llvm_disable_expensive_passes=true",
    ]
).strip()
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "flowrl_jax_test_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")


def _random_policy(path, *, hidden_size: int, num_layers: int) -> str:
    """A random Qwen2-architecture policy with the character tokenizer, in Hugging Face format."""
    from flax import nnx

    from flowrl_jax.data.tokenizer import build_char_tokenizer
    from flowrl_jax.models import Decoder, ModelConfig, load_tokenizer, save_pretrained

    tokenizer = load_tokenizer(build_char_tokenizer(path / "tokenizer"))
    config = ModelConfig(
        model_type="qwen2",
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_layers=num_layers,
        num_heads=4,
        num_kv_heads=2,
        head_dim=hidden_size // 4,
        qkv_bias=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save_pretrained(Decoder(config, rngs=nnx.Rngs(0)), path / "model", tokenizer=tokenizer)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random policy (one layer of 32): what the trainer, CLI and extension tests train."""
    return _random_policy(tmp_path_factory.mktemp("tiny_policy"), hidden_size=32, num_layers=1)


@pytest.fixture(scope="session")
def deep_model(tmp_path_factory) -> str:
    """A random policy deep and wide enough (4 layers of 128) that in bfloat16 the sampler's
    log-probs and the update's differ: on the tiny policy every XLA program rounds alike."""
    return _random_policy(tmp_path_factory.mktemp("deep_policy"), hidden_size=128, num_layers=4)
