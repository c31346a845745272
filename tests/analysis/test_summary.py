"""The run's summary as text: every number comes from the tables it is given,
rounded as documented; the verdict, intervals, the graph and the plan in words."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.analysis.summary import (
    RunTables,
    channel_rows,
    graph_line,
    holdout,
    job_line,
    number,
    percent,
    plan_line,
    run_summary,
    text_table,
    verdict,
)

SPLIT = {"r2": 0.9, "rmse": 10.0, "mape": 0.05, "median_region_r2": 0.8}


def metrics(model=0.05, last=0.2, mean=0.18, seasonal=0.19, **extra):
    naive = {"last_value": {**SPLIT, "scaled_rmse": last},
             "region_mean": {**SPLIT, "scaled_rmse": mean},
             "seasonal_naive": None if seasonal is None else {**SPLIT, "scaled_rmse": seasonal}}
    return {"holdout": {**SPLIT, "scaled_rmse": model}, "naive_holdout": naive, **extra}


def channels(spend=True, intervals=False):
    table = pd.DataFrame({
        "channel": ["tv", "radio", "search"], "spend": [2e6, 5e5, 1e6],
        "incremental_total": [7_123_749.4, 1_000_000.0, 2_000_000.0],
        "share": [0.7123, 0.1, 0.1877], "roi": [3.5619, 2.0, 2.0], "mroi": [2.04, 1.5, 0.5]})
    if not spend:
        table[["spend", "roi", "mroi"]] = np.nan
    if intervals:
        table["incremental_total_lo"] = [6e6, 0.0, 1.5e6]
        table["incremental_total_hi"] = [8e6, 2e6, 2.5e6]
        table["share_lo"], table["share_hi"] = [0.6, 0.0, 0.15], [0.8, 0.2, 0.25]
        table["roi_lo"], table["roi_hi"] = [3.0, 0.0, 1.5], [4.0, 4.0, 2.5]
        table["zero_plausible"] = [False, True, False]
    return table


BUDGET = pd.DataFrame({"channel": ["tv", "radio", "search"], "multiplier": [1.17, 0.5, 1.02],
                       "bound": ["none", "lower", "none"]})
PLAN = {"current_kpi": 2.2e7, "optimal_kpi": 2.22e7, "lift": 205_773.8, "lift_pct": 0.9014,
        "total_budget": 2_033_917.06, "window_weeks": 52}
DAG = pd.DataFrame({"parent": ["tv"], "child": ["search"], "weight": [0.4], "stability": [0.95],
                    "kpi_mediated": [712_374.9]})


@pytest.mark.parametrize("value, text", [(7_123_749.4, "7,123,749"), (3.5619, "3.56"),
                                         (1.9, "1.90"), (0.05819, "0.0582"), (0.0, "0"),
                                         (np.nan, "-"), (None, "-")])
def test_number(value, text):
    assert number(value) == text


@pytest.mark.parametrize("fraction, signed, text", [(0.4689, False, "47%"), (0.0934, False, "9.3%"),
                                                    (0.009014, True, "+0.9%"), (-0.5, True, "-50%"),
                                                    (0.0, False, "0%"), (0.09999, False, "10%"),
                                                    (np.nan, False, "-")])
def test_percent(fraction, signed, text):
    assert percent(fraction, signed) == text


def test_verdict_follows_the_naive_forecasts():
    assert verdict(holdout(metrics())) == "It beats every naive forecast."
    # no seasonal naive without two years of data: compared with the two others only
    assert holdout(metrics(seasonal=None)).naive.keys() == {"last_value", "region_mean"}
    careful = verdict(holdout(metrics(model=0.195, last=0.19, mean=0.2, seasonal=0.18)))
    assert "does not beat last value or seasonal naive" in careful and "with care" in careful
    assert "do not use" in verdict(holdout(metrics(model=0.185)))  # region mean beats it
    assert "does not beat any naive forecast" in verdict(holdout(metrics(model=0.3)))


def flat(text: str) -> str:
    """The text with its line wrapping undone."""
    return " ".join(text.split())


def summary_rows(text: str) -> dict:
    """{first cell: cells} of the channel table of a console summary (header included)."""
    lines = text.splitlines()
    start = lines.index("What each channel brought, over all weeks and regions:") + 1
    rows = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows[line.split()[0]] = line.split()
    return rows


def test_summary_names_every_channel_with_its_numbers():
    text = run_summary(RunTables(metrics(), channels(), DAG, BUDGET, PLAN,
                                 report="/runs/x/report.html"))
    assert max(len(line) for line in text.splitlines()) <= 88
    rows = summary_rows(text)
    text = flat(text)
    assert "0.050 for dcmmm" in text and "0.200 (last value)" in text
    assert "0.180 (region mean)" in text and "It beats every naive forecast" in text
    assert rows["channel"] == ["channel", "share", "incremental", "KPI", "spend", "ROI", "mROI"]
    assert rows["tv"] == ["tv", "71%", "7,123,749", "2,000,000", "3.56", "2.04"]
    assert rows["radio"] == ["radio", "10%", "1,000,000", "500,000", "2.00", "1.50"]
    assert "Intervals: none (one fit)" in text
    # the edge carries 712,375 of tv's 7,123,749: 10% of its effect
    assert "1 edge kept: tv -> search (10% of tv's effect, in 95% of refits)" in text
    assert ("Budget plan (budget.csv): at the same total, 2,033,917 over the last 52 weeks, it "
            "moves radio -50% (lower bound) and tv +17%, and the KPI gains 205,774 (+0.9%)") in text
    assert text.endswith("Report: /runs/x/report.html")


def test_ensemble_intervals_and_channels_that_may_be_zero():
    rows = channel_rows(channels(intervals=True)).set_index("channel")
    assert rows.loc["tv", "share"] == "71% [60%, 80%]"
    assert rows.loc["tv", "ROI"] == "3.56 [3.00, 4.00]"
    assert rows.loc["radio", "incremental KPI"] == "1,000,000 [0, 2,000,000]"
    assert list(rows["note"]) == ["", "may be 0", ""]
    text = run_summary(RunTables(metrics(ensemble={"size": 9, "interval": 0.8,
                                                   "interval_achieved": 0.8}),
                                 channels(intervals=True)))
    assert "over 9 refits of the model, 80% intervals" in flat(text)
    assert "left out" not in flat(text)
    out = [{"member": 4, "chi2": 63.0, "chi2_point": 0.5, "terms": 3}]
    text = run_summary(RunTables(metrics(ensemble={"size": 8, "fitted": 9, "interval": 0.8,
                                                   "interval_achieved": 7 / 9, "left_out": out}),
                                 channels(intervals=True)))
    assert ("over 8 refits of the model, 78% intervals; 'may be 0': the channel may have brought "
            "nothing. 1 of the 9 refits left out: their fits contradict the lift tests and priors "
            "the run was given") in flat(text)


def test_without_spend_no_roi_and_no_plan():
    rows = channel_rows(channels(spend=False))
    assert list(rows.columns) == ["channel", "share", "incremental KPI"]
    text = flat(run_summary(RunTables(metrics(), channels(spend=False), DAG.iloc[:0])))
    assert "no spend columns, so no ROI" in text and "Budget plan" not in text
    assert "no channel drives another" in text
    assert plan_line(None, None).startswith("Budget plan: none")


def test_graph_line_names_the_largest_edges_and_counts_the_rest():
    dag = pd.DataFrame({"parent": ["a", "b", "c", "d"], "child": ["e"] * 4,
                        "weight": 0.1, "stability": np.nan, "kpi_mediated": [1.0, 4.0, 3.0, 2.0]})
    table = pd.DataFrame({"channel": list("abcde"), "incremental_total": [10.0] * 5})
    assert graph_line(dag, table) == ("Channel graph: 4 edges kept: b -> e (40% of b's effect); "
                                      "c -> e (30% of c's effect); d -> e (20% of d's effect) "
                                      "and 1 more.")


def test_job_line():
    tables = RunTables(metrics(), channels(), budget_summary=PLAN, report="m/0/report.html")
    assert job_line("job 0 (seed=0)", tables) == (
        "job 0 (seed=0): holdout 0.050 (best naive 0.180, region mean) | tv 71%, search 19%, "
        "radio 10% | plan +0.9% | m/0/report.html")
    assert job_line("job 1", None) == "job 1: unfinished (no metrics.json)"


def test_text_table_aligns_columns():
    frame = pd.DataFrame({"channel": ["tv", "search"], "ROI": ["3.56", "12.0"]})
    assert text_table(frame, indent="") == "channel   ROI\ntv       3.56\nsearch   12.0"


def test_the_summary_names_the_channels_whose_roi_is_extrapolated():
    table = channels().assign(roi_basis=["measured", "extrapolated", "calibrated"])
    text = flat(run_summary(RunTables(metrics(), table, DAG)))
    assert "ROI extrapolated, not measured (roi_basis): radio: the data cannot tell it" in text
    pinned = flat(run_summary(RunTables(metrics(), table.assign(roi_basis="measured"), DAG)))
    assert "pin every channel's" in pinned and "extrapolated" not in pinned
    assert "roi_basis" not in flat(run_summary(RunTables(metrics(), channels(), DAG)))


def test_without_spend_the_basis_speaks_of_the_effect_not_an_roi():
    table = channels().assign(roi_basis=["measured", "extrapolated", "calibrated"],
                              roi=float("nan"))
    text = flat(run_summary(RunTables(metrics(), table, DAG)))
    assert "Effect (incremental KPI; no spend, so no ROI) extrapolated, not measured" in text
    assert "ROI extrapolated" not in text
