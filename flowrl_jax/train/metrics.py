"""Metrics to the console (a tqdm bar with the key figures), JSONL and TensorBoard."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flowrl_jax.distributed.multihost import is_primary

BAR_KEYS = ("reward", "accuracy", "loss", "entropy", "kl_ref", "log_z_mean", "grad_norm")


class MetricsLogger:
    """Writes from process 0 only: in a multi-host run every process holds the same metrics."""

    def __init__(
        self, workdir: str, total: int, initial: int, *, tensorboard: bool, progress: bool
    ):
        primary = is_primary()
        progress = progress and primary
        self.path = os.path.join(workdir, "metrics.jsonl" if primary else os.devnull)
        if primary:
            keep_rows_up_to(self.path, initial)
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.writer = None
        if tensorboard and primary:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(os.path.join(workdir, "tb"))
        self.bar = tqdm(
            total=total, initial=initial, desc="train", disable=not progress, dynamic_ncols=True
        )

    def log(self, step: int, metrics: dict[str, Any], *, advance: bool = True) -> None:
        clean = {k: _scalar(v) for k, v in metrics.items()}
        self.file.write(json.dumps({"step": step, **clean}) + "\n")
        self.file.flush()
        if self.writer is not None:
            for k, v in clean.items():
                if isinstance(v, float | int):
                    self.writer.add_scalar(k, v, step)
        if advance:
            self.bar.update(1)
        shown = {k: f"{clean[k]:.3g}" for k in BAR_KEYS if isinstance(clean.get(k), float | int)}
        self.bar.set_postfix(shown, refresh=False)

    def write(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def keep_rows_up_to(path: str, step: int) -> None:
    """Drops the rows of a JSONL metrics file logged after `step` (a run that resumes from
    `step` logs them again), atomically."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(kept) == len(lines):
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(kept)
    os.replace(tmp, path)


def _scalar(v: Any) -> Any:
    if isinstance(v, str | bool | int) or v is None:
        return v
    arr = np.asarray(v)
    return float(arr) if arr.size == 1 else arr.tolist()
