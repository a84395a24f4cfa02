"""A corrupted or truncated checkpoint is refused on resume with one line naming the step and
the fault; falling back to an older step needs its own flag; metrics and exports survive
interruption."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_fixtures import toy_config

from flowrl_jax.files import atomic_directory
from flowrl_jax.train.checkpoint import Checkpointer, CorruptCheckpoint
from flowrl_jax.train.trainer import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(tiny_model, workdir, steps, **kw):
    return toy_config(tiny_model, workdir, steps=steps, **{"checkpoint.every": 1, **kw})


def _largest_data_file(step_dir) -> str:
    files = [os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs]
    return max(files, key=os.path.getsize)


def _params(trainer):
    return [np.asarray(x) for x in jax.tree.leaves(trainer.params)]


@pytest.fixture(scope="module")
def straight(tiny_model, tmp_path_factory):
    """Parameters after 3 uninterrupted steps."""
    trainer = Trainer(_run(tiny_model, tmp_path_factory.mktemp("straight"), 3))
    trainer.train()
    return _params(trainer)


@pytest.fixture(scope="module")
def two_steps(tiny_model, tmp_path_factory):
    """A run directory after 2 steps, checkpointed after each (tests damage copies of it)."""
    workdir = tmp_path_factory.mktemp("two_steps")
    Trainer(_run(tiny_model, workdir, 2)).train()
    return workdir


@pytest.mark.parametrize("damage", ["overwrite", "truncate"])
def test_a_damaged_step_is_refused_then_skipped_only_when_asked(
    damage, tiny_model, tmp_path, straight, two_steps
):
    tmp_path = tmp_path / "run"
    shutil.copytree(two_steps, tmp_path)
    path = _largest_data_file(tmp_path / "checkpoints" / "2")
    with open(path, "r+b") as f:
        if damage == "overwrite":
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\xff\xff\xff\xff")
        else:
            f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(
        CorruptCheckpoint, match=r"checkpoint step 2 .* unusable: .*(changed|bytes)"
    ):
        Trainer(_run(tiny_model, tmp_path, 3)).train(resume=True)
    resumed = Trainer(_run(tiny_model, tmp_path, 3))
    resumed.train(fallback=True)  # from step 1, the last good one; step 2 set aside
    assert os.path.isdir(tmp_path / "checkpoints.unusable" / "2")
    for a, b in zip(straight, _params(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # step 2 logged again, once


def test_non_finite_state_is_refused(tiny_model, tmp_path):
    trainer = Trainer(_run(tiny_model, tmp_path, 1))
    poisoned = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), trainer.params)
    Checkpointer(str(tmp_path / "checkpoints"), 2).save(
        1, {"params": poisoned, "opt_state": trainer.opt_state}, {"step": 1, "cursor": {}}
    )
    with pytest.raises(CorruptCheckpoint, match=r"step 1 .*\['params'\].* non-finite"):
        trainer.restore()


def test_the_command_prints_one_line(tiny_model, tmp_path):
    config_file = tmp_path / "toy.py"
    config_file.write_text(
        f"import sys\nsys.path.insert(0, {HERE!r})\nfrom train_fixtures import toy_config\n\n\n"
        f"def get_config():\n    return toy_config({tiny_model!r}, {str(tmp_path / 'run')!r})\n"
    )
    Trainer(toy_config(tiny_model, tmp_path / "run", steps=2)).train()
    with open(_largest_data_file(tmp_path / "run" / "checkpoints" / "2"), "r+b") as f:
        f.write(b"\x00\x01\x02\x03")
    proc = subprocess.run(
        [sys.executable, "-m", "flowrl_jax.train", "train", f"--config={config_file}", "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint step 2 in ") and "--resume_fallback" in last
    assert "Traceback" not in proc.stderr


def test_metrics_logged_after_the_restored_step_are_dropped(tiny_model, tmp_path, two_steps):
    tmp_path = tmp_path / "run"
    shutil.copytree(two_steps, tmp_path)
    with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": 3, "reward": -1.0}) + "\n")  # logged, never checkpointed
    Trainer(_run(tiny_model, tmp_path, 3)).train(resume=True)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[-1]["reward"] != -1.0


def test_a_killed_writer_leaves_no_staging_behind(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    stale = tmp_path / f".export.tmp-{dead}-abc123"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    with atomic_directory(tmp_path / "export") as staging:
        (open(os.path.join(staging, "x"), "w")).close()
    assert sorted(os.listdir(tmp_path)) == ["export"]
