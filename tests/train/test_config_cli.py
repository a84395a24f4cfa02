"""Config discoverability and one-line errors: `flowrl-jax config`, docs/config.md generated
from the code, algo.name that cannot disagree with what runs, and config and data errors as
one line instead of a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_fixtures import toy_config

from flowrl_jax.train import config_doc
from flowrl_jax.train.config import countdown_config, validate

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FLOWRL_JAX_TRACEBACK"}
    return subprocess.run(
        [sys.executable, "-m", "flowrl_jax.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_docs_config_md_is_generated_from_the_code_and_current():
    undocumented = [e["key"] for e in config_doc.key_docs() if not e["meaning"]]
    assert not undocumented, f"add a comment beside these keys in the code: {undocumented}"
    page = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert page == config_doc.markdown(), (
        "docs/config.md is stale: python -m flowrl_jax.train.config_doc > docs/config.md"
    )
    assert "| `data.answer_field` | `''` | the reference's column (dotted path, e.g." in page
    assert "| `algo.beta` | `15.0` | β: the reward's inverse temperature" in page


def test_source_comments_follow_continuation_lines():
    source = """
def f():
    c.a = 1  # first
    #   and more
    c.b = (
        "x"  # inside the parentheses
    )
    # a comment of its own
    c.d = 2
"""
    assert config_doc.source_comments(source) == {
        "c.a": "first and more",
        "c.b": "inside the parentheses",
        "c.d": "",
    }


@pytest.mark.parametrize(("preset", "switched"), [("grpo", "flowrl"), ("grpo", "dapo")])
def test_algo_name_switched_on_a_config_for_another_algorithm_is_refused(preset, switched):
    config = countdown_config(preset)
    config.algo.name = switched
    with pytest.raises(
        ValueError,
        match=rf"config.algo.name='{switched}', but this config holds "
        rf"{preset}'s settings",
    ):
        validate(config)
    config.algo.preset = switched  # deliberately: allowed (unread values are still refused)
    if switched == "dapo":
        validate(config)


def test_config_command_prints_every_resolved_key_and_help_points_to_it():
    printed = _cli("config", "--config=configs/math/flowrl.py", "--config.steps=7")
    assert printed.returncode == 0, printed.stderr
    lines = dict(line.split(" = ", 1) for line in printed.stdout.splitlines())
    assert lines["steps"] == "7" and lines["algo.name"] == "'flowrl'"
    assert lines["optim.lr"] == "1e-06" and lines["task"] == "'math'"
    assert set(lines) == {e["key"] for e in config_doc.key_docs()}
    helped = _cli("train", "--help")
    assert "flowrl-jax config --config=FILE" in helped.stdout + helped.stderr


def test_config_and_data_errors_are_one_line(tiny_model, tmp_path):
    typo = _cli("config", "--config=configs/math/flowrl.py", "--config.algo.betta=1")
    assert typo.returncode == 2
    assert typo.stderr.strip().splitlines() == [
        "flowrl-jax config: error: a --config.<key> override names no config key ('betta' "
        'Did you mean "beta" instead of "betta"?); `flowrl-jax config --config=FILE` lists '
        "the keys."
    ]
    switched = _cli("config", "--config=configs/math/grpo.py", "--config.algo.name=flowrl")
    assert switched.returncode == 2 and len(switched.stderr.strip().splitlines()) == 1
    assert "config.algo.name='flowrl', but this config holds grpo's settings" in switched.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "caf\xe9", "answer": "1"}\n')
    run = tmp_path / "toy_config.py"
    run.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests' / 'train')!r})\n"
        "from train_fixtures import toy_config\n\n\n"
        f"def get_config():\n    return toy_config({tiny_model!r}, {str(tmp_path / 'run')!r})\n"
    )
    data = _cli("train", f"--config={run}", "--config.task=math", f"--config.data.train_path={bad}")
    assert data.returncode == 2
    assert data.stderr.strip().splitlines()[-1] == (
        f"flowrl-jax train: error: {bad}: not UTF-8 text (byte 15, line 1: invalid "
        "continuation byte); re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
    )
    assert "Traceback" not in data.stderr


def test_eval_and_export_name_what_is_missing(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(toy_config("x", tmp_path).to_dict()))
    missing = _cli("export", f"--run={tmp_path / 'nowhere'}", f"--out={tmp_path / 'out'}")
    assert missing.returncode == 2 and "must be the workdir of a `flowrl-jax train` run" in (
        missing.stderr
    )
    empty = _cli("eval", f"--run={tmp_path / 'run'}")
    assert empty.returncode == 2
    assert "holds no checkpoint and no export/: the run saved nothing yet" in empty.stderr
    neither = _cli("eval")
    assert "give --run=DIR (a training run), or --config=FILE [--model=DIR]" in neither.stderr
