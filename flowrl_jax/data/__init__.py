"""Problems and dataset rows, prompts, tokenised prompts, and the embedded tasks' character
tokenizer."""

from flowrl_jax.data.problems import (
    DataError,
    Problem,
    PromptSet,
    as_messages,
    render_prompt,
    tokenize_prompts,
)
from flowrl_jax.data.prompts import build_prompt, check_prompt, fill_template
from flowrl_jax.data.rows import field, read_rows
from flowrl_jax.data.tokenizer import (
    CHAR_ALPHABET,
    EOS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    build_char_tokenizer,
)

__all__ = [
    "CHAR_ALPHABET",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "DataError",
    "Problem",
    "PromptSet",
    "as_messages",
    "build_char_tokenizer",
    "build_prompt",
    "check_prompt",
    "field",
    "fill_template",
    "read_rows",
    "render_prompt",
    "tokenize_prompts",
]
