"""The notebooks run, check their headline claim, write nothing unasked, and are stored clean."""

import re

import nbformat
import pytest
from nbrun import FIGURES_ENV, NOTEBOOKS, ROOT, execute

IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebook found in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_from_another_directory_and_writes_nothing(path, tmp_path, monkeypatch):
    # The last cell asserts the headline figure, so a regression in the library fails here.
    monkeypatch.delenv(FIGURES_ENV, raising=False)
    execute(path, cwd=tmp_path)
    assert not list(tmp_path.iterdir()), "a notebook wrote files without FLOWRL_FIGURES_DIR"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs_and_ends_with_an_assertion(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs; clear them before committing"
    assert re.search(r"^assert ", code[-1].source, re.MULTILINE), (
        f"{path.name}: the last code cell must assert the notebook's headline figure"
    )
    assert f'"{path.stem}.png"' in "".join(c.source for c in code), (
        f"{path.name}: must save its main plot as docs/{path.stem}.png under {FIGURES_ENV}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_readme_links_the_notebook_and_its_figure(path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    figure = f"docs/{path.stem}.png"
    assert f"(notebooks/{path.name})" in readme, f"README.md does not link notebooks/{path.name}"
    assert f"({figure})" in readme, f"README.md does not show {figure}"
    assert (ROOT / figure).is_file(), f"{figure} is missing: run `make figures`"
