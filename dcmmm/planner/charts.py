"""The planner page's charts: Vega-Lite, drawn by the browser from Streamlit's
own bundle (nothing fetched from outside).

Each chart's spec is built with Altair and validated once per server
(`functools.cache`), with named datasets in place of its data; a slider
change only puts the new tables in (`curves_spec`, `weekly_spec`), which
keeps a rerun's server time to the numbers (docs/design.md, "Planner page").
"""

import copy
import functools

import altair as alt
import pandas as pd

from dcmmm.analysis.page import PALETTE

NOW, PLAN, GIVEN = "#6b6b6b", PALETTE[0], "#9a9a9a"


def curves_spec(curves: pd.DataFrame, kpi: str, channels: tuple[str, ...]) -> dict:
    """The response curves' Vega-Lite spec with `curves` (`View.curves`) as its data."""
    return {**copy.deepcopy(_curves(kpi, tuple(channels))), "datasets": {"curves": curves}}


def weekly_spec(weekly: pd.DataFrame, kpi: str) -> dict:
    """The weekly KPI's Vega-Lite spec with `weekly` (`View.weekly`) as its data."""
    lines = weekly.melt(id_vars="date", value_vars=list(WEEKLY), var_name="series",
                        value_name="kpi")
    lines["series"] = lines["series"].map(WEEKLY)
    return {**copy.deepcopy(_weekly(kpi, "expected_lo" in weekly)),
            "datasets": {"weekly": weekly, "lines": lines}}


@functools.cache
def _curves(kpi: str, channels: tuple[str, ...]) -> dict:
    """One small chart per channel: extra KPI against the channel's spend, a grey
    point at today's spend and a coloured one at the plan's."""
    line = alt.Chart().mark_line(color=PLAN).encode(
        x=alt.X("spend:Q", title="spend on the channel over the plan weeks",
                axis=alt.Axis(format=",.0f")),
        y=alt.Y("incremental_kpi:Q", title=f"extra {kpi}", axis=alt.Axis(format=",.0f")),
    ).transform_filter(alt.datum.kind == "curve")
    points = alt.Chart().mark_point(size=90, filled=True).encode(
        x="spend:Q", y="incremental_kpi:Q",
        color=alt.Color("kind:N", title=None, scale=alt.Scale(
            domain=["now", "this plan"], range=[NOW, PALETTE[3]]),
            legend=alt.Legend(orient="top", labelExpr=(
                "datum.label == 'now' ? 'given plan (now)' : 'this plan'"))),
        tooltip=[alt.Tooltip("channel:N"), alt.Tooltip("kind:N", title="point"),
                 alt.Tooltip("spend:Q", format=",.0f"),
                 alt.Tooltip("incremental_kpi:Q", title=f"extra {kpi}", format=",.0f")],
    ).transform_filter(alt.datum.kind != "curve")
    chart = alt.layer(line, points, data=alt.NamedData("curves")).properties(
        width=200, height=160).facet(
        facet=alt.Facet("channel:N", title=None, sort=list(channels), header=alt.Header(
            labelFontSize=14, labelFontWeight="bold")),
        columns=3).resolve_scale(x="independent", y="independent")
    return chart.to_dict()


WEEKLY = {"expected": "this plan", "expected_given": "given plan",
          "baseline": "without any media (baseline)"}


@functools.cache
def _weekly(kpi: str, interval: bool) -> dict:
    """Expected KPI per plan week: the baseline (no media) as a grey area, this
    plan and the given plan as lines, an ensemble's interval as a band."""
    names = WEEKLY
    x = alt.X("date:T", title="week", axis=alt.Axis(format="%d %b %Y", labelAngle=-30))
    y_title = f"{kpi} per week"
    weekly, lines = alt.NamedData("weekly"), alt.NamedData("lines")
    area = alt.Chart(weekly).mark_area(color="#dcdcdc").encode(
        x=x, y=alt.Y("baseline:Q", title=y_title, axis=alt.Axis(format=",.0f")))
    line = alt.Chart(lines).mark_line(point=True).encode(
        x=x, y=alt.Y("kpi:Q", title=y_title),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top", labelLimit=400),
                        scale=alt.Scale(
            domain=list(names.values()), range=[PLAN, GIVEN, "#b0b0b0"])),
        strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
            domain=list(names.values()), range=[[1, 0], [5, 3], [1, 0]])),
        tooltip=[alt.Tooltip("date:T", format="%d %b %Y"), "series:N",
                 alt.Tooltip("kpi:Q", format=",.0f", title=kpi)])
    layers = [area, line]
    if interval:
        layers.insert(1, alt.Chart(weekly).mark_area(color=PLAN, opacity=0.2).encode(
            x=x, y="expected_lo:Q", y2="expected_hi:Q"))
    return alt.layer(*layers).properties(height=300).to_dict()
