"""Ensemble intervals on the output tables: `<col>_lo` / `<col>_hi` over the
members, lower ends taken to 0 where a channel's zero test allows it, and the
optimal plan's lift under each member. Pure functions of tables and fitted
models (`dcmmm.ensemble` has the method: order-statistic intervals, zero tests).
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from dcmmm.analysis.budget import plan_lift
from dcmmm.ensemble import interval
from dcmmm.fitted import Fitted

INTERVAL_COLUMNS = ("incremental_direct", "incremental_mediated", "incremental_total", "share",
                    "mediated_share", "roi_direct", "roi", "mroi", "mean_lag_weeks", "hill_k",
                    "hill_s")
ZERO_COLUMNS = ("incremental_direct", "incremental_mediated", "incremental_total", "share",
                "roi_direct", "roi", "mroi")  # what is 0 when a channel brought nothing


def with_intervals(table: pd.DataFrame, member_tables: list, columns, level: float
                   ) -> pd.DataFrame:
    """`table` plus `<col>_lo` / `<col>_hi`: the `level` interval
    (dcmmm.ensemble.interval) of `col` over the members' tables (same rows);
    unchanged without members."""
    if not member_tables:
        return table
    out = table.copy()
    for col in columns:
        values = np.stack([t[col].to_numpy(dtype=float) for t in member_tables])
        out[f"{col}_lo"], out[f"{col}_hi"] = interval(values, level)
    return out


def over_members(fitted: Fitted, make: Callable[[Fitted], pd.DataFrame], columns
                 ) -> pd.DataFrame:
    """`make(fitted)` plus the intervals of `columns` over the ensemble's
    members; member 0 is the model itself, so its table is made once."""
    members = fitted.members()
    if not members:
        return make(fitted)
    tables = [make(member) for member in members]
    return with_intervals(tables[0], tables, columns, fitted.spec.ensemble.interval)


def with_zero(table: pd.DataFrame, zero: dict | None, columns, flags: bool = True
              ) -> pd.DataFrame:
    """Where a channel's zero test says "zero is plausible", the lower ends of its
    `columns`' intervals go down to 0; with `flags` (channel tables) the table
    also gets `zero_t` and `zero_plausible`. Unchanged without zero tests or intervals."""
    if zero is None or not any(f"{c}_lo" in table for c in columns):
        return table
    out = table.copy()
    plausible = dict(zip(zero["channels"], zero["plausible"]))
    rows = out["channel"].map(plausible).fillna(False).astype(bool)
    for col in columns:
        if f"{col}_lo" in out:
            out.loc[rows, f"{col}_lo"] = np.minimum(out.loc[rows, f"{col}_lo"], 0.0)
    if flags:
        t = dict(zip(zero["channels"], zero["t"]))
        out["zero_t"] = out["channel"].map(t)
        out["zero_plausible"] = rows
    return out


def plan_robustness(members: list, multipliers, window_weeks: int, level: float) -> dict:
    """budget_summary.json's robustness: the KPI lift of the plan `multipliers`
    [C] under each member (KPI units), its `level` interval and the share of
    members under which it raises the KPI."""
    lifts = np.asarray([plan_lift(member, multipliers, window_weeks) for member in members])
    lo, hi = interval(lifts, level)
    return {"lift_members": lifts.tolist(), "lift_lo": float(lo), "lift_hi": float(hi),
            "members_positive": float(np.mean(lifts > 0))}
