"""Time-varying channel effectiveness from a GRU scanned over exogenous context.

The GRU (Cho et al. 2014; the cell of `flax.nnx.GRUCell`) reads only context
that does not depend on the KPI (calendar, trend, controls) and gives each
channel a bounded multiplier

    m[t, c] = exp(ρ · tanh(g[t, c])),   g = head(GRU state),

so log m lies in [−ρ, ρ] (ρ = `model.dynamics.max_log_ratio`).
"""

import jax
import jax.numpy as jnp
from flax import nnx


class EffectivenessGRU(nnx.Module):
    """Parameters of the GRU cell (same layout as `nnx.GRUCell`) and a linear head."""

    def __init__(self, in_features: int, hidden: int, channels: int, *, rngs: nnx.Rngs):
        self.cell = nnx.GRUCell(in_features, hidden, rngs=rngs)
        self.head = nnx.Linear(
            hidden, channels, kernel_init=nnx.initializers.zeros_init(), rngs=rngs
        )


def gru_cell(p: dict, h, x):
    """One GRU step (nnx.GRUCell equations) on the pure parameter dict `p`.

    h: [H] state, x: [F] input -> new state [H].
    """
    return _gru_update(p, h, x @ p["dense_i"]["kernel"] + p["dense_i"]["bias"])


def _gru_update(p: dict, h, xi):
    """GRU update from the projected input xi[3H] (input projection hoisted)."""
    hh = h @ p["dense_h"]["kernel"]
    xi_r, xi_z, xi_n = jnp.split(xi, 3, axis=-1)
    hh_r, hh_z, hh_n = jnp.split(hh, 3, axis=-1)
    r = jax.nn.sigmoid(xi_r + hh_r)
    z = jax.nn.sigmoid(xi_z + hh_z)
    n = jnp.tanh(xi_n + r * hh_n)
    return (1.0 - z) * n + z * h


def gru_scan(p: dict, context):
    """GRU states over time, context[T, F] -> [T, H], starting from h = 0.

    The input projection of all weeks is one matmul before the scan; only the
    recurrent part runs step by step.
    """
    hidden = p["dense_h"]["kernel"].shape[0]
    xi_all = context @ p["dense_i"]["kernel"] + p["dense_i"]["bias"]  # [T, 3H]

    def step(h, xi_t):
        h = _gru_update(p, h, xi_t)
        return h, h

    _, states = jax.lax.scan(step, jnp.zeros(hidden, context.dtype), xi_all)
    return states


def effectiveness(p: dict, context, max_log_ratio: float):
    """m[T, C] = exp(ρ · tanh(head(gru_scan(context)))); p = {'cell', 'head'}."""
    states = gru_scan(p["cell"], context)
    g = states @ p["head"]["kernel"] + p["head"]["bias"]
    return jnp.exp(max_log_ratio * jnp.tanh(g))
