"""Every config key, its default and its meaning, read from the code: docs/config.md.

The meaning of a key is the comment on its line in `base_config` (config.py) or on its field
in an algorithm's `Params` (flowrl_jax/algos/), continued on the lines below that start with
`#   `. `python -m flowrl_jax.train.config_doc > docs/config.md` regenerates the page, and a
test fails when the page is stale or a key has no comment.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
from collections.abc import Iterator
from typing import Any

import ml_collections

HEADER = """# Config keys

Generated from the code by `python -m flowrl_jax.train.config_doc > docs/config.md` (the
comments in `flowrl_jax/train/config.py` and on the algorithms' `Params` fields); a test fails
when this page is stale. `flowrl-jax config --config=FILE` prints a config's resolved values;
any key is overridden on the command line with `--config.<key>=value`. A config file sets the
defaults of one algorithm (`configs/<task>/<algorithm>.py`, `for_algorithm`); the `algo` keys
below show the dataclass defaults, and "read by" names the algorithms that use each one.
"""


def flat_items(config: ml_collections.ConfigDict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of `config`, in insertion order."""
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            yield from flat_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def source_comments(source: str) -> dict[str, str]:
    """`target -> comment` for each assignment `target = value  # comment` (or annotated field
    `target: type = value  # comment`) in `source`; the comment continues on the following
    comment lines that start with `#   `."""
    out: dict[str, str] = {}
    statement: list[tokenize.TokenInfo] = []
    comments: list[str] = []
    current = None
    for tok in tokenize.generate_tokens(io.StringIO(inspect.cleandoc(source)).readline):
        if tok.type == tokenize.COMMENT:
            if statement:
                comments.append(tok.string.lstrip("#").strip())
            elif current and tok.string.startswith("#   "):
                out[current] += " " + tok.string[4:].strip()
            else:
                current = None
        elif tok.type == tokenize.NEWLINE:
            current = _target(statement)
            if current:
                out[current] = " ".join(comments)
            statement, comments = [], []
        elif tok.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            statement.append(tok)
    return out


def _target(statement: list[tokenize.TokenInfo]) -> str | None:
    """`a.b.c` of a statement `a.b.c = ...` or `a: T = ...`; None for any other statement."""
    names = []
    for i, tok in enumerate(statement):
        if tok.type == tokenize.NAME and (not names or statement[i - 1].string == "."):
            names.append(tok.string)
        elif tok.string == ".":
            continue
        elif tok.string in ("=", ":") and names:
            return ".".join(names)
        else:
            return None
    return None


def key_docs() -> list[dict[str, Any]]:
    """One entry per config key: `key`, `default`, `meaning`, `read_by` (algo keys)."""
    from flowrl_jax.algos import algorithm_names, get_algorithm
    from flowrl_jax.train import config as config_module

    base = source_comments(inspect.getsource(config_module.base_config))
    section = source_comments(inspect.getsource(config_module.algo_section))
    fields: dict[str, str] = {}
    readers: dict[str, list[str]] = {}
    for name in algorithm_names():
        params = get_algorithm(name).Params
        for klass in params.__mro__:
            if dataclasses.is_dataclass(klass) and klass.__module__.startswith("flowrl_jax"):
                for k, v in source_comments(inspect.getsource(klass)).items():
                    fields.setdefault(k, v)
        for f in dataclasses.fields(params):
            readers.setdefault(f.name, []).append(name)
    entries = []
    for key, default in flat_items(config_module.base_config()):
        entry: dict[str, Any] = {"key": key, "default": default}
        field = key.removeprefix("algo.")
        if key.startswith("algo.") and field in readers:
            entry["meaning"] = fields.get(field, "")
            others = [n for n in algorithm_names() if n not in readers[field]]
            entry["read_by"] = (
                ", ".join(readers[field])
                if len(others) > 3
                else "all" + (f" but {', '.join(others)}" if others else "")
            )
        elif key.startswith("algo."):
            entry["meaning"] = section.get(f"section.{field}", "")
        else:
            entry["meaning"] = base.get(f"c.{key}", "")
        entries.append(entry)
    return entries


def markdown() -> str:
    """docs/config.md: a table per section, the top-level keys first."""
    sections: dict[str, list[dict[str, Any]]] = {"": []}
    for e in key_docs():
        sections.setdefault(e["key"].rpartition(".")[0], []).append(e)
    lines = [HEADER]
    for name, entries in sections.items():
        algo = name == "algo"
        lines += [
            "",
            f"## `{name}`" if name else "## Top level",
            "",
            "| key | default | meaning |" + (" read by |" if algo else ""),
            "|---|---|---|" + ("---|" if algo else ""),
        ]
        for e in entries:
            cells = [f"`{e['key']}`", f"`{e['default']!r}`", _cell(e["meaning"])]
            if algo:
                cells.append(e.get("read_by", ""))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(markdown(), end="")
