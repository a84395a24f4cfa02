"""What an algorithm is to the trainer: hyper-parameters, needs, advantages, a loss and hooks.

An algorithm module subclasses `Algorithm` (usually through `PolicyGradient`), names the paper,
declares its typed hyper-parameters (`Params`, a frozen dataclass validated on construction)
and the values it gives them (`defaults`), and overrides the hooks that make it different.
The trainer (`flowrl_jax.train`) calls the hooks in this order each RL step and never names an
algorithm:

1. `collect(draw, ...)`: the step's rollout (DAPO resamples uniform groups);
2. `shape_rewards(rollout, ...)`: rewards and per-row marks (DAPO's overlong shaping/filter);
3. old (`needs_old_forward`) and reference (`needs_reference`) log-probs;
4. `advantages(...)`: what the loss reads besides log-probs (`adv`, `seq_adv`, ...);
5. `extra_rows(...)`: rows added after the rollout's (DPH-RL's stored samples);
6. `layout(...)`: which rows each optimizer step of an epoch takes (DPH-RL's released layout);
7. per mini-batch, inside the jitted update: `normalizers` once, then `loss` per micro-batch
   on the policy's forward pass, which `head_outputs` extends (log Z, values).

`setup` runs once before the first step (DPH-RL's reference set). Config files give values to
the fields of `Params` as `config.algo.<field>`; `config.algo.name` picks the class.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import jax
import numpy as np

Batch = dict[str, jax.Array]
Metrics = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Params:
    """Hyper-parameters; subclasses add fields and extend `check` (called on construction)."""

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        pass

    # Helpers for `check`: each error names the config key, its value and what is valid.
    def choice(self, name: str, valid: Sequence[Any]) -> None:
        value = getattr(self, name)
        if value not in valid:
            raise ValueError(
                f"config.algo.{name}={value!r} is not valid; choose one of {list(valid)}."
            )

    def at_least(self, name: str, low: float, *, strict: bool = False) -> None:
        value = getattr(self, name)
        if value is not None and not (value > low if strict else value >= low):
            raise ValueError(
                f"config.algo.{name}={value!r} must be {'>' if strict else '>='} {low}."
            )

    def at_most(self, name: str, high: float) -> None:
        value = getattr(self, name)
        if value is not None and not value <= high:
            raise ValueError(f"config.algo.{name}={value!r} must be <= {high}.")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What `setup` may use: the run's shapes and a way to sample the training prompts.

    rollout(prompt_indices, num_samples, key) samples and scores `num_samples` responses per
    training prompt (any number of prompts: they go in chunks of `prompts_per_step`).
    logprobs(rollout) gives a rollout's behaviour log-probs [B, T] as the run's updates see them:
    the update's own forward under the current parameters when the run recomputes them
    (`rollout.recompute_logprobs`, the default in bfloat16), else the sampler's.
    """

    rollout: Callable[[np.ndarray, int, jax.Array], Any]
    logprobs: Callable[[Any], jax.Array]
    num_prompts: int
    prompts_per_step: int
    prompt_len: int
    max_new_tokens: int
    workdir: str
    seed: int
    progress: bool


class Algorithm:
    """Base class: the hooks' defaults describe plain on-policy learning with no extras."""

    name: ClassVar[str]
    display_name: ClassVar[str]  # in reports and tables
    paper: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    defaults: ClassVar[Mapping[str, Any]] = {}
    """The values this algorithm gives `Params` fields (the rest keep the dataclass default)."""

    def __init__(self, params: Params):
        self.p = params

    @classmethod
    def from_config(cls, algo: Any) -> Algorithm:
        """The algorithm with the values of a `config.algo` section (validated)."""
        names = {f.name for f in dataclasses.fields(cls.Params)}
        return cls(cls.Params(**{k: algo[k] for k in names if k in algo}))

    def check_run(self, config: Any) -> None:
        """Checks across config sections (e.g. a group size the estimator needs)."""

    # ------------------------------------------------------------------ what it needs

    def heads(self, lm: Any, rngs: Any) -> dict[str, Any]:
        """Modules trained with the policy `lm` (a `Decoder`), by name (`logz`, `value`)."""
        return {}

    def param_groups(self) -> dict[str, float]:
        """Modules of `heads` trained at a learning rate of their own, by name (PPO's separate
        critic); the rest of the model follows `optim.lr` and its schedule."""
        return {}

    @property
    def needs_reference(self) -> bool:
        """Whether the step computes `lp_ref` with a frozen copy of the initial policy."""
        return False

    @property
    def needs_old_forward(self) -> bool:
        """Whether `advantages` needs a no-gradient forward of the current policy (`old`)."""
        return False

    def extra_rows_per_step(self, config: Any) -> int:
        """How many rows `extra_rows` adds to each step's batch."""
        return 0

    def minibatch_rows(self, config: Any) -> int:
        """Rows of each optimizer step (what `layout` gives and micro-batches split): the
        rollout's share of a mini-batch plus an equal share of the rows `extra_rows` adds."""
        prompts = config.rollout.prompts_per_step
        n_mini = prompts // (config.optim.mini_batch_prompts or prompts)
        extra = self.extra_rows_per_step(config)
        if extra % n_mini:
            raise ValueError(
                f"the {extra} rows {config.algo.name} adds per step do not split evenly over the "
                f"{n_mini} mini-batches of a step (rollout.prompts_per_step / "
                "optim.mini_batch_prompts)."
            )
        return prompts // n_mini * config.rollout.group_size + extra // n_mini

    def layout(self, online: np.ndarray, extra: np.ndarray, num_minibatches: int) -> list:
        """Row indices of each optimizer step of one epoch, in micro-batch order (-1: an empty
        row, in no loss). `online`: the rollout's rows, shuffled; `extra`: the rows of
        `extra_rows`. Default: `num_minibatches` equal parts of the online rows, each followed
        by an equal share of the extra rows."""
        parts = zip(
            np.split(online, num_minibatches), np.split(extra, num_minibatches), strict=True
        )
        return [np.concatenate(part) for part in parts]

    # ------------------------------------------------------------------ the step, in order

    def setup(self, ctx: RunContext) -> np.ndarray | None:
        """Once before training; returns the training prompts to sample from (None: all)."""
        return None

    def collect(self, draw: Callable[[int], Any], num_prompts: int, group_size: int):
        """(rollout, metrics): `draw(attempt)` samples the next `num_prompts` prompts."""
        return draw(0), {}

    def shape_rewards(self, rollout: Any, max_new_tokens: int) -> tuple[np.ndarray, Batch]:
        """(rewards [B] the advantages read, per-row arrays [B, ...] added to the batch).

        The rewards of every row enter the advantages' statistics; an algorithm that keeps rows
        out of the loss marks them here (DAPO's `in_loss`) and reads the mark in its loss.
        """
        return rollout.rewards, {}

    def advantages(
        self, rewards: np.ndarray, batch: Batch, *, group_size: int, old: Batch | None
    ) -> Batch:
        """Arrays the loss reads besides log-probs, for the rollout's rows."""
        raise NotImplementedError

    def extra_rows(self, batch: Batch, step: int) -> Batch:
        """The batch with rows appended after the rollout's (split evenly over mini-batches)."""
        return batch

    # ------------------------------------------------------------------ inside the update

    def head_outputs(
        self, model: Any, hidden: jax.Array, batch: Batch, *, prompt_len: int, dropout_key: Any
    ) -> Batch:
        """The heads' outputs for the forward pass (`log_z`, `values`, ...)."""
        return {}

    def normalizers(self, batch: Batch, max_len: int) -> Any:
        """Normalisers of a whole mini-batch (computed once), or None to normalise per
        micro-batch and average the micro-batches (the released codes' `local` mode)."""
        return None

    def loss(self, fwd: Batch, mb: Batch, norms: Any, max_len: int) -> tuple[jax.Array, Metrics]:
        """(loss, metrics) of one micro-batch: `fwd` = policy forward (`lp`, `entropy` and the
        heads'), `mb` = the batch's rows, `norms` = `normalizers` of the whole mini-batch."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------- registry

_ALGORITHMS: dict[str, type[Algorithm]] = {}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator: registers the algorithm under `cls.name` (its defaults checked now)."""
    if cls.name in _ALGORITHMS:
        raise ValueError(f"algorithm {cls.name!r} is already registered")
    cls.Params(**cls.defaults)
    _ALGORITHMS[cls.name] = cls
    return cls


def get_algorithm(name: str) -> type[Algorithm]:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown algorithm {name!r}; valid names: {', '.join(sorted(_ALGORITHMS))}"
        ) from None


def algorithm_names() -> tuple[str, ...]:
    return tuple(sorted(_ALGORITHMS))


def make_algorithm(algo: Any) -> Algorithm:
    """The algorithm a `config.algo` section names, with its values (validated)."""
    return get_algorithm(algo.name).from_config(algo)


def config_fields() -> dict[str, tuple[Any, type]]:
    """Every hyper-parameter of every registered algorithm: name -> (default, type), the
    `config.algo` section's keys (a default of None is typed by the field's annotation)."""
    out: dict[str, tuple[Any, type]] = {}
    for cls in _ALGORITHMS.values():
        hints = typing.get_type_hints(cls.Params)
        for f in dataclasses.fields(cls.Params):
            kind = hints[f.name]
            if isinstance(kind, types.UnionType):  # `float | None`
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
            out.setdefault(f.name, (f.default, kind))
    return out
