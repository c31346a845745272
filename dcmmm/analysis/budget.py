"""Budget optimiser, what-if and marginal ROI (docs/design.md, "Decisions").

A plan is one spend multiplier μ_c per channel on its historical weekly spend
inside the planning window (the last `window_weeks` weeks), so each channel
keeps its flighting. With S_c the channel's current spend in the window, the
optimiser solves

    max_μ  KPI(μ)   s.t.  Σ_c μ_c S_c = B,   lower_c ≤ μ_c ≤ upper_c,

where KPI(μ) is the predicted KPI summed over the window weeks plus the
carry-over tail: the data are continued by max_lag − 1 weeks with no activity
(controls held at their last week, calendar continued, level flat) and the
media carried from the window into those weeks is added. It runs projected
gradient ascent with `jax.grad` through the model: a normalised step along
the gradient's component within the budget hyperplane, with a geometrically
decaying step size, then the Euclidean projection onto {box ∩ hyperplane}
(bisection on the Lagrange shift λ of μ = clip(v + λ·S, lower, upper)). The
objective is not concave in general (S-shaped Hill curves), so the result is
a local optimum reached from the current plan; it is never worse than the
(projected) current plan, which is where the ascent starts.
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.analysis.plans import (
    direct_plan_activity,
    extend_inputs,
    map_plans,
    plan_activity,
    plan_kpi_change,
    plan_prediction,
    week_mask_of,
)
from dcmmm.errors import ConfigError
from dcmmm.fitted import Fitted
from dcmmm.model.mmm import ModelSpec, Statics, predict_panel

BIND_TOL = 1e-3  # a multiplier within this of a bound is reported as bound
MROI_STEP = 0.01  # marginal ROI: a 1% spend increase


@dataclass(frozen=True)
class BudgetSpec:
    """Budget optimiser settings (`conf/budget`).

    window_weeks: planning window, the last weeks of the data (clipped to T).
    total: budget over the window in money (None = the current spend).
    lower / upper: multiplier bounds on each channel's current window spend;
    a dict maps channel names to bounds, with a "default" key for the others
    (absent: the defaults below). Defaults are those of conf/budget/default.yaml.
    """

    window_weeks: int = 52
    total: float | None = None
    lower: float | dict = 0.5
    upper: float | dict = 1.5


def named_bounds(value, names, key: str, default: float, what: str = "channel") -> np.ndarray:
    """Per-name values [N] from a number or a {name: value, "default": value}
    dict: a bound per channel (or per region, `what`). `key` is the config key
    (for messages), `default` the value of names a dict without "default"
    leaves out. ConfigError for a name that is not among `names`."""
    names = [str(n) for n in names]
    if not isinstance(value, dict):
        return np.full(len(names), float(value))
    value = {str(k): v for k, v in value.items()}
    unknown = sorted(set(value) - set(names) - {"default"})
    if unknown:
        shown = names if len(names) <= 12 else [*names[:12], "..."]
        raise ConfigError(f"{key} names unknown {what}(s) {unknown}; {what}s are {shown}")
    fallback = float(value.get("default", default))
    return np.array([float(value.get(n, fallback)) for n in names])


def window_start(n_weeks: int, window_weeks: int) -> int:
    """First week index of the planning window (the last `window_weeks`, clipped)."""
    if window_weeks < 1:
        raise ConfigError(f"budget.window_weeks must be >= 1, got {window_weeks}")
    return max(n_weeks - int(window_weeks), 0)


def carryover_weeks(mspec: ModelSpec) -> int:
    """Weeks after the data end that the window's adstock still reaches (max_lag − 1)."""
    return mspec.max_lag - 1 if mspec.adstock_enabled else 0


def window_prediction(mspec: ModelSpec, params: dict, x, z, statics: Statics, w, multipliers,
                      start: int, extra: int, propagate: bool = True):
    """ŷ[R, T + extra] (scaled) of the plan `multipliers` [C] acting on weeks ≥ start,
    with the data continued by `extra` weeks of no activity (`extend_inputs`)."""
    weeks = jnp.arange(x.shape[1]) >= start
    plan = plan_activity if propagate else direct_plan_activity
    activity = plan(x, w, multipliers, weeks)
    x_e, z_e, statics_e = extend_inputs(activity, z, statics, extra)
    return predict_panel(mspec, params, x_e, z_e, statics_e).y


def tail_reference(mspec: ModelSpec, params: dict, x, z, statics: Statics, start: int,
                   extra: int):
    """ŷ[R, extra] after the data end with no activity from `start` on: the
    baseline that the carry-over tail is measured against."""
    x = jnp.asarray(x)
    keep = (jnp.arange(x.shape[1]) < start)[None, :, None]
    x_e, z_e, statics_e = extend_inputs(x * keep, z, statics, extra)
    return predict_panel(mspec, params, x_e, z_e, statics_e).y[:, x.shape[1]:]


def window_kpi(mspec: ModelSpec, params: dict, x, z, statics: Statics, w, kpi_mean, multipliers,
               start: int, extra: int, tail_ref=None):
    """The optimiser's objective, a scalar in KPI units.

    Σ_r [Σ_{start ≤ t < T} ŷ[r, t] + Σ_{T ≤ t < T + extra} (ŷ[r, t] − tail_ref[r, t])]
    · kpi_mean[r]: predicted KPI over the window plus the media the window
    carries past the data end. x: [R, T, C], multipliers: [C] acting on weeks
    ≥ start, extra: carry-over weeks, tail_ref: [R, extra] (`tail_reference`).
    """
    n_weeks = x.shape[1]
    y = window_prediction(mspec, params, x, z, statics, w, multipliers, start, extra)
    if extra > 0:
        if tail_ref is None:
            tail_ref = tail_reference(mspec, params, x, z, statics, start, extra)
        y = y.at[:, n_weeks:].add(-tail_ref)
    keep = (jnp.arange(y.shape[1]) >= start)[None, :]
    return jnp.sum(y * keep * jnp.asarray(kpi_mean, y.dtype)[:, None])


def plan_lift(fitted: Fitted, multipliers, window_weeks: int) -> float:
    """KPI lift (KPI units) of the plan `multipliers` [C] over the current plan
    under a fitted model: `window_kpi` of the plan minus that of multipliers 1,
    over the planning window (the last `window_weeks` weeks) with the
    carry-over tail."""
    mspec, params, statics = fitted.model, fitted.params, fitted.statics
    x, z = jnp.asarray(fitted.batch.x, jnp.float32), jnp.asarray(fitted.batch.z, jnp.float32)
    start = window_start(x.shape[1], window_weeks)
    extra = carryover_weeks(mspec)
    args = (mspec, params, x, z, statics, jnp.asarray(fitted.graph, jnp.float32),
            jnp.asarray(fitted.kpi_mean, jnp.float32))
    tail = tail_reference(mspec, params, x, z, statics, start, extra) if extra > 0 else None
    plan = window_kpi(*args, jnp.asarray(multipliers, jnp.float32), start, extra, tail)
    current = window_kpi(*args, jnp.ones(x.shape[2], jnp.float32), start, extra, tail)
    return float(plan - current)


def project_budget(v, shares, budget, lower, upper, iters: int = 60):
    """Euclidean projection of v[C] onto {Σ_c shares_c·μ_c = budget, lower ≤ μ ≤ upper}.

    The projection is μ(λ) = clip(v + λ·shares, lower, upper) with λ such that
    the budget holds; Σ shares·μ(λ) is non-decreasing in λ, so λ is found by
    bisection (vectorised over channels). Channels with share 0 are clipped
    only. Assumes Σ shares·lower ≤ budget ≤ Σ shares·upper.
    """
    positive = shares > 0
    safe = jnp.where(positive, shares, 1.0)
    lam_lo = jnp.min(jnp.where(positive, (lower - v) / safe, jnp.inf))
    lam_hi = jnp.max(jnp.where(positive, (upper - v) / safe, -jnp.inf))
    spent = lambda lam: jnp.sum(shares * jnp.clip(v + lam * shares, lower, upper))  # noqa: E731

    def bisect(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = spent(mid) < budget
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, iters, bisect, (lam_lo, lam_hi))
    return jnp.clip(v + 0.5 * (lo + hi) * shares, lower, upper)


def optimise_budget(fitted: Fitted, bspec: BudgetSpec, steps: int = 300):
    """Best spend multipliers for the planning window under a fixed budget.

    The fitted model's panel spend ([R, T, C] money; none raises ConfigError)
    and channels; bspec: window, total and bounds; steps: projected gradient
    steps. Channels without spend in the window stay at multiplier 1. Raises
    ConfigError for unknown channel names in the bounds or a total the bounds
    cannot meet.

    Returns (table, summary). table columns: channel, current_spend,
    optimal_spend (money over the window), multiplier, lower, upper (multiplier
    bounds), bound ('lower' / 'upper' / 'none': which bound binds, tolerance
    1e-3), mroi (∂KPI/∂μ_c / S_c at the optimum: KPI per unit of money).
    summary: current_kpi (the actual plan, all multipliers 1), optimal_kpi (KPI over the
    window plus carry-over, KPI units), lift (= optimal − current; negative
    only when `total` is below the current spend), lift_pct (percent of
    current), total_budget, window_weeks, window_start (week index),
    carryover_weeks.
    """
    spend_rtc = fitted.panel.spend
    if spend_rtc is None:
        raise ConfigError("the budget optimiser needs spend columns (data.spend)")
    mspec, params, statics = fitted.model, fitted.params, fitted.statics
    x = jnp.asarray(fitted.batch.x, jnp.float32)
    z = jnp.asarray(fitted.batch.z, jnp.float32)
    w = jnp.asarray(fitted.graph, jnp.float32)
    kpi_mean = jnp.asarray(fitted.kpi_mean, jnp.float32)
    names = list(fitted.channels)
    n_weeks = x.shape[1]
    start = window_start(n_weeks, bspec.window_weeks)
    spend_c = np.asarray(spend_rtc, np.float64)[:, start:].sum(axis=(0, 1))  # [C]
    current_total = float(spend_c.sum())
    if current_total <= 0:
        raise ConfigError(f"no spend in the planning window (last {n_weeks - start} weeks)")
    budget = current_total if bspec.total is None else float(bspec.total)
    lower = named_bounds(bspec.lower, names, "budget.lower", BudgetSpec.lower)
    upper = named_bounds(bspec.upper, names, "budget.upper", BudgetSpec.upper)
    if np.any(lower < 0) or np.any(lower > upper):
        raise ConfigError(f"budget bounds need 0 <= lower <= upper, got lower={lower.tolist()}, "
                          f"upper={upper.tolist()}")
    fixed = spend_c <= 0
    lower_f, upper_f = np.where(fixed, 1.0, lower), np.where(fixed, 1.0, upper)
    lo_total, hi_total = float(lower_f @ spend_c), float(upper_f @ spend_c)
    if not lo_total * (1 - 1e-6) <= budget <= hi_total * (1 + 1e-6):
        raise ConfigError(f"budget.total = {budget:g} cannot be met within the bounds: "
                          f"the window allows {lo_total:g} to {hi_total:g}")
    shares = jnp.asarray(spend_c / current_total, jnp.float32)
    lr0 = 0.1 * max(float(np.max(upper_f - lower_f)), 1e-3)
    mult_opt, grad, current_kpi, lift = _ascend(
        mspec, params, x, z, statics, w, kpi_mean, shares, jnp.float32(budget / current_total),
        jnp.asarray(lower_f, jnp.float32), jnp.asarray(upper_f, jnp.float32), jnp.float32(lr0),
        start=start, extra=carryover_weeks(mspec), steps=int(steps))
    mult_opt, grad = np.asarray(mult_opt, np.float64), np.asarray(grad, np.float64)
    current_kpi, lift = float(current_kpi), float(lift)

    bound = np.where(fixed, "none", np.where(
        mult_opt - lower_f < BIND_TOL, "lower", np.where(upper_f - mult_opt < BIND_TOL, "upper", "none")))
    with np.errstate(divide="ignore", invalid="ignore"):
        mroi = np.where(fixed, np.nan, grad / np.where(fixed, 1.0, spend_c))
    table = pd.DataFrame({
        "channel": names, "current_spend": spend_c, "optimal_spend": mult_opt * spend_c,
        "multiplier": mult_opt, "lower": lower_f, "upper": upper_f, "bound": bound, "mroi": mroi,
    })
    summary = {
        "current_kpi": current_kpi,
        "optimal_kpi": current_kpi + lift,
        "lift": lift,
        "lift_pct": 100.0 * lift / current_kpi if current_kpi != 0 else float("nan"),
        "total_budget": budget,
        "window_weeks": n_weeks - start,
        "window_start": start,
        "carryover_weeks": carryover_weeks(mspec),
    }
    return table, summary


@partial(jax.jit, static_argnames=("mspec", "start", "extra", "steps"))
def _ascend(mspec, params, x, z, statics, w, kpi_mean, shares, target, lower, upper, lr0, *,
            start: int, extra: int, steps: int):
    """Projected gradient ascent of `window_kpi` from the (projected) current plan.

    shares: [C] window spend shares, target: budget / current spend, lower /
    upper: [C] bounds, lr0: first step (in multiplier units, decaying
    geometrically to lr0 / 1000). Returns (best multipliers [C], gradient
    there [C], KPI of the current plan, lift of the best plan over it).
    """
    n_ch = x.shape[-1]
    tail_ref = tail_reference(mspec, params, x, z, statics, start, extra)
    value_and_grad = jax.value_and_grad(
        lambda mult: window_kpi(mspec, params, x, z, statics, w, kpi_mean, mult, start, extra, tail_ref))
    free = shares > 0
    decay = 1e-3 ** (1.0 / max(steps - 1, 1))
    mult0 = project_budget(jnp.ones(n_ch), shares, target, lower, upper)

    def step(carry, k):
        mult, best_mult, best_val = carry
        val, g = value_and_grad(mult)
        better = val > best_val
        best_mult, best_val = jnp.where(better, mult, best_mult), jnp.where(better, val, best_val)
        # the step follows the gradient within the budget hyperplane, normalised
        g = jnp.where(free, g, 0.0)
        tangent = g - jnp.sum(g * shares) / jnp.sum(shares * shares) * shares
        scale = jnp.max(jnp.abs(tangent))
        direction = jnp.where(scale > 0, tangent / jnp.where(scale > 0, scale, 1.0), 0.0)
        mult = project_budget(mult + lr0 * decay**k * direction, shares, target, lower, upper)
        return (mult, best_mult, best_val), None

    init = (mult0, mult0, jnp.array(-jnp.inf, jnp.float32))
    (mult, best_mult, best_val), _ = jax.lax.scan(step, init, jnp.arange(steps, dtype=jnp.float32))
    best_mult = jnp.where(value_and_grad(mult)[0] > best_val, mult, best_mult)
    grad = value_and_grad(best_mult)[1]
    ones = jnp.ones(n_ch)
    current_y = window_prediction(mspec, params, x, z, statics, w, ones, start, extra)
    best_y = window_prediction(mspec, params, x, z, statics, w, best_mult, start, extra)
    keep = (jnp.arange(current_y.shape[1]) >= start)[None, :] * kpi_mean[:, None]
    lift = jnp.sum((best_y - current_y) * keep)  # per cell: exact for small lifts
    current = window_kpi(mspec, params, x, z, statics, w, kpi_mean, ones, start, extra, tail_ref)
    return best_mult, grad, current, lift


def multiplier_vector(multipliers: dict, channel_names) -> np.ndarray:
    """[C] multipliers from {channel name: multiplier} (others 1)."""
    names = list(channel_names)
    unknown = sorted(set(multipliers) - set(names))
    if unknown:
        raise ConfigError(f"what-if names unknown channel(s) {unknown}; channels are {names}")
    return np.array([float(multipliers.get(n, 1.0)) for n in names], np.float32)


def what_if(fitted: Fitted, multipliers: dict, weeks=None) -> dict:
    """KPI change of scaling channels' spend by `multipliers` ({name: multiplier},
    others 1) under a fitted model.

    The multipliers act on `weeks` (boolean [T], None = all); the change is
    summed over regions and all weeks (carry-over inside the data included),
    in KPI units. Returns {kpi_change_total, kpi_change_direct,
    kpi_change_mediated}: total propagates through the graph to children,
    direct does not, mediated = total − direct.
    """
    plan = jnp.asarray(multiplier_vector(multipliers, fitted.channels))
    x = jnp.asarray(fitted.batch.x, jnp.float32)
    week_mask = week_mask_of(weeks, x.shape[1])  # one compiled shape, weeks or not
    total, direct = _what_if(fitted.model, fitted.params, x,
                             jnp.asarray(fitted.batch.z, jnp.float32), fitted.statics,
                             jnp.asarray(fitted.graph, jnp.float32),
                             jnp.asarray(fitted.kpi_mean, jnp.float32), plan, week_mask)
    total, direct = float(total), float(direct)
    return {"kpi_change_total": total, "kpi_change_direct": direct,
            "kpi_change_mediated": total - direct}


@partial(jax.jit, static_argnames="mspec")
def _what_if(mspec, params, x, z, statics, w, kpi_mean, plan, week_mask):
    """(total, direct) KPI change of the multipliers `plan` [C] against the actual plan."""
    actual = plan_prediction(mspec, params, x, z, statics, w, jnp.ones(x.shape[-1]))
    return tuple(plan_kpi_change(mspec, params, x, z, statics, w, plan, kpi_mean, actual,
                                 week_mask, propagate=p) for p in (True, False))


def marginal_roi(fitted: Fitted, weeks=None) -> np.ndarray:
    """mROI [C]: incremental KPI of a 1% spend increase in `weeks` / 1% of that spend.

    weeks: boolean [T] (None = all). The KPI change is summed over regions and
    all weeks (carry-over inside the data included); KPI units per unit of
    money; all NaN without spend, NaN for a channel without spend in `weeks`.
    """
    spend_rtc = fitted.panel.spend
    x = jnp.asarray(fitted.batch.x, jnp.float32)
    n_ch = x.shape[-1]
    if spend_rtc is None:
        return np.full(n_ch, np.nan)
    spend = np.asarray(spend_rtc, np.float64)
    if weeks is not None:
        spend = spend[:, np.asarray(weeks, bool)]
    spend_c = spend.sum(axis=(0, 1))
    week_mask = week_mask_of(weeks, x.shape[1])  # one compiled shape, weeks or not
    inc = np.asarray(_one_percent_changes(
        fitted.model, fitted.params, x, jnp.asarray(fitted.batch.z, jnp.float32), fitted.statics,
        jnp.asarray(fitted.graph, jnp.float32), jnp.asarray(fitted.kpi_mean, jnp.float32),
        week_mask), np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spend_c > 0, inc / (MROI_STEP * spend_c), np.nan)


@partial(jax.jit, static_argnames="mspec")
def _one_percent_changes(mspec, params, x, z, statics, w, kpi_mean, week_mask):
    """KPI change [C] of raising each channel's spend by MROI_STEP in week_mask (vmapped)."""
    n_ch = x.shape[-1]
    actual = plan_prediction(mspec, params, x, z, statics, w, jnp.ones(n_ch))
    change = lambda plan: plan_kpi_change(  # noqa: E731
        mspec, params, x, z, statics, w, plan, kpi_mean, actual, week_mask)
    return map_plans(change, 1.0 + MROI_STEP * jnp.eye(n_ch), x.shape[0] * x.shape[1])
