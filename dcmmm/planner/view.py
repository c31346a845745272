"""What the planner page shows for one plan: pure functions of a `Planner`
and one multiplier per channel (docs/design.md, "Planner page").

The per-channel table is plan.csv's (`dcmmm.planning.tables.plan_table`,
per region and channel when a region is picked), so the page, `plan.py` and
`dcmmm.plan` give the same numbers for the same plan. The rest comes from
one jitted call on the planner's `Horizon` (`_arrays`): each region's
incremental KPI, its media per scored week, and each channel's response
curve with the other channels at the plan. Everything is compiled once per
shape and re-used by every session of the server.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.ensemble import interval
from dcmmm.planning import horizon as hz
from dcmmm.planning.planner import Planner
from dcmmm.planning.spec import PlanSpec, plan_bounds
from dcmmm.planning.tables import plan_table

CURVE_POINTS = 25  # points of a response curve (plus the two marked), from no spend on


def _kpi(h: hz.Horizon, mult):
    """([R] incremental KPI, [R, S] media in KPI units) of the plan `mult` [R, C]."""
    weekly = hz.media(h, hz.plan_activity(h, mult)).sum(axis=-1) * h.kpi_mean[:, None]
    return hz.region_kpi(h, mult), weekly


def _curves(h: hz.Horizon, mult, grid):
    """[C, G, R] incremental KPI of channel c with its multiplier at grid[c, g] and
    the other channels at the plan `mult` [R, C]: K(μ with μ_c = g) − K(μ with μ_c = 0),
    per region. At g = μ_c it is plan.csv's incremental_kpi_planned of c."""
    n_ch = mult.shape[1]

    def one(c, g):
        return hz.region_kpi(h, mult.at[:, c].set(g))

    on = jax.vmap(lambda c, gs: jax.vmap(lambda g: one(c, g))(gs))(jnp.arange(n_ch), grid)
    off = jax.vmap(lambda c: one(c, 0.0))(jnp.arange(n_ch))
    return on - off[:, None, :]


_arrays = jax.jit(lambda h, mult, grid: (*_kpi(h, mult), _curves(h, mult, grid)))
_given = jax.jit(_kpi)
_members = jax.jit(jax.vmap(_kpi, in_axes=(0, None)))


def page_spec(pspec: PlanSpec) -> PlanSpec:
    """The page's plans are one multiplier per channel (its sliders): plan.py's
    per-region settings do not apply."""
    return dataclasses.replace(pspec, by_region=False, region_lower=None, region_upper=None)


class Sliders(NamedTuple):
    """Per channel [C]: the slider's lowest and highest multiplier, and whether it
    can move (a held channel, or one without spend in the given plan, cannot)."""

    lower: np.ndarray
    upper: np.ndarray
    free: np.ndarray


def sliders(planner: Planner, pspec: PlanSpec) -> Sliders:
    bounds = plan_bounds(page_spec(pspec), planner.fitted.channels, planner.fitted.panel.regions,
                         planner.spend_rc)
    return Sliders(bounds.lower, bounds.upper, ~bounds.fixed)


@dataclasses.dataclass(frozen=True)
class View:
    """The numbers of one plan for all regions (region None) or one region.

    spend_given, spend_planned: money over the plan weeks; kpi_given,
    kpi_planned: incremental KPI (KPI units, plan weeks and carry-over), with
    kpi_planned_lo / _hi over an ensemble's members (else None);
    table: plan.csv's rows of the view (per channel); weekly: per plan week
    date, baseline, expected, expected_given (KPI units), and expected_lo /
    _hi with an ensemble; curves: channel, multiple, spend, incremental_kpi,
    kind ("curve", "now" at the given spend, "this plan" at the planned one).
    """

    region: str | None
    spend_given: float
    spend_planned: float
    kpi_given: float
    kpi_planned: float
    kpi_planned_lo: float | None
    kpi_planned_hi: float | None
    table: pd.DataFrame
    weekly: pd.DataFrame
    curves: pd.DataFrame

    @property
    def roi(self) -> float | None:
        return self.kpi_planned / self.spend_planned if self.spend_planned > 0 else None

    @property
    def roi_given(self) -> float | None:
        return self.kpi_given / self.spend_given if self.spend_given > 0 else None


def curve_grid(slide: Sliders, mult_c: np.ndarray, points: int = CURVE_POINTS) -> np.ndarray:
    """[C, G + 2] multipliers of the response curves: G from 0 to 1.5 × the larger
    of the slider's top and the plan's multiplier (at least 2× the given spend),
    then 1 (the given spend) and the plan's multiplier, where the curve is marked."""
    top = np.maximum(np.maximum(slide.upper, mult_c), 4.0 / 3.0) * 1.5
    line = np.linspace(0.0, 1.0, points)[None, :] * top[:, None]
    return np.concatenate([line, np.ones_like(mult_c)[:, None], mult_c[:, None]], axis=1)


def view(planner: Planner, pspec: PlanSpec, mult_c, region: str | None = None) -> View:
    """The page's numbers for the plan with channel multipliers `mult_c` [C]
    (on the given plan's spend) for all regions, or for `region`."""
    pspec = page_spec(pspec)
    fitted, future = planner.fitted, planner.future
    mult_c = np.asarray(mult_c, np.float64)
    mult = np.broadcast_to(mult_c, planner.spend_rc.shape).copy()
    optimum = planner.optimum_of(mult)
    regions = list(fitted.panel.regions)
    pick = slice(None) if region is None else [regions.index(region)]
    if region is None:
        table = plan_table(planner, optimum, pspec)
    else:
        table = plan_table(planner, optimum, dataclasses.replace(pspec, by_region=True))
        table = table[table["region"] == region].reset_index(drop=True)
    grid = curve_grid(sliders(planner, pspec), mult_c)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    kpi_r, media_rs, curves = (np.asarray(a, np.float64) for a in
                               _arrays(planner.horizon, f32(mult), f32(grid)))
    kpi_given_r, media_given_rs = (np.asarray(a, np.float64) for a in
                                   _given(planner.horizon, f32(np.ones_like(mult))))
    weeks = future.n_weeks
    base = np.asarray(planner.horizon.base * planner.horizon.kpi_mean[:, None], np.float64)
    baseline = base[pick].sum(axis=0)[:weeks]
    weekly = pd.DataFrame({
        "date": pd.to_datetime(future.period_labels()) if np.issubdtype(
            future.periods.dtype, np.datetime64) else future.periods,
        "baseline": baseline, "expected": baseline + media_rs[pick].sum(axis=0)[:weeks],
        "expected_given": baseline + media_given_rs[pick].sum(axis=0)[:weeks]})
    lo = hi = None
    if planner.members is not None:
        members = planner.members
        level = fitted.spec.ensemble.interval
        kpi_er, media_ers = (np.asarray(a, np.float64) for a in _members(members, f32(mult)))
        base_ers = np.asarray(members.base * members.kpi_mean[:, :, None], np.float64)
        lo, hi = (float(v[0]) for v in interval(kpi_er[:, pick].sum(axis=1)[:, None], level))
        expected = (base_ers + media_ers)[:, pick].sum(axis=1)[:, :weeks]
        weekly["expected_lo"], weekly["expected_hi"] = interval(expected, level)
    spend_r = planner.spend_rc[pick]
    return View(region=region, spend_given=float(spend_r.sum()),
                spend_planned=float((mult[pick] * spend_r).sum()),
                kpi_given=float(kpi_given_r[pick].sum()), kpi_planned=float(kpi_r[pick].sum()),
                kpi_planned_lo=lo, kpi_planned_hi=hi, table=table, weekly=weekly,
                curves=_curve_frame(fitted.channels, grid, curves[:, :, pick].sum(axis=-1),
                                    spend_r.sum(axis=0)))


def _curve_frame(channels, grid, kpi_cg, spend_c) -> pd.DataFrame:
    """The response curves [C, G + 2] (`curve_grid`) of incremental KPI against
    spend (money): the line, a point at the given spend ("now") and one at the
    plan's ("this plan")."""
    kinds = np.array(["curve"] * (grid.shape[1] - 2) + ["now", "this plan"], dtype=object)
    frames = [pd.DataFrame({"channel": name, "multiple": grid[c], "spend": grid[c] * spend_c[c],
                            "incremental_kpi": kpi_cg[c], "kind": kinds})
              for c, name in enumerate(channels)]
    return pd.concat(frames, ignore_index=True)
