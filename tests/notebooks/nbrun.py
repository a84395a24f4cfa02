"""Execute the notebooks of notebooks/ with nbclient: the notebook tests and `make figures`.

A notebook writes its main plot only when ``FLOWRL_FIGURES_DIR`` names a directory; ``make
figures`` runs this file, which sets it to docs/ and executes every notebook.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURES_ENV = "FLOWRL_FIGURES_DIR"
CELL_TIMEOUT_S = 300


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel started in ``cwd``.

    Raises nbclient's CellExecutionError (with the cell and its traceback) when a cell fails.
    """
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    client.execute()
    return nb


def main(figures_dir: str = "docs") -> None:
    out = (ROOT / figures_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ[FIGURES_ENV] = str(out)
    for path in NOTEBOOKS:
        start = time.perf_counter()
        execute(path, cwd=path.parent)
        print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.1f} s -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
