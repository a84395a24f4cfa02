"""The embedded base policy: trained by the project, exported in HF format, cached, seeded."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from demo_fixtures import TINY_RECIPE

from flowrl_jax.models import from_pretrained, load_tokenizer
from flowrl_jax.tasks.countdown import base_policy
from flowrl_jax.tasks.countdown.base_policy import (
    SupervisedData,
    build_base_model,
    ensure_base_model,
    load_splits,
    read_build_info,
)
from flowrl_jax.tasks.countdown.generator import format_prompt


def test_exported_base_matches_transformers(tiny_base):
    """AutoModelForCausalLM / AutoTokenizer read the directory and give our logits."""
    ours = from_pretrained(tiny_base)
    tokenizer = load_tokenizer(tiny_base, vocab_size=ours.config.vocab_size)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_base, local_files_only=True)
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    assert type(hf_model).__name__ == "Qwen2ForCausalLM"

    texts = [format_prompt([3, 5, 2], 16) + "2*(3+5)", format_prompt([12, 7], 5)]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert rows == [hf_tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert [tokenizer.decode(r) for r in rows] == texts
    width = max(map(len, rows))
    ids = np.full((len(rows), width), tokenizer.pad_token_id)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):  # left-padded, as the sampler feeds prompts
        ids[i, width - len(r) :] = r
        mask[i, width - len(r) :] = 1
    with torch.no_grad():
        theirs = hf_model(
            input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)
        ).logits.numpy()
    diff = np.abs(np.asarray(ours(ids, mask).logits) - theirs)[mask.astype(bool)].max()
    assert diff < 1e-4


def test_training_lowers_the_loss(tiny_base):
    losses = read_build_info(tiny_base)["loss_every_10_steps"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_batches_put_the_loss_on_the_response_only(tiny_base):
    tokenizer = load_tokenizer(tiny_base)
    rows = load_splits(dataclasses.replace(TINY_RECIPE, num_train=8))["train"]
    data = SupervisedData(rows, tokenizer, TINY_RECIPE)
    ids, attn, loss = next(data.batches(np.random.default_rng(0), 8))
    solutions = {(tuple(sorted(r["numbers"])), r["target"]): r["solutions"] for r in rows}
    for row in range(8):
        real = ids[row][attn[row]]
        assert real[-1] == tokenizer.eos_token_id
        prompt, answer = tokenizer.decode(real[:-1]).split(":")
        numbers, target = prompt.split(">")
        assert answer in solutions[(tuple(sorted(map(int, numbers.split()))), int(target))]
        targets = ids[row, 1:][loss[row] > 0]  # the tokens the loss is on
        assert tokenizer.decode(targets) == answer + tokenizer.eos_token


def test_cached_model_is_reused_and_a_new_recipe_rebuilds(tiny_base, monkeypatch):
    calls = []
    monkeypatch.setattr(
        base_policy, "build_base_model", lambda p, recipe, **_: calls.append(recipe)
    )
    assert ensure_base_model(tiny_base, TINY_RECIPE) == os.path.abspath(tiny_base)
    assert calls == []
    other = dataclasses.replace(TINY_RECIPE, lr=1e-3)
    ensure_base_model(tiny_base, other)
    assert calls == [other]


def test_a_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "pretrain.json").write_text(
        json.dumps({"recipe": TINY_RECIPE.fingerprint()})
    )
    calls = []
    monkeypatch.setattr(
        base_policy, "build_base_model", lambda path, recipe, **_: calls.append(path)
    )
    ensure_base_model(tmp_path / "base", TINY_RECIPE)
    assert calls == [str(tmp_path / "base")]


def test_build_is_deterministic(tiny_base, tmp_path):
    recipe = dataclasses.replace(TINY_RECIPE, steps=3)
    a = build_base_model(tmp_path / "a", recipe, progress=False)
    b = build_base_model(tmp_path / "b", recipe, progress=False)
    weights = [Path(p, "model.safetensors").read_bytes() for p in (a, b)]
    assert weights[0] == weights[1]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no staging left behind


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_export_has_the_hf_files(tiny_base, name):
    assert os.path.isfile(os.path.join(tiny_base, name))
