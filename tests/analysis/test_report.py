import html
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dcmmm.analysis.report import write_report
from dcmmm.analysis.report_graph import graph_layers, graph_section
from dcmmm.intervals import INTERVAL_COLUMNS
from tests.browser import measure, needs_chromium, past_the_page

SECTIONS = ("Summary", "Metrics", "Fit per region", "Decomposition over time",
            "Incremental effect and ROI per channel", "Response curves", "Channel graph",
            "Budget shift")
CHANNELS = ["tv", "radio", "search"]
ROOT = Path(__file__).resolve().parents[2]


def run_frames(n_regions=8, n_weeks=30, spend=True, edges=True):
    """Frames shaped like the run directory's files (the README's "Outputs")."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2023-01-02", periods=n_weeks, freq="7D").strftime("%Y-%m-%d")
    split = np.where(np.arange(n_weeks) < n_weeks - 8, "train", "holdout")
    split[n_weeks - 12:n_weeks - 8] = "validation"
    size = rng.uniform(50, 500, n_regions)
    regions = [f"R{i}" for i in range(n_regions)]
    media = rng.gamma(2.0, 0.05, (n_regions, n_weeks, 3)) * size[:, None, None]
    base = size[:, None] * (1 + 0.1 * np.sin(np.arange(n_weeks) / 4))[None, :]
    predicted = base + media.sum(axis=2)
    actual = predicted * (1 + 0.05 * rng.normal(size=predicted.shape))
    actual[0, 3] = np.nan  # a missing cell
    cell = {"region": np.repeat(regions, n_weeks), "date": np.tile(dates, n_regions)}
    predictions = pd.DataFrame({**cell, "split": np.tile(split, n_regions),
                                "actual": actual.ravel(), "predicted": predicted.ravel()})
    decomposition = pd.DataFrame({**cell, "intercept": (0.9 * base).ravel(),
                                  "trend": (0.05 * base).ravel(),
                                  "seasonality": (0.05 * base).ravel(),
                                  "control:price": np.zeros(predicted.size),
                                  **{f"channel:{c}": media[..., i].ravel()
                                     for i, c in enumerate(CHANNELS)}})
    decomposition["predicted"] = decomposition.drop(columns=["region", "date"]).sum(axis=1)
    inc = media.sum(axis=(0, 1))
    money = np.array([800.0, 300.0, 500.0]) if spend else np.full(3, np.nan)
    channels = pd.DataFrame({
        "channel": CHANNELS, "spend": money, "activity": [1e4, 5e3, 2e4],
        "incremental_direct": inc * [0.8, 1, 1], "incremental_mediated": inc * [0.2, 0, 0],
        "incremental_total": inc, "share": inc / inc.sum(), "roi_direct": inc * 0.8 / money,
        "roi": inc / money, "mroi": 0.5 * inc / money})
    mult = np.round(np.arange(0, 3.01, 0.1), 2)
    curves = pd.concat([pd.DataFrame({
        "channel": c, "multiplier": mult, "spend": mult * money[i], "activity": mult * 1e4,
        "incremental_direct": inc[i] * 2 * mult / (1 + mult),
        "incremental_total": inc[i] * 2 * mult / (1 + mult)}) for i, c in enumerate(CHANNELS)])
    dag = pd.DataFrame({"parent": ["tv"], "child": ["search"], "weight": [0.42],
                        "stability": [0.95], "kpi_mediated": [inc[0] * 0.2]}) if edges else \
        pd.DataFrame(columns=["parent", "child", "weight", "stability", "kpi_mediated"])
    budget = pd.DataFrame({
        "channel": CHANNELS, "current_spend": money, "optimal_spend": money * [1.5, 0.5, 1.1],
        "multiplier": [1.5, 0.5, 1.1], "lower": 0.5, "upper": 1.5,
        "bound": ["upper", "lower", "none"], "mroi": [0.3, 0.1, 0.2]}) if spend else None
    summary = {"current_kpi": 1e5, "optimal_kpi": 1.04e5, "lift": 4e3, "lift_pct": 4.0,
               "total_budget": 1600.0, "window_weeks": 26, "window_start": 4} if spend else None
    split_metrics = {"r2": 0.9, "rmse": 12.0, "mape": 0.05, "scaled_rmse": 0.1,
                     "median_region_r2": 0.8}
    metrics = {"train": split_metrics, "validation": split_metrics, "holdout": split_metrics,
               "naive_holdout": {"last_value": split_metrics, "region_mean": split_metrics,
                                 "seasonal_naive": split_metrics},
               "fit_seconds": 12.5, "steps": 400}
    return dict(metrics=metrics, predictions=predictions, decomposition=decomposition,
                channels=channels, curves=curves, dag=dag, budget=budget,
                budget_summary=summary)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, title="dcmmm test run", **run_frames())
    return path


def test_one_self_contained_file(report):
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<link", "<script",
                "@import", "url("):
        assert bad not in page, bad
    images = re.findall(r'<img alt="figure" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 5
    assert len(images) == page.count("<img")


def test_sections_and_numbers(report):
    page = report.read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    assert [page.index(f"<h2>{t}</h2>") for t in SECTIONS] == sorted(
        page.index(f"<h2>{t}</h2>") for t in SECTIONS)
    assert "<title>dcmmm test run</title>" in page
    assert "holdout, naive last value" in page
    assert "lift 4000 (4%)" in page


def with_intervals(frames: dict) -> dict:
    """The frames of an ensemble run: `<col>_lo` / `<col>_hi` on every channel number,
    radio's interval reaching 0 (its zero test), the plan's lift under the members."""
    channels = frames["channels"].copy()
    for col in INTERVAL_COLUMNS:
        if col in channels:
            channels[f"{col}_lo"], channels[f"{col}_hi"] = 0.8 * channels[col], 1.2 * channels[col]
    for col in ("incremental_total", "share", "roi"):
        channels.loc[channels["channel"] == "radio", f"{col}_lo"] = 0.0
    channels["zero_t"], channels["zero_plausible"] = [5.0, 0.3, 4.0], [False, True, False]
    metrics = dict(frames["metrics"], ensemble={"size": 9, "interval": 0.8,
                                                "interval_achieved": 0.8})
    summary = dict(frames["budget_summary"], lift_members=[3e3, 5e3], lift_lo=3e3, lift_hi=5e3,
                   members_positive=1.0)
    return dict(frames, channels=channels, metrics=metrics, budget_summary=summary)


def summary_of(page: str) -> str:
    """The text of the report's summary section (tags dropped)."""
    section = page[page.index("<h2>Summary</h2>"):page.index("<h2>Metrics</h2>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section)).split())


def test_summary_first_in_plain_words(report, tmp_path):
    text = summary_of(report.read_text(encoding="utf-8"))
    for channel in CHANNELS:
        assert f" {channel} " in text
    assert "off by 10% of a region's typical week" in text  # scaled RMSE 0.1
    # the naive forecasts score as well as the model here: it does not beat them
    assert "does not beat any naive forecast, so do not use its numbers" in text
    assert ("moves the spend of tv +50% (upper bound), radio -50% (lower bound) and search +10%, "
            "and the KPI gains 4,000 (+4.0%)") in text
    assert "no interval" in text and "1 edge kept: tv -> search" in text
    path = write_report(tmp_path / "ensemble.html", title="ensemble",
                        **with_intervals(run_frames()))
    text = summary_of(path.read_text(encoding="utf-8"))
    assert "holds a new refit of the model with 80% probability (9 refits" in text
    assert "May have brought nothing (interval reaches 0): radio." in text
    assert "gain is 3,000 to 5,000" in text and "left out" not in text
    frames = with_intervals(run_frames())
    frames["metrics"] = dict(frames["metrics"], ensemble={
        "size": 7, "fitted": 9, "interval": 0.8, "interval_achieved": 0.75,
        "left_out": [{"member": m, "chi2": 50.0, "chi2_point": 1.0, "terms": 2} for m in (2, 5)]})
    text = summary_of(write_report(tmp_path / "left.html", title="left", **frames)
                      .read_text(encoding="utf-8"))
    assert "(7 refits on resampled data)" in text
    assert "2 of the 9 refits left out: their fits contradict the lift tests" in text


@needs_chromium
def test_wide_tables_scroll_inside_a_1300px_page(tmp_path):
    path = write_report(tmp_path / "ensemble.html", title="ensemble",
                        **with_intervals(run_frames()))
    layout, = measure([path])
    assert layout["scroll_width"] <= layout["page"] == 1300
    assert len(layout["tables"]) >= 6 and past_the_page(layout) == []
    assert max(t["width"] for t in layout["tables"]) > 1300  # the channel table: 40 columns
    # negative control: without the scroll boxes that table runs past the page
    bare, = measure([path], css=".scroll { overflow-x: visible !important; }")
    assert bare["scroll_width"] > 1300 and len(past_the_page(bare)) >= 1


def test_without_spend_curves_or_edges(tmp_path):
    frames = run_frames(n_regions=1, spend=False, edges=False)
    frames["curves"] = None
    path = write_report(tmp_path / "r.html", title="national", **frames)
    page = path.read_text(encoding="utf-8")
    assert "needs spend" in page
    assert "No edge is kept" in page
    assert "no response curves" in page
    assert page.count("data:image/png;base64,") == 3  # fit, decomposition, effects (no graph)


def test_graph_section_left_to_right_with_stability_and_mediated_kpi():
    dag = pd.DataFrame({"parent": ["tv", "display", "search"], "child": ["search", "search", "sales_calls"],
                        "weight": [0.5, 0.2, 0.3], "stability": [1.0, 0.85, 0.9],
                        "kpi_mediated": [600.0, 190.0, 40.0]})
    assert graph_layers(dag) == {"tv": 0, "display": 0, "search": 1, "sales_calls": 2}
    channels = pd.DataFrame({"channel": ["tv", "display", "search", "sales_calls", "radio"],
                             "incremental_total": [6000.0, 950.0, 500.0, 100.0, 50.0]})
    section = graph_section(dag, channels)
    assert section.count("<img") == 1
    assert "<th>stability</th>" in section and "<th>kpi_mediated</th>" in section
    assert "<th>share_of_parent_total</th>" in section and "<td>0.1</td>" in section  # 600 / 6000
    assert "Channels without edges: radio" in section


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
def test_screenshot(report, tmp_path):
    png = tmp_path / "report.png"
    done = subprocess.run([sys.executable, "-m", "scripts.screenshot_report", str(report), str(png)],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1400, 4000)


def test_screenshot_script_without_chromium_exits_2(tmp_path, monkeypatch):
    from scripts import screenshot_report

    monkeypatch.setattr(screenshot_report, "CHROMIUM", tmp_path / "no-chromium")
    assert screenshot_report.main([str(tmp_path / "r.html"), str(tmp_path / "r.png")]) == 2


def test_the_report_says_which_channels_roi_is_extrapolated(tmp_path):
    frames = run_frames()
    frames["channels"] = frames["channels"].assign(
        roi_basis=["measured", "extrapolated", "calibrated"])
    page = write_report(tmp_path / "basis.html", title="basis", **frames).read_text(
        encoding="utf-8")
    opening = summary_of(page)
    assert "ROI extrapolated, not measured (roi_basis): radio: the data cannot tell it" in opening
    assert "The ROI of radio is an extrapolation" in html.unescape(page)
    plain = write_report(tmp_path / "plain.html", title="plain", **run_frames()).read_text(
        encoding="utf-8")
    assert "extrapolat" not in plain
