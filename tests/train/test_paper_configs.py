"""`configs/paper/`: each file runs one algorithm of one paper's experiment, says so in its name,
cites its sources and names its hardware; the settings shared by a paper's scripts
(`flowrl_jax.train.papers`) are the released ones. That each fits its mesh is
tests/train/test_plan.py's; that each validates, tests/train/test_trainer.py's."""

from __future__ import annotations

import ast
import glob
import importlib.util
import os
import re

import pytest

from flowrl_jax.algos import algorithm_names
from flowrl_jax.train.config import validate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAPER = sorted(glob.glob(os.path.join(REPO, "configs", "paper", "*.py")))
RELEASED = ("Xuekai-Zhu/FlowRL", "seamoke/DPH-RL", "alibaba/ROLL")


def _source(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def _load(path: str):
    spec = importlib.util.spec_from_file_location("paper_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(path: str):
    return _load(path).get_config()


def test_every_experiment_of_the_issue_has_its_configs():
    names = {os.path.basename(p)[: -len(".py")] for p in PAPER}
    assert {
        "flowrl_qwen2.5_7b_math",
        "flowrl_qwen2.5_32b_math",
        "flowrl_r1_distill_qwen_7b_code",
        "lite_ppo_qwen3_8b_math",
        "grpo_qwen3_8b_math",
        "dapo_qwen3_8b_math",
        "dph_forward_kl_llama3.1_8b_sql",
        "dph_js_llama3.1_8b_sql",
        "grpo_llama3.1_8b_sql",
        "dph_dapo_llama3.1_8b_sql",
        "grpo_rkl_llama3.1_8b_sql",
    } <= names


@pytest.mark.parametrize("path", PAPER, ids=os.path.basename)
def test_the_file_name_says_the_algorithm_it_runs(path):
    """`<algorithm>_<model>_<task>.py`: the longest registered name the file name starts with
    (grpo_rkl, not grpo; dph_dapo, not dapo) is the config's algorithm."""
    base = os.path.basename(path)
    named = max((n for n in algorithm_names() if base.startswith(n + "_")), key=len)
    config = _config(path)
    assert config.algo.name == named == config.algo.preset
    assert base.endswith(f"_{config.task}.py")


@pytest.mark.parametrize("path", PAPER, ids=os.path.basename)
def test_each_cites_its_paper_its_source_and_its_hardware(path):
    module = _load(path)
    doc = ast.get_docstring(_source(path)) or ""
    assert re.search(r"arXiv\s+\d{4}\.\d{5}", doc), "the paper, by its arXiv id"
    assert any(repo in doc for repo in RELEASED) or "`flowrl_jax.train.papers." in doc
    assert "Hardware:" in doc and "plan" in doc
    assert callable(module.get_config)


@pytest.mark.parametrize("path", PAPER, ids=os.path.basename)
def test_each_is_runnable_on_its_own_with_placeholder_paths(path):
    """Loadable alone, validated, with the architecture and every mesh size set (for `plan`
    without weights), and paths that are placeholders to replace, not files of this repo."""
    config = _config(path)
    validate(config)
    assert config.model.architecture
    assert min(config.mesh.data, config.mesh.fsdp, config.mesh.tensor) >= 1
    assert config.mesh.device_memory_gib > 0
    for key in ("model_path", "data.train_path", "data.eval_path"):
        value = config
        for part in key.split("."):
            value = value[part]
        assert value.startswith("/data/"), (key, value)
    assert config.eval.num_samples >= max(config.eval.ks)


def test_the_folder_holds_only_configs():
    """Shared helpers live outside configs/paper (flowrl_jax/train/papers.py)."""
    for path in glob.glob(os.path.join(REPO, "configs", "paper", "*")):
        assert path.endswith(".py"), path
        tree = _source(path)
        functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert functions == ["get_config"], path


def test_the_papers_evaluation_settings():
    by_name = {os.path.basename(p)[: -len(".py")]: _config(p) for p in PAPER}
    for name in ("flowrl_qwen2.5_7b_math", "flowrl_qwen2.5_32b_math"):
        e = by_name[name].eval  # FlowRL: Avg@16 at T = 0.6, top-p 0.95
        assert (e.num_samples, e.temperature, e.top_p) == (16, 0.6, 0.95)
    for name in ("dph_forward_kl", "dph_js", "grpo", "dph_dapo", "grpo_rkl"):
        e = by_name[f"{name}_llama3.1_8b_sql"].eval  # DPH-RL: Pass@k up to 256
        assert e.num_samples == 256 and max(e.ks) == 256


def test_the_dph_configs_reproduce_the_released_update():
    """The five scripts' shared settings, and DPH-RL's weighting as the fork computes it."""
    for path in PAPER:
        config = _config(path)
        if config.task != "sql":
            continue
        assert config.rollout.prompts_per_step == 128 and config.rollout.group_size == 16
        assert config.optim.mini_batch_prompts == 64 and config.optim.lr == 1e-6
        assert config.algo.normalizer == "local"
        if config.algo.name in ("dph_forward_kl", "dph_js"):
            assert config.algo.dph_weighting == "microbatch"
            assert config.algo.stored_per_step == 256
        if config.algo.name == "grpo":
            assert config.algo.clip_ratio_high is None  # ε 0.2 both ways
        else:
            assert config.algo.clip_ratio_high == 0.28
