"""A plan's weeks under a fitted model: the arrays its KPI needs, and the KPI.

The model runs once over the data, the H plan weeks and E = max_lag − 1
carry-over weeks after them (`horizon`): the plan weeks' calendar, trend and
controls are the plan's, the tail holds the last plan week's controls, the
local level stays flat after the last training week, and the GRU scans this
exogenous context on into the future, so the effectiveness m and the baseline
of every future week are fixed before any plan is tried. A plan then changes
only the media term of the H + E scored weeks,

    ŷ[r, t] = base[r, t] + Σ_c β_rc · m[r, t, c] · hill(adstock(x')[r, t, c]),

where x' is the given plan's activity with each channel's own activity
scaled by its multiplier in the plan weeks (`plan_activity`, through the
channel graph) and the adstock reaches back into the data's last L − 1 weeks
(carry-in). A plan's incremental KPI counts the plan weeks and the tail
(carry-out) against a plan of no spend in the plan weeks:

    K(μ) = Σ_r kpi_mean[r] · Σ_t Σ_c (media(μ) − media(0))[r, t, c].

Everything below `horizon` is pure JAX of (Horizon, μ [R, C]): jitted once
per shape, vmapped over ensemble members and budgets.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.analysis.budget import carryover_weeks
from dcmmm.data.calendar import WEEKS_PER_YEAR, week_of_year
from dcmmm.data.future import FutureWeeks, next_periods
from dcmmm.fitted import Fitted
from dcmmm.model.baseline import fourier_features
from dcmmm.model.graph import own_activity
from dcmmm.model.mmm import Statics, adstock_kernel, channel_betas, predict_panel
from dcmmm.model.saturation import hill, hill_k, hill_s


class Horizon(NamedTuple):
    """One fitted model over a plan's window: N = (L − 1) + H + E weeks, the
    last S = H + E of them scored (L = max_lag, E = carry-over weeks).

    x: [R, N, C] scaled activity of the given plan (the data's last L − 1
    weeks, the plan weeks, no activity in the tail); own: [R, N, C] its own
    (spend-driven) part in the plan weeks, `own_activity(x, W)`, 0 elsewhere;
    spread: [C, C] (I − W)^-1, how own activity spreads through the graph; beta_m: [R, S, C] β_rc · m[r, t, c]; base: [R, S]
    baseline (intercept, level, seasonality, controls; scaled); carry_in:
    [R, S] media of a plan of no spend (what the data's last weeks carry in,
    scaled); kernel: [C, L] adstock weights; hill_k, hill_s: [C]; kpi_mean:
    [R] KPI units per scaled unit.
    """

    x: jax.Array
    own: jax.Array
    spread: jax.Array
    beta_m: jax.Array
    base: jax.Array
    carry_in: jax.Array
    kernel: jax.Array
    hill_k: jax.Array
    hill_s: jax.Array
    kpi_mean: jax.Array


def future_statics(statics: Statics, week_of_year_future, n_fourier: int) -> Statics:
    """Statics continued over the weeks after the data: Fourier terms of those
    weeks' real week of year [F], the trend on with its slope of 1 per year,
    the level basis's last row (flat after the last knot)."""
    n = len(week_of_year_future)
    fourier = jnp.asarray(fourier_features(week_of_year_future, n_fourier), jnp.float32)
    trend = jnp.asarray(statics.trend)
    trend_f = trend[-1] + jnp.arange(1, n + 1, dtype=jnp.float32) / WEEKS_PER_YEAR
    basis = jnp.asarray(statics.level_basis)
    return statics._replace(
        fourier=jnp.concatenate([jnp.asarray(statics.fourier), fourier]),
        trend=jnp.concatenate([trend, trend_f]),
        level_basis=jnp.concatenate([basis, jnp.repeat(basis[-1:], n, axis=0)]))


def extended_inputs(fitted: Fitted, future: FutureWeeks):
    """(x, z, statics) over the data, the plan weeks and the carry-over weeks
    [T + H + E]: the given plan's scaled activity, the plan's controls (the
    tail holds the last plan week's), no activity in the tail."""
    mspec, panel = fitted.model, fitted.panel
    n_plan, n_tail = future.n_weeks, carryover_weeks(mspec)
    x_plan = fitted.scalers.scale_media(future.activity)
    z_plan = fitted.scalers.scale_controls(future.z)
    n_regions = panel.n_regions
    x = np.concatenate([np.asarray(fitted.batch.x, np.float64), x_plan,
                        np.zeros((n_regions, n_tail, panel.n_channels))], axis=1)
    z = np.concatenate([np.asarray(fitted.batch.z, np.float64), z_plan,
                        np.repeat(z_plan[:, -1:], n_tail, axis=1)], axis=1)
    weeks = week_of_year(next_periods(panel, n_plan + n_tail))
    statics = future_statics(fitted.statics, weeks, mspec.n_fourier)
    return jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32), statics


def horizon(fitted: Fitted, future: FutureWeeks) -> Horizon:
    """The Horizon of a fitted model for the plan weeks `future`."""
    mspec, n_data, n_lag = fitted.model, fitted.panel.n_weeks, fitted.model.max_lag
    x, z, statics = extended_inputs(fitted, future)
    beta_m, base, kernel, k, s = _model_arrays(mspec, fitted.params, x, z, statics, n_data)
    window = x[:, n_data - (n_lag - 1):]
    plan_weeks = np.zeros(window.shape[1], np.float32)
    plan_weeks[n_lag - 1:n_lag - 1 + future.n_weeks] = 1.0
    graph = np.asarray(fitted.graph, np.float64)
    spread = np.linalg.inv(np.eye(graph.shape[0]) - graph)  # W is acyclic: I − W is invertible
    h = Horizon(x=window, own=own_activity(window, jnp.asarray(graph, jnp.float32))
                * plan_weeks[:, None], spread=jnp.asarray(spread, jnp.float32), beta_m=beta_m,
                base=base, carry_in=jnp.zeros_like(base), kernel=kernel, hill_k=k, hill_s=s,
                kpi_mean=jnp.asarray(fitted.kpi_mean, jnp.float32))
    zero = jnp.zeros((x.shape[0], x.shape[2]), jnp.float32)
    return h._replace(carry_in=media(h, plan_activity(h, zero)).sum(axis=-1))


@partial(jax.jit, static_argnames=("mspec", "n_data"))
def _model_arrays(mspec, params, x, z, statics, n_data: int):
    """(β·m [R, S, C], baseline [R, S], kernel [C, L], Hill k [C], s [C]) of the
    weeks from `n_data` on, from one run of the model over x [R, T + S, C]."""
    pred = predict_panel(mspec, params, x, z, statics)
    shared = params["shared"]
    betas = jax.vmap(lambda region: channel_betas(mspec, shared, region))(params["region"])
    base = pred.intercept + pred.level + pred.seasonality + pred.controls.sum(axis=-1)
    return (betas[:, None, :] * pred.effectiveness[:, n_data:], base[:, n_data:],
            adstock_kernel(mspec, shared), hill_k(shared["hill"]["raw_k"]),
            hill_s(shared["hill"]["raw_s"]))


def plan_activity(h: Horizon, mult):
    """[R, N, C] scaled activity of the plan `mult` [R, C]: each channel's own
    activity scaled by its multiplier in the plan weeks, the change flowing
    through the channel graph, x' = max(x − (1 − μ)·u·(I − W)^-1, 0), as
    `dcmmm.model.graph.planned_activity` (the inverse is precomputed: a
    linear solve per evaluation costs a hundred times more on the CPU)."""
    change = jnp.einsum("rnc,cd->rnd", (1.0 - mult[:, None, :]) * h.own, h.spread)
    return jnp.maximum(h.x - change, 0.0)


def media(h: Horizon, x):
    """[R, S, C] media term (scaled KPI) of the scored weeks for activity x [R, N, C]:
    β·m·hill(Σ_l kernel[c, l] · x[t − l, c])."""
    n_lag, n_window = h.kernel.shape[1], x.shape[1]
    lagged = jnp.stack([x[:, n_lag - 1 - l:n_window - l] for l in range(n_lag)], axis=2)
    adstocked = jnp.einsum("rslc,cl->rsc", lagged, h.kernel)
    return h.beta_m * hill(adstocked, h.hill_k, h.hill_s)


def region_kpi(h: Horizon, mult):
    """[R] incremental KPI (KPI units) of the plan `mult` [R, C] per region:
    plan weeks and carry-over, against no spend in the plan weeks."""
    gain = media(h, plan_activity(h, mult)).sum(axis=-1) - h.carry_in
    return gain.sum(axis=1) * h.kpi_mean


def incremental(h: Horizon, mult):
    """K(μ): the plan's incremental KPI, a scalar in KPI units."""
    return region_kpi(h, mult).sum()


class Evaluation(NamedTuple):
    """What a plan brings under one model (KPI units; leading [E] over members).

    total: incremental KPI of the whole plan; by_cell: [R, C] each (region,
    channel)'s incremental KPI (the plan minus the plan with that channel's
    spend in the plan weeks off, in that region's KPI); grad: [R, C] ∂K/∂μ;
    base, media, carry_in: [S] the scored weeks' baseline, media under the
    plan, and media of the carry-in alone, summed over regions.
    """

    total: jax.Array
    by_cell: jax.Array
    grad: jax.Array
    base: jax.Array
    media: jax.Array
    carry_in: jax.Array


def evaluate(h: Horizon, mult) -> Evaluation:
    """The Evaluation of the plan `mult` [R, C] (jittable, vmappable over h)."""
    per_region = region_kpi(h, mult)
    grad = jax.grad(incremental, argnums=1)(h, mult)
    n_ch = mult.shape[1]
    without = jax.vmap(lambda c: region_kpi(h, mult.at[:, c].set(0.0)))(jnp.arange(n_ch))
    weekly = media(h, plan_activity(h, mult)).sum(axis=-1) * h.kpi_mean[:, None]
    return Evaluation(per_region.sum(), per_region[:, None] - without.T, grad,
                      (h.base * h.kpi_mean[:, None]).sum(axis=0), weekly.sum(axis=0),
                      (h.carry_in * h.kpi_mean[:, None]).sum(axis=0))


evaluate_jit = jax.jit(evaluate)
evaluate_members = jax.jit(jax.vmap(evaluate, in_axes=(0, None)))


def stack(horizons: list[Horizon]) -> Horizon:
    """Horizons of the same shapes (ensemble members) stacked on a leading [E] axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *horizons)
