"""Prompts through a tokenizer's chat template (the README's `data.chat_template=True` and
message-list prompts), on a tiny byte-level tokenizer with a ChatML template."""

from __future__ import annotations

import pytest

from flowrl_jax.data import DataError, Problem, tokenize_prompts
from flowrl_jax.models import load_tokenizer


def _decoded(prompts, tokenizer):
    return [
        tokenizer.decode(ids[m].tolist()) for ids, m in zip(prompts.ids, prompts.mask, strict=True)
    ]


def test_strings_and_message_lists_get_the_template(chat_tokenizer):
    tokenizer = load_tokenizer(chat_tokenizer)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    problems = [Problem("1+1?", "2"), Problem(messages, "4")]
    prompts = tokenize_prompts(problems, tokenizer, 64, chat_template=True)
    assert _decoded(prompts, tokenizer) == [
        "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n",
    ]
    # The ChatML markers are single special tokens, not their characters.
    first = prompts.ids[0][prompts.mask[0]].tolist()
    assert first[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    # A message list always gets the template; a string only when asked.
    plain = tokenize_prompts(problems, tokenizer, 64, chat_template=False)
    assert _decoded(plain, tokenizer)[0] == "1+1?"
    assert _decoded(plain, tokenizer)[1] == _decoded(prompts, tokenizer)[1]


def test_long_templated_prompts_are_dropped_and_counted(chat_tokenizer):
    tokenizer = load_tokenizer(chat_tokenizer)
    prompts = tokenize_prompts(
        [Problem("x" * 40, "1"), Problem("y", "1")], tokenizer, 40, chat_template=True
    )
    assert len(prompts) == 1 and prompts.dropped == 1


def test_no_chat_template_is_a_clear_error(tiny_model):
    tokenizer = load_tokenizer(tiny_model)  # the character tokenizer has none
    with pytest.raises(
        DataError, match=r"data.chat_template=True but the tokenizer .* has no chat"
    ):
        tokenize_prompts([Problem("1 2:", "3")], tokenizer, 16, chat_template=True)
    with pytest.raises(DataError, match="the prompts are chat messages but the tokenizer"):
        tokenize_prompts([Problem([{"role": "user", "content": "1"}], "3")], tokenizer, 16)
