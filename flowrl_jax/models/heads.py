"""Small heads on the policy's final hidden states: FlowRL's log-Z head and PPO's value head,
and the separate value model (a decoder of its own with a value head).

LogZHead (FlowRL, arXiv 2509.15207; docs/algorithms.md §5): the final hidden states (after the final
norm) averaged over the prompt tokens, then

    [Linear(H, H) → GELU (exact, erf) → LayerNorm (eps 1e-5) → Dropout(0.1)] × 2 → Linear(H, 1)

as the released PyTorch head: PyTorch's Linear initialisation, U(±1/sqrt(fan_in)) for
weights and biases, and LayerNorm eps 1e-5. The head computes in float32 (bfloat16 hidden states
are promoted). It is trained with the policy but never part of an exported policy checkpoint.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

LAYER_NORM_EPS = 1e-5


def torch_linear_init(fan_in: int) -> nnx.Initializer:
    """PyTorch's ``nn.Linear`` initialiser: U(−1/sqrt(fan_in), 1/sqrt(fan_in)).

    ``kaiming_uniform_(a=sqrt(5))`` for the weight and the default bias both reduce to this bound.
    """
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _at_least_float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _torch_linear(in_features: int, out_features: int, rngs: nnx.Rngs) -> nnx.Linear:
    init = torch_linear_init(in_features)
    return nnx.Linear(in_features, out_features, kernel_init=init, bias_init=init, rngs=rngs)


def pool_prompt(
    hidden: jax.Array,
    prompt_mask: jax.Array,
    *,
    exclude_last_prompt_token: bool = True,
) -> jax.Array:
    """Mean of the hidden states over the prompt tokens, in float32 (float64 for float64 inputs).

    Args:
      hidden: [B, S, H] final hidden states.
      prompt_mask: [B, S] 1 on prompt tokens (left or right padded).
      exclude_last_prompt_token: leave out each row's last prompt token, as the released FlowRL
        code does (default). A prompt of a single token keeps it (nothing else to average).

    Returns:
      [B, H] pooled states; 0 for a row without prompt tokens. Padding never leaks (NaN-safe).
    """
    mask = jnp.asarray(prompt_mask) != 0
    if exclude_last_prompt_token:
        s = mask.shape[-1]
        last = s - 1 - jnp.argmax(mask[..., ::-1], axis=-1)
        drop = (jnp.arange(s) == last[..., None]) & (jnp.sum(mask, -1, keepdims=True) > 1)
        mask = mask & ~drop
    h = jnp.where(mask[..., None], _at_least_float32(hidden), 0.0)
    count = jnp.sum(mask, axis=-1, keepdims=True).astype(h.dtype)
    return jnp.sum(h, axis=-2) / jnp.maximum(count, 1.0)


class LogZHead(nnx.Module):
    """FlowRL's log-partition head Z_φ(x) (arXiv 2509.15207; docs/algorithms.md §5).

    Args:
      hidden_size: H, the policy's hidden size.
      rngs: ``nnx.Rngs`` for the initialisation and the dropout stream.
      dropout: dropout rate after each LayerNorm (default 0.1).
    """

    def __init__(self, hidden_size: int, *, rngs: nnx.Rngs, dropout: float = 0.1):
        self.hidden_size = hidden_size
        self.linear1 = _torch_linear(hidden_size, hidden_size, rngs)
        self.norm1 = nnx.LayerNorm(
            hidden_size, epsilon=LAYER_NORM_EPS, use_fast_variance=False, rngs=rngs
        )
        self.dropout1 = nnx.Dropout(dropout, rngs=rngs)
        self.linear2 = _torch_linear(hidden_size, hidden_size, rngs)
        self.norm2 = nnx.LayerNorm(
            hidden_size, epsilon=LAYER_NORM_EPS, use_fast_variance=False, rngs=rngs
        )
        self.dropout2 = nnx.Dropout(dropout, rngs=rngs)
        self.out = _torch_linear(hidden_size, 1, rngs)

    def __call__(
        self,
        hidden: jax.Array,
        prompt_mask: jax.Array,
        *,
        exclude_last_prompt_token: bool = True,
        stop_gradient_input: bool = False,
        deterministic: bool,
        dropout_key: jax.Array | None = None,
    ) -> jax.Array:
        """log Z of each prompt.

        Args:
          hidden: [B, S, H] final hidden states (after the final norm) of prompt + response.
          prompt_mask: [B, S] 1 on prompt tokens.
          exclude_last_prompt_token: pooling of the released code (default) or the plain mean.
          stop_gradient_input: stop the gradient into the backbone (only the head learns).
          deterministic: True turns dropout off (evaluation); False during training.
          dropout_key: the dropout key for this call (a pure-function alternative to the
            module's own stream, for use inside jit/grad/scan); None uses the stream.

        Returns:
          [B] float32 log Z.
        """
        x = pool_prompt(hidden, prompt_mask, exclude_last_prompt_token=exclude_last_prompt_token)
        if stop_gradient_input:
            x = jax.lax.stop_gradient(x)
        for linear, norm, drop in (
            (self.linear1, self.norm1, self.dropout1),
            (self.linear2, self.norm2, self.dropout2),
        ):
            h = norm(jax.nn.gelu(linear(x), approximate=False))
            if dropout_key is not None:
                dropout_key, key = jax.random.split(dropout_key)
                x = drop(h, deterministic=deterministic, rngs=key)
            else:
                x = drop(h, deterministic=deterministic)
        return self.out(x)[..., 0]


class ValueHead(nnx.Module):
    """Per-token value head of PPO's critic: Linear(H, 1) on the final hidden states.

    PyTorch Linear initialisation; computed in float32.

    Args:
      hidden_size: H.
      rngs: ``nnx.Rngs`` for the initialisation.
    """

    def __init__(self, hidden_size: int, *, rngs: nnx.Rngs):
        self.out = _torch_linear(hidden_size, 1, rngs)

    def __call__(self, hidden: jax.Array) -> jax.Array:
        """[B, S, H] hidden states → [B, S] float32 values."""
        return self.out(_at_least_float32(hidden))[..., 0]


class ValueModel(nnx.Module):
    """A separate value model (PPO's critic as verl trains it): a decoder of its own, initialised
    as a copy of the policy, with a `ValueHead` on its final hidden states.

    Args:
      policy: the decoder to copy (parameters copied too: the two never share a buffer).
      rngs: ``nnx.Rngs`` for the head's initialisation.
    """

    def __init__(self, policy: nnx.Module, *, rngs: nnx.Rngs):
        self.backbone = nnx.clone(policy)
        nnx.update(self.backbone, jax.tree.map(jnp.copy, nnx.state(self.backbone)))
        self.head = ValueHead(policy.config.hidden_size, rngs=rngs)

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
        """[B, S] ids and attention mask → [B, S] float32 values (V_t from position t)."""
        out = self.backbone(input_ids, attention_mask, return_hidden=True)
        return self.head(out.hidden_states)
