"""Jitted KV-cache sampler: prefill + decode loop, temperature / top-p / top-k, stop tokens,
per-token log-probs under the sampling temperature; host-side detokenisation for verifiers."""

from flowrl_jax.sampling.filtering import sample_token
from flowrl_jax.sampling.host import completion_ids, detokenize, local_rows
from flowrl_jax.sampling.sampler import (
    SampleOutput,
    bucket_length,
    concat_prompt_completion,
    num_traces,
    sample,
)

__all__ = [
    "SampleOutput",
    "bucket_length",
    "completion_ids",
    "concat_prompt_completion",
    "detokenize",
    "local_rows",
    "num_traces",
    "sample",
    "sample_token",
]
