"""Evaluate a policy on held-out problems: Pass@k, Avg@k and diversity (ALGORITHMS.md §6).

n samples per problem at the evaluation temperature; correctness from the task's verifier.
Diversity: the number of distinct correct solutions per problem (canonical forms for
Countdown: the expression tree up to commutativity and associativity), and distinct-2 over
the tokens of each problem's samples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from flowrl_jax.eval.metrics import distinct_n, pass_at_k_curve
from flowrl_jax.train.rollout import generate


@dataclasses.dataclass
class EvalResult:
    correct: np.ndarray  # [N, n] bool
    texts: list[list[str]]  # [N][n]
    metrics: dict[str, float]


def canonical_solutions(task: str, texts: Sequence[str]) -> set[str]:
    """Distinct solutions among correct responses (Countdown: canonical form; else the text)."""
    if task != "countdown":
        return {t.strip() for t in texts}
    from flowrl_jax.rewards.countdown import canonical_form, extract_expression

    out = set()
    for t in texts:
        expr = extract_expression(t)
        try:
            out.add(canonical_form(expr) if expr else t.strip())
        except ValueError:
            out.add(t.strip())
    return out


def evaluate(
    model: Any,
    tokenizer: Any,
    prompts: Any,  # flowrl_jax.data.tasks.PromptSet
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
    n_prompts = len(prompts)
    correct = np.zeros((n_prompts, num_samples), bool)
    texts: list[list[str]] = [[] for _ in range(n_prompts)]
    tokens_per_problem: list[list[list[int]]] = [[] for _ in range(n_prompts)]
    sampling = dict(temperature=temperature, top_p=top_p, top_k=0, max_new_tokens=max_new_tokens)
    bar = tqdm(total=n_prompts, desc="eval", disable=not progress, leave=False)
    for start in range(0, n_prompts, batch_prompts):
        idx = np.arange(start, start + batch_prompts) % n_prompts  # static shape: wrap around
        real = min(batch_prompts, n_prompts - start)
        r = generate(
            model,
            tokenizer,
            prompts.ids[idx],
            prompts.mask[idx],
            [prompts.problems[i].reference for i in idx],
            jax.random.fold_in(key, start),
            num_samples=num_samples,
            sampling=sampling,
            score=score,
            timings={},
        )
        ok = r.correct.reshape(batch_prompts, num_samples)
        resp = np.asarray(r.ids)[:, prompts.ids.shape[1] :]
        mask = np.asarray(r.mask)
        for j in range(real):
            i = idx[j]
            correct[i] = ok[j]
            rows = range(j * num_samples, (j + 1) * num_samples)
            texts[i] = [r.texts[row] for row in rows]
            tokens_per_problem[i] = [resp[row][mask[row]].tolist() for row in rows]
        bar.update(real)
    bar.close()

    ks = [k for k in ks if k <= num_samples]
    curve = pass_at_k_curve(correct, ks)
    distinct = [
        len(canonical_solutions(task, [t for t, c in zip(texts[i], correct[i], strict=True) if c]))
        for i in range(n_prompts)
    ]
    metrics = {f"pass@{k}": float(v) for k, v in zip(ks, curve, strict=True)}
    metrics["avg@n"] = float(correct.mean())
    metrics["distinct_correct"] = float(np.mean(distinct))
    metrics["distinct_2"] = float(np.mean([distinct_n(t, 2) for t in tokens_per_problem]))
    metrics["solved_frac"] = float(correct.any(axis=1).mean())
    return EvalResult(correct=correct, texts=texts, metrics=metrics)


def evaluate_configured(
    model: Any, tokenizer: Any, prompts: Any, score: Callable, key: jax.Array, config: Any
) -> EvalResult:
    """`evaluate` with the settings of a run's config: `flowrl-jax eval`, the trainer's periodic
    evaluation, the demo and the base-policy build all evaluate through here, so the same
    config, prompts and key give the same figures in each.

    From `config.eval`: the first `num_problems` prompts (all when 0), `num_samples`,
    `temperature`, `top_p`, `ks`; from the run: `task`, `rollout.max_new_tokens` and batches of
    `rollout.prompts_per_step` prompts (the batching decides which key a prompt samples with).
    """
    e = config.eval
    if e.num_problems and e.num_problems < len(prompts):
        prompts = dataclasses.replace(
            prompts,
            problems=prompts.problems[: e.num_problems],
            ids=prompts.ids[: e.num_problems],
            mask=prompts.mask[: e.num_problems],
        )
    return evaluate(
        model,
        tokenizer,
        prompts,
        score,
        key,
        task=config.task,
        num_samples=e.num_samples,
        temperature=e.temperature,
        top_p=e.top_p,
        max_new_tokens=config.rollout.max_new_tokens,
        ks=e.ks,
        batch_prompts=config.rollout.prompts_per_step,
        progress=config.log.progress,
    )
