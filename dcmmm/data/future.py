"""The weeks of a plan: H weeks that continue a panel's calendar.

A plan gives, for every region and week after the data, each channel's
spend and activity and the controls (docs/design.md, "Decisions", forward
planning). It comes from a plan file (`read_future`: a long table in the
run's own data format, without the KPI, validated like the training data:
one `DataError` naming the column, region, week and value at fault) or from
the same weeks a year earlier (`last_year`). Where the file gives only one
of a channel's activity and spend, the other follows from the cost per unit
of activity: the data's over its last year (`cost_per_unit`) times the
plan's multiplier.

    spend     [R, H, C]  money
    activity  [R, H, C]  data units (impressions, GRPs, ...)
    z         [R, H, K]  raw controls
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dcmmm.data import calendar
from dcmmm.data.checks import check_duplicates, numeric_column, region_codes
from dcmmm.data.panel import Panel
from dcmmm.data.reading import read_table
from dcmmm.errors import ConfigError, DataError

YEAR_WEEKS = 52
"""Weeks between a plan week and "the same week a year earlier" (same weekday)."""


@dataclass(frozen=True, eq=False)
class FutureWeeks:
    """A plan's weeks for a panel of R regions, C channels, K controls.

    periods: [H] period labels continuing the panel's (datetime64[D] or int64);
    week_of_year: [H] as `Panel.week_of_year`; spend: [R, H, C] money;
    activity: [R, H, C] data units; z: [R, H, K] raw controls; source: the
    plan file, or "last year".
    """

    periods: np.ndarray
    week_of_year: np.ndarray
    spend: np.ndarray
    activity: np.ndarray
    z: np.ndarray
    source: str

    @property
    def n_weeks(self) -> int:
        return len(self.periods)

    def period_labels(self) -> list[str]:
        return calendar.period_labels(self.periods)


def next_periods(panel: Panel, n: int) -> np.ndarray:
    """[n] period labels of the n weeks after the panel's last."""
    last = panel.periods[-1]
    if np.issubdtype(panel.periods.dtype, np.datetime64):
        return (last + 7 * np.arange(1, n + 1)).astype("datetime64[D]")
    return last + np.arange(1, n + 1, dtype=np.int64)


def cost_per_unit(panel: Panel) -> np.ndarray:
    """[R, C] money per unit of activity over the data's last year (all
    weeks when shorter): Σ spend / Σ activity per region, the channel's
    pooled value where a region has no activity."""
    if panel.spend is None:
        raise ConfigError("planning needs spend columns: the run was fitted without data.spend")
    recent = slice(max(panel.n_weeks - YEAR_WEEKS, 0), None)
    spend = panel.spend[:, recent].sum(axis=1)
    activity = panel.media[:, recent].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = spend.sum(axis=0) / activity.sum(axis=0)
        return np.where(activity > 0, spend / activity, np.nan_to_num(pooled)[None, :])


def last_year(panel: Panel, weeks: int, total: float | None, cost_mult: np.ndarray) -> FutureWeeks:
    """The `weeks` after the data, each a copy of the same week a year
    earlier (52 weeks, so the weekday is kept): spend, activity and controls.

    total: the plan's spend (money; None = last year's), reached by scaling
    every channel's spend by one factor; activity scales with it and is
    divided by `cost_mult` [C] (a changed cost per unit of activity).
    """
    if panel.spend is None:
        raise ConfigError("planning needs spend columns: the run was fitted without data.spend")
    if not 1 <= weeks <= YEAR_WEEKS:
        raise ConfigError(f"plan.weeks must be in [1, {YEAR_WEEKS}] without plan.path (the weeks "
                          f"are copied from a year earlier), got {weeks}")
    if panel.n_weeks < YEAR_WEEKS:
        raise ConfigError(f"copying the plan from a year earlier needs {YEAR_WEEKS} weeks of data, "
                          f"the run has {panel.n_weeks}: give a plan file (plan.path)")
    source = np.arange(panel.n_weeks - YEAR_WEEKS, panel.n_weeks - YEAR_WEEKS + weeks)
    spend = panel.spend[:, source].copy()
    factor = 1.0
    if total is not None:
        if spend.sum() <= 0:
            raise ConfigError(f"no spend in the {weeks} weeks a year earlier to scale to "
                              f"plan.total = {total:g}: give a plan file (plan.path)")
        factor = float(total) / float(spend.sum())
    periods = next_periods(panel, weeks)
    return FutureWeeks(periods, calendar.week_of_year(periods), spend * factor,
                       panel.media[:, source] * factor / np.asarray(cost_mult)[None, None, :],
                       panel.z[:, source].copy(), "last year")


def read_future(panel: Panel, table: pd.DataFrame | str | os.PathLike,
                cost_mult: np.ndarray) -> FutureWeeks:
    """A plan file (or DataFrame) in the run's data format, validated against the panel.

    Columns: the panel's date and region columns, for each channel its
    activity column, its spend column or both, and every control; no KPI,
    nothing else. Every region of the panel, every week from the one after
    the data's last, one row each. A channel with only one of activity and
    spend gets the other from `cost_per_unit` × `cost_mult` [C]; a channel
    with both keeps them, and its `cost_mult` must be 1. Raises DataError
    (ConfigError for a cost multiplier that cannot apply).
    """
    if panel.spend is None:
        raise ConfigError("planning needs spend columns: the run was fitted without data.spend")
    if isinstance(table, pd.DataFrame):
        frame, source = table, "<DataFrame>"
        if len(frame) == 0:
            raise DataError("the plan table has no rows")
    else:
        source = os.fspath(table)
        region = (panel.region_column,) if panel.region_column else ()
        frame = read_table(source, str_columns=region)
    activity_cols, spend_cols = _channel_columns(panel, frame, source)
    regions, r_idx = region_codes(frame, panel.region_column)
    unknown = sorted(set(regions) - set(panel.regions))
    if unknown:
        raise DataError(f"the plan file names region '{unknown[0]}', which is not a region of the "
                        f"run ({len(panel.regions)} regions, e.g. '{panel.regions[0]}')")
    r_idx = np.array([panel.regions.index(regions[i]) for i in r_idx], dtype=np.intp)

    def in_region(i: int) -> str:
        return f"in region '{panel.regions[r_idx[i]]}'"

    periods, t_idx = calendar.period_grid(frame[panel.date_column], panel.date_column, in_region)
    _check_continues(panel, periods)
    labels = calendar.period_labels(periods)

    def at(i: int) -> str:
        return f"{in_region(i)} at {labels[t_idx[i]]} (plan file)"

    R, H, C = panel.n_regions, len(periods), panel.n_channels
    check_duplicates(r_idx, t_idx, H, at)
    present = np.zeros((R, H), bool)
    present[r_idx, t_idx] = True
    if not present.all():
        r, t = np.argwhere(~present)[0]
        raise DataError(f"the plan file has no row for region '{panel.regions[r]}' at {labels[t]}; "
                        "a plan needs every region of the run in every week")

    def column(name: str, role: str) -> np.ndarray:
        out = np.zeros((R, H))
        out[r_idx, t_idx] = numeric_column(frame, name, role, at, nan_ok=False,
                                           negative_ok=role == "control")
        return out

    unit_cost = cost_per_unit(panel) * np.asarray(cost_mult)[None, :]  # [R, C]
    spend, activity = np.zeros((R, H, C)), np.zeros((R, H, C))
    for c, name in enumerate(panel.channels):
        act_col, spend_col = activity_cols[c], spend_cols[c]
        if act_col is not None and spend_col is not None and cost_mult[c] != 1.0:
            raise ConfigError(f"plan.cost_per_unit of '{name}' is {cost_mult[c]:g} but the plan "
                              f"file gives both its activity and its spend; give one of them")
        act = column(act_col, "media") if act_col is not None else None
        paid = column(spend_col, "spend") if spend_col is not None else None
        activity[..., c] = act if act is not None else paid / unit_cost[:, None, c]
        spend[..., c] = paid if paid is not None else act * unit_cost[:, None, c]
    z = np.stack([column(k, "control") for k in panel.controls], axis=-1) if panel.controls \
        else np.zeros((R, H, 0))
    return FutureWeeks(periods, calendar.week_of_year(periods), spend, activity, z, source)


def _channel_columns(panel: Panel, frame: pd.DataFrame, source: str):
    """Each channel's activity and spend column in the plan file (None where
    absent); DataError for a KPI column, an unknown column, a channel with
    neither, or an absent date, region or control column."""
    columns = [str(c) for c in frame.columns]
    if panel.kpi_name in columns:
        raise DataError(f"the plan file {source} has the KPI column '{panel.kpi_name}': a plan has "
                        "no KPI (drop the column)")
    spend_names = panel.spend_columns
    known = {panel.date_column, *panel.channel_columns, *spend_names, *panel.controls}
    if panel.region_column:
        known.add(panel.region_column)
    other = [c for c in columns if c not in known]
    if other:
        raise DataError(
            f"the plan file {source} has column '{other[0]}', which is not a column of the run; "
            f"a plan has {panel.date_column}"
            + (f", {panel.region_column}" if panel.region_column else "")
            + ", each channel's activity and/or spend column ("
            + ", ".join(f"{a}/{s}" if a != s else a
                        for a, s in zip(panel.channel_columns, spend_names))
            + ")" + (", and the controls " + ", ".join(panel.controls) if panel.controls else ""))
    required = [panel.date_column, *([panel.region_column] if panel.region_column else []),
                *panel.controls]
    for name in required:
        if name not in columns:
            raise DataError(f"column '{name}' not found in the plan file {source}; its columns "
                            "are: " + ", ".join(f"'{c}'" for c in columns))
    activity_cols = [a if a in columns else None for a in panel.channel_columns]
    spend_cols = [s if s in columns else None for s in spend_names]
    for name, a, s, act, paid in zip(panel.channels, panel.channel_columns, spend_names,
                                     activity_cols, spend_cols):
        if act is None and paid is None:
            raise DataError(f"channel '{name}' has neither its activity column '{a}' nor its spend "
                            f"column '{s}' in the plan file {source}")
    return activity_cols, spend_cols


def _check_continues(panel: Panel, periods: np.ndarray) -> None:
    """The plan's weeks start the week after the data's last (DataError otherwise)."""
    dated = np.issubdtype(panel.periods.dtype, np.datetime64)
    if dated != np.issubdtype(periods.dtype, np.datetime64):
        kind = "ISO dates" if dated else "integer week ids"
        raise DataError(f"the plan file's periods must be {kind}, like the run's data")
    expected = next_periods(panel, 1)[0]
    first = periods[0]
    last_label = calendar.period_labels(panel.periods[-1:])[0]
    first_label, expected_label = calendar.period_labels(np.array([first, expected]))
    if first <= panel.periods[-1]:
        raise DataError(f"the plan overlaps the data: its first week {first_label} is a week of the "
                        f"run's data, which ends {last_label}; a plan starts {expected_label}")
    if first != expected:
        raise DataError(f"the plan must start the week after the data's last ({expected_label}), "
                        f"it starts {first_label}")
