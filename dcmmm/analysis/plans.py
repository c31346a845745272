"""Spend plans as counterfactual activity (docs/design.md, "Decisions").

Activity is proportional to spend within a channel, so multiplying channel c's
spend by μ_c multiplies its own (spend-driven) activity u_c by μ_c, where
u = own_activity(x, W) = x (I − W) kept within [0, x]. The change flows
through the thresholded channel graph W to the channels c drives:

    Δu[:, c] = (1 − μ_c) · u_c · week_mask,   x' = max(x − Δu (I − W)^-1, 0).

`direct_plan_activity` changes only each channel's own column
(x' = max(x − Δu, 0)): the direct effect, without mediation through children.
Multipliers act only inside the week mask; carry-over into later weeks then
follows through the model's adstock. Everything here is pure and
differentiable in the multipliers (jit/grad/vmap friendly).
"""

import jax
import jax.numpy as jnp

from dcmmm.data.calendar import WEEKS_PER_YEAR
from dcmmm.model.graph import own_activity, planned_activity
from dcmmm.model.mmm import ModelSpec, Statics, predict_panel

# Plans evaluated together are vmapped in chunks of at most PLAN_CELLS // (R·T)
# plans: XLA:CPU in jaxlib 0.10.2 miscomputes some broadcast-reduce fusions
# whose output exceeds 2^15 elements (jax-ml/jax#39103), and a vmapped batch
# of whole-panel predictions is exactly such a fusion.
PLAN_CELLS = 1 << 14


def week_mask_of(weeks, n_weeks: int):
    """Float mask [T] (1 inside `weeks`); all weeks when `weeks` is None."""
    if weeks is None:
        return jnp.ones(n_weeks, jnp.float32)
    return jnp.asarray(weeks, jnp.float32)


def own_change(x, w, multipliers, weeks=None):
    """Δu[R, T, C] = (1 − μ_c) · u[r, t, c] · week_mask[t], u = own_activity(x, W).

    x: [R, T, C] scaled activity, w: [C, C] graph, multipliers: [C].
    """
    x = jnp.asarray(x)
    w = jnp.asarray(w, x.dtype)
    u = own_activity(x, w)  # x @ w broadcasts over R
    mask = week_mask_of(weeks, x.shape[1])[None, :, None]
    return (1.0 - jnp.asarray(multipliers, x.dtype)) * u * mask


def map_plans(fn, plans, n_cells: int):
    """fn over the rows of plans [N, C] -> stacked outputs [N, ...].

    Vmapped in chunks of max(1, PLAN_CELLS // n_cells) plans (n_cells = R·T
    of one plan's prediction), the chunks run by `jax.lax.map`.
    """
    return jax.lax.map(fn, plans, batch_size=max(1, PLAN_CELLS // max(n_cells, 1)))


def plan_activity(x, w, multipliers, weeks=None):
    """Activity [R, T, C] after scaling each channel's spend by `multipliers`.

    x: [R, T, C] scaled activity; w: [C, C] thresholded graph (W[i, j]: i drives
    j); multipliers: [C] spend multipliers (1 = the actual plan); weeks:
    boolean [T] where the multipliers act (None = all weeks).
    x' = max(x − Δu (I − W)^-1, 0) with Δu from `own_change`
    (`dcmmm.model.graph.planned_activity`); multipliers of 1 everywhere return x exactly.
    """
    x = jnp.asarray(x)
    return planned_activity(x, w, multipliers, week_mask_of(weeks, x.shape[1]))


def direct_plan_activity(x, w, multipliers, weeks=None):
    """Like `plan_activity` but without propagation to children: x' = max(x − Δu, 0).

    Shapes as in `plan_activity`; only each channel's own column changes.
    """
    x = jnp.asarray(x)
    return jnp.maximum(x - own_change(x, w, multipliers, weeks), 0.0)


def plan_prediction(mspec: ModelSpec, params: dict, x, z, statics: Statics, w, multipliers,
                    weeks=None, propagate: bool = True):
    """Predicted KPI ŷ[R, T] (scaled units) under a spend plan.

    x' from `plan_activity` (`propagate=True`, total) or `direct_plan_activity`.
    """
    activity = plan_activity if propagate else direct_plan_activity
    return predict_panel(mspec, params, activity(x, w, multipliers, weeks), z, statics).y


def plan_kpi(mspec: ModelSpec, params: dict, x, z, statics: Statics, w, multipliers, kpi_mean,
             weeks=None, sum_weeks=None, propagate: bool = True):
    """Total predicted KPI (KPI units) of a spend plan, a scalar.

    Σ_r Σ_{t ∈ sum_weeks} ŷ[r, t](x') · kpi_mean[r], with x' from
    `plan_activity` (`propagate=True`) or `direct_plan_activity`.
    x: [R, T, C] scaled activity, z: [R, T, K], w: [C, C], multipliers: [C],
    kpi_mean: [R] KPI per scaled unit, weeks / sum_weeks: boolean [T] (None =
    all). Jittable and differentiable in `multipliers` (close over `mspec`).
    """
    y = plan_prediction(mspec, params, x, z, statics, w, multipliers, weeks, propagate)
    return _kpi_sum(y, kpi_mean, sum_weeks)


def plan_kpi_change(mspec: ModelSpec, params: dict, x, z, statics: Statics, w, multipliers,
                    kpi_mean, reference, weeks=None, sum_weeks=None, propagate: bool = True):
    """KPI change (KPI units, scalar) of a plan against a reference prediction.

    Σ_r Σ_{t ∈ sum_weeks} (ŷ_plan − reference)[r, t] · kpi_mean[r];
    reference: [R, T] scaled prediction (e.g. `plan_prediction` of another
    plan). Differences are taken per cell before summing, which keeps small
    changes of large totals accurate in float32.
    """
    y = plan_prediction(mspec, params, x, z, statics, w, multipliers, weeks, propagate)
    return _kpi_sum(y - reference, kpi_mean, sum_weeks)


def _kpi_sum(y, kpi_mean, sum_weeks=None):
    """Σ_r Σ_{t ∈ sum_weeks} y[r, t] · kpi_mean[r] (KPI units)."""
    kpi = y * jnp.asarray(kpi_mean, y.dtype)[:, None]
    return jnp.sum(kpi * week_mask_of(sum_weeks, y.shape[1])[None, :])


def extend_statics(statics: Statics, n_extra: int) -> Statics:
    """Statics continued by `n_extra` weeks after the data end.

    Fourier terms are advanced one week at a time (rotation of each sin/cos
    pair by 2πk/52.18, the layout of `baseline.fourier_features`); the level
    basis repeats its last row (the level is flat after the last knot); the
    trend continues linearly with its last step.
    """
    if n_extra <= 0:
        return statics
    fourier = jnp.asarray(statics.fourier)
    n_pairs = fourier.shape[1] // 2
    delta = 2.0 * jnp.pi * jnp.arange(1, n_pairs + 1) / WEEKS_PER_YEAR
    steps = jnp.arange(1, n_extra + 1)[:, None] * delta[None, :]  # [E, F]
    sin0, cos0 = fourier[-1, :n_pairs], fourier[-1, n_pairs:]
    sin_e = sin0 * jnp.cos(steps) + cos0 * jnp.sin(steps)
    cos_e = cos0 * jnp.cos(steps) - sin0 * jnp.sin(steps)
    trend = jnp.asarray(statics.trend)
    step = trend[-1] - trend[-2] if trend.shape[0] > 1 else 1.0 / WEEKS_PER_YEAR
    trend_e = trend[-1] + step * jnp.arange(1, n_extra + 1)
    basis = jnp.asarray(statics.level_basis)
    return statics._replace(
        fourier=jnp.concatenate([fourier, jnp.concatenate([sin_e, cos_e], axis=1)]),
        level_basis=jnp.concatenate([basis, jnp.repeat(basis[-1:], n_extra, axis=0)]),
        trend=jnp.concatenate([trend, trend_e.astype(trend.dtype)]),
    )


def extend_inputs(x, z, statics: Statics, n_extra: int):
    """(x, z, statics) continued by `n_extra` weeks: no activity, controls held
    at their last week, calendar as in `extend_statics`. x: [R, T, C], z: [R, T, K]."""
    if n_extra <= 0:
        return x, z, statics
    x, z = jnp.asarray(x), jnp.asarray(z)
    x_e = jnp.concatenate([x, jnp.zeros((x.shape[0], n_extra, x.shape[2]), x.dtype)], axis=1)
    z_e = jnp.concatenate([z, jnp.repeat(z[:, -1:], n_extra, axis=1)], axis=1)
    return x_e, z_e, extend_statics(statics, n_extra)
