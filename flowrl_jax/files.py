"""Writing files so that an interruption never leaves a half-written result where a reader
would take it for a finished one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any


def _remove_stale(parent: str, name: str) -> None:
    """Staging directories left beside `name` by processes that died mid-write (killed, out
    of memory): each is named after the pid that made it."""
    for entry in os.listdir(parent):
        for kind in (".tmp-", ".old-"):
            prefix = f".{name}{kind}"
            if entry.startswith(prefix):
                pid = entry[len(prefix) :].split("-")[0]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[str]:
    """Yields an empty staging directory beside `path`; when the block succeeds it replaces
    `path` (an existing directory is swapped out by two renames and removed), when it fails it
    is removed and `path` is untouched. Staging left by a killed writer is removed first."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} exists and is not a directory; choose another path.")
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    _remove_stale(parent, name)
    staging = tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=parent)
    try:
        yield staging
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp made it private; the result is not
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=f".{name}.old-{os.getpid()}-", dir=parent)
            os.rename(path, os.path.join(old, name))
            os.rename(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json_atomic(file: str | os.PathLike, data: Any) -> None:
    """Writes `data` as JSON to `file` through a temporary file and a rename."""
    tmp = f"{os.fspath(file)}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, file)
