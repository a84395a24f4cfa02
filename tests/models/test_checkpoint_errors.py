"""Bad checkpoints fail early with a message that names the problem and the fix."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hf_fixtures import make_hf_checkpoint
from safetensors.numpy import load_file, save_file

from flowrl_jax.models import (
    CheckpointError,
    ConfigError,
    ModelConfig,
    from_pretrained,
    load_tokenizer,
    save_pretrained,
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen2")
    make_hf_checkpoint("qwen2", path)
    return path


def _copy_with(src, dst, edit_tensors=None, edit_config=None):
    os.makedirs(dst, exist_ok=True)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, os.path.join(dst, "model.safetensors"))
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    if edit_config:
        edit_config(config)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f)
    return dst


def test_missing_directory():
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        from_pretrained("/tmp/does-not-exist")


def test_missing_weights(ckpt, tmp_path):
    (tmp_path / "config.json").write_text((ckpt / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"neither model\.safetensors"):
        from_pretrained(tmp_path)


def test_missing_key(ckpt, tmp_path):
    path = _copy_with(ckpt, tmp_path / "c", lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(CheckpointError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*missing"):
        from_pretrained(path)


def test_unexpected_key(ckpt, tmp_path):
    def add(t):
        t["model.layers.0.extra_adapter.weight"] = np.zeros((2, 2), np.float32)

    with pytest.raises(CheckpointError, match=r"unexpected tensor.*extra_adapter"):
        from_pretrained(_copy_with(ckpt, tmp_path / "c", add))


def test_shape_mismatch(ckpt, tmp_path):
    def cfg(c):
        c["intermediate_size"] = 128

    with pytest.raises(CheckpointError, match=r"gate_proj\.weight.*shape.*disagree"):
        from_pretrained(_copy_with(ckpt, tmp_path / "c", edit_config=cfg))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
        ({"use_sliding_window": True}, "use_sliding_window"),
        ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope type 'yarn'"),
        ({"num_key_value_heads": 3}, "not a multiple"),
    ],
)
def test_unsupported_config_values(ckpt, edit, match):
    with open(os.path.join(ckpt, "config.json")) as f:
        config = json.load(f)
    config.update(edit)
    with pytest.raises(ConfigError, match=match):
        ModelConfig.from_hf_dict(config)


def _save_word_tokenizer(path, size: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="t1").save_pretrained(path)


def test_tokenizer_larger_than_vocab(tmp_path):
    _save_word_tokenizer(tmp_path, 40)
    assert len(load_tokenizer(tmp_path, vocab_size=40)) == 40
    with pytest.raises(CheckpointError, match="40 tokens but the model's vocab_size is 32"):
        load_tokenizer(tmp_path, vocab_size=32)


def test_tokenizer_much_smaller_than_vocab(tmp_path):
    """A padded embedding table is fine; a tokenizer of another model (or an empty one) is not."""
    _save_word_tokenizer(tmp_path, 40)
    assert len(load_tokenizer(tmp_path, vocab_size=64)) == 40
    with pytest.raises(CheckpointError, match="40 tokens but the model's vocab_size is 4096: it"):
        load_tokenizer(tmp_path, vocab_size=4096)


def test_missing_tokenizer(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no tokenizer files"):
        load_tokenizer(tmp_path)


def test_model_directory_without_tokenizer_files(ckpt):
    """transformers 5 builds an empty Qwen2 tokenizer from config.json alone; we refuse."""
    with pytest.raises(FileNotFoundError, match=r"has no tokenizer files \(none of tokenizer"):
        load_tokenizer(ckpt, vocab_size=ModelConfig.from_pretrained(ckpt).vocab_size)


def test_failed_save_leaves_nothing(ckpt, tmp_path, monkeypatch):
    model = from_pretrained(ckpt)
    import flowrl_jax.models.params as params

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(params, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(model, tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_save_replaces_existing_directory(ckpt, tmp_path):
    model = from_pretrained(ckpt)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.txt").write_text("old")
    save_pretrained(model, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
