"""The tables of a plan: plan.csv, plan_weekly.csv, plan_summary.json,
plan_data.csv (pure).

Money is the data's currency; KPI in KPI units; ROI and marginal ROI in
`PlanSpec.roi_unit` (KPI per unit of money, or money per money with
`plan.kpi_value`). With an ensemble, the numbers the model makes get
`<col>_lo` / `<col>_hi` over the members (`dcmmm.ensemble.interval`), their
lower ends down to 0 where a channel's zero test allows it.
"""

import dataclasses
import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from dcmmm.ensemble import interval
from dcmmm.fitted import Fitted
from dcmmm.intervals import with_zero
from dcmmm.planning import horizon as hz
from dcmmm.planning.optimise import at_bounds
from dcmmm.planning.planner import Optimum, Planner
from dcmmm.planning.spec import PlanSpec

PLAN_COLUMNS = ("incremental_kpi_given", "incremental_kpi_planned", "roi", "mroi")


def _cells(planner: Planner, by_region: bool) -> tuple[dict, callable]:
    """The key columns of plan.csv's rows (channel, or region and channel) and
    the reduction of an [..., R, C] array to those rows (a sum over regions,
    or a flattening)."""
    panel = planner.fitted.panel
    if by_region:
        keys = {"region": np.repeat(np.array(panel.regions, dtype=object), panel.n_channels),
                "channel": np.tile(np.array(panel.channels, dtype=object), panel.n_regions)}
        return keys, lambda a: a.reshape(*a.shape[:-2], -1)
    return {"channel": np.array(panel.channels, dtype=object)}, lambda a: a.sum(axis=-2)


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _figures(planner: Planner, mult, given, planned, rows, value: float) -> dict:
    """plan.csv's model columns from evaluations of the given and the planned
    plan (one model, or members with a leading [E])."""
    spend = planner.spend_rc
    return {"incremental_kpi_given": rows(given.by_cell),
            "incremental_kpi_planned": rows(planned.by_cell),
            "roi": value * _ratio(rows(planned.by_cell), rows(mult * spend)),
            "mroi": value * _ratio(rows(planned.grad), rows(spend))}


def plan_table(planner: Planner, optimum: Optimum, pspec: PlanSpec) -> pd.DataFrame:
    """plan.csv: per channel (per region and channel with `by_region`):
    spend_given, spend_planned (money over the plan weeks), multiplier,
    at_bound (`lower`, `upper`, `held`, `no spend` or `none`),
    incremental_kpi_given / _planned (KPI units, plan weeks and carry-over:
    the plan minus the plan without that channel's spend), roi (value ·
    incremental_kpi_planned / spend_planned), mroi (value · ∂KPI/∂spend at
    the planned plan)."""
    mult, spend = optimum.multipliers, planner.spend_rc
    keys, rows = _cells(planner, pspec.by_region)
    given, planned = planner.evaluate(np.ones_like(mult)), planner.evaluate(mult)
    _, bounds = planner.variables(pspec)
    theta = mult.ravel() if pspec.by_region else mult[0]
    at_lower, at_upper = at_bounds(theta, bounds.lower, bounds.upper)
    status = np.where(bounds.held, "held", np.where(bounds.fixed, "no spend", np.where(
        at_lower, "lower", np.where(at_upper, "upper", "none"))))
    table = pd.DataFrame({**keys, "spend_given": rows(spend), "spend_planned": rows(mult * spend),
                          "multiplier": theta, "at_bound": status,
                          **_figures(planner, mult, given, planned, rows, pspec.value)})
    members_given = planner.evaluate_members(np.ones_like(mult))
    if members_given is None:
        return table
    members = _figures(planner, mult, members_given, planner.evaluate_members(mult), rows,
                       pspec.value)
    level = planner.fitted.spec.ensemble.interval
    for col in PLAN_COLUMNS:
        table[f"{col}_lo"], table[f"{col}_hi"] = interval(members[col], level)
    return with_zero(table, planner.fitted.zero_tests, PLAN_COLUMNS, flags=False)


def weekly_table(planner: Planner, optimum: Optimum) -> pd.DataFrame:
    """plan_weekly.csv: date, region, channel, spend (money), activity (data
    units) of the planned plan in each plan week: what to buy."""
    fitted, future = planner.fitted, planner.future
    mult = optimum.multipliers
    n_lag = fitted.model.max_lag
    x = np.asarray(hz.plan_activity(planner.horizon, mult.astype(np.float32)), np.float64)
    activity = fitted.scalers.unscale_media(x[:, n_lag - 1:n_lag - 1 + future.n_weeks])
    spend = future.spend * mult[:, None, :]
    panel = fitted.panel
    R, H, C = spend.shape
    return pd.DataFrame({
        "date": np.tile(np.repeat(np.array(future.period_labels(), dtype=object), C), R),
        "region": np.repeat(np.array(panel.regions, dtype=object), H * C),
        "channel": np.tile(np.array(panel.channels, dtype=object), R * H),
        "spend": spend.ravel(), "activity": activity.ravel()})


def data_table(planner: Planner, optimum: Optimum) -> pd.DataFrame:
    """plan_data.csv: the planned weeks in the run's own data format (its date
    and region columns, each channel's activity and spend columns, the
    controls; no KPI): a plan file that plan.path reads back."""
    weekly = weekly_table(planner, optimum)
    panel, future = planner.fitted.panel, planner.future
    R, H, C = future.spend.shape
    columns = {panel.date_column: weekly["date"].to_numpy()[::C]}
    if panel.region_column:
        columns[panel.region_column] = weekly["region"].to_numpy()[::C]
    activity = weekly["activity"].to_numpy().reshape(R * H, C)
    spend = weekly["spend"].to_numpy().reshape(R * H, C)
    for c in range(C):
        columns[panel.channel_columns[c]] = activity[:, c]
    for c in range(C):  # a channel measured by its spend has one column for both
        columns[panel.spend_columns[c]] = spend[:, c]
    for k, name in enumerate(panel.controls):
        columns[name] = future.z[..., k].ravel()
    return pd.DataFrame(columns)


def summary(planner: Planner, optimum: Optimum, pspec: PlanSpec) -> dict:
    """plan_summary.json: the scenario and its settings, the plan weeks, spend
    and incremental KPI given vs planned (KPI units, plan weeks and
    carry-over), lift, ROI and marginal ROI, the KPI carried in from the
    data's last weeks, the expected KPI per plan week (baseline plus media,
    all regions, and `expected_given` under the given plan: `expected_kpi`) and spend and incremental KPI per region
    (`regions`); with an ensemble, their intervals over the members."""
    mult, spend, future = optimum.multipliers, planner.spend_rc, planner.future
    given, planned = planner.evaluate(np.ones_like(mult)), planner.evaluate(mult)
    value, weeks, labels = pspec.value, future.n_weeks, future.period_labels()
    spend_given, spend_planned = float(spend.sum()), float((mult * spend).sum())
    out = {
        "scenario": pspec.scenario, "by_region": pspec.by_region, "source": future.source,
        "plan_weeks": weeks, "first_week": labels[0], "last_week": labels[-1],
        "carryover_weeks": int(planned.base.shape[0] - weeks),
        "total": pspec.total, "target_roi": pspec.target_roi, "target_mroi": pspec.target_mroi,
        "max_total": pspec.max_total, "kpi_value": pspec.kpi_value, "roi_unit": pspec.roi_unit,
        "spend_given": spend_given, "spend_planned": spend_planned,
        "incremental_kpi_given": float(given.total),
        "incremental_kpi_planned": float(planned.total),
        "lift": float(planned.total - given.total),
        "lift_pct": float(100 * (planned.total - given.total) / given.total) if given.total
        else None,
        "roi_given": float(value * given.total / spend_given) if spend_given > 0 else None,
        "roi_planned": float(value * planned.total / spend_planned) if spend_planned > 0 else None,
        "mroi_planned": (value * float((planned.grad * mult).sum()) / spend_planned
                         if spend_planned > 0 else None),
        "budget_mroi": None if np.isnan(optimum.alpha) else optimum.alpha,
        "target_met": optimum.target_met,
        "carry_in_kpi": float(planned.carry_in[:weeks].sum()),
        "baseline_kpi": float(planned.base[:weeks].sum()),
        "expected_kpi_total": float((planned.base + planned.media)[:weeks].sum()),
    }
    weekly = {"date": labels, "baseline": planned.base[:weeks],
              "media": planned.media[:weeks], "expected": (planned.base + planned.media)[:weeks],
              "expected_given": (given.base + given.media)[:weeks]}
    members_given = planner.evaluate_members(np.ones_like(mult))
    if members_given is not None:
        members = planner.evaluate_members(mult)
        level = planner.fitted.spec.ensemble.interval
        lifts = members.total - members_given.total
        expected = (members.base + members.media)[:, :weeks]
        for name, values in (("incremental_kpi_given", members_given.total),
                             ("incremental_kpi_planned", members.total), ("lift", lifts),
                             ("expected_kpi_total", expected.sum(axis=1))):
            out[f"{name}_lo"], out[f"{name}_hi"] = (float(v) for v in interval(values, level))
        out["members"] = len(lifts)
        out["members_positive"] = float(np.mean(lifts > 0))
        weekly["expected_lo"], weekly["expected_hi"] = interval(expected, level)
    out["expected_kpi"] = pd.DataFrame(weekly).to_dict(orient="records")
    out["regions"] = pd.DataFrame({
        "region": list(planner.fitted.panel.regions), "spend_given": spend.sum(axis=1),
        "spend_planned": (mult * spend).sum(axis=1),
        "incremental_kpi_given": given.by_cell.sum(axis=1),
        "incremental_kpi_planned": planned.by_cell.sum(axis=1)}).to_dict(orient="records")
    return out


class Plan(NamedTuple):
    """The tables of a plan, as plan.py writes them: plan.csv (`table`),
    plan_weekly.csv (`weekly`), plan_summary.json (`summary`), frontier.csv
    (`frontier`; None when not asked for) and plan_data.csv (`data`)."""

    table: pd.DataFrame
    weekly: pd.DataFrame
    summary: dict
    frontier: pd.DataFrame | None
    data: pd.DataFrame


def plan(fitted: Fitted, future: pd.DataFrame | str | os.PathLike | None = None,
         spec: PlanSpec | None = None, frontier: bool = True, **settings) -> Plan:
    """Plan the weeks after a fitted model's data (what `plan.py` runs).

    future: the plan's weeks as a table or file in the run's data format
    (date, region, each channel's activity and/or spend, controls; no KPI),
    or None: the `weeks` after the data copied from a year earlier, scaled to
    `total`. spec: a PlanSpec; keyword `settings` replace its fields, e.g.
    ``dcmmm.plan(run, scenario="target_roi", target_roi=3.0)``. frontier:
    also the frontier (16 budgets, one vmapped program). Raises DataError for
    a bad plan file and ConfigError for settings that cannot apply.
    """
    pspec = dataclasses.replace(spec or PlanSpec(), **settings)
    planner = Planner.of(fitted, pspec, future)
    optimum = planner.optimise(pspec)
    return Plan(plan_table(planner, optimum, pspec), weekly_table(planner, optimum),
                summary(planner, optimum, pspec), planner.frontier(pspec) if frontier else None,
                data_table(planner, optimum))
