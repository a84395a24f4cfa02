"""Problems (a prompt and the reference its verifier needs), dataset rows, and tokenised prompts.

Tasks (`flowrl_jax.tasks`) turn dataset rows or their own generators into `Problem`s; prompts
are tokenised once, left-padded to a fixed length (static shapes for the sampler), and the ones
that do not fit are dropped and counted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Problem:
    prompt: str
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


def read_rows(path: str) -> list[dict[str, Any]]:
    """The rows of a local .jsonl / .json / .parquet file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"dataset file {path!r} does not exist (data.train_path / eval_path)."
        )
    import datasets

    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(
        os.path.splitext(path)[1].lower()
    )
    if kind is None:
        raise DataError(f"{path}: unsupported file type; use .jsonl, .json or .parquet.")
    return list(datasets.load_dataset(kind, data_files=path, split="train"))


def field(row: Mapping[str, Any], key: str, where: str) -> Any:
    """`row[key]`, or a DataError naming `where` (file and row), the key and the fix."""
    if key not in row:
        raise DataError(
            f"{where} has no field {key!r} (fields: {sorted(row)}); set the "
            "config's data.prompt_field / data.answer_field to the dataset's column names."
        )
    return row[key]


def tokenize_prompts(
    problems: list[Problem], tokenizer: Any, max_len: int, *, chat_template: bool = False
) -> PromptSet:
    """Tokenises and left-pads prompts to `max_len`; longer prompts are dropped and counted."""
    kept, rows = [], []
    for p in problems:
        if chat_template:
            if not getattr(tokenizer, "chat_template", None):
                raise DataError(
                    "data.chat_template=True but the tokenizer has no chat template; "
                    "set data.chat_template=False."
                )
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": p.prompt}], add_generation_prompt=True, tokenize=True
            )
        else:
            ids = tokenizer(p.prompt, add_special_tokens=False)["input_ids"]
        if 0 < len(ids) <= max_len:
            kept.append(p)
            rows.append(ids)
    ids = np.full((len(rows), max_len), tokenizer.pad_token_id, np.int32)
    mask = np.zeros((len(rows), max_len), bool)
    for i, r in enumerate(rows):
        ids[i, max_len - len(r) :] = r
        mask[i, max_len - len(r) :] = True
    return PromptSet(kept, ids, mask, dropped=len(problems) - len(kept))
