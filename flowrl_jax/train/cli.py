"""`flowrl-jax train | eval | export | config | plan | study` (or `python -m flowrl_jax.train`).

flowrl-jax train --config=configs/countdown/flowrl.py --config.steps=50 [--resume]
flowrl-jax eval --run=runs/x                          # the run's config, latest checkpoint
flowrl-jax eval --run=runs/x --set eval.num_samples=64 --set eval.ks="(1, 64)"
flowrl-jax eval --model=DIR --config=configs/math/grpo.py   # any Hugging Face directory
flowrl-jax eval --config=configs/countdown/grpo.py --config.model_path=runs/x/export
flowrl-jax export --run=runs/x --out=exported_policy [--dtype=bfloat16]
flowrl-jax config --config=configs/math/flowrl.py     # every key, resolved
flowrl-jax study --config=configs/study/fast.py
flowrl-jax plan --config=configs/paper/flowrl_qwen2.5_7b_math.py --config.mesh.fsdp=8

A config or data error is one line on stderr (exit 2), not a traceback; FLOWRL_JAX_TRACEBACK=1
shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from flowrl_jax.logs import setup_logging

COMMANDS = ("train", "eval", "export", "config", "plan", "study")
USAGE = f"usage: flowrl-jax {{{'|'.join(COMMANDS)}}} [flags]  (--help after the command for flags)"
CONFIG_HELP = (
    "config file (configs/<task>/<algorithm>.py); override any key with --config.<key>=value. "
    "`flowrl-jax config --config=FILE` prints every key and its value, docs/config.md says "
    "what each means."
)
USER_ERRORS = (ValueError, OSError)
"""Config, data, checkpoint and file errors (DataError, ConfigError, CheckpointError are
ValueErrors): their message names the key or file and the fix, so it is all the user sees."""


def _fail(command: str, message: str) -> None:
    print(f"flowrl-jax {command}: error: {message}", file=sys.stderr)
    sys.exit(2)


def _train(_):
    setup_logging()
    from flowrl_jax.distributed.multihost import maybe_initialize
    from flowrl_jax.train.checkpoint import CorruptCheckpoint
    from flowrl_jax.train.trainer import Trainer

    maybe_initialize()
    trainer = Trainer(flags.FLAGS.config)
    try:
        metrics = trainer.train(resume=flags.FLAGS.resume, fallback=flags.FLAGS.resume_fallback)
    except CorruptCheckpoint as e:
        sys.exit(
            f"error: {e}. Pass --resume_fallback to resume from the latest step that passes the "
            "checks (the unusable ones are moved aside), or train into a new --config.workdir."
        )
    print(json.dumps({k: v for k, v in metrics.items() if k.startswith("eval/")}, indent=2))


def _eval(_):
    setup_logging()
    import jax

    from flowrl_jax.train import runs
    from flowrl_jax.train.config import parse_assignment, set_key, validate

    f = flags.FLAGS
    if f.run:
        if f.model or f.config:
            raise ValueError("--run evaluates the run with its own config: drop --model/--config.")
        config = runs.run_config(f.run)
        changes = [parse_assignment(text) for text in f.set]
        for key, value in changes:
            if not key.startswith("eval."):
                raise ValueError(f"--set {key}: with --run only eval.* keys may change.")
            set_key(config, key, value)
        validate(config)
        policy = runs.policy_from_run(f.run, config)
        key = runs.eval_key(config.seed, config.steps if policy.step is None else policy.step)
        name = "export" if policy.step is None else f"step_{policy.step}"
        name += "".join(f"_{k.removeprefix('eval.')}={v}" for k, v in changes)
        out = f.out or os.path.join(f.run, "eval", f"{name}.json")
    elif f.set:
        raise ValueError("--set goes with --run; with --config, override keys as --config.<key>.")
    elif f.config is not None:
        config = f.config
        if f.model:
            config.model_path = f.model
        policy = runs.policy_from_model(config.model_path, config)
        key = jax.random.key(config.seed)
        out = f.out or (
            os.path.join("runs", "eval", _model_name(f.model) + ".json")
            if f.model
            else os.path.join(config.workdir, "eval.json")
        )
    else:
        raise ValueError("give --run=DIR (a training run), or --config=FILE [--model=DIR].")
    metrics = runs.evaluate_to_file(config, policy, key, out)
    print(json.dumps(metrics, indent=2))
    print(f"evaluated {policy.source}; results in {os.path.abspath(out)}", file=sys.stderr)


def _model_name(path: str) -> str:
    """`/data/run/export` -> `run_export`, `/data/Qwen2.5-1.5B` -> `Qwen2.5-1.5B`."""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    return "_".join(parts[-2:]) if parts[-1] == "export" else parts[-1]


def _export(_):
    setup_logging()
    from flowrl_jax.train import runs

    f = flags.FLAGS
    config = runs.run_config(f.run)
    policy = runs.policy_from_run(f.run, config, export=False)
    dtype = f.dtype or config.dtype
    out = runs.export_policy(
        policy.lm, policy.tokenizer, f.out, dtype=dtype, source=config.model_path
    )
    print(f"exported step {policy.step} of {f.run} ({dtype}) to {out}")


def _config(_):
    from flowrl_jax.train.config import validate
    from flowrl_jax.train.config_doc import flat_items

    config = flags.FLAGS.config
    validate(config)
    for key, value in flat_items(config):
        print(f"{key} = {value!r}")


def _help_from_here(command: str, program: str) -> None:
    """`--help` shows this module's usage and the command's flags, whatever script runs it
    (absl shows the main module's docstring and key flags)."""
    main_module = sys.modules["__main__"]
    main_module.__doc__ = f"flowrl-jax {command} [flags]\n\n{__doc__}"
    for name in ("config", "resume", "resume_fallback", "run", "model", "out", "dtype", "set"):
        if name in flags.FLAGS:
            flags.FLAGS.register_key_flag_for_module(program, flags.FLAGS[name])


def _plan(_):
    from flowrl_jax.train.plan import make_plan

    plan = make_plan(flags.FLAGS.config)
    print(plan.report())
    if not plan.fits:
        print(plan.reason(), file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    command = argv.pop(1)
    if command == "study":
        from flowrl_jax.study import main as study

        sys.exit(study(argv[1:]))
    if command in ("train", "eval", "config", "plan"):
        config_flags.DEFINE_config_file("config", None, CONFIG_HELP, lock_config=True)
    if command in ("train", "config", "plan"):
        flags.mark_flag_as_required("config")
    if command == "train":
        flags.DEFINE_bool("resume", False, "continue from the latest checkpoint in workdir")
        flags.DEFINE_bool(
            "resume_fallback",
            False,
            "resume from the latest checkpoint that passes its integrity checks, moving the "
            "newer unusable ones aside (never done without this flag)",
        )
    if command == "eval":
        flags.DEFINE_string(
            "run",
            None,
            "a training run's directory: its config, its latest checkpoint (else its export)",
        )
        flags.DEFINE_string(
            "model",
            None,
            "a Hugging Face model directory to evaluate with "
            "--config's task, data and eval settings",
        )
        flags.DEFINE_string("out", None, "where the results go (a .json file); printed")
        flags.DEFINE_multi_string(
            "set",
            [],
            "with --run: an eval setting other than the run's, e.g. --set eval.num_samples=64 "
            "(repeatable; the default results file is named after it)",
        )
    if command == "export":
        flags.DEFINE_string("run", None, "training run directory (its workdir)", required=True)
        flags.DEFINE_string("out", None, "output directory for the HF checkpoint", required=True)
        flags.DEFINE_enum("dtype", None, ["float32", "bfloat16"], "default: the run's dtype")
    _help_from_here(command, argv[0])
    body = {"train": _train, "eval": _eval, "export": _export, "config": _config, "plan": _plan}
    body = body[command]
    started = []

    def run(args):
        started.append(True)
        from flowrl_jax.train.checkpoint import CorruptCheckpoint

        try:
            return body(args)
        except (*USER_ERRORS, CorruptCheckpoint) as e:
            if os.environ.get("FLOWRL_JAX_TRACEBACK"):
                raise
            _fail(command, str(e))

    try:
        app.run(run, argv=argv)
    except (AttributeError, KeyError) as e:  # ml_collections: a --config.<key> naming no key
        if started or os.environ.get("FLOWRL_JAX_TRACEBACK"):
            raise
        detail = e
        while isinstance(detail, Exception) and detail.args:  # AttributeError(KeyError(msg))
            detail = detail.args[0]
        detail = str(detail).replace("\n", " ")
        _fail(
            command,
            f"a --config.<key> override names no config key ({detail}); `flowrl-jax config "
            "--config=FILE` lists the keys.",
        )


if __name__ == "__main__":
    main()
