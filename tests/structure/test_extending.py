"""docs/extending.md's worked examples, run as a user runs them: its three files copied out of
the page, then two RL steps of the new algorithm on the new task through the CLI."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def doc_files() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", text, re.DOTALL))


def test_the_page_has_the_three_files():
    assert set(doc_files()) == {"cispo.py", "digit_sum.py", "digit_sum_cispo.py"}


def test_new_algorithm_on_new_task_trains(tiny_model, tmp_path):
    for name, code in doc_files().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    run = tmp_path / "run"
    overrides = {
        "model_path": tiny_model,
        "workdir": run,
        "steps": 2,
        "rollout.prompts_per_step": 4,
        "rollout.group_size": 4,
        "data.num_train": 32,
        "data.num_eval": 8,
        "eval.num_problems": 4,
        "eval.num_samples": 2,
        "eval.ks": "(1,2)",
        "checkpoint.export_hf": False,
        "log.tensorboard": False,
        "log.progress": False,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowrl_jax.train",
            "train",
            f"--config={tmp_path / 'digit_sum_cispo.py'}",
            *(f"--config.{k}={v}" for k, v in overrides.items()),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        assert {"clipfrac", "entropy", "reward"} <= set(r)
        assert sum(v for k, v in r.items() if k.startswith("reasons/")) == 16
    assert json.loads((run / "config.json").read_text())["algo"]["name"] == "cispo"
    assert 0 <= json.loads(proc.stdout)["eval/pass@2"] <= 1
