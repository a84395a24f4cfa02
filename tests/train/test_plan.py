"""`flowrl-jax plan`: the bytes it counts are those of a real run, and it says whether a config
fits its mesh, from the config alone."""

from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys

import jax
import pytest
from train_fixtures import toy_config

from flowrl_jax.models.presets import PRESETS, architecture
from flowrl_jax.train.plan import make_plan
from flowrl_jax.train.trainer import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAPER = sorted(glob.glob(os.path.join(REPO, "configs", "paper", "*.py")))


def _load(path: str):
    spec = importlib.util.spec_from_file_location("paper_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _nbytes(tree) -> int:
    return sum(x.nbytes for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("algorithm", ["flowrl", "grpo"])
def test_counts_the_bytes_of_a_loaded_run(algorithm, tiny_model, tmp_path):
    """On one device, parameters (with FlowRL's log-Z head), optimizer state and reference
    weights are exactly what the trainer allocates."""
    config = toy_config(
        tiny_model,
        tmp_path,
        algorithm,
        **{"mesh.data": 1, "mesh.device_memory_gib": 1.0},
    )
    plan = make_plan(config)
    trainer = Trainer(config)
    assert plan.items["parameters"] == _nbytes(trainer.params)
    assert plan.items["optimizer state"] == _nbytes(trainer.opt_state)
    assert plan.items["reference weights"] == _nbytes(trainer.ref_params or {})
    assert plan.items["rollout weights"] == _nbytes(trainer.model.lm)
    assert plan.fits


def test_a_7b_config_fits_its_paper_mesh_and_not_a_small_one(tmp_path):
    path = os.path.join(REPO, "configs", "paper", "flowrl_qwen2.5_7b_math.py")
    plan = make_plan(_load(path))
    assert plan.fits, plan.report()
    # float32 over fsdp=64, except what has no hidden dimension to split: the q/k/v biases
    # (28 layers x (28 + 2·4) heads x 128) and the log-Z head (no logical axes)
    arch = architecture("qwen2.5-7b")
    biases = 28 * (28 + 2 * 4) * 128
    log_z_head = 2 * 3584**2 + 7 * 3584 + 1
    want = ((arch.num_params - biases) // 64 + biases + log_z_head) * 4
    assert plan.items["parameters"] == want
    small = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowrl_jax.train",
            "plan",
            f"--config={path}",
            "--config.mesh.fsdp=8",
            "--config.mesh.device_memory_gib=80",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert small.returncode == 1, small.stdout + small.stderr
    assert "does not fit" in small.stderr
    assert "data=1 fsdp=8 tensor=1 (8 devices of 80 GiB)" in small.stdout
    assert "parameters" in small.stdout


@pytest.mark.parametrize("path", PAPER, ids=lambda p: os.path.relpath(p, REPO))
def test_every_paper_config_fits_the_mesh_it_names(path):
    plan = make_plan(_load(path))
    assert plan.fits, plan.report()


def test_needs_every_mesh_size_and_the_architecture(tmp_path):
    config = toy_config(tmp_path / "nowhere", tmp_path, **{"mesh.device_memory_gib": 16.0})
    with pytest.raises(ValueError, match="give every size"):
        make_plan(config)  # mesh.data = -1
    with config.unlocked():
        config.mesh.data = 1
    with pytest.raises(FileNotFoundError, match=r"model\.architecture"):
        make_plan(config)
    with config.unlocked():
        config.model.architecture = "qwen2.5-0.5b"
    assert make_plan(config).fits


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_have_their_published_sizes(name):
    billions = {
        "qwen2.5-0.5b": 0.49,
        "qwen2.5-1.5b": 1.54,
        "qwen2.5-3b": 3.09,
        "qwen2.5-7b": 7.62,
        "qwen2.5-14b": 14.77,
        "qwen2.5-32b": 32.76,
        "qwen2.5-math-1.5b": 1.54,
        "qwen2.5-math-7b": 7.62,
        "deepseek-r1-distill-qwen-7b": 7.62,
        "qwen3-8b": 8.19,
        "llama3.1-8b": 8.03,
    }[name]
    assert architecture(name).num_params / 1e9 == pytest.approx(billions, abs=0.01)
