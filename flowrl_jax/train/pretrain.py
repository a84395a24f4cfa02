"""`python -m flowrl_jax.train.pretrain --out=DIR` (`make base-model`): the embedded task's base
policy, built by the recipe in `flowrl_jax.tasks.countdown.base_policy` (cached unless
`--force`) and evaluated on its test split exactly as `flowrl-jax eval` evaluates a model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import jax

from flowrl_jax.logs import setup_logging
from flowrl_jax.tasks.countdown.base_policy import (
    DEFAULT_PATH,
    BaseRecipe,
    build_base_model,
    ensure_base_model,
    load_splits,
    read_build_info,
    write_build_info,
)


def evaluate_base(path: str, recipe: BaseRecipe, *, progress: bool = True) -> dict[str, float]:
    """Pass@1 / Pass@k of the model at `path` on the recipe's test split (temperature 1), with
    the embedded task's run config (`countdown_config`), as `flowrl-jax eval` would."""
    from flowrl_jax.data import tokenize_prompts
    from flowrl_jax.eval.evaluate import evaluate_configured
    from flowrl_jax.models import from_pretrained, load_tokenizer
    from flowrl_jax.rollout import make_scorer
    from flowrl_jax.tasks.countdown import problems_from_rows
    from flowrl_jax.train.config import countdown_config

    config = countdown_config()
    config.eval.update(
        num_problems=0,
        num_samples=recipe.eval_samples,
        temperature=1.0,
        top_p=1.0,
        ks=tuple(sorted({1, 4, recipe.eval_samples})),
    )
    config.log.progress = progress
    model = from_pretrained(path)
    tokenizer = load_tokenizer(path, vocab_size=model.config.vocab_size)
    test = problems_from_rows(load_splits(recipe)["test"])
    prompts = tokenize_prompts(test, tokenizer, config.data.max_prompt_len)
    with make_scorer(config) as score:
        result = evaluate_configured(
            model, tokenizer, prompts, score, jax.random.key(recipe.seed), config
        )
    return result.metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowrl_jax.train.pretrain",
        description="Train the embedded Countdown base policy (cached unless --force).",
    )
    parser.add_argument("--out", default=DEFAULT_PATH, help="output directory (HF format)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=BaseRecipe.steps)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    args = parser.parse_args(argv)
    setup_logging()
    recipe = BaseRecipe(seed=args.seed, steps=args.steps)
    start = time.perf_counter()
    evaluate = None if args.no_eval else evaluate_base
    build = build_base_model if args.force else ensure_base_model
    path = build(args.out, recipe, evaluate=evaluate)
    info = read_build_info(path) or {}
    if evaluate is not None and "test_metrics" not in info:  # e.g. built by the demo
        info["test_metrics"] = evaluate_base(path, recipe)
        if "recipe" in info:  # our own build: keep the figures with it
            write_build_info(path, info)
    params = info.get("num_params")
    print(
        f"base policy: {path} ({params:,} parameters; {time.perf_counter() - start:.0f} s)"
        if params
        else f"base policy: {path} ({time.perf_counter() - start:.0f} s)"
    )
    for name, value in (info.get("test_metrics") or {}).items():
        print(f"  test {name}: {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
