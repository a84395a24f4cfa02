"""`flowrl-jax train | export | eval` end to end, each in its own process as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
from flax import nnx
from train_fixtures import toy_config

from flowrl_jax.models import from_pretrained
from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.trainer import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL = {"eval.num_samples": 4, "eval.num_problems": 6, "eval.ks": (1, 2, 4)}


def _cli(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "flowrl_jax.train", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_train_export_eval(tiny_model, tmp_path):
    run, exported = tmp_path / "run", tmp_path / "exported"
    config_file = tmp_path / "toy_config.py"
    config_file.write_text(
        f"import sys\nsys.path.insert(0, {HERE!r})\n"
        "from train_fixtures import toy_config\n\n\n"
        f"def get_config():\n    return toy_config({tiny_model!r}, {str(run)!r}, **{EVAL!r})\n"
    )

    trained = _cli("train", f"--config={config_file}", "--config.steps=1")
    assert 0 <= json.loads(trained.stdout)["eval/pass@1"] <= 1

    _cli("export", f"--run={run}", f"--out={exported}")
    restored = Trainer(toy_config(tiny_model, run))
    assert restored.restore() and restored.step == 1
    ours = nnx.state(from_pretrained(str(exported)), nnx.Param)
    want = nnx.state(restored.model.lm, nnx.Param)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    evaluated = _cli(
        "eval",
        f"--config={config_file}",
        f"--config.model_path={exported}",
        f"--config.workdir={tmp_path / 'eval'}",
    )
    printed = json.loads(evaluated.stdout)
    with open(tmp_path / "eval" / "eval.json", encoding="utf-8") as f:
        saved = json.load(f)
    assert saved.pop("config")["model_path"] == str(exported)
    assert saved.pop("policy") == str(exported)
    assert saved == printed
    # The same evaluation in this process: the command adds nothing and drops nothing.
    config = toy_config(str(exported), tmp_path / "in_process", **EVAL)
    trainer = Trainer(config)
    with make_scorer(config) as score:
        want = trainer.run_eval(score, jax.random.key(config.seed))
    assert printed.keys() == want.keys()
    np.testing.assert_allclose([printed[k] for k in want], list(want.values()), rtol=1e-6)
    # Evaluating leaves only eval.json (no checkpoints, no config.json that could overwrite a
    # training run's) and no library chatter (orbax logs at INFO).
    assert os.listdir(tmp_path / "eval") == ["eval.json"]
    assert "checkpoint_manager" not in evaluated.stderr
    assert "PyTorch was not found" not in evaluated.stderr

    # eval --run with another eval setting: the run's config otherwise, a results file named
    # after the change; a key outside eval.* is refused.
    again = _cli("eval", f"--run={run}", "--set", "eval.num_samples=2", "--set", "eval.ks=(1, 2)")
    assert set(json.loads(again.stdout)) >= {"eval/pass@1", "eval/pass@2"}
    assert "eval/pass@4" not in json.loads(again.stdout)
    assert os.path.isfile(run / "eval" / "step_1_num_samples=2_ks=(1, 2).json")
    refused = subprocess.run(
        [sys.executable, "-m", "flowrl_jax.train", "eval", f"--run={run}", "--set", "steps=3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "only eval.* keys" in refused.stderr
