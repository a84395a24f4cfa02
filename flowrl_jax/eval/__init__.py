"""Evaluation: Pass@k (unbiased), Avg@k and diversity metrics."""

from flowrl_jax.eval.metrics import avg_at_k, distinct_n, pass_at_k, pass_at_k_curve, retention

__all__ = ["avg_at_k", "distinct_n", "pass_at_k", "pass_at_k_curve", "retention"]
