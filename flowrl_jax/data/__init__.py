"""Problems and dataset rows, tokenised prompts, and the embedded tasks' character tokenizer."""

from flowrl_jax.data.problems import (
    DataError,
    Problem,
    PromptSet,
    field,
    read_rows,
    tokenize_prompts,
)
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
    "build_char_tokenizer",
    "field",
    "read_rows",
    "tokenize_prompts",
]
