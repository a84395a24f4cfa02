"""`flowrl-jax train | eval | export | plan | study` (also `python -m flowrl_jax.train ...`).

flowrl-jax train --config=configs/countdown/flowrl.py --config.steps=50 [--resume]
flowrl-jax eval --config=configs/countdown/grpo.py --config.model_path=runs/x/export
flowrl-jax export --run=runs/x --out=exported_policy
flowrl-jax study --config=configs/study/fast.py
flowrl-jax plan --config=configs/paper/flowrl_qwen2.5_7b_math.py --config.mesh.fsdp=8
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from flowrl_jax.logs import setup_logging

COMMANDS = ("train", "eval", "export", "plan", "study")
USAGE = f"usage: flowrl-jax {{{'|'.join(COMMANDS)}}} [flags]  (--help after the command for flags)"


def _config_from_run(run: str):
    from flowrl_jax.train.config import base_config

    path = os.path.join(run, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: --run must be a training run directory.")
    config = base_config()
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    for section, values in saved.items():
        if isinstance(values, dict):
            config[section].update(values)
        else:
            config[section] = values
    return config


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

    from flowrl_jax.rollout import make_scorer
    from flowrl_jax.train.trainer import Trainer

    config = flags.FLAGS.config
    config.log.tensorboard = False
    trainer = Trainer(config)
    with make_scorer(config) as score:
        metrics = trainer.run_eval(score, jax.random.key(config.seed))
    with open(os.path.join(trainer.workdir, "eval.json"), "w", encoding="utf-8") as f:
        json.dump({**metrics, "config": json.loads(config.to_json_best_effort())}, f, indent=2)
    print(json.dumps(metrics, indent=2))


def _export(_):
    setup_logging()
    from flowrl_jax.models import save_pretrained
    from flowrl_jax.train.trainer import Trainer

    config = _config_from_run(flags.FLAGS.run)
    config.workdir = flags.FLAGS.run
    trainer = Trainer(config)
    if not trainer.restore():
        raise FileNotFoundError(f"no checkpoint under {flags.FLAGS.run}/checkpoints.")
    out = save_pretrained(trainer.model.lm, flags.FLAGS.out, tokenizer=trainer.tokenizer)
    print(f"exported step {trainer.step} of {flags.FLAGS.run} to {out}")


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
    if command in ("train", "eval", "plan"):
        config_flags.DEFINE_config_file(
            "config", None, "config file (configs/...py)", lock_config=True
        )
        flags.mark_flag_as_required("config")
        flags.DEFINE_bool("resume", False, "continue from the latest checkpoint in workdir")
        flags.DEFINE_bool(
            "resume_fallback",
            False,
            "resume from the latest checkpoint that passes its integrity checks, moving the "
            "newer unusable ones aside (never done without this flag)",
        )
        app.run({"train": _train, "eval": _eval, "plan": _plan}[command], argv=argv)
    else:
        flags.DEFINE_string("run", None, "training run directory (its workdir)", required=True)
        flags.DEFINE_string("out", None, "output directory for the HF checkpoint", required=True)
        app.run(_export, argv=argv)


if __name__ == "__main__":
    main()
