"""design.html: a design of lift tests in plain words, one self-contained page
(the report's style and helpers, `dcmmm.analysis.page`)."""

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dcmmm.analysis.page import PALETTE, html_page
from dcmmm.analysis.page import fmt as _fmt
from dcmmm.analysis.page import note as _note
from dcmmm.analysis.page import png as _png
from dcmmm.analysis.page import table as _table
from dcmmm.design.summary import any_finite, not_proposed_text
from dcmmm.fitted import Fitted

ESTIMATOR = (
    "How to read the test when it is done: with e = actual − the model's prediction under the "
    "usual plan (refit or refresh the model with the new weeks, python train.py ... "
    "refresh.from=...), E_T and E_C the treatment and control regions' summed e per week, and "
    "β the slope of E_T on E_C before the test, the KPI lost is −Σ (E_T − β·E_C) over the "
    "measured weeks (dcmmm.design.power.estimate_lift). Write it in design.csv's lift column "
    "(lift_se is the design's standard error; replace it with your own if you measure it "
    "otherwise) and fit with calibration.path=design.csv.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _value_name(has_spend: bool) -> str:
    """What design.json's `roi` holds: the ROI, or without spend the incremental KPI."""
    return "ROI" if has_spend else "incremental KPI"


def _sentence(test: dict, level: float, has_spend: bool = True) -> str:
    lo, hi = test["expected_lift_lo"], test["expected_lift_hi"]
    spread = (f" (ensemble members: {_fmt(lo)} to {_fmt(hi)})" if np.isfinite(lo) else "")
    shrink = (f" If it does, the channel's {_value_name(has_spend)} interval should shrink by "
              f"{100 * test['interval_shrinkage']:.0f}% (sd {_fmt(test['roi_sd_now'])} now, "
              f"{_fmt(test['roi_sd_after'])} after)." if np.isfinite(test["interval_shrinkage"])
              else "")
    cool = (f", and keep measuring the KPI to {test['measure_end']} (a cool-down of "
            f"{_count(test['cooldown_weeks'], 'week')} for the carry-over of the switched-off spend)"
            if test["cooldown_weeks"] else "")
    why = (f" ({test['weeks_why']})" if test.get("weeks_why", "design.weeks") != "design.weeks"
           else "")
    return (f"Switch {test['channel']} off in {_count(len(test['treatment']), 'region')} for "
            f"{_count(test['weeks'], 'week')}{why}, {test['start']} to {test['end']}{cool}. The model expects "
            f"these regions to lose {_fmt(test['expected_lift'])} KPI{spread}; the test "
            f"measures it with a standard error of {_fmt(test['lift_se'])} (the model's residual "
            f"noise), {100 * test['relative_se']:.0f}% of the lift, so it measures the "
            f"{_value_name(has_spend)} to "
            f"±{100 * test['relative_se']:.0f}% and excludes zero with probability "
            f"{100 * test['power']:.0f}% at the {100 * level:.0f}% level.{shrink} Computed on "
            f"the weeks "
            f"{test['evaluated_on'][0]} to {test['evaluated_on'][1]} of the data.")


def balance_figure(fitted: Fitted, tests: list[dict], control: list[str]) -> str:
    """Weekly training-week KPI of each test's treatment regions and of the
    control regions, each over its own mean."""
    panel = fitted.panel
    weeks = np.arange(panel.n_weeks) < fitted.split.n_train
    y = np.where(panel.mask, panel.y, 0.0)[:, weeks]
    index = {r: i for i, r in enumerate(panel.regions)}
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    series = [(f"treatment: {t['channel']}", t["treatment"]) for t in tests]
    series.append(("control", control))
    for i, (label, regions) in enumerate(series):
        if not regions:
            continue
        total = y[[index[r] for r in regions]].sum(axis=0)
        ax.plot(np.flatnonzero(weeks), total / max(total.mean(), 1e-12),
                color="#222" if label == "control" else PALETTE[i % len(PALETTE)], lw=1.2,
                label=label)
    ax.set_xlabel("week")
    ax.set_ylabel("KPI / its mean")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _png(fig)


def table_of_tests(tests: list[dict], has_spend: bool) -> pd.DataFrame:
    """The tests, one row each, formatted for the page (design.json holds the
    numbers): the weeks off and measured, the expected lift with the ensemble
    members' range, its standard error, power, the channel's ROI (without
    spend its incremental KPI) with its sd now and after, and the balance.
    The members' range and the sd columns are left out where no test has
    them (a single fit without an interval)."""
    value = _value_name(has_spend)
    table = pd.DataFrame([{
        "channel": t["channel"], "regions": len(t["treatment"]),
        "off from": t["start"], "to": t["end"], "measured to": t["measure_end"],
        "expected lift": t["expected_lift"],
        "members": (f"{_fmt(t['expected_lift_lo'])}–{_fmt(t['expected_lift_hi'])}"
                    if np.isfinite(t["expected_lift_lo"]) else ""),
        "lift se": t["lift_se"], "se / lift": f"{100 * t['relative_se']:.0f}%",
        "power": f"{100 * t['power']:.0f}%", value: t["roi"],
        f"{value} sd: now → after": f"{_fmt(t['roi_sd_now'])} → {_fmt(t['roi_sd_after'])}",
        "balance: smd, corr": f"{t['balance']['smd']:.2f}, {t['balance']['corr']:.2f}"}
        for t in tests])
    empty = [col for col, kept in (("members", any_finite(tests, "expected_lift_lo")),
                                   (f"{value} sd: now → after", any_finite(tests, "roi_sd_now")))
             if not kept]
    return table.drop(columns=empty)


def write_design_page(path, design: dict, fitted: Fitted, dspec) -> Path:
    """Write design.html for `design` (`dcmmm.design.propose.propose`)."""
    tests = design["tests"]
    has_spend = fitted.panel.spend is not None
    rows = table_of_tests(tests, has_spend)
    groups = pd.DataFrame([{"group": f"treatment: {t['channel']}",
                            "regions": "; ".join(t["treatment"])} for t in tests]
                          + [{"group": "control", "regions": "; ".join(design["control"])}])
    sections = [
        ("What to test", _note(f"Channels chosen: {design['why']}.") + "".join(
            f"<p>{html.escape(_sentence(t, dspec.level, has_spend))}</p>" for t in tests)
         + "".join(_note(text) for text in [not_proposed_text(design.get("not_proposed", []),
                                                              dspec.min_power)] if text)),
        ("The tests", f'<div style="white-space: nowrap">{_table(rows)}</div>' + _note(
            "Treatment regions are drawn one per stratum of the pre-period KPI, the best "
            "balanced of many draws. balance: smd is the standardised difference of the "
            "groups' mean KPI per region, corr the correlation of their weekly KPI. "
            + ("members: the expected lift's range over the ensemble. " if "members" in rows
               else "One fit, so no members' range of the lift and no interval to shrink "
                    "(model.ensemble_size=9 gives them). ")
            + "design.json holds every number unrounded.")),
        ("Treatment and control before the test", balance_figure(fitted, tests, design["control"])
         + _table(groups)),
        ("After the test", _note(ESTIMATOR)),
    ]
    path = Path(path)
    path.write_text(html_page("dcmmm design: lift tests", sections), encoding="utf-8")
    return path
