"""Dataset rows as the field publishes them, and dotted paths into them.

A source is a local file (`.jsonl`, `.json`, `.parquet`) or `hf:<name>[:<config>][:<split>]`:
a Hugging Face dataset read offline, from a directory saved with `Dataset.save_to_disk` or from
the local `datasets` cache (nothing is downloaded). Rows are plain dicts; a field is named by a
dotted path (`reward_model.ground_truth`, `prompt.0.content`) as verl's parquet files nest it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from flowrl_jax.data.problems import DataError

HF_PREFIX = "hf:"
FILE_KINDS = (".jsonl", ".json", ".parquet")


def read_rows(source: str, default_split: str = "train") -> list[dict[str, Any]]:
    """The rows of `source` (a file or `hf:...`); a DataError names the source and the fix.

    `default_split` is the split an `hf:` source without one reads.
    """
    if source.startswith(HF_PREFIX):
        rows = _hf_rows(source, default_split)
    else:
        if not os.path.isfile(source):
            raise DataError(
                f"dataset file {source!r} does not exist (data.train_path / data.eval_path): "
                f"give a local {' / '.join(FILE_KINDS)} file or hf:<name>[:<config>][:<split>]."
            )
        kind = os.path.splitext(source)[1].lower()
        if kind not in FILE_KINDS:
            raise DataError(
                f"{source}: unsupported file type {kind!r}; use {', '.join(FILE_KINDS)} or "
                "hf:<name>[:<config>][:<split>]."
            )
        rows = _parquet_rows(source) if kind == ".parquet" else _json_rows(source)
    if not rows:
        raise DataError(f"{source}: the dataset holds no rows.")
    return rows


def _json_rows(path: str) -> list[dict[str, Any]]:
    """A JSON Lines file (one object a line, blank lines ignored) or a JSON array of objects."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}: not UTF-8 text (byte {e.start}, line {line}: {e.reason}); re-encode the "
            "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
        ) from None
    if path.lower().endswith(".json") and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        items = enumerate(rows)
    else:
        items = _json_lines(path, text)
    out = []
    for i, row in items:
        if not isinstance(row, dict):
            raise DataError(
                f"{path}: row {i}: expected a JSON object, got {type(row).__name__} {row!r:.80}"
            )
        out.append(row)
    return out


def _json_lines(path: str, text: str) -> Iterator[tuple[int, Any]]:
    i = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}: line {number}: not valid JSON ({e.msg} at column {e.colno})."
            ) from None
        i += 1


def _parquet_rows(path: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({e}).") from None


def parse_hf_source(source: str, default_split: str) -> tuple[str, str | None, str]:
    """`hf:<name>[:<config>][:<split>]` -> (name, config or None, split)."""
    parts = source[len(HF_PREFIX) :].split(":")
    if not parts[0] or len(parts) > 3:
        raise DataError(
            f"{source!r}: expected hf:<name>[:<config>][:<split>] (e.g. "
            "hf:agentica-org/DeepScaleR-Preview-Dataset::train)."
        )
    name, config, split = (*parts, "", "")[:3]
    return name, config or None, split or default_split


def _hf_rows(source: str, default_split: str) -> list[dict[str, Any]]:
    import datasets

    name, config, split = parse_hf_source(source, default_split)
    if os.path.isdir(name):  # saved with Dataset(Dict).save_to_disk
        loaded = datasets.load_from_disk(name)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(
                    f"{source}: no split {split!r} in {name} (splits: {sorted(loaded)}); name "
                    "one as hf:<dir>::<split>."
                )
            loaded = loaded[split]
        return loaded.to_list()
    cache = datasets.config.HF_DATASETS_CACHE
    try:
        with _offline():
            loaded = datasets.load_dataset(name, config, split=split)
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as e:
        raise DataError(
            f"{source}: dataset {name!r} is not in the local Hugging Face cache ({cache}) and "
            "nothing is downloaded at run time. Download it once where there is network "
            f"(datasets.load_dataset({name!r})) with HF_DATASETS_CACHE pointing at the cache "
            f"this machine reads, or save it with save_to_disk and give hf:<that directory>. "
            f"({type(e).__name__}: {e})"
        ) from None
    except ValueError as e:  # an unknown config or split
        raise DataError(f"{source}: {e}") from None
    return loaded.to_list()


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face's offline mode for the block, whatever the environment says."""
    import datasets
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def field(row: Mapping[str, Any], key: str, where: str) -> Any:
    """`row[key]`, where `key` may be a dotted path into nested dicts and lists
    (`reward_model.ground_truth`, `prompt.0.content`); a DataError names `where` (source and
    row), the path and the fields that are there."""
    if key in row:
        return row[key]
    node: Any = row
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            parent = ".".join(parts[:depth]) or "the row"
            if isinstance(node, Mapping):
                there = f"fields {sorted(node)}"
            else:
                there = f"a list of {len(node)}" if isinstance(node, list) else repr(node)[:40]
            raise DataError(
                f"{where} has no field {key!r} ({parent} has {there}); set the config's "
                "data.prompt_field / data.answer_field to the dataset's column names (dotted "
                "paths reach nested fields)."
            )
    return node
