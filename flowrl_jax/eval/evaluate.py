"""Evaluate a policy on held-out problems: Pass@k, Avg@k and diversity (docs/algorithms.md §6).

n samples per problem at the evaluation temperature; correctness from the task's verifier.
Diversity: the number of distinct correct solutions per problem (the task's `canonical` form:
for Countdown, the expression tree up to commutativity and associativity), and distinct-2 over
the tokens of each problem's samples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from flowrl_jax.data import PromptSet
from flowrl_jax.distributed.multihost import host_array
from flowrl_jax.eval.metrics import distinct_n, pass_at_k_curve
from flowrl_jax.rollout import SamplingOptions, generate_all
from flowrl_jax.tasks import get_task


@dataclasses.dataclass
class EvalResult:
    correct: np.ndarray  # [N, n] bool
    texts: list[list[str]]  # [N][n]
    metrics: dict[str, float]
    distinct: np.ndarray  # [N] distinct correct solutions of each problem


def distinct_solutions(task: Any, texts: Sequence[str], reference: Any) -> int:
    """How many different solutions `texts` (correct responses to one problem) hold: distinct
    canonical forms, a response without one counted by its text."""
    return len({task.canonical(t, reference) or t.strip() for t in texts})


def evaluate(
    model: Any,
    tokenizer: Any,
    prompts: PromptSet,
    score: Callable,
    key: jax.Array,
    *,
    task: str,
    num_samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    ks: Sequence[int],
    batch_prompts: int = 16,
    progress: bool = True,
) -> EvalResult:
    """Samples `num_samples` responses for each prompt and scores them."""
    n_prompts, n = len(prompts), num_samples
    r = generate_all(
        model,
        tokenizer,
        prompts,
        np.arange(n_prompts),
        key,
        num_samples=n,
        sampling=SamplingOptions(temperature, top_p, 0, max_new_tokens),
        score=score,
        chunk=batch_prompts,
        progress=progress,
        desc="eval",
    )
    correct = r.correct.reshape(n_prompts, n)
    texts = [r.texts[i * n : (i + 1) * n] for i in range(n_prompts)]
    responses, mask = host_array(r.ids)[:, prompts.ids.shape[1] :], host_array(r.mask)
    tokens_per_problem = [
        [responses[row][mask[row]].tolist() for row in range(i * n, (i + 1) * n)]
        for i in range(n_prompts)
    ]

    ks = [k for k in ks if k <= num_samples]
    curve = pass_at_k_curve(correct, ks)
    spec = get_task(task)
    distinct = np.asarray(
        [
            distinct_solutions(
                spec,
                [t for t, c in zip(texts[i], correct[i], strict=True) if c],
                prompts.problems[i].reference,
            )
            for i in range(n_prompts)
        ]
    )
    metrics = {f"pass@{k}": float(v) for k, v in zip(ks, curve, strict=True)}
    metrics["avg@n"] = float(correct.mean())
    metrics["distinct_correct"] = float(np.mean(distinct))
    metrics["distinct_2"] = float(np.mean([distinct_n(t, 2) for t in tokens_per_problem]))
    metrics["solved_frac"] = float(correct.any(axis=1).mean())
    return EvalResult(correct=correct, texts=texts, metrics=metrics, distinct=distinct)


def evaluate_configured(
    model: Any, tokenizer: Any, prompts: Any, score: Callable, key: jax.Array, config: Any
) -> EvalResult:
    """`evaluate` with the settings of a run's config: `flowrl-jax eval`, the trainer's periodic
    evaluation, the demo and the base-policy build all evaluate through here, so the same
    config, prompts and key give the same figures in each.

    From `config.eval`: the first `num_problems` prompts (all when 0), `num_samples`,
    `temperature`, `top_p`, `ks`; from the run: `task`, `rollout.max_new_tokens` and batches of
    `rollout.prompts_per_call` (else `prompts_per_step`) prompts (the batching decides which key
    a prompt samples with).
    """
    e = config.eval
    return evaluate(
        model,
        tokenizer,
        prompts.head(e.num_problems),
        score,
        key,
        task=config.task,
        num_samples=e.num_samples,
        temperature=e.temperature,
        top_p=e.top_p,
        max_new_tokens=config.rollout.max_new_tokens,
        ks=e.ks,
        batch_prompts=config.rollout.prompts_per_call or config.rollout.prompts_per_step,
        progress=config.log.progress,
    )
