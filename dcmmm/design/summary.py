"""design.py's closing console summary: the tests to run, in a few lines.

A pure function of design.json's content (`dcmmm.design.run`), in the style
of train.py's summary (`dcmmm.analysis.summary`): numbers are only rounded
for reading. Units: lift in KPI units, ROI in KPI per unit of spend;
without spend the tests' `roi` is the channel's incremental KPI (`roi_is`),
and the summary says "effect" where it would say "ROI".
"""

import math

import pandas as pd

from dcmmm.analysis.summary import _wrap, number, percent, text_table


def _sd(value) -> str:
    return number(value) if isinstance(value, int | float) and math.isfinite(value) else "-"


def value_name(tests: list[dict]) -> str:
    """What the tests' `roi` holds, for reading: "ROI", or "effect" where
    design.json's `roi_is` says incremental KPI (a run without spend)."""
    return "effect" if any(t.get("roi_is") == "incremental_kpi" for t in tests) else "ROI"


def any_finite(tests: list[dict], key: str) -> bool:
    """Whether some test has a finite number under `key` (a run of one fit has
    no members' range, one without spend no ROI sd: those columns are left out)."""
    return any(isinstance(t.get(key), int | float) and math.isfinite(t[key]) for t in tests)


def test_rows(tests: list[dict]) -> pd.DataFrame:
    """One row per test: channel, regions dark, weeks (dark + cool-down),
    expected lift [ensemble spread], its standard error, power, and the ROI
    (or effect) sd now → after where the run has an interval to shrink."""
    name, with_sd = value_name(tests), any_finite(tests, "roi_sd_now")
    rows = []
    for t in tests:
        lo, hi = t.get("expected_lift_lo"), t.get("expected_lift_hi")
        spread = (f" [{number(lo)}, {number(hi)}]" if isinstance(lo, int | float)
                  and math.isfinite(lo) and math.isfinite(hi) else "")
        rows.append({"channel": t["channel"], "regions": str(len(t["treatment"])),
                     "weeks": f"{t['start']}..{t['end']} +{t['cooldown_weeks']}",
                     "expected lift": number(t["expected_lift"]) + spread,
                     "se": number(t["lift_se"]), "se/lift": percent(t["relative_se"]),
                     "power": percent(t["power"])})
        if with_sd:
            rows[-1][f"{name} sd now -> after"] = (f"{_sd(t.get('roi_sd_now'))} -> "
                                                   f"{_sd(t.get('roi_sd_after'))}")
    return pd.DataFrame(rows)


def not_proposed_text(skipped: list[dict], min_power: float) -> str:
    """One sentence on the extrapolated channels left out for want of power
    (design.json's `not_proposed`), or "" when there are none."""
    if not skipped:
        return ""
    each = "; ".join(f"{t['channel']} ({t['regions']} regions: power {percent(t['power'])} for "
                     f"the lift of {number(t['expected_lift'])} the fit expects, se "
                     f"{number(t['lift_se'])})" for t in skipped)
    return (f"Not proposed, as their best test would have less than {percent(min_power)} power "
            f"to tell the channel from zero (design.min_power) and would not change what the "
            f"run knows: {each}. Name one with design.channel to design it anyway, or allow "
            f"longer tests (design.max_weeks, or design.weeks).")


def design_summary(record: dict, page: str | None = None, table: str | None = None) -> str:
    """The closing summary of design.py for design.json's `record`; `page`
    and `table`: where design.html and design.csv are."""
    tests = record["tests"]
    level = tests[0]["level"] if tests else 0.95
    name = value_name(tests)
    what = "the ROI" if name == "ROI" else "the channel's effect (incremental KPI)"
    with_sd = any_finite(tests, "roi_sd_now")
    sd = (f"{name} sd: what the run knows of {what} now and after the test." if with_sd
          else f"No {name} sd before and after: the run has no interval on {what}; "
               "model.ensemble_size=9 gives one.")
    lines = ["", "dcmmm: the experiments this run needs", "",
             _wrap(f"Channels chosen: {record['why']}. Each goes dark in its treatment regions "
                   f"for the weeks shown (+ cool-down weeks still measured); the other "
                   f"{len(record['control'])} regions are the control group."),
             "", text_table(test_rows(tests)),
             *filter(None, [_wrap(not_proposed_text(record.get("not_proposed", []),
                                                    record["settings"].get("min_power", 0.0)))]),
             _wrap(f"expected lift: KPI the treatment regions should lose (ensemble spread in "
                   f"brackets); se: its standard error from the residual noise; se/lift: how "
                   f"precisely the test measures {what}; power: chance to exclude zero at the "
                   f"{percent(level)} level. {sd}")]
    settings = record["settings"]
    weak = [t["channel"] for t in tests if t["power"] < settings["power"]
            or t["relative_se"] > settings.get("precision", float("inf"))]
    if weak:
        lines.append(_wrap(f"Below the precision or power asked for (se/lift at most "
                           f"{percent(settings.get('precision', float('nan')))}, power "
                           f"{percent(settings['power'])}): {', '.join(weak)}; longer tests "
                           "(design.max_weeks, or design.weeks) or fewer tests (design.max_tests, "
                           "so each gets more regions) would help."))
    lines.append(_wrap("When a test is done: write the KPI it lost in design.csv's lift column "
                       "and fit again with calibration.path=<design.csv>."))
    if table:
        lines.append(f"Design: {table}")
    if page:
        lines.append(f"Page: {page}")
    return "\n".join(lines)
