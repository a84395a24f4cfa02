"""Registries: names → advantage estimators and policy losses, with one calling convention each.

Advantage estimators (:data:`AdvantageFn`) are called as

    advantages, returns = fn(token_rewards, mask, *, group_ids=None, num_groups=None,
                             values=None, valid=None, **options)

with token_rewards [B, T] (an outcome reward on the last token: ``outcome_token_rewards``; the
sequence reward s_i is Σ_t m·r_t), mask [B, T], group_ids [B], values [B, T] (GAE only) and
valid [B]. Both outputs are [B, T] and 0 at masked tokens; ``returns`` is the critic target for
``gae``, the return-to-go for ``reinforce_pp`` and equals the advantages otherwise.

Policy losses (:data:`PolicyLossFn`) are called as

    token_loss, metrics = fn(lp, lp_old, advantages, mask, **options)

Unknown names raise a ValueError that lists the registered ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp

from flowrl_jax.losses.advantages import (
    broadcast_to_tokens,
    gae_advantages,
    group_normalized_advantages,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
)
from flowrl_jax.losses.aggregation import as_mask, masked
from flowrl_jax.losses.policy import gspo_loss, ppo_clip_loss

AdvantageFn = Callable[..., tuple[jax.Array, jax.Array]]
PolicyLossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
F = TypeVar("F", bound=Callable)

_ADVANTAGES: dict[str, AdvantageFn] = {}
_POLICY_LOSSES: dict[str, PolicyLossFn] = {}


def _register(table: dict, kind: str, name: str) -> Callable[[F], F]:
    def decorator(fn: F) -> F:
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = fn
        return fn

    return decorator


def _lookup(table: dict, kind: str, name: str):
    try:
        return table[name]
    except KeyError:
        raise ValueError(
            f"unknown {kind} {name!r}; valid names: {', '.join(sorted(table))}"
        ) from None


def register_advantage(name: str) -> Callable[[F], F]:
    """Decorator registering an :data:`AdvantageFn` under ``name``."""
    return _register(_ADVANTAGES, "advantage estimator", name)


def register_policy_loss(name: str) -> Callable[[F], F]:
    """Decorator registering a :data:`PolicyLossFn` under ``name``."""
    return _register(_POLICY_LOSSES, "policy loss", name)


def get_advantage_fn(name: str) -> AdvantageFn:
    """The advantage estimator registered as ``name``; ValueError lists the valid names."""
    return _lookup(_ADVANTAGES, "advantage estimator", name)


def get_policy_loss_fn(name: str) -> PolicyLossFn:
    """The policy loss registered as ``name``; ValueError lists the valid names."""
    return _lookup(_POLICY_LOSSES, "policy loss", name)


def advantage_names() -> tuple[str, ...]:
    """Registered advantage estimators, sorted."""
    return tuple(sorted(_ADVANTAGES))


def policy_loss_names() -> tuple[str, ...]:
    """Registered policy losses, sorted."""
    return tuple(sorted(_POLICY_LOSSES))


# ----------------------------------------------------------------------------- built-in entries
# Every entry takes the full set of inputs and ignores those it does not use; ``options`` go to
# the underlying function, so a misspelt option is a TypeError.


def _require(name: str, **inputs) -> None:
    missing = [key for key, value in inputs.items() if value is None]
    if missing:
        raise ValueError(f"advantage estimator {name!r} needs {', '.join(missing)}")


def _sequence_rewards(token_rewards, mask):
    """s_i = Σ_t m·r_t, [B]."""
    return jnp.sum(masked(token_rewards, as_mask(mask)), axis=-1)


def _valid_tokens(mask, valid):
    mask = as_mask(mask)
    return mask if valid is None else mask & as_mask(valid)[..., None]


def _group_norm_entry(name: str, mean: str | None, std: str | None) -> None:
    """Register group normalisation with fixed (μ, σ), or free ones when ``mean`` is None."""

    def fn(
        token_rewards, mask, *, group_ids=None, num_groups=None, values=None, valid=None, **options
    ):
        _require(name, group_ids=group_ids, num_groups=num_groups)
        fixed = {} if mean is None else {"mean": mean, "std": std}
        s = _sequence_rewards(token_rewards, mask)
        adv = group_normalized_advantages(
            s, group_ids, num_groups=num_groups, valid=valid, **fixed, **options
        )
        adv = broadcast_to_tokens(adv, _valid_tokens(mask, valid))
        return adv, adv

    fn.__doc__ = f"``{name}``: group-normalised advantages (mean={mean}, std={std})."
    register_advantage(name)(fn)


_group_norm_entry("grpo", "group", "group")
_group_norm_entry("dr_grpo", "group", "none")
_group_norm_entry("lite_ppo", "group", "batch")
_group_norm_entry("group_norm", None, None)


@register_advantage("rloo")
def _rloo(
    token_rewards, mask, *, group_ids=None, num_groups=None, values=None, valid=None, **options
):
    """``rloo``: leave-one-out baseline."""
    _require("rloo", group_ids=group_ids, num_groups=num_groups)
    s = _sequence_rewards(token_rewards, mask)
    adv = rloo_advantages(s, group_ids, num_groups=num_groups, valid=valid, **options)
    adv = broadcast_to_tokens(adv, _valid_tokens(mask, valid))
    return adv, adv


@register_advantage("reinforce_pp")
def _reinforce_pp(
    token_rewards, mask, *, group_ids=None, num_groups=None, values=None, valid=None, **options
):
    """``reinforce_pp``: whitened return-to-go."""
    return reinforce_pp_advantages(token_rewards, _valid_tokens(mask, valid), **options)


@register_advantage("reinforce_pp_baseline")
def _reinforce_pp_baseline(
    token_rewards, mask, *, group_ids=None, num_groups=None, values=None, valid=None, **options
):
    """``reinforce_pp_baseline``: group-mean baseline, whitened over the batch."""
    _require("reinforce_pp_baseline", group_ids=group_ids, num_groups=num_groups)
    s = _sequence_rewards(token_rewards, mask)
    adv = reinforce_pp_baseline_advantages(
        s, group_ids, mask, num_groups=num_groups, valid=valid, **options
    )
    return adv, adv


@register_advantage("gae")
def _gae(
    token_rewards, mask, *, group_ids=None, num_groups=None, values=None, valid=None, **options
):
    """``gae``: GAE with a critic, whitened."""
    _require("gae", values=values)
    return gae_advantages(token_rewards, values, _valid_tokens(mask, valid), **options)


register_policy_loss("ppo_clip")(ppo_clip_loss)
register_policy_loss("gspo")(gspo_loss)
