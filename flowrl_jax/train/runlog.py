"""What a run says about itself besides its metrics, so it can be understood from its output.

- At the start, a banner: the JAX backend and devices (and a warning when a GPU or TPU is
  present but JAX runs on the CPU), the model and its parameter count, the dataset sizes, the
  algorithm with its settings and the step's budget, then "compiling the first step".
- Each step, the fraction of groups whose rewards are all equal (`uniform_groups`: their
  advantage is zero), a warning when that has been every group for `log.no_signal_steps`
  steps in a row, and, from step 1 and then every `log.samples_every` steps, a few prompts,
  responses, rewards and reasons in `<workdir>/samples.jsonl`.
- At the end, where the time went, and the learning curves in `<workdir>/curves.png`.
- Optionally everything to Weights & Biases (`log.wandb`; the package is imported only then).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import shutil
import time
from typing import Any

import jax
import numpy as np

from flowrl_jax.distributed.multihost import process_rows
from flowrl_jax.sampling.host import local_rows

log = logging.getLogger("flowrl_jax")

CURVES = (
    "reward",
    "accuracy",
    "uniform_groups",
    "response_len",
    "entropy",
    "grad_norm",
    "eval/pass@1",
)
"""The metrics `curves.png` plots, those that the run logged."""


def uniform_fraction(rewards: np.ndarray, group_size: int) -> float:
    """The fraction of groups (consecutive `group_size` rows) whose rewards are all equal."""
    groups = np.asarray(rewards, np.float64).reshape(-1, group_size)
    return float(np.mean(np.all(groups == groups[:, :1], axis=1)))


def accelerator_present() -> str | None:
    """The kind of accelerator this machine appears to have ("GPU", "TPU"), or None."""
    if os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi"):
        return "GPU"
    if os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0"):
        return "TPU"
    return None


class RunLog:
    """The banner, samples, signal warning, time summary, curves and W&B of one training run."""

    def __init__(self, config: Any, workdir: str, tokenizer: Any, *, writes: bool = True):
        """`writes`: this process writes samples.jsonl, curves.png and to W&B (in a
        multi-host run only process 0 does)."""
        self.config, self.workdir, self.tokenizer = config, workdir, tokenizer
        self.writes = writes
        self.no_signal = 0  # steps in a row in which every group was uniform
        self.times: dict[str, float] = collections.defaultdict(float)
        self.first_step_s: float | None = None
        self.steps = 0
        self.start = time.perf_counter()
        self.wandb = None
        if config.log.wandb and writes:
            try:
                import wandb
            except ImportError:
                raise ValueError(
                    "log.wandb=True needs the wandb package: pip install wandb (or drop "
                    "--config.log.wandb)."
                ) from None
            self.wandb = wandb.init(
                project=config.log.wandb_project,
                name=os.path.basename(os.path.normpath(workdir)),
                dir=workdir,
                config=json.loads(config.to_json_best_effort()),
            )

    # ------------------------------------------------------------------ start

    def banner(self, *, model: Any, algo: Any, train: Any, eval_set: Any) -> str:
        """Logs (and returns) what this run is about to do."""
        c = self.config
        devices = jax.devices()
        kinds = collections.Counter(d.device_kind for d in devices)
        lines = [
            f"backend {jax.default_backend()}: {len(devices)} device(s) "
            f"({', '.join(f'{n} x {k}' for k, n in kinds.items())}), "
            f"{jax.process_count()} process(es)",
        ]
        lm = model.lm
        total = _count(model)
        heads = total - _count(lm)
        lines.append(
            f"model {c.model_path}: {lm.config.model_type}, {total / 1e6:,.2f} M parameters"
            + (f" ({heads / 1e6:,.3f} M in {algo.name}'s heads)" if heads else "")
            + f", compute {c.dtype}, parameters {c.param_dtype}"
        )
        lines.append(
            f"task {c.task}: {len(train)} train prompts ({_source(c.data.train_path)}"
            f"{_dropped(train, c)}), {len(eval_set)} eval prompts "
            f"({_source(c.data.eval_path)}{_dropped(eval_set, c)})"
        )
        values = {f.name: c.algo[f.name] for f in dataclasses.fields(algo.Params)}
        settings = ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)
        lines.append(f"algorithm {algo.display_name} ({algo.name}, {algo.paper}): {settings}")
        mini = c.optim.mini_batch_prompts or c.rollout.prompts_per_step
        lines.append(
            f"budget: {c.steps} steps x {c.rollout.prompts_per_step} prompts x "
            f"{c.rollout.group_size} responses of <= {c.rollout.max_new_tokens} tokens, "
            f"{c.rollout.prompts_per_step // mini * c.optim.epochs} updates/step at lr "
            f"{c.optim.lr:g}; writing to {self.workdir}"
        )
        text = "\n  ".join(lines)
        log.info("%s", text)
        accelerator = accelerator_present()
        if jax.default_backend() == "cpu" and accelerator:
            log.warning(
                "a %s is present but JAX runs on the CPU: install the accelerator's JAX "
                "(pip install -e .[cuda] or .[tpu]) and check CUDA_VISIBLE_DEVICES / "
                "JAX_PLATFORMS.",
                accelerator,
            )
        log.info("compiling the first step (the sampler and the update; minutes for a large model)")
        return text

    # ------------------------------------------------------------------ each step

    def rollout(self, step: int, rollout: Any, group_size: int, metrics: dict) -> dict:
        """`uniform_groups` of the step's rollout; the no-signal warning; samples.jsonl."""
        uniform = uniform_fraction(rollout.rewards, group_size)
        limit = self.config.log.no_signal_steps
        self.no_signal = self.no_signal + 1 if uniform == 1.0 else 0
        if limit and self.no_signal >= limit and self.no_signal % limit == 0:
            reasons = {k.removeprefix("reasons/"): v for k, v in metrics.items() if "reasons/" in k}
            log.warning(
                "step %d: for %d steps every group's responses got the same reward (reasons %s): "
                "the advantages are zero and nothing is learned from the reward. Look at "
                "samples.jsonl: is the answer format what the verifier extracts, are the "
                "references right, is max_new_tokens long enough?",
                step,
                self.no_signal,
                reasons,
            )
        every = self.config.log.samples_every
        if self.writes and every and (step == 1 or step % every == 0):
            self._write_samples(step, rollout, group_size)
        return {"uniform_groups": uniform}

    def _write_samples(self, step: int, r: Any, group_size: int) -> None:
        """The first response of each of the first `log.num_samples` groups that this process
        holds (in a multi-host run the rollout's token arrays span the processes)."""
        whole = slice(0, len(r.texts))
        mine = process_rows(r.ids.sharding, r.ids.shape) if isinstance(r.ids, jax.Array) else whole
        ids, attn = local_rows(r.ids), local_rows(r.attn).astype(bool)
        prompt_len = r.ids.shape[1] - r.mask.shape[1]
        first = -(-mine.start // group_size) * group_size
        rows = range(first, mine.stop, group_size)[: self.config.log.num_samples]
        with open(os.path.join(self.workdir, "samples.jsonl"), "a", encoding="utf-8") as f:
            for row in rows:
                local = row - mine.start
                prompt = ids[local, :prompt_len][attn[local, :prompt_len]]
                record = {
                    "step": step,
                    "prompt": self.tokenizer.decode(prompt.tolist()),
                    "response": r.texts[row],
                    "reward": float(r.rewards[row]),
                    "reason": r.reasons[row],
                    "tokens": int(r.lengths[row]),
                    "truncated": bool(r.truncated[row]),
                    "group_rewards": [float(x) for x in r.rewards[row : row + group_size]],
                }
                f.write(json.dumps(record) + "\n")

    def step(self, step: int, metrics: dict[str, Any]) -> None:
        """Adds the step's times to the totals; logs to W&B."""
        self.steps += "time/step" in metrics
        for k, v in metrics.items():
            if k.startswith("time/"):
                self.times[k.removeprefix("time/")] += float(v)
        if self.first_step_s is None and "time/step" in metrics:
            self.first_step_s = float(metrics["time/step"])
        if self.wandb is not None:
            self.wandb.log(
                {k: v for k, v in metrics.items() if isinstance(v, int | float)}, step=step
            )

    # ------------------------------------------------------------------ end

    def finish(self) -> str:
        """Logs where the time went, draws curves.png, closes W&B; returns the summary."""
        wall = time.perf_counter() - self.start
        parts = [f"{k} {v:.1f} s ({v / wall:.0%})" for k, v in self.times.items() if k != "step"]
        parts.append(f"evaluation and the rest {wall - self.times['step']:.1f} s")
        summary = f"{self.steps} steps in {wall:.1f} s: " + ", ".join(parts)
        if self.first_step_s is not None:
            summary += f"; the first step (with compilation) took {self.first_step_s:.1f} s"
        log.info("time: %s", summary)
        if self.writes:
            plot_curves(os.path.join(self.workdir, "metrics.jsonl"), self.workdir)
        if self.wandb is not None:
            self.wandb.finish()
        return summary


def plot_curves(metrics_file: str, workdir: str) -> str | None:
    """`<workdir>/curves.png`: each of `CURVES` that metrics.jsonl holds, against the step."""
    if not os.path.isfile(metrics_file):
        return None
    with open(metrics_file, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    series = {
        k: [(r["step"], r[k]) for r in records if isinstance(r.get(k), int | float)] for k in CURVES
    }
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(3.2 * len(series), 2.8), squeeze=False)
    for ax, (name, points) in zip(axes[0], series.items(), strict=True):
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="." if len(points) < 50 else None)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(workdir, "curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _count(module: Any) -> int:
    from flax import nnx

    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _source(path: str) -> str:
    return path or "embedded generator"


def _dropped(prompts: Any, config: Any) -> str:
    if not prompts.dropped:
        return ""
    return (
        f"; {prompts.dropped} longer than data.max_prompt_len={config.data.max_prompt_len} dropped"
    )
