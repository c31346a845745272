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
from dcmmm.design.summary import not_proposed_text
from dcmmm.fitted import Fitted

ESTIMATOR = (
    "How to read the test when it is done: with e = actual − the model's prediction under the "
    "usual plan (refit or refresh the model with the new weeks, python train.py ... "
    "refresh.from=...), E_T and E_C the treatment and control regions' summed e per week, and "
    "β the slope of E_T on E_C before the test, the KPI lost is −Σ (E_T − β·E_C) over the "
    "measured weeks (dcmmm.design.power.estimate_lift). Write it in design.csv's lift column "
    "(lift_se is the design's standard error; replace it with your own if you measure it "
    "otherwise) and fit with calibration.path=design.csv.")


def _sentence(test: dict, level: float) -> str:
    lo, hi = test["expected_lift_lo"], test["expected_lift_hi"]
    spread = (f" (ensemble members: {_fmt(lo)} to {_fmt(hi)})" if np.isfinite(lo) else "")
    shrink = (f" If it does, the channel's ROI interval should shrink by "
              f"{100 * test['interval_shrinkage']:.0f}% (sd {_fmt(test['roi_sd_now'])} now, "
              f"{_fmt(test['roi_sd_after'])} after)." if np.isfinite(test["interval_shrinkage"])
              else "")
    cool = (f", and keep measuring the KPI to {test['measure_end']} (a cool-down of "
            f"{test['cooldown_weeks']} weeks for the carry-over of the switched-off spend)"
            if test["cooldown_weeks"] else "")
    why = (f" ({test['weeks_why']})" if test.get("weeks_why", "design.weeks") != "design.weeks"
           else "")
    return (f"Switch {test['channel']} off in {len(test['treatment'])} regions for "
            f"{test['weeks']} weeks{why}, {test['start']} to {test['end']}{cool}. The model expects "
            f"these regions to lose {_fmt(test['expected_lift'])} KPI{spread}; the test "
            f"measures it with a standard error of {_fmt(test['lift_se'])} (the model's residual "
            f"noise), {100 * test['relative_se']:.0f}% of the lift, so it measures the ROI to "
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


def write_design_page(path, design: dict, fitted: Fitted, dspec) -> Path:
    """Write design.html for `design` (`dcmmm.design.propose.propose`)."""
    tests = design["tests"]
    rows = pd.DataFrame([{
        "channel": t["channel"], "regions": len(t["treatment"]), "start": t["start"],
        "end": t["end"], "measure_end": t["measure_end"], "expected_lift": t["expected_lift"],
        "expected_lift_lo": t["expected_lift_lo"], "expected_lift_hi": t["expected_lift_hi"],
        "lift_se": t["lift_se"], "relative_se": t["relative_se"], "power": t["power"],
        "roi": t["roi"],
        "roi_sd_now": t["roi_sd_now"], "roi_sd_after": t["roi_sd_after"],
        "balance_smd": t["balance"]["smd"], "balance_corr": t["balance"]["corr"]}
        for t in tests])
    groups = pd.DataFrame([{"group": f"treatment: {t['channel']}",
                            "regions": "; ".join(t["treatment"])} for t in tests]
                          + [{"group": "control", "regions": "; ".join(design["control"])}])
    sections = [
        ("What to test", _note(f"Channels chosen: {design['why']}.") + "".join(
            f"<p>{html.escape(_sentence(t, dspec.level))}</p>" for t in tests)
         + "".join(_note(text) for text in [not_proposed_text(design.get("not_proposed", []),
                                                              dspec.min_power)] if text)),
        ("The tests", _table(rows) + _note(
            "Treatment regions are drawn one per stratum of the pre-period KPI, the best "
            "balanced of many draws: balance_smd is the standardised difference of the groups' "
            "mean KPI per region, balance_corr the correlation of their weekly KPI.")),
        ("Treatment and control before the test", balance_figure(fitted, tests, design["control"])
         + _table(groups)),
        ("After the test", _note(ESTIMATOR)),
    ]
    path = Path(path)
    path.write_text(html_page("dcmmm design: lift tests", sections), encoding="utf-8")
    return path
