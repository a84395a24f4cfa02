"""Orbax checkpoints of the whole training state, written atomically and checked on restore.

Saved: parameters (policy and heads), optimizer state, and a JSON record of the step and the
data cursor. The PRNG state needs no saving: every step's key is `fold_in(key(seed), step)`,
so a resumed run draws exactly what an uninterrupted one would.

Orbax writes a step atomically, but does not notice bytes changed afterwards (a disk fault, a
partial copy): a corrupted step restored without complaint and trained on NaN. So each step
also records the size and CRC-32 of every file it wrote (`integrity.json` in the step), and a
restore checks them, then restores, then checks that every value is finite; any failure is a
`CorruptCheckpoint` naming the step and the fault.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

log = logging.getLogger("flowrl_jax")

INTEGRITY_FILE = "integrity.json"
_CHUNK = 1 << 22


class CorruptCheckpoint(RuntimeError):
    """A checkpoint step that cannot be trusted; `step` and `fault` say which and why."""

    def __init__(self, step: int, directory: str, fault: str):
        self.step, self.fault = step, fault
        super().__init__(f"checkpoint step {step} in {directory} is unusable: {fault}")


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def file_manifest(directory: str) -> dict[str, list[int]]:
    """{relative path: [size, crc32]} of every file under `directory` but the record itself."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel != INTEGRITY_FILE:
                out[rel] = [os.path.getsize(path), _crc32(path)]
    return dict(sorted(out.items()))


class Checkpointer:
    def __init__(self, directory: str, keep: int):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max(keep, 1), create=True),
        )

    def _step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def save(self, step: int, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Saves `step` unless it is saved already (the same state: no update happened since),
        then records the files it wrote."""
        if step in self.manager.all_steps():
            return
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
        )
        self.manager.wait_until_finished()
        if jax.process_index() == 0:
            step_dir = self._step_dir(step)
            manifest = file_manifest(step_dir)
            tmp = os.path.join(step_dir, f".{INTEGRITY_FILE}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(manifest, f)
            os.replace(tmp, os.path.join(step_dir, INTEGRITY_FILE))

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def check_files(self, step: int) -> None:
        """Raises `CorruptCheckpoint` when a file of `step` is missing or changed since saved."""
        step_dir = self._step_dir(step)
        record = os.path.join(step_dir, INTEGRITY_FILE)
        if not os.path.isfile(record):
            log.warning("checkpoint step %d has no %s (an older version wrote it)", step, record)
            return
        with open(record, encoding="utf-8") as f:
            saved = json.load(f)
        found = file_manifest(step_dir)
        for rel, (size, crc) in saved.items():
            if rel not in found:
                fault = f"{rel} is missing"
            elif found[rel][0] != size:
                fault = f"{rel} has {found[rel][0]} bytes, {size} when saved (truncated?)"
            elif found[rel][1] != crc:
                now = found[rel][1]
                fault = f"{rel} changed since it was saved (CRC-32 {now:08x}, was {crc:08x})"
            else:
                continue
            raise CorruptCheckpoint(step, self.directory, fault)

    def restore(self, step: int, like: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The state saved at `step`, with the structure, dtypes and shardings of `like`.

        Raises `CorruptCheckpoint` when its files changed since saved, when orbax cannot read
        it, or when a restored value is not finite.
        """
        self.check_files(step)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        try:
            out = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
                ),
            )
        except Exception as e:  # orbax and tensorstore raise many types; the cause is what counts
            cause = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise CorruptCheckpoint(
                step, self.directory, f"orbax cannot restore it ({type(e).__name__}: {cause})"
            ) from e
        for path, leaf in jax.tree_util.tree_leaves_with_path(out["state"]):
            inexact = jnp.issubdtype(leaf.dtype, jnp.inexact)
            if inexact and not bool(jnp.all(jnp.isfinite(leaf))):  # on device: any mesh
                name = jax.tree_util.keystr(path)
                raise CorruptCheckpoint(step, self.directory, f"{name} holds non-finite values")
        return out["state"], out["meta"]

    def set_aside(self, step: int) -> str:
        """Moves an unusable step out of the way (kept, for inspection) and returns where."""
        target = os.path.join(f"{self.directory}.unusable", str(step))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(self._step_dir(step), target)
        self.manager.reload()
        return target

    def close(self) -> None:
        self.manager.close()
