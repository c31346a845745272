"""What a plan found, in a few lines: the closing summary of `plan.py`.

Like `dcmmm.analysis.summary` for a training run, a pure function of the
plan's own tables (plan.csv and plan_summary.json as `dcmmm.planning.tables`
builds them): numbers are only compared and rounded for reading. Units:
incremental KPI in KPI units, spend in money, ROI and mROI in KPI per unit of
money (or money per money when the plan has a `kpi_value`).
"""

import textwrap

import pandas as pd

from dcmmm.analysis.summary import WIDTH, number, percent, text_table, with_interval

SCENARIOS = {"as_is": "the given plan, as it is",
             "fixed": "the best split of the budget",
             "target_roi": "the most KPI at or above the target ROI",
             "target_mroi": "each channel moved to the target marginal ROI"}
MAX_ROWS = 12  # channel rows shown; a by-region plan is summed over regions first


def channel_table(table: pd.DataFrame) -> pd.DataFrame:
    """plan.csv per channel (a by-region plan summed over its regions), as strings:
    spend given and planned, its change, the incremental KPI given and planned,
    the ROI (with its interval where the run is an ensemble) and the mROI."""
    if "region" in table.columns:
        sums = ["spend_given", "spend_planned", "incremental_kpi_given", "incremental_kpi_planned"]
        table = table.groupby("channel", sort=False)[sums].sum().reset_index()
        table["roi"] = table["incremental_kpi_planned"] / table["spend_planned"].where(
            table["spend_planned"] > 0)
        table["mroi"] = float("nan")  # a channel's mROI differs by region: see plan.csv
    rows = []
    for row in table.head(MAX_ROWS).itertuples(index=False):
        change = (row.spend_planned / row.spend_given - 1) if row.spend_given > 0 else None
        rows.append({"channel": row.channel, "spend given": number(row.spend_given),
                     "planned": number(row.spend_planned),
                     "change": "-" if change is None else percent(change, signed=True),
                     "KPI given": number(row.incremental_kpi_given),
                     "KPI planned": with_interval(row._asdict(), "incremental_kpi_planned"),
                     "ROI": with_interval(row._asdict(), "roi"), "mROI": number(row.mroi)})
    return pd.DataFrame(rows)


def plan_summary(table: pd.DataFrame, summary: dict, out_dir: str | None = None) -> str:
    """The closing summary of `plan.py`: the weeks and the scenario, the spend
    and incremental KPI given against planned, each channel's move, where the
    plan's files are."""
    scenario = summary["scenario"]
    lines = ["", "dcmmm: the plan", "",
             _wrap(f"{summary['plan_weeks']} weeks from {summary['first_week']} to "
                   f"{summary['last_week']}: {SCENARIOS.get(scenario, scenario)}"
                   + (", region by region." if summary.get("by_region") else ".")),
             _wrap(f"Spend {number(summary['spend_planned'])} (given "
                   f"{number(summary['spend_given'])}) brings an incremental KPI of "
                   f"{number(summary['incremental_kpi_planned'])} (given "
                   f"{number(summary['incremental_kpi_given'])}, "
                   f"{_lift(summary)}), ROI {number(summary.get('roi_planned'))}.")]
    if summary.get("target_met") is False:
        lines.append(_wrap("The target could not be met within the bounds: the plan is the "
                           "closest the bounds allow."))
    lines += ["", "Per channel, over the plan's weeks and their carry-over:",
              text_table(channel_table(table))]
    if len(table["channel"].unique()) > MAX_ROWS:
        lines.append(f"  ... {len(table['channel'].unique()) - MAX_ROWS} more channels in plan.csv")
    if out_dir is not None:
        lines.append(f"Plan: {out_dir} (plan.html, plan.csv, plan_weekly.csv, plan_data.csv)")
    return "\n".join(lines)


def plan_line(summary: dict, out_dir: str) -> str:
    """One line for a job of a budget sweep: spend, incremental KPI and ROI planned."""
    return (f"{out_dir}: {summary['scenario']}, spend {number(summary['spend_planned'])}, "
            f"incremental KPI {number(summary['incremental_kpi_planned'])} ({_lift(summary)}), "
            f"ROI {number(summary.get('roi_planned'))}")


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def _lift(summary: dict) -> str:
    if summary.get("lift_pct") is None:
        return "no KPI given to compare"
    return f"{percent(summary['lift_pct'] / 100, signed=True)} against the given plan"
