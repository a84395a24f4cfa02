"""Orbax checkpoints of the whole training state, written atomically; the last N are kept.

Saved: parameters (policy and heads), optimizer state, and a JSON record of the step and the
data cursor. The PRNG state needs no saving: every step's key is `fold_in(key(seed), step)`,
so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str, keep: int):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max(keep, 1), create=True),
        )

    def save(self, step: int, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Saves `step` unless it is saved already (the same state: no update happened since)."""
        if step in self.manager.all_steps():
            return
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
        )
        self.manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, step: int, like: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The state saved at `step`, with the structure, dtypes and shardings of `like`."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        return out["state"], out["meta"]

    def restore_params(self, step: int, like: Any) -> Any:
        """Only the parameters saved at `step`, shaped like `like` (the optimizer state is not
        read: evaluating or exporting a checkpoint needs a third of the memory)."""
        abstract = {"params": jax.tree.map(ocp.utils.to_shape_dtype_struct, like)}
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(
                    item=abstract,
                    restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
                    partial_restore=True,
                )
            ),
        )
        return out["state"]["params"]

    def close(self) -> None:
        self.manager.close()
