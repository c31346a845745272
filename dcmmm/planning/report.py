"""plan.html: one self-contained page of a plan (figures embedded as PNGs,
the styles and helpers of `dcmmm.analysis.page`, nothing loaded from
outside)."""

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dcmmm.analysis.page import PALETTE, fmt, html_page, note, png, time_axis
from dcmmm.analysis.page import table as table_html

MAX_REGIONS = 20  # regions drawn in the allocation figure (the largest planned spend)
GIVEN, PLANNED = "#9a9a9a", PALETTE[0]


def _by_channel(table: pd.DataFrame) -> pd.DataFrame:
    """plan.csv summed over regions (a by_region plan), or as it is."""
    if "region" not in table:
        return table
    sums = table.groupby("channel", sort=False)[
        ["spend_given", "spend_planned", "incremental_kpi_given", "incremental_kpi_planned"]].sum()
    return sums.reset_index()


def _thousands(axis) -> None:
    """Tick labels as 1,250,000 instead of an exponent offset."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def channels_figure(table: pd.DataFrame) -> str:
    """Spend and incremental KPI per channel, given vs planned."""
    rows = _by_channel(table)
    names = rows["channel"].astype(str).to_numpy()
    pos = np.arange(len(names))
    fig = Figure(figsize=(12, 3.8))
    axes = fig.subplots(1, 2)
    for ax, what, title in ((axes[0], "spend", "Spend over the plan weeks"),
                            (axes[1], "incremental_kpi", "Incremental KPI (with carry-over)")):
        ax.bar(pos - 0.2, rows[f"{what}_given"], width=0.4, color=GIVEN, label="given plan")
        ax.bar(pos + 0.2, rows[f"{what}_planned"], width=0.4, color=PLANNED, label="planned")
        if f"{what}_planned_lo" in rows:
            mid = rows[f"{what}_planned"].to_numpy(dtype=float)
            lo, hi = rows[f"{what}_planned_lo"].to_numpy(dtype=float), rows[
                f"{what}_planned_hi"].to_numpy(dtype=float)
            ax.errorbar(pos + 0.2, mid, yerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)],
                        fmt="none", ecolor="#222", capsize=3, lw=1, label="ensemble interval")
        ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=9)
        _thousands(ax.yaxis)
        ax.set_title(title, fontsize=11)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def frontier_figure(frontier: pd.DataFrame, summary: dict) -> str:
    """Incremental KPI of the best plan against the budget, the given mix
    scaled beside it; ROI and marginal ROI in a second panel."""
    fig = Figure(figsize=(12, 3.8))
    left, right = fig.subplots(1, 2)
    budget = frontier["budget"].to_numpy(dtype=float)
    left.plot(budget, frontier["incremental_kpi"], color=PLANNED, marker="o", ms=3,
              label="best plan at this budget")
    left.plot(budget, frontier["incremental_kpi_scaled"], color=GIVEN, ls="--",
              label="given plan scaled")
    left.scatter([summary["spend_given"]], [summary["incremental_kpi_given"]], color="#222",
                 zorder=3, label="given plan")
    left.scatter([summary["spend_planned"]], [summary["incremental_kpi_planned"]], color=PALETTE[3],
                 marker="*", s=120, zorder=4, label="this plan")
    left.set_xlabel("budget over the plan weeks")
    left.set_ylabel("incremental KPI")
    left.set_title("What each budget can bring", fontsize=11)
    _thousands(left.xaxis)
    _thousands(left.yaxis)
    left.legend(fontsize=8)
    right.plot(budget, frontier["roi"], color=PLANNED, label="ROI of the best plan")
    right.plot(budget, frontier["mroi"], color=PALETTE[1], label="marginal ROI (next unit)")
    right.axhline(1.0 if summary.get("kpi_value") else 0.0, color="#888", lw=0.6)
    right.set_xlabel("budget over the plan weeks")
    right.set_ylabel(summary["roi_unit"])
    right.set_title("Return per unit of money", fontsize=11)
    _thousands(right.xaxis)
    right.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def regions_figure(summary: dict) -> str:
    """Given vs planned spend per region (the largest planned spends)."""
    regions = pd.DataFrame(summary["regions"])
    regions = regions.sort_values("spend_planned", ascending=False).head(MAX_REGIONS)
    pos = np.arange(len(regions))
    fig = Figure(figsize=(12, 3.6))
    ax = fig.subplots()
    ax.bar(pos - 0.2, regions["spend_given"], width=0.4, color=GIVEN, label="given plan")
    ax.bar(pos + 0.2, regions["spend_planned"], width=0.4, color=PLANNED, label="planned")
    ax.set_xticks(pos, regions["region"].astype(str), rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("spend over the plan weeks")
    _thousands(ax.yaxis)
    shown = ("every region" if len(regions) == len(summary["regions"])
             else f"the {len(regions)} largest planned spends")
    ax.set_title(f"Spend per region ({shown})", fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def weekly_figure(summary: dict) -> str:
    """Expected KPI per plan week: baseline, the carry-in, and media of the plan."""
    weeks = pd.DataFrame(summary["expected_kpi"])
    t = time_axis(weeks["date"])
    fig = Figure(figsize=(12, 3.6))
    ax = fig.subplots()
    base = weeks["baseline"].to_numpy(dtype=float)
    ax.fill_between(t, 0, base, color="#d0d0d0", label="baseline (no media)")
    ax.fill_between(t, base, weeks["expected"].to_numpy(dtype=float), color=PLANNED, alpha=0.5,
                    label="media (the plan and the carry-in)")
    ax.plot(t, weeks["expected"], color="#222", lw=1.2, label="expected KPI, this plan")
    ax.plot(t, weeks["expected_given"], color="#222", lw=1, ls="--",
            label="expected KPI, given plan")
    if "expected_lo" in weeks:
        ax.fill_between(t, weeks["expected_lo"], weeks["expected_hi"], color="#222", alpha=0.15,
                        lw=0, label="ensemble interval")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("KPI per week (all regions)")
    _thousands(ax.yaxis)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return png(fig)


def headline(summary: dict) -> str:
    """The plan in plain words."""
    lift = summary["lift"]
    words = (f"For the {summary['plan_weeks']} weeks from {summary['first_week']} to "
             f"{summary['last_week']}, the plan ({summary['scenario'].replace('_', ' ')}"
             f"{', per region' if summary['by_region'] else ''}) spends "
             f"{fmt(summary['spend_planned'])} (given plan: {fmt(summary['spend_given'])}) and is "
             f"expected to bring {fmt(summary['incremental_kpi_planned'])} KPI from media, "
             f"{'+' if lift >= 0 else ''}{fmt(lift)} against the given plan "
             f"({fmt(summary['incremental_kpi_given'])}), counting the carry-over of the "
             f"{summary['carryover_weeks']} weeks after the plan. ROI "
             f"{fmt(summary['roi_planned'])} (given {fmt(summary['roi_given'])}), {summary['roi_unit']}.")
    if summary.get("lift_lo") is not None:
        words += (f" Under the {summary['members']} ensemble members the change ranges "
                  f"{fmt(summary['lift_lo'])} to {fmt(summary['lift_hi'])}; it is a gain under "
                  f"{fmt(100 * summary['members_positive'])}% of them.")
    if summary.get("target_roi") is not None and summary["scenario"] == "target_roi":
        words += f" Target ROI {fmt(summary['target_roi'])}: the largest budget that keeps it."
    return f'<p class="summary">{html.escape(words)}</p>'


def write_plan_report(path, table: pd.DataFrame, summary: dict, frontier: pd.DataFrame | None,
                      title: str) -> Path:
    """Write plan.html at `path` from a plan's tables (`dcmmm.planning.tables.Plan`)."""
    channels = _by_channel(table)
    sections = [
        ("The plan", headline(summary) + channels_figure(table)
         + table_html(channels if "region" in table else table)),
        ("Expected KPI per week", weekly_figure(summary) + note(
            f"Baseline plus media, summed over regions. The media of the first weeks include "
            f"{fmt(summary['carry_in_kpi'])} KPI carried in from spend before the plan.")),
        ("Per region", regions_figure(summary) + (
            table_html(table) if "region" in table else note(
                "One multiplier per channel (plan.by_region=false): every region's spend on a "
                "channel moves by the same factor. plan.by_region=true plans each region.")
            + table_html(pd.DataFrame(summary["regions"])))),
    ]
    if frontier is not None:
        sections.append(("Budget frontier", frontier_figure(frontier, summary)
                         + table_html(frontier)
                         + note("The best plan at each budget (the bounds scale with the "
                                "budget); the dashed line keeps the given mix.")))
    path = Path(path)
    path.write_text(html_page(title, sections), encoding="utf-8")
    return path
