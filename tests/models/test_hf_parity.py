"""The Flax decoder against the transformers PyTorch models, loaded from the same safetensors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import transformers
from flax import nnx
from hf_fixtures import ARCHS, make_hf_checkpoint, torch_logits

from flowrl_jax.models import Decoder, ModelConfig, from_pretrained, save_pretrained

TOL = 1e-4


def _batch(seed: int, batch: int = 3, length: int = 13):
    """Random ids with left padding of different lengths in one batch."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 300, (batch, length))
    mask = np.ones((batch, length), np.int32)
    for row, pad in enumerate([0, 3, 8][:batch]):
        mask[row, :pad] = 0
    return ids, mask


def _max_diff(a, b, mask):
    return float(np.abs(a - b)[mask.astype(bool)].max())


@pytest.fixture(scope="module", params=list(ARCHS))
def checkpoint(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    torch_model = make_hf_checkpoint(request.param, path)
    return request.param, path, torch_model


def test_logits_match_transformers(checkpoint):
    arch, path, torch_model = checkpoint
    model = from_pretrained(path)
    for seed in range(2):
        ids, mask = _batch(seed)
        diff = _max_diff(
            np.asarray(model(ids, mask).logits), torch_logits(torch_model, ids, mask), mask
        )
        print(f"{arch}: max |logit diff| = {diff:.2e}")
        assert diff < TOL, arch


def test_saved_checkpoint_loads_in_transformers(checkpoint, tmp_path):
    _, path, _ = checkpoint
    model = from_pretrained(path)
    out = save_pretrained(model, tmp_path / "export")
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids, mask = _batch(3)
    ours = np.asarray(model(ids, mask).logits)
    assert _max_diff(ours, torch_logits(reloaded, ids, mask), mask) < TOL


def test_bfloat16_params_roundtrip(checkpoint, tmp_path):
    _, path, torch_model = checkpoint
    model = from_pretrained(path, dtype="bfloat16")
    assert model.embed.value.dtype.name == "bfloat16"
    ids, mask = _batch(4)
    diff = _max_diff(
        np.asarray(model(ids, mask).logits), torch_logits(torch_model, ids, mask), mask
    )
    assert diff < 0.15  # bf16 compute: loose but far below the logits' scale
    out = save_pretrained(model, tmp_path / "bf16")
    reloaded = from_pretrained(out)
    assert reloaded.embed.value.dtype.name == "float32"
    np.testing.assert_array_equal(
        np.asarray(reloaded.embed.value), np.asarray(model.embed.value.astype("float32"))
    )


def test_llama3_rope_scaling_matters(tmp_path):
    """Guards the parity test: dropping the scaling must change the logits."""
    torch_model = make_hf_checkpoint("llama3", tmp_path)
    model = from_pretrained(tmp_path)
    unscaled = Decoder(dataclasses.replace(model.config, rope_scaling=None), rngs=nnx.Rngs(0))
    nnx.update(unscaled, nnx.state(model))
    ids, mask = _batch(5)
    ref = torch_logits(torch_model, ids, mask)
    assert _max_diff(np.asarray(model(ids, mask).logits), ref, mask) < TOL
    assert _max_diff(np.asarray(unscaled(ids, mask).logits), ref, mask) > 1e-3


def test_sharded_index_roundtrip(tmp_path):
    torch_model = make_hf_checkpoint("qwen2", tmp_path / "src")
    model = from_pretrained(tmp_path / "src")
    out = save_pretrained(model, tmp_path / "sharded", max_shard_bytes=100_000)
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    reloaded = from_pretrained(out)
    ids, mask = _batch(6)
    assert (
        _max_diff(
            np.asarray(reloaded(ids, mask).logits), torch_logits(torch_model, ids, mask), mask
        )
        < TOL
    )


def test_config_roundtrip_through_transformers(checkpoint):
    _, path, _ = checkpoint
    ours = ModelConfig.from_pretrained(path)
    hf = transformers.AutoConfig.for_model(**ours.to_hf_dict())
    assert ModelConfig.from_hf_dict(hf.to_dict()) == ours
