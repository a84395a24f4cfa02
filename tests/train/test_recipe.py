"""The README's "Train on your own checkpoint" commands, run as written (through bash, with
the paths swapped for a tiny checkpoint with a chat template and small files in each
published layout, and a few-step budget appended): train -> eval -> export -> transformers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from layouts import LAYOUTS

ROOT = Path(__file__).resolve().parents[2]
BUDGET = (
    " --config.steps=2 --config.rollout.prompts_per_step=2 --config.rollout.group_size=2"
    " --config.rollout.max_new_tokens=8 --config.data.max_prompt_len=320"
    " --config.optim.mini_batch_prompts=0 --config.optim.micro_batch_size=0"
    " --config.eval.every=0 --config.eval.num_problems=2 --config.eval.num_samples=2"
    " '--config.eval.ks=(1, 2)' --config.checkpoint.every=0 --config.reward.num_workers=1"
    " --config.log.progress=False --config.log.tensorboard=False"
)


def readme_recipes() -> dict[str, list[str]]:
    """The README's recipe blocks: layout name -> its commands (continuations joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- recipe: (\w+) -->\n```bash\n(.*?)```", text, re.DOTALL)
    return {name: body.replace("\\\n", " ").strip().splitlines() for name, body in blocks}


def _run(command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-4000:]}"
    return proc


def _localise(command: str, model: str, layout, run: Path, out: Path) -> str:
    """The README's /data/... and runs/... paths replaced by the test's."""

    def path(m: re.Match) -> str:
        p = m.group(0)
        if p == "/data/Qwen2.5-1.5B-Instruct":
            return model
        if p.endswith("dev_databases"):
            return layout.data["db_root"]
        if p.endswith("-flowrl"):
            return str(out)
        return layout.path

    command = re.sub(r"/data/[^\s\"']+", path, command)
    return re.sub(r"\bruns/\w+", str(run), command)


def test_the_readme_has_a_recipe_for_each_layout():
    recipes = readme_recipes()
    assert set(recipes) == set(LAYOUTS)
    assert [c.split()[1] for c in recipes["verl_parquet"]] == ["train", "eval", "export"]


def _check_run(run: Path, proc: subprocess.CompletedProcess) -> None:
    assert "backend cpu" in proc.stderr and "compiling the first step" in proc.stderr
    assert "time: 2 steps in" in proc.stderr
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps[:2]] == [1, 2] and 0 <= steps[0]["uniform_groups"] <= 1
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert samples[0]["step"] == 1 and samples[0]["prompt"].startswith("<|im_start|>")
    assert {"response", "reward", "reason", "group_rewards"} <= set(samples[0])
    assert (run / "curves.png").stat().st_size > 0 and (run / "eval.json").is_file()


def _check_export(path: Path, model: str) -> None:
    """transformers loads the export: bfloat16 weights, the tokenizer with its chat template,
    and a generation config that stops at the tokenizer's eos."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(model).chat_template
    lm = AutoModelForCausalLM.from_pretrained(path)
    assert lm.dtype == torch.bfloat16
    generation = GenerationConfig.from_pretrained(path)
    assert generation.eos_token_id == tokenizer.eos_token_id
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    assert lm(**ids).logits.shape[-1] == lm.config.vocab_size


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_readme_recipe_end_to_end(chat_model, tmp_path, name):
    (tmp_path / "data").mkdir()
    layout = LAYOUTS[name](tmp_path / "data")
    recipe = readme_recipes()
    run, out = tmp_path / "run", tmp_path / "exported"
    commands = recipe[name] if name == "verl_parquet" else recipe[name] + recipe["verl_parquet"][1:]
    train, evaluate, export = (_localise(c, chat_model, layout, run, out) for c in commands)

    _check_run(run, _run(train + BUDGET))
    _check_export(run / "export", chat_model)
    if name != "verl_parquet":
        return
    # eval --run: the run's own config and latest checkpoint, the trainer's evaluation key, so
    # it reproduces the run's final evaluation; export --run works without the training file.
    evaluated = _run(evaluate)
    assert json.loads(evaluated.stdout) == json.loads((run / "eval.json").read_text())
    assert f"results in {run / 'eval' / 'step_2.json'}" in evaluated.stderr
    os.remove(layout.path)
    exported = _run(export)
    assert f"exported step 2 of {run} (bfloat16)" in exported.stdout
    _check_export(out, chat_model)
