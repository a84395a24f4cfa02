"""A run explains itself: the banner, uniform groups and the no-signal warning, samples.jsonl,
the time summary, curves.png and (optional) Weights & Biases."""

from __future__ import annotations

import json
import logging
import sys
import types

import numpy as np
import pytest
from train_fixtures import toy_config

from flowrl_jax.train import runlog
from flowrl_jax.train.runlog import uniform_fraction
from flowrl_jax.train.trainer import Trainer


def test_uniform_fraction_counts_groups_with_one_reward():
    rewards = np.array([1, 1, 0, 1, 0, 0, -1, -1], np.float32)
    assert uniform_fraction(rewards, 2) == 0.75
    assert uniform_fraction(rewards, 4) == 0.0
    assert uniform_fraction(np.zeros(6), 3) == 1.0


class FakeWandb(types.ModuleType):
    """Records what a run sends to Weights & Biases."""

    def __init__(self):
        super().__init__("wandb")
        self.calls = []

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        return self

    def log(self, metrics, step):
        self.calls.append(("log", step, metrics))

    def finish(self):
        self.calls.append(("finish",))


def test_a_run_with_no_signal_says_so(tiny_model, tmp_path, caplog, monkeypatch):
    """Every response gets the same reward: uniform_groups is 1, the run warns after
    log.no_signal_steps steps, and the banner, samples, summary and curves are written."""
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setattr(runlog, "accelerator_present", lambda: "GPU")
    config = toy_config(
        tiny_model,
        tmp_path,
        steps=3,
        **{
            "reward.correct": 0.0,
            "log.no_signal_steps": 2,
            "log.samples_every": 2,
            "log.num_samples": 3,
            "log.wandb": True,
        },
    )
    with caplog.at_level(logging.INFO, logger="flowrl_jax"):
        Trainer(config).train()
    text = caplog.text
    assert "backend cpu: 1 device(s)" in text
    assert "a GPU is present but JAX runs on the CPU" in text
    assert "task toy_first_char: 64 train prompts (embedded generator), 8 eval prompts" in text
    assert "algorithm GRPO (grpo, " in text and "compiling the first step" in text
    assert "step 2: for 2 steps every group's responses got the same reward" in text
    assert "time: 3 steps in" in text

    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["uniform_groups"] for r in rows] == [1.0, 1.0, 1.0]
    samples = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1, 1, 1, 2, 2, 2]
    assert samples[0]["prompt"].endswith(":") and samples[0]["reward"] == 0.0
    assert len(samples[0]["group_rewards"]) == 4
    assert (tmp_path / "curves.png").stat().st_size > 0

    kinds = [c[0] for c in wandb.calls]
    assert kinds == ["init", "log", "log", "log", "finish"]
    assert wandb.calls[0][1]["config"]["algo"]["name"] == "grpo"
    assert wandb.calls[2][1] == 2 and wandb.calls[2][2]["uniform_groups"] == 1.0


def test_wandb_is_never_required(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    config = toy_config(tiny_model, tmp_path, **{"log.wandb": True})
    with pytest.raises(ValueError, match=r"log.wandb=True needs the wandb package: pip install"):
        Trainer(config).train()
    Trainer(toy_config(tiny_model, tmp_path / "off")).train()  # off by default: no import
