"""The package's structure, checked: imports go one way, the trainer names no algorithm or
task and reads no algorithm's hyper-parameter, and the specification cited is in the repo."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from flowrl_jax.algos import Algorithm, algorithm_names, config_fields
from flowrl_jax.tasks import task_names

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "flowrl_jax"
LOWER = (
    "models",
    "sampling",
    "losses",
    "rewards",
    "data",
    "tasks",
    "rollout",
    "eval",
    "distributed",
)


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_import_neither_train_nor_algos(layer):
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if re.match(r"flowrl_jax\.(train|algos)\b", m)
        )
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_eval_does_not_import_train():
    for path in (PACKAGE / "eval").rglob("*.py"):
        assert not [m for m in imported_modules(path) if m.startswith("flowrl_jax.train")], path


def _train_modules():
    """train/ less the configuration modules (which name the presets they build, and the
    papers' settings)."""
    return [
        p
        for p in (PACKAGE / "train").glob("*.py")
        if p.name not in ("config.py", "recipes.py", "papers.py")
    ]


def test_the_trainer_names_no_algorithm_and_no_task():
    names = set(algorithm_names()) | set(task_names())
    found = []
    for path in _train_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found


def test_the_trainer_reads_no_algorithm_specific_attribute():
    """Only the hooks and declared attributes of `Algorithm` (`name`, `display_name`, `paper`
    for messages) are used by train/."""
    hooks = {n for n in dir(Algorithm) if not n.startswith("_")} | set(Algorithm.__annotations__)
    hyper = set(config_fields())
    used = []
    for path in _train_modules():
        text = path.read_text(encoding="utf-8")
        for attr in re.findall(r"\balgo(?:rithm)?\.(\w+)", text):
            if attr not in hooks or attr in hyper - {"name"}:
                used.append(f"{path.name}: algo.{attr}")
    assert not used


def test_every_cited_doc_exists():
    missing = sorted(
        f"{p.relative_to(ROOT)}: {doc}"
        for folder in ("flowrl_jax", "tests", "docs", "configs", "notebooks", "benchmarks")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in (".py", ".md", ".ipynb")
        for doc in set(re.findall(r"docs/[\w.-]+\.md", p.read_text(encoding="utf-8")))
        if not (ROOT / doc).is_file()
    )
    assert not missing


def test_no_citation_of_a_file_outside_the_repository():
    cited = [
        str(p.relative_to(ROOT))
        for folder in ("flowrl_jax", "tests", "docs", "configs", "notebooks")
        for p in (ROOT / folder).rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".md", ".ipynb")
        and "ALGORITHMS.md" in p.read_text(encoding="utf-8")
        and p.name != "test_layering.py"
    ]
    assert not cited
    assert (ROOT / "docs" / "algorithms.md").is_file()
