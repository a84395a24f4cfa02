"""An algorithm is a name, a paper, and the config values that make it what it is.

Every algorithm of ALGORITHMS.md §3 is a combination of named pieces of `flowrl_jax.losses`
(an advantage estimator, a policy loss, an aggregation mode, optional regularisers) and one of
two objectives (`policy_gradient` or `trajectory_balance`). A module in this package states the
combination in a few lines and registers it; `flowrl_jax.train` reads only the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_ALGORITHMS: dict[str, Algorithm] = {}


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """name: the registry key; paper: the reference; defaults: values for `config.algo`."""

    name: str
    paper: str
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


def register(algorithm: Algorithm) -> Algorithm:
    if algorithm.name in _ALGORITHMS:
        raise ValueError(f"algorithm {algorithm.name!r} is already registered")
    _ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> Algorithm:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown algorithm {name!r}; valid names: {', '.join(sorted(_ALGORITHMS))}"
        ) from None


def algorithm_names() -> tuple[str, ...]:
    return tuple(sorted(_ALGORITHMS))
