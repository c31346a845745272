"""Adstock: carry-over of media activity as a normalised causal convolution.

Kernel families (weights w[c, l], l = 0..L-1, sum_l w[c, l] = 1):

- geometric: w_l ∝ λ^l, λ = sigmoid(decay)
- delayed (Jin et al. 2017): w_l ∝ λ^((l - θ)^2), θ = (L - 1) · sigmoid(delay)
- weibull: w_l ∝ Weibull pdf at l + 1 with shape in [0.3, 5] (sigmoid) and
  scale 0.5 + L · sigmoid(scale): decaying (shape ≤ 1) or peaking later

Weeks before the first week are filled with the channel's mean of its first
four weeks (steady state), not with zeros.
"""

import jax
import jax.numpy as jnp

FAMILIES = ("geometric", "delayed", "weibull")
PREFILL_WEEKS = 4
WEIBULL_SHAPE = (0.3, 5.0)  # bounds keep t**shape finite for any raw parameter


def init_adstock_params(family: str, n_channels: int) -> dict:
    """Raw (unconstrained) kernel parameters, each [C]; a moderate carry-over."""
    c = (n_channels,)
    if family == "geometric":
        return {"decay": jnp.zeros(c)}  # λ = 0.5
    if family == "delayed":
        return {"decay": jnp.zeros(c), "delay": jnp.full(c, -2.0)}
    if family == "weibull":
        return {"shape": jnp.full(c, -1.5), "scale": jnp.full(c, -1.5)}
    raise ValueError(f"unknown adstock family {family!r}; use one of {FAMILIES}")


def adstock_weights(family: str, params: dict, max_lag: int):
    """Normalised kernel w[C, L] from raw parameters (each [C])."""
    lags = jnp.arange(max_lag, dtype=jnp.float32)
    if family == "geometric":
        lam = jax.nn.sigmoid(params["decay"])[:, None]
        logw = lags[None, :] * jnp.log(lam)
    elif family == "delayed":
        lam = jax.nn.sigmoid(params["decay"])[:, None]
        theta = (max_lag - 1) * jax.nn.sigmoid(params["delay"])[:, None]
        logw = (lags[None, :] - theta) ** 2 * jnp.log(lam)
    elif family == "weibull":
        shape = WEIBULL_SHAPE[0] + (WEIBULL_SHAPE[1] - WEIBULL_SHAPE[0]) * jax.nn.sigmoid(
            params["shape"])[:, None]
        scale = 0.5 + max_lag * jax.nn.sigmoid(params["scale"])[:, None]
        t = (lags[None, :] + 1.0) / scale
        logw = jnp.log(shape / scale) + (shape - 1.0) * jnp.log(t) - t**shape
    else:
        raise ValueError(f"unknown adstock family {family!r}; use one of {FAMILIES}")
    return jax.nn.softmax(logw, axis=-1)


def mean_lag(w):
    """Mean lag in weeks, sum_l l · w[c, l] -> [C]."""
    return w @ jnp.arange(w.shape[-1], dtype=w.dtype)


def steady_state(x):
    """Pre-sample activity per channel: mean of the first weeks of x[T, C] -> [C]."""
    return jnp.mean(x[:PREFILL_WEEKS], axis=0)


def adstock(x, w):
    """Causal convolution of activity x[T, C] with kernels w[C, L] -> [T, C].

    out[t, c] = sum_l w[c, l] · x[t - l, c], where x before t = 0 is the
    channel's steady state (`steady_state`).
    """
    n_weeks = x.shape[0]
    max_lag = w.shape[-1]
    pre = jnp.broadcast_to(steady_state(x), (max_lag - 1, x.shape[1]))
    padded = jnp.concatenate([pre, x], axis=0)  # [T + L - 1, C]
    lagged = jnp.stack(
        [padded[max_lag - 1 - l : max_lag - 1 - l + n_weeks] for l in range(max_lag)], axis=1
    )  # [T, L, C]
    return jnp.einsum("tlc,cl->tc", lagged, w)
