"""Which tokens end a response: the tokenizer's eos and the family's end-of-turn tokens."""

from transformers import AutoTokenizer

from flowrl_jax.data.tokenizer import build_char_tokenizer
from flowrl_jax.rollout import stop_ids


def test_chatml_base_model_stops_at_end_of_turn_as_well_as_eos(chat_tokenizer):
    """A Qwen2.5 base model's eos is <|endoftext|>; its chat template closes the assistant turn
    with <|im_end|>. Without stopping there, a response runs on into the next turn."""
    tok = AutoTokenizer.from_pretrained(chat_tokenizer)
    im_end, im_start = tok.convert_tokens_to_ids(["<|im_end|>", "<|im_start|>"])
    tok.eos_token, tok.pad_token = "<|endoftext|>", "<|im_start|>"
    assert stop_ids(tok) == tuple(sorted({tok.eos_token_id, im_end}))
    assert im_start not in stop_ids(tok)


def test_the_padding_token_is_never_a_stop(chat_tokenizer):
    """eos <|im_end|>, pad <|endoftext|>: the pad token, though an end-of-document token, does
    not stop a response (padding follows every stop)."""
    tok = AutoTokenizer.from_pretrained(chat_tokenizer)
    assert stop_ids(tok) == (tok.eos_token_id,)


def test_character_tokenizer_stops_at_its_eos_only(tmp_path):
    tok = AutoTokenizer.from_pretrained(build_char_tokenizer(tmp_path))
    assert stop_ids(tok) == (tok.eos_token_id,)


def test_eos_stays_a_stop_when_it_is_also_the_padding_token(chat_tokenizer):
    """Qwen2.5 base: eos = pad = <|endoftext|>, and <|im_end|> closes a chat turn."""
    tok = AutoTokenizer.from_pretrained(chat_tokenizer)
    tok.eos_token = tok.pad_token = "<|endoftext|>"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert stop_ids(tok) == tuple(sorted({tok.eos_token_id, im_end}))
