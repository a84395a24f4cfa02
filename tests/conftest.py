"""Suite-wide settings: tests compile many tiny programs, so make XLA compile them quickly.

- Cheaper CPU code generation (the programs run for microseconds; compiling dominates).
- A persistent compilation cache shared by every test process of this run, so identical
  programs (the sampler and forward of the shared tiny models) compile once.
Both are environment variables, so the subprocess tests (8-device meshes) inherit them; they
append their device-count flag to XLA_FLAGS.
"""

import os
import sys
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


def save_random_checkpoint(
    path, tokenizer_dir, *, hidden_size: int = 32, num_layers: int = 1
) -> str:
    """A random Qwen2-architecture policy over the tokenizer in `tokenizer_dir`, saved in
    Hugging Face format (with the tokenizer) under `path`."""
    from flax import nnx

    from flowrl_jax.models import Decoder, ModelConfig, load_tokenizer, save_pretrained

    tokenizer = load_tokenizer(tokenizer_dir)
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
    return save_pretrained(Decoder(config, rngs=nnx.Rngs(0)), path, tokenizer=tokenizer)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random Qwen2-architecture policy with the character tokenizer, saved in Hugging
    Face format: what the trainer, CLI and extension tests train."""
    from flowrl_jax.data.tokenizer import build_char_tokenizer

    path = tmp_path_factory.mktemp("tiny_policy")
    return save_random_checkpoint(path / "model", build_char_tokenizer(path / "tokenizer"))


CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A ChatML template, as Qwen2.5's (without its default system message)."""


def build_byte_tokenizer(out_dir) -> str:
    """A byte-level tokenizer with ChatML special tokens and a chat template, saved in Hugging
    Face format: a tiny stand-in for a Qwen2.5 tokenizer."""
    from flowrl_jax.data.tokenizer import make_byte_tokenizer

    tokenizer = make_byte_tokenizer(
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        special_tokens=("<|im_start|>",),
        chat_template=CHATML_TEMPLATE,
    )
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


@pytest.fixture(scope="session")
def chat_tokenizer(tmp_path_factory) -> str:
    """The directory of `build_byte_tokenizer`'s tokenizer."""
    return build_byte_tokenizer(tmp_path_factory.mktemp("chat_tokenizer"))


@pytest.fixture(scope="session")
def chat_model(chat_tokenizer, tmp_path_factory) -> str:
    """A tiny random Qwen2-architecture checkpoint whose byte-level tokenizer has a ChatML chat
    template: what the README's own-checkpoint recipe is tested on."""
    return save_random_checkpoint(tmp_path_factory.mktemp("chat_policy") / "model", chat_tokenizer)


@pytest.fixture(scope="session")
def deep_model(tmp_path_factory) -> str:
    """A random policy deep and wide enough (4 layers of 128) that in bfloat16 the sampler's
    log-probs and the update's differ: on the tiny policy every XLA program rounds alike."""
    from flowrl_jax.data.tokenizer import build_char_tokenizer

    path = tmp_path_factory.mktemp("deep_policy")
    return save_random_checkpoint(
        path / "model", build_char_tokenizer(path / "tokenizer"), hidden_size=128, num_layers=4
    )


def toy_policy_after_grpo(model_path: str, workdir, steps: int) -> str:
    """The policy at `model_path` after `steps` GRPO steps on the toy task, exported."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train"))
    from train_fixtures import toy_config

    from flowrl_jax.train.trainer import Trainer

    config = toy_config(model_path, workdir, "grpo", steps=steps, **{"checkpoint.export_hf": True})
    Trainer(config).train()
    return str(workdir / "export")


@pytest.fixture(scope="session")
def solved_toy_policy(tiny_model, tmp_path_factory) -> str:
    """The tiny policy after 30 GRPO steps: it solves most prompts (for DPH-RL's D_pef)."""
    return toy_policy_after_grpo(tiny_model, tmp_path_factory.mktemp("grpo_toy"), 30)


@pytest.fixture(scope="session")
def half_solved_toy_policy(tiny_model, tmp_path_factory) -> str:
    """The tiny policy after 12 GRPO steps: about half its responses are right, so groups are
    mixed (a gradient well above float noise) and D_pef is not empty."""
    return toy_policy_after_grpo(tiny_model, tmp_path_factory.mktemp("grpo_toy_12"), 12)
