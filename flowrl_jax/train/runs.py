"""Runs read back without a trainer: the policy of a run (its latest checkpoint, else its
export) or of any model directory, evaluated or exported.

`flowrl-jax eval` and `flowrl-jax export` go through here. Neither builds a `Trainer` nor reads
the training set: a policy is the architecture and tokenizer of a model directory plus, for a
run, the parameters of its checkpoint (the optimizer state is not read).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, NamedTuple

import jax
import ml_collections
from flax import nnx

from flowrl_jax.algos import make_algorithm
from flowrl_jax.data import DataError, PromptSet, tokenize_prompts
from flowrl_jax.distributed import make_mesh, shard_model
from flowrl_jax.eval.evaluate import evaluate_configured
from flowrl_jax.models import from_pretrained, load_tokenizer, save_pretrained
from flowrl_jax.models.params import generation_config
from flowrl_jax.rollout import make_scorer
from flowrl_jax.tasks import get_task
from flowrl_jax.train.checkpoint import Checkpointer
from flowrl_jax.train.config import base_config, validate
from flowrl_jax.train.step import PolicyModel

log = logging.getLogger("flowrl_jax")

EVAL_STREAM = 2**30
"""Evaluation keys are `fold_in(fold_in(key(seed), EVAL_STREAM), step)`, a stream apart from the
steps' keys: the trainer's evaluation at a step and `eval --run` of that step's checkpoint
draw the same samples."""


def eval_key(seed: int, step: int) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), EVAL_STREAM), step)


class Policy(NamedTuple):
    lm: Any  # the Decoder
    tokenizer: Any
    source: str  # what was loaded, for messages and result files
    step: int | None  # the checkpoint's step; None for a model directory


def build_policy(config: ml_collections.ConfigDict, algo: Any, model_path: str):
    """(PolicyModel with the algorithm's heads, tokenizer, mesh) from a model directory, in the
    run's dtypes and sharded over its mesh: what the trainer trains and a checkpoint holds."""
    lm = from_pretrained(
        model_path, dtype=config.dtype, param_dtype=config.param_dtype, remat=config.model.remat
    )
    tokenizer = load_tokenizer(model_path, vocab_size=lm.config.vocab_size)
    rngs = nnx.Rngs(params=config.seed, dropout=config.seed + 1)
    model = PolicyModel(lm, **algo.heads(lm, rngs))
    mesh = make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
    shard_model(model, mesh)
    return model, tokenizer, mesh


def run_config(run: str) -> ml_collections.ConfigDict:
    """The resolved config a training run wrote (`<run>/config.json`)."""
    path = os.path.join(run, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} does not exist: --run must be the workdir of a `flowrl-jax train` run."
        )
    config = base_config()
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    for section, values in saved.items():
        if isinstance(values, dict):
            config[section].update(values)
        else:
            config[section] = values
    config.workdir = run
    return config


def _architecture(config: ml_collections.ConfigDict, run: str) -> str:
    """The directory the run's architecture and tokenizer come from: its model_path, or its
    export when that directory is gone."""
    if os.path.isdir(config.model_path):
        return config.model_path
    export = os.path.join(run, "export")
    if os.path.isdir(export):
        return export
    raise FileNotFoundError(
        f"the run's model directory {config.model_path!r} (its architecture and tokenizer) "
        f"does not exist and {run} has no export/: restore that directory, or pass "
        "--config.model_path=<a copy of it> ."
    )


def policy_from_run(run: str, config: ml_collections.ConfigDict, *, export: bool = True) -> Policy:
    """The run's latest checkpoint, else (when `export`) its export directory."""
    checkpoints = os.path.join(run, "checkpoints")
    step = Checkpointer(checkpoints, 1).latest_step() if os.path.isdir(checkpoints) else None
    if step is None:
        exported = os.path.join(run, "export")
        if export and os.path.isdir(exported):
            return policy_from_model(exported, config)
        raise FileNotFoundError(
            f"{run} holds no checkpoint{' and no export/' if export else ''}: the run saved "
            "nothing yet (checkpoint.every=0 saves only when training ends)."
        )
    model, tokenizer, _ = build_policy(
        config, make_algorithm(config.algo), _architecture(config, run)
    )
    params = nnx.state(model, nnx.Param)
    nnx.update(model, Checkpointer(checkpoints, 1).restore_params(step, params))
    return Policy(model.lm, tokenizer, f"{checkpoints} step {step}", step)


def policy_from_model(model_dir: str, config: ml_collections.ConfigDict) -> Policy:
    """A Hugging Face model directory, in the config's dtypes."""
    lm = from_pretrained(model_dir, dtype=config.dtype, param_dtype=config.param_dtype)
    tokenizer = load_tokenizer(model_dir, vocab_size=lm.config.vocab_size)
    return Policy(lm, tokenizer, os.path.abspath(model_dir), None)


def eval_prompts(config: ml_collections.ConfigDict, tokenizer: Any) -> PromptSet:
    """The evaluation problems of `config` (data.eval_path, or the task's generator), tokenised."""
    problems = get_task(config.task).problems(config.data, "eval")
    prompts = tokenize_prompts(
        problems, tokenizer, config.data.max_prompt_len, chat_template=config.data.chat_template
    )
    if not len(prompts):
        raise DataError(
            f"none of the {len(problems)} eval prompts fits data.max_prompt_len="
            f"{config.data.max_prompt_len} tokens: raise it."
        )
    return prompts


def evaluate_policy(config: ml_collections.ConfigDict, policy: Policy, key: jax.Array) -> Any:
    """`policy` on the config's evaluation problems with its `eval` settings: an EvalResult."""
    prompts = eval_prompts(config, policy.tokenizer)
    with make_scorer(config) as score:
        return evaluate_configured(policy.lm, policy.tokenizer, prompts, score, key, config)


def evaluate_to_file(
    config: ml_collections.ConfigDict, policy: Policy, key: jax.Array, out: str
) -> dict[str, float]:
    """Evaluates `policy` and writes the metrics, the config and what was evaluated to `out`."""
    validate(config)
    result = evaluate_policy(config, policy, key)
    metrics = {f"eval/{k}": v for k, v in result.metrics.items()}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    record = {**metrics, "config": json.loads(config.to_json_best_effort())}
    record["policy"] = policy.source
    with open(out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return metrics


def export_policy(lm: Any, tokenizer: Any, out: str, *, dtype: str, source: str = "") -> str:
    """Writes the policy as a Hugging Face directory in `dtype`, with its tokenizer (chat
    template included) and a generation_config.json (the `source` model's, when it has one)."""
    return save_pretrained(
        lm, out, dtype=dtype, tokenizer=tokenizer, generation=generation_config(tokenizer, source)
    )
