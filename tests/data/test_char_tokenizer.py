"""The character tokenizer (flowrl_jax/data/tokenizer.py), loaded back through AutoTokenizer."""

import json

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from flowrl_jax.data.tokenizer import CHAR_ALPHABET, SPECIAL_TOKENS, build_char_tokenizer
from flowrl_jax.tasks.countdown.generator import generate_splits


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return build_char_tokenizer(tmp_path_factory.mktemp("char_tokenizer") / "tok")


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def test_saved_files_and_special_tokens(tokenizer_dir, tokenizer):
    names = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
    assert all((tokenizer_dir / name).is_file() for name in names)
    special = json.loads((tokenizer_dir / "special_tokens_map.json").read_text())
    assert special["pad_token"] == "<pad>" and special["eos_token"] == "<eos>"
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "<eos>"
    assert len(tokenizer) == len(SPECIAL_TOKENS) + len(CHAR_ALPHABET) <= 32


def test_one_token_per_character(tokenizer):
    ids = tokenizer(CHAR_ALPHABET, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(set(ids)) == len(CHAR_ALPHABET)
    assert tokenizer.unk_token_id not in ids
    assert tokenizer("3 x", add_special_tokens=False)["input_ids"][2] == tokenizer.unk_token_id


def test_round_trip_on_generated_data(tokenizer):
    splits = generate_splits(0, 300, 50, 50)
    texts = []
    for split in splits.values():
        for row in split:
            texts.append(row["prompt"])
            texts.extend(row["solutions"])
            texts.append(row["prompt"] + row["solutions"][0])
    texts += [" 12  3 ", "(3+5)*2 = 16"]
    assert set("".join(texts)) <= set(CHAR_ALPHABET)
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text)
        assert tokenizer.decode(ids) == text
        eos_pad = [tokenizer.eos_token_id, tokenizer.pad_token_id]
        assert tokenizer.decode(ids + eos_pad, skip_special_tokens=True) == text
    batch = tokenizer(texts[:8], padding=True, add_special_tokens=False)["input_ids"]
    assert tokenizer.batch_decode(batch, skip_special_tokens=True) == texts[:8]


def test_encoding_adds_no_special_tokens(tokenizer):
    assert tokenizer("1+2")["input_ids"] == tokenizer("1+2", add_special_tokens=False)["input_ids"]
