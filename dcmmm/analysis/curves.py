"""Response curves: incremental KPI as a channel's spend is scaled (docs/design.md, "Decisions").

For channel c and spend multiplier μ (others at 1), the incremental KPI is

    inc_c(μ) = KPI(plan with μ_c = μ) − KPI(plan with μ_c = 0),

summed over regions and all weeks (so carry-over inside the data counts), in
KPI units; `total` propagates the change through the thresholded graph to
the channels c drives, `direct` does not. At μ = 1 these are the channel's
incremental effects. The multipliers of one channel are evaluated with
`jax.vmap` (in chunks that keep each fused output small, `map_plans`).
`fit_hill_curves` summarises each curve by a Hill curve
top · μ^s / (μ^s + k^s) (Jin et al. 2017).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from dcmmm.analysis.plans import map_plans, plan_kpi_change, plan_prediction, week_mask_of
from dcmmm.fitted import Fitted

DEFAULT_MULTIPLIERS = np.round(np.arange(0, 3.01, 0.1), 2)
HILL_K_RANGE = (0.02, 50.0)  # half saturation, in multipliers of the historical spend
HILL_S_RANGE = (0.3, 5.0)  # slope
HILL_LOG_K_GRID = np.linspace(np.log(HILL_K_RANGE[0]), np.log(HILL_K_RANGE[1]), 120)
HILL_S_GRID = np.linspace(*HILL_S_RANGE, 60)
HILL_STEPS = 200  # Adam steps refining the best grid point
_adam = optax.adam(0.02)


def channel_totals(values, weeks=None) -> np.ndarray:
    """Per-channel totals [C] of values [R, C] (already totals) or [R, T, C]
    (summed over `weeks`, boolean [T], None = all)."""
    values = np.asarray(values, np.float64)
    if values.ndim == 3:
        if weeks is not None:
            values = values[:, np.asarray(weeks, bool)]
        return values.sum(axis=(0, 1))
    return values.sum(axis=0)


def response_curves(fitted: Fitted, multipliers=DEFAULT_MULTIPLIERS, weeks=None) -> pd.DataFrame:
    """Response curve of every channel of a fitted model, one row per (channel, multiplier).

    multipliers: [M] spend multipliers; weeks: boolean [T] where the
    multiplier acts (None = all weeks), and over which the historical spend
    and activity are summed.

    Columns: channel, multiplier, spend = multiplier · historical spend (money,
    NaN without spend), activity = multiplier · historical activity (data
    units), incremental_direct, incremental_total (KPI units, summed over
    regions and weeks).
    """
    panel = fitted.panel
    x = jnp.asarray(fitted.batch.x, jnp.float32)
    z = jnp.asarray(fitted.batch.z, jnp.float32)
    n_ch = x.shape[-1]
    mults = jnp.asarray(np.asarray(multipliers, np.float32))
    spend_c = (channel_totals(panel.spend, weeks) if panel.spend is not None
               else np.full(n_ch, np.nan))
    activity_c = channel_totals(panel.media, weeks)
    eye = jnp.eye(n_ch, dtype=jnp.float32)
    w = jnp.asarray(fitted.graph, jnp.float32)
    kpi_mean = jnp.asarray(fitted.kpi_mean, jnp.float32)
    week_mask = week_mask_of(weeks, x.shape[1])  # one compiled shape, weeks or not
    scale = np.asarray(multipliers, np.float64)
    frames = []
    for c in range(n_ch):
        direct, total = np.asarray(_channel_curves(
            fitted.model, fitted.params, x, z, fitted.statics, w, kpi_mean, week_mask, eye[c],
            mults), np.float64)
        frames.append(pd.DataFrame({
            "channel": panel.channels[c],
            "multiplier": scale,
            "spend": scale * spend_c[c],
            "activity": scale * activity_c[c],
            "incremental_direct": direct,
            "incremental_total": total,
        }))
    return pd.concat(frames, ignore_index=True)


@partial(jax.jit, static_argnames="mspec")
def _channel_curves(mspec, params, x, z, statics, w, kpi_mean, week_mask, onehot, mults):
    """Direct and total curve [2, M] of the channel `onehot` [C] at multipliers [M].

    Each is Σ (ŷ(μ) − ŷ(0)) · kpi_mean with the multipliers vmapped (in
    chunks, `map_plans`).
    """
    rows = 1.0 + (mults[:, None] - 1.0) * onehot[None, :]  # [M, C]
    out = []
    for propagate in (False, True):
        reference = plan_prediction(mspec, params, x, z, statics, w, 1.0 - onehot, week_mask,
                                    propagate)
        change = partial(plan_kpi_change, mspec, params, x, z, statics, w, kpi_mean=kpi_mean,
                         reference=reference, weeks=week_mask, propagate=propagate)
        out.append(map_plans(lambda mult, change=change: change(multipliers=mult), rows,
                             x.shape[0] * x.shape[1]))
    return jnp.stack(out)


def _hill(mult, k, s):
    """μ^s / (μ^s + k^s) of multipliers `mult`, 0 at 0 (gradient-safe), broadcasting."""
    positive = mult > 0
    mult_safe = jnp.where(positive, mult, 1.0)
    return jnp.where(positive, jax.nn.sigmoid(s * (jnp.log(mult_safe) - jnp.log(k))), 0.0)


def _profile(y, g):
    """Least-squares top and SSE of y ≈ top · g, along the last axis."""
    gg = jnp.sum(g * g, axis=-1)
    top = jnp.where(gg > 0, jnp.sum(g * y, axis=-1) / jnp.where(gg > 0, gg, 1.0), 0.0)
    sse = jnp.sum((y - top[..., None] * g) ** 2, axis=-1)
    return top, sse


def _clip_theta(theta):
    lo = jnp.array([np.log(HILL_K_RANGE[0]), HILL_S_RANGE[0]])
    hi = jnp.array([np.log(HILL_K_RANGE[1]), HILL_S_RANGE[1]])
    return jnp.clip(theta, lo, hi)


def _hill_sse(theta, mult, y):
    """Profiled SSE of the Hill fit at theta = (log k, s), top in closed form."""
    theta = _clip_theta(theta)
    return _profile(y, _hill(mult, jnp.exp(theta[0]), theta[1]))[1]


@jax.jit
def _fit_hill(mult, y):
    """(top, k, s, sse) of the best grid point refined by Adam steps."""
    log_k, s_grid = jnp.asarray(HILL_LOG_K_GRID), jnp.asarray(HILL_S_GRID)
    g = _hill(mult[None, None, :], jnp.exp(log_k)[:, None, None], s_grid[None, :, None])
    sse = _profile(y, g)[1]
    i, j = jnp.unravel_index(jnp.argmin(sse), sse.shape)
    theta0 = jnp.stack([log_k[i], s_grid[j]])

    def step(carry, _):
        theta, state = carry
        updates, state = _adam.update(jax.grad(_hill_sse)(theta, mult, y), state)
        return (_clip_theta(optax.apply_updates(theta, updates)), state), None

    (theta, _), _ = jax.lax.scan(step, (theta0, _adam.init(theta0)), None, length=HILL_STEPS)
    theta = jnp.where(_hill_sse(theta, mult, y) <= _hill_sse(theta0, mult, y), theta, theta0)
    k, s = jnp.exp(theta[0]), theta[1]
    top, sse_best = _profile(y, _hill(mult, k, s))
    return top, k, s, sse_best


def fit_hill(mult, y):
    """Least-squares Hill fit y ≈ top · μ^s / (μ^s + k^s) of one curve.

    mult (μ), y: [M]. top is solved in closed form for each (k, s) (variable
    projection); (k, s) come from a log-k × s grid refined by Adam steps on
    (log k, s), within HILL_K_RANGE / HILL_S_RANGE. Returns (top, k, s, r2),
    r2 NaN for a flat curve.
    """
    mult = jnp.asarray(mult, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    top, k, s, sse = _fit_hill(mult, y)
    sst = float(jnp.sum((y - jnp.mean(y)) ** 2))
    r2 = 1.0 - float(sse) / sst if sst > 0 else np.nan
    return float(top), float(k), float(s), r2


def fit_hill_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Hill fit of each channel's `incremental_total` against `multiplier`.

    curves: the frame of `response_curves`. Returns columns channel, top (KPI
    units), half_saturation_multiplier (k, in multiples of historical spend),
    slope (s), r2 (of the fit; NaN for a flat curve).
    """
    rows = []
    for channel, curve in curves.groupby("channel", sort=False):
        top, k, s, r2 = fit_hill(curve["multiplier"].to_numpy(),
                                 curve["incremental_total"].to_numpy())
        rows.append({"channel": channel, "top": top, "half_saturation_multiplier": k,
                     "slope": s, "r2": r2})
    return pd.DataFrame(rows, columns=["channel", "top", "half_saturation_multiplier", "slope",
                                       "r2"])
