"""A character-level tokenizer for the embedded Countdown task, saved in Hugging Face format
(and a byte-level stand-in for real checkpoints' tokenizers, `make_byte_tokenizer`).

The tiny policy the project trains itself reads prompts like ``"3 5 2>16:"`` and writes answers
like ``"2*(3+5)"``: one token per character keeps the vocabulary at 24 and makes every string
of the alphabet encode and decode exactly. It is saved as ``tokenizer.json`` +
``tokenizer_config.json`` + ``special_tokens_map.json`` so the same loading path as a real
checkpoint's tokenizer (``transformers.AutoTokenizer.from_pretrained(dir)``) serves it, with no
download.

Encoding adds no special tokens (``add_special_tokens`` is a no-op: there is no
post-processor); callers append ``eos_token_id`` to training targets and stop generation on it.
The decoder is byte-level (concatenate, ``Ġ`` back to a space), so no spaces appear between
characters on decode, and ``clean_up_tokenization_spaces`` is off, so spaces in the text survive
the round trip, also when the tokenizer is loaded from a qwen2 model directory (see
``make_char_tokenizer``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

CHAR_ALPHABET = "0123456789+-*/() =>:"
"""Every character of Countdown prompts (digits, space, ``>``, ``:``) and answers (digits,
``+ - * /``, parentheses, and ``=`` for an optional trailing ``= target``)."""

PAD_TOKEN, EOS_TOKEN, BOS_TOKEN, UNK_TOKEN = "<pad>", "<eos>", "<bos>", "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, BOS_TOKEN, UNK_TOKEN)
"""Ids 0-3, in this order; the alphabet follows from id 4 in ``CHAR_ALPHABET`` order."""


def _byte_level_symbol(char: str) -> str:
    """How byte-level BPE spells an ASCII character: itself, except the space (``Ġ``)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return byte_level.pre_tokenize_str(char)[0][0]


VOCAB = {
    token: i for i, token in enumerate((*SPECIAL_TOKENS, *map(_byte_level_symbol, CHAR_ALPHABET)))
}
"""Ids 0-3 the special tokens, then one id per character of ``CHAR_ALPHABET`` (in that order),
keyed by its byte-level symbol."""


def make_char_tokenizer() -> Tokenizer:
    """The ``tokenizers`` object: one token per character, unknown ones as ``<unk>``.

    It is a byte-level BPE without merges, not a WordLevel model, because of how transformers 5
    loads it from a *model* directory: with ``model_type: qwen2`` in config.json,
    ``AutoTokenizer`` builds a ``Qwen2Tokenizer`` from the vocabulary alone (byte-level
    pre-tokenizer and decoder, the saved pipeline ignored). A WordLevel vocabulary keyed by
    ``" "`` then silently loses every space (``"12 3 4>8:"`` became ``"1234>8:"``); keyed by
    byte-level symbols, the saved pipeline and Qwen2's rebuild give the same ids.
    """
    tokenizer = Tokenizer(models.BPE(vocab=VOCAB, merges=[], unk_token=UNK_TOKEN))
    # Every character is its own piece (including spaces), spelled as its byte-level symbol.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("."), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def build_char_tokenizer(out_dir: str | Path) -> Path:
    """Write the tokenizer files into ``out_dir`` (created if needed) and return it.

    ``tokenizer_class`` is ``PreTrainedTokenizerFast`` (the name transformers 4.x loads and
    5.x maps to its tokenizers backend); ``special_tokens_map.json`` is written explicitly
    because transformers 5 no longer writes it and 4.x readers look for it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    make_char_tokenizer().save(str(out / "tokenizer.json"))
    special = {
        "pad_token": PAD_TOKEN,
        "eos_token": EOS_TOKEN,
        "bos_token": BOS_TOKEN,
        "unk_token": UNK_TOKEN,
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1024,
    }
    for name, content in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        (out / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return out


def make_byte_tokenizer(
    *,
    eos_token: str,
    pad_token: str,
    special_tokens: tuple[str, ...] = (),
    vocab_size: int | None = None,
    chat_template: str | None = None,
):
    """A byte-level tokenizer (one token per byte, no merges): a stand-in with the byte-level
    BPE layout of Qwen2/Llama 3 tokenizers, for tests and benchmarks that must not download
    one. With `vocab_size`, filler tokens make the vocabulary exactly that size (the loader
    refuses a tokenizer much smaller than the model's vocabulary)."""
    from transformers import PreTrainedTokenizerFast

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    added = 2 + len(special_tokens)
    filler = []
    if vocab_size is not None:
        if vocab_size < len(symbols) + added:
            raise ValueError(f"vocab_size {vocab_size} < {len(symbols) + added}")
        filler = [f"<|x{i}|>" for i in range(vocab_size - len(symbols) - added)]
    tok = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate([*symbols, *filler])}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos_token,
        pad_token=pad_token,
        additional_special_tokens=list(special_tokens),
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )
