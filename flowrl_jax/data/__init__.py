"""Prompt datasets and the embedded tasks' generators (Countdown) and tokenizer."""

from flowrl_jax.data.countdown import (
    CountdownSolver,
    format_prompt,
    format_solution,
    generate_problems,
    generate_splits,
    sample_solution,
    solve,
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
    "CountdownSolver",
    "build_char_tokenizer",
    "format_prompt",
    "format_solution",
    "generate_problems",
    "generate_splits",
    "sample_solution",
    "solve",
]
