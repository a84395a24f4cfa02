"""Shared by the verifier tests: docs/verifiers.md must show the tables the tests pin."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def doc_shows() -> Callable[[Iterable[str]], None]:
    """Assert that every given line stands in docs/verifiers.md, as written."""
    doc = (Path(__file__).parents[2] / "docs" / "verifiers.md").read_text()

    def check(rows: Iterable[str]) -> None:
        missing = [row for row in rows if row not in doc]
        assert not missing, f"docs/verifiers.md lacks {missing}"

    return check
