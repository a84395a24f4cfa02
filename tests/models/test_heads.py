"""FlowRL's log-Z head and the value head (docs/algorithms.md §5) against NumPy from the spec."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flowrl_jax.models.heads import LogZHead, ValueHead, pool_prompt

H = 16


def np_gelu(x):
    """Exact GELU with math.erf."""
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def np_layer_norm(x, scale, bias, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def params(layer):
    return np.asarray(layer.kernel[...], np.float64), np.asarray(layer.bias[...], np.float64)


def np_head(head, pooled):
    x = pooled.astype(np.float64)
    for linear, norm in ((head.linear1, head.norm1), (head.linear2, head.norm2)):
        w, b = params(linear)
        x = np_layer_norm(
            np_gelu(x @ w + b), np.asarray(norm.scale[...]), np.asarray(norm.bias[...])
        )
    w, b = params(head.out)
    return (x @ w + b)[:, 0]


pool = jax.jit(pool_prompt, static_argnames="exclude_last_prompt_token")


@nnx.jit(static_argnames=("exclude", "deterministic", "stop"))
def run(head, hidden, prompt_mask, exclude=True, deterministic=True, stop=False, key=None):
    """The head under one compilation per option set (dropout state still advances)."""
    return head(
        hidden,
        prompt_mask,
        exclude_last_prompt_token=exclude,
        stop_gradient_input=stop,
        deterministic=deterministic,
        dropout_key=key,
    )


HIDDEN = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
PROMPTS = np.array(
    [
        [1, 1, 1, 0],  # right padded, 3 prompt tokens
        [0, 1, 1, 1],  # left padded, 3 prompt tokens
        [0, 0, 1, 0],  # a prompt of one token
    ]
)


def test_pooling_by_hand():
    hidden = np.where(PROMPTS[..., None] == 1, HIDDEN, np.nan)  # padding must not leak
    plain = pool(hidden, PROMPTS, exclude_last_prompt_token=False)
    released = pool(hidden, PROMPTS, exclude_last_prompt_token=True)
    h = HIDDEN
    np.testing.assert_allclose(plain[0], (h[0, 0] + h[0, 1] + h[0, 2]) / 3)
    np.testing.assert_allclose(plain[1], (h[1, 1] + h[1, 2] + h[1, 3]) / 3)
    np.testing.assert_allclose(plain[2], h[2, 2])
    np.testing.assert_allclose(released[0], (h[0, 0] + h[0, 1]) / 2)
    np.testing.assert_allclose(released[1], (h[1, 1] + h[1, 2]) / 2)
    np.testing.assert_allclose(released[2], h[2, 2])  # length 1: keeps its only token
    no_prompt = np.zeros((3, 4), int)
    np.testing.assert_array_equal(pool(hidden, no_prompt, exclude_last_prompt_token=True), 0.0)


@pytest.fixture(scope="module")
def head():
    head = LogZHead(H, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(1)
    for norm in (head.norm1, head.norm2):  # non-trivial LayerNorm parameters for the reference
        norm.scale[...] = jnp.asarray(rng.uniform(0.5, 1.5, H), jnp.float32)
        norm.bias[...] = jnp.asarray(rng.normal(size=H) * 0.1, jnp.float32)
    return head


@pytest.mark.parametrize("exclude", [True, False])
def test_forward_matches_numpy_reference(head, exclude):
    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(3, 4, H)).astype(np.float32)
    out = run(head, hidden, PROMPTS, exclude=exclude)
    assert out.shape == (3,) and out.dtype == jnp.float32
    pooled = np.asarray(pool(hidden, PROMPTS, exclude_last_prompt_token=exclude))
    np.testing.assert_allclose(out, np_head(head, pooled), rtol=1e-5, atol=1e-5)


def test_gelu_is_exact_not_tanh():
    x = jnp.linspace(-4.0, 4.0, 81)
    exact = np_gelu(np.asarray(x, np.float64))
    assert np.max(np.abs(jax.nn.gelu(x, approximate=True) - exact)) > 1e-4  # the trap
    np.testing.assert_allclose(jax.nn.gelu(x, approximate=False), exact, atol=1e-6)


def test_layer_norm_eps_is_pytorch(head):
    assert head.norm1.epsilon == head.norm2.epsilon == 1e-5
    rng = np.random.default_rng(3)
    x = (1.0 + 1e-3 * rng.normal(size=(2, H))).astype(np.float32)  # variance ≈ eps
    scale, bias = np.asarray(head.norm1.scale[...]), np.asarray(head.norm1.bias[...])
    got = np.asarray(head.norm1(x))
    np.testing.assert_allclose(got, np_layer_norm(x.astype(np.float64), scale, bias), atol=1e-4)
    assert not np.allclose(got, np_layer_norm(x.astype(np.float64), scale, bias, 1e-6), atol=1e-2)


def test_pytorch_linear_initialisation():
    head = LogZHead(H, rngs=nnx.Rngs(4))
    bound = 1 / math.sqrt(H)
    for layer in (head.linear1, head.linear2, head.out):
        for p in params(layer):
            assert np.all(np.abs(p) <= bound)
    weights = np.concatenate([params(head.linear1)[0].ravel(), params(head.linear2)[0].ravel()])
    assert np.abs(weights).max() > 0.95 * bound
    np.testing.assert_allclose(weights.std(), bound / math.sqrt(3), rtol=0.1)  # U(±bound)
    assert np.abs(params(head.linear1)[1]).max() > 0.5 * bound  # biases are not zero
    np.testing.assert_array_equal(head.norm1.scale[...], 1.0)
    np.testing.assert_array_equal(head.norm1.bias[...], 0.0)


def test_dropout_only_when_not_deterministic(head):
    hidden = np.random.default_rng(5).normal(size=(3, 4, H)).astype(np.float32)
    eval_a, eval_b = run(head, hidden, PROMPTS), run(head, hidden, PROMPTS)
    train_a = run(head, hidden, PROMPTS, deterministic=False)
    train_b = run(head, hidden, PROMPTS, deterministic=False)
    np.testing.assert_array_equal(eval_a, eval_b)
    assert not np.allclose(train_a, eval_a) and not np.allclose(train_a, train_b)
    assert head.dropout1.rate == head.dropout2.rate == 0.1
    key_a, key_b = jax.random.key(0), jax.random.key(1)
    keyed = [run(head, hidden, PROMPTS, deterministic=False, key=k) for k in (key_a, key_a, key_b)]
    np.testing.assert_array_equal(keyed[0], keyed[1])  # an explicit key is reproducible
    assert not np.allclose(keyed[0], keyed[2]) and not np.allclose(keyed[0], eval_a)


def test_stop_gradient_input(head):
    hidden = jnp.asarray(np.random.default_rng(6).normal(size=(3, 4, H)), jnp.float32)
    graphdef, state = nnx.split(head)

    @jax.jit
    def grads(h):
        def total(h, stop):
            out = nnx.merge(graphdef, state)(
                h, PROMPTS, stop_gradient_input=stop, deterministic=True
            )
            return jnp.sum(out)

        return jax.grad(total)(h, True), jax.grad(total)(h, False)

    with_stop, without_stop = grads(hidden)
    np.testing.assert_array_equal(with_stop, 0.0)
    reached = np.abs(np.asarray(without_stop)).sum(-1) > 0  # pooled tokens only
    np.testing.assert_array_equal(reached, [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0]])


def test_bfloat16_hidden_gives_float32_outputs(head):
    hidden = jnp.ones((3, 4, H), jnp.bfloat16)
    assert run(head, hidden, PROMPTS).dtype == jnp.float32
    assert ValueHead(H, rngs=nnx.Rngs(0))(hidden).dtype == jnp.float32


def test_value_head_is_a_linear_map():
    value_head = ValueHead(H, rngs=nnx.Rngs(7))
    hidden = np.random.default_rng(8).normal(size=(2, 5, H)).astype(np.float32)
    w, b = params(value_head.out)
    out = value_head(hidden)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out, (hidden @ w + b)[..., 0], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(w) <= 1 / math.sqrt(H))
