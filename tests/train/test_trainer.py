"""The loop around the algorithms: exact resume, exact gradient accumulation, no recompiles,
and clear errors for bad configs, data and checkpoints."""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from multidevice import run_on_8_devices
from train_fixtures import toy_config, use_sgd

from flowrl_jax.data import DataError
from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.config import validate
from flowrl_jax.train.trainer import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _params(trainer):
    return jax.tree.map(np.asarray, trainer.params)


def test_resume_is_exact(tiny_model, tmp_path):
    straight = Trainer(toy_config(tiny_model, tmp_path / "a", steps=4))
    straight.train()
    first = Trainer(toy_config(tiny_model, tmp_path / "b", steps=2))
    first.train()
    resumed = Trainer(toy_config(tiny_model, tmp_path / "b", steps=4))
    resumed.train(resume=True)
    assert resumed.step == 4
    for a, b in zip(
        jax.tree.leaves(_params(straight)), jax.tree.leaves(_params(resumed)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_learning_rate_follows_rl_steps(tiny_model, tmp_path):
    """Four mini-batches per RL step and two warm-up steps: the four updates of the first step
    all use rate 0 (when the schedule counted updates they used 0, lr/2, lr, lr), and the rate
    logged per step is 0, lr/2, then exactly lr."""
    overrides = {
        "optim.warmup_steps": 2,
        "optim.mini_batch_prompts": 1,
        "optim.micro_batch_size": 4,
    }
    trainer = Trainer(toy_config(tiny_model, tmp_path, steps=1, **overrides))
    before = _params(trainer)
    trainer.train()
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(_params(trainer)), strict=True):
        np.testing.assert_array_equal(a, b)
    trainer.config.unlock()
    trainer.config.steps = 3
    trainer.train()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lr = np.float32(trainer.config.optim.lr)
    assert [r["optim/lr"] for r in rows] == [0.0, lr / 2, lr]
    assert [r["updates"] for r in rows] == [4, 4, 4]


@pytest.mark.parametrize("algorithm", ["grpo", "flowrl"])
def test_bfloat16_first_update_is_on_policy(algorithm, deep_model, tmp_path):
    """In bfloat16 the sampler's log-probs are not the update's (each XLA program rounds its own
    way); by default the run recomputes lp_old with the update's own forward, so the first
    update's importance ratios, and FlowRL's sequence weights, are exactly 1."""
    overrides = {"dtype": "bfloat16"}
    if algorithm == "flowrl":
        overrides["algo.logz_dropout"] = 0.0
    trainer = Trainer(toy_config(deep_model, tmp_path, algorithm, **overrides))
    with make_scorer(trainer.config) as score:
        batch, _ = trainer.collect(jax.random.key(0), score, {})
    rows = batch["ids"].shape[0]
    mini = {k: v.reshape(rows // 8, 8, *v.shape[1:]) for k, v in batch.items()}
    _, _, metrics = trainer.train_step(
        trainer.params, trainer.rest, trainer.opt_state, mini, jax.random.key(1)
    )
    if algorithm == "flowrl":
        assert float(metrics["weight_mean"]) == 1.0
    else:
        assert float(metrics["approx_kl"]) == 0.0 and float(metrics["ratio_mean"]) == 1.0


@pytest.mark.parametrize("algorithm", ["grpo", "dr_grpo", "flowrl"])
def test_micro_batches_give_the_same_update(algorithm, tiny_model, tmp_path):
    no_dropout = {"algo.logz_dropout": 0.0} if algorithm == "flowrl" else {}
    trainer = Trainer(toy_config(tiny_model, tmp_path, algorithm, **no_dropout))
    with make_scorer(trainer.config) as score:
        batch, _ = trainer.collect(jax.random.key(0), score, {})
    rows = batch["ids"].shape[0]
    use_sgd(trainer)
    results = []
    for n_micro in (1, 4):
        mini = {k: v.reshape(n_micro, rows // n_micro, *v.shape[1:]) for k, v in batch.items()}
        params = jax.tree.map(lambda x: x.copy(), trainer.params)
        new, _, metrics = trainer.train_step(
            params, trainer.rest, trainer.tx.init(params), mini, jax.random.key(1)
        )
        results.append((jax.tree.leaves(new), float(metrics["loss"])))
    (p1, loss1), (p4, loss4) = results
    assert loss1 == pytest.approx(loss4, rel=1e-5, abs=1e-6)
    for a, b in zip(p1, p4, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        # float32 sums in another order; FlowRL's β = 15 makes its gradients O(1), so the
        # bound is relative to the largest entry (PPO-style ones also pass 1e-6 absolute)
        assert np.abs(a - b).max() <= 1e-5 * max(1.0, np.abs(a).max()), algorithm


def test_steps_do_not_recompile(tiny_model, tmp_path, caplog):
    """After the first step has compiled everything, later steps compile nothing."""
    trainer = Trainer(toy_config(tiny_model, tmp_path, steps=1))
    trainer.train()
    trainer.config.unlock()
    trainer.config.steps = 4
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        trainer.train()
    assert trainer.step == 4
    compiles = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    heavy = [m for m in compiles if any(n in m for n in ("step", "forward", "sample"))]
    assert not heavy, heavy


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Trainer(toy_config(tmp_path / "nowhere", tmp_path / "run"))


def test_missing_dataset_field(tiny_model, tmp_path):
    data = tmp_path / "math.jsonl"
    data.write_text(json.dumps({"prompt": "1+1=", "solution": "2"}) + "\n")
    config = toy_config(tiny_model, tmp_path / "run", task="math", **{"data.train_path": str(data)})
    with pytest.raises(DataError, match=r"row 0 has no field 'answer'.*answer_field"):
        Trainer(config)


def test_invalid_value_names_the_key(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"config.algo.weight_mode='clipped'.*\['none'"):
        Trainer(toy_config(tiny_model, tmp_path, "flowrl", **{"algo.weight_mode": "clipped"}))


@pytest.mark.parametrize(
    ("override", "match"),
    [("--config.algo.betta=3", "betta"), ("--config.steps=many", "steps")],
)
def test_cli_rejects_unknown_keys_and_wrong_types(override, match):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowrl_jax.train",
            "train",
            f"--config={REPO}/configs/countdown/grpo.py",
            override,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode != 0
    assert match in proc.stderr


def test_sharded_update_equals_unsharded(tiny_model, tmp_path):
    script = os.path.join(os.path.dirname(__file__), "sharded_step.py")
    run_on_8_devices(script, str(tiny_model), str(tmp_path), done="SHARDED_STEP_OK", timeout=600)


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)
        if os.sep + "study" + os.sep not in p  # study presets: tests/study
    ),
    ids=lambda path: os.path.relpath(path, REPO),
)
def test_shipped_configs_validate(path):
    """Every config file in the repo passes the checks a run makes first (the DPH-RL ones once
    failed them: the default micro-batch did not count the stored samples)."""
    spec = importlib.util.spec_from_file_location("shipped_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    validate(module.get_config())
