"""Host side of a rollout: completions as token lists and text, padding stripped, for verifiers.

In a multi-host run each host reads only the rows it holds (its addressable shards), so each
host verifies its own rollouts and no completion crosses the network.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from flowrl_jax.sampling.sampler import SampleOutput


def local_rows(x: jax.Array | np.ndarray) -> np.ndarray:
    """The rows of a batch-major array that this process holds, in row order, as numpy."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    pieces = {}
    for shard in x.addressable_shards:  # replicas of the same rows are read once
        start = shard.index[0].start or 0
        pieces.setdefault(start, np.asarray(shard.data))
    return np.concatenate([pieces[k] for k in sorted(pieces)], axis=0)


def completion_ids(out: SampleOutput, *, strip_stop: bool = False) -> list[list[int]]:
    """Each row's completion tokens without padding; strip_stop also drops a final stop token."""
    tokens, lengths = local_rows(out.tokens), local_rows(out.lengths)
    truncated = local_rows(out.truncated)
    ends = lengths - (strip_stop & ~truncated).astype(lengths.dtype)
    return [row[:end].tolist() for row, end in zip(tokens, ends, strict=True)]


def detokenize(
    tokenizer: Any,
    out: SampleOutput,
    *,
    strip_stop: bool = True,
    skip_special_tokens: bool = True,
) -> list[str]:
    """The completions as text ([N] strings, rows in `out` order), padding and stop removed.

    `tokenizer` is anything with `batch_decode(list_of_id_lists, skip_special_tokens=...)`
    (a transformers tokenizer).
    """
    ids = completion_ids(out, strip_stop=strip_stop)
    return list(tokenizer.batch_decode(ids, skip_special_tokens=skip_special_tokens))
