"""Problems (a prompt and the reference its verifier needs) and tokenised prompts.

Tasks (`flowrl_jax.tasks`) turn dataset rows (`data/rows.py`, `data/prompts.py`) or their own
generators into `Problem`s; prompts are tokenised once, left-padded to a fixed length (static
shapes for the sampler), and the ones that do not fit are dropped and counted. A prompt is a
string or a list of chat messages; the tokenizer's chat template is applied to message lists,
and to strings when `chat_template` is set.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Problem:
    prompt: str | list[dict[str, str]]  # text, or chat messages {"role", "content"}
    reference: Any
    solutions: tuple[str, ...] = ()  # known distinct solutions (countdown), for diversity


@dataclasses.dataclass
class PromptSet:
    """Tokenised problems: ids/mask [N, P] left-padded, with the problems they came from."""

    problems: list[Problem]
    ids: np.ndarray
    mask: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.problems)

    def head(self, n: int) -> PromptSet:
        """The first `n` prompts (all when n is 0 or at least the set's size)."""
        if not n or n >= len(self):
            return self
        return dataclasses.replace(
            self, problems=self.problems[:n], ids=self.ids[:n], mask=self.mask[:n]
        )


class DataError(ValueError):
    """A dataset file or row that the task cannot use."""


def tokenize_prompts(
    problems: list[Problem], tokenizer: Any, max_len: int, *, chat_template: bool = False
) -> PromptSet:
    """Tokenises and left-pads prompts to `max_len`; longer prompts are dropped and counted.

    The chat template (with the generation prompt) is applied to message-list prompts, and to
    string prompts as one user message when `chat_template` is set.
    """
    kept, rows = [], []
    for p in problems:
        ids = tokenizer(render_prompt(p.prompt, tokenizer, chat_template), add_special_tokens=False)
        if 0 < len(ids["input_ids"]) <= max_len:
            kept.append(p)
            rows.append(ids["input_ids"])
    ids = np.full((len(rows), max_len), tokenizer.pad_token_id, np.int32)
    mask = np.zeros((len(rows), max_len), bool)
    for i, r in enumerate(rows):
        ids[i, max_len - len(r) :] = r
        mask[i, max_len - len(r) :] = True
    return PromptSet(kept, ids, mask, dropped=len(problems) - len(kept))


def render_prompt(prompt: str | list[dict[str, str]], tokenizer: Any, chat_template: bool) -> str:
    """The text the model reads: `prompt` itself, or its messages through the chat template.

    Rendered to text and tokenised by the caller (without adding special tokens: a template
    writes its own), which works alike in transformers 4 and 5 (5's `apply_chat_template`
    returns a BatchEncoding when it tokenises).
    """
    if isinstance(prompt, str) and not chat_template:
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        why = (
            "the prompts are chat messages"
            if not isinstance(prompt, str)
            else ("data.chat_template=True")
        )
        raise DataError(
            f"{why} but the tokenizer ({getattr(tokenizer, 'name_or_path', '')}) has no chat "
            "template: use a model directory whose tokenizer has one (tokenizer_config.json "
            "'chat_template' or chat_template.jinja), or string prompts with "
            "data.chat_template=False and no data.system_prompt."
        )
    return tokenizer.apply_chat_template(
        as_messages(prompt), add_generation_prompt=True, tokenize=False
    )


def as_messages(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A message list: a string prompt becomes one user message."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
