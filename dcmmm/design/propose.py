"""Proposing geo lift tests for the channels whose ROI the data cannot tell.

For each channel to test (the one named, or up to `max_tests` channels whose
`roi_basis` is `extrapolated`, the most KPI at stake first (`uncertainty`),
skipping those whose best test would have less than `min_power` to tell the
lift the fit expects from zero: such a test would not change what the run
knows, and its regions are better spent on a channel that can be measured),
a go-dark test:

- **weeks**: `weeks` weeks dark (by default the fewest of 4, 8, 12, …
  `max_weeks` with which the test reaches its precision and power, else
  `max_weeks`: a longer test loses more KPI and measures it more precisely),
  then a cool-down until the fitted adstock has delivered 95% of the
  switched-off spend's effect; the KPI is measured over both. The model's
  expectations are computed on the window of the last year where switching
  the channel off loses the most KPI (the channel on air at its usual
  level); the test itself starts after the data (or at `start`), or,
  `retrospective`, in that window of the data (what the generator
  simulates);
- **regions**: the fewest treatment regions (one drawn per stratum of the
  pre-period KPI, `dcmmm.design.groups`) that measure the lift to
  `precision` (its standard error over the lift: the relative precision of
  the ROI the test gives, `dcmmm.design.power.interval_shrinkage`) and
  whose power to exclude zero reaches `power`, at most an equal share of
  the regions per test and control group (where neither is reached, the
  whole share), judged against as many control regions as the later tests
  leave; the control regions are those in no test. The lift they
  are sized for is the smallest of the fit's and the ensemble members'
  (`sizing_lift`): a fit that overstates a channel would otherwise size a
  test too small to see the truth;
- **what it should show**: the expected lift under the fit and each ensemble
  member, its standard error from the residual noise and its power
  (`dcmmm.design.power`), and how much the channel's ROI interval should
  shrink.

The tests of one design use disjoint treatment regions, so they can run at
the same time against one control group.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from dcmmm.data.calibration import REGION_SEPARATOR
from dcmmm.design import groups, power
from dcmmm.design.expected import (
    best_window,
    cooldown_weeks,
    member_region_lifts,
    week_masks,
)
from dcmmm.ensemble import achieved_level, interval
from dcmmm.errors import ConfigError
from dcmmm.fitted import Fitted

DESIGN_COLUMNS = ("channel", "region", "start", "end", "measure_end", "lift", "lift_se")


@dataclass(frozen=True)
class DesignSpec:
    """The `design` group of conf/design.yaml (defaults equal the YAML's)."""

    channel: str | None = None
    max_tests: int = 3
    weeks: int | None = None
    max_weeks: int = 16
    cooldown: int | None = None
    regions: int | None = None
    precision: float = 0.1
    power: float = 0.8
    level: float = 0.95
    start: str | None = None
    retrospective: bool = False
    seed: int = 0
    draws: int = 200
    baseline_weeks: int | None = None
    min_power: float = 0.5


MAX_BASELINE = 52  # weeks: the default baseline is at most a year
WEEKS_STEP = 4  # weeks: the durations tried without design.weeks are 4, 8, 12, … max_weeks


def durations(dspec: DesignSpec) -> list[int]:
    """The weeks dark to try, shortest first: `weeks`, else 4, 8, 12, … up
    to `max_weeks` (which is always tried)."""
    if dspec.weeks is not None:
        return [dspec.weeks]
    steps = list(range(WEEKS_STEP, dspec.max_weeks, WEEKS_STEP))
    return steps + [dspec.max_weeks]


def baseline_weeks(dspec: DesignSpec, n_pre: int, n_measured: int) -> int:
    """The weeks before the test whose treatment-minus-control difference the
    estimator subtracts (`dcmmm.design.power`): `baseline_weeks`, else half
    of the training weeks the test's measured weeks leave (the other half
    holds the placebo windows that check the standard error), at most
    MAX_BASELINE. Longer is more precise where the groups do not drift apart
    (the white-noise variance has an n²/B term), and the placebo windows
    show it where they do."""
    if dspec.baseline_weeks is not None:
        return dspec.baseline_weeks
    return int(min(MAX_BASELINE, max(1, (n_pre - n_measured) // 2)))


def uncertainty(channels: pd.DataFrame) -> pd.Series:
    """Per channel (index: name) how much of the KPI its unknown effect puts
    at stake, larger first: with an ensemble, the width of its interval of
    incremental KPI (`incremental_total_lo` … `_hi`, KPI units: a test that
    pins a channel whose credit could be 10 million or 1 million is worth
    more than one whose credit is known to ±1 million, whatever their ROI);
    else, with a profile, minus the cheaper of its two holds' costs in nats
    (`profile_nats_low`, `profile_nats_high`; negative where the data even
    prefer the held effect, as a wrong fit's channels do); else 1 − the
    spend range covered. The profile's ROI range is no ranking: for every
    loose channel it is the probed ±tolerance."""
    table = channels.set_index(channels["channel"].astype(str))
    if {"incremental_total_lo", "incremental_total_hi"} <= set(table.columns):
        return (table["incremental_total_hi"] - table["incremental_total_lo"]).fillna(np.inf)
    if {"profile_nats_low", "profile_nats_high"} <= set(table.columns):
        return -table[["profile_nats_low", "profile_nats_high"]].min(axis=1).fillna(-np.inf)
    return 1.0 - table["range_covered"]


def channels_to_test(channels: pd.DataFrame, dspec: DesignSpec) -> tuple[list[str], str]:
    """(channel names, why): the one named, else every extrapolated channel,
    the most KPI at stake first (`uncertainty`; `propose` takes up to
    `max_tests` of them whose tests have the power), else the single one
    with the most at stake."""
    names = list(channels["channel"].astype(str))
    if dspec.channel is not None:
        if dspec.channel not in names:
            raise ConfigError(f"design.channel {dspec.channel!r} is not a channel of the run "
                              f"{names}")
        return [dspec.channel], "named"
    order = uncertainty(channels).sort_values(ascending=False, kind="stable")
    basis = channels.set_index(channels["channel"].astype(str))["roi_basis"]
    guessed = [c for c in order.index if basis[c] == "extrapolated"]
    if guessed:
        return guessed, "extrapolated"
    return [order.index[0]], "the most KPI at stake (no channel is extrapolated)"


def roi_sd_now(channels: pd.DataFrame, name: str, level: float) -> float:
    """The channel's ROI (or effect) sd now: its ensemble interval over the
    normal interval's width at the interval's achieved level, else its profile
    range over a 95% interval's (2 nats), else NaN."""
    row = channels.set_index(channels["channel"].astype(str)).loc[name]
    value = "roi" if np.isfinite(row.get("roi", np.nan)) else "incremental_total"
    if f"{value}_lo" in row:
        z = float(stats.norm.ppf(0.5 + level / 2))
        return float(row[f"{value}_hi"] - row[f"{value}_lo"]) / (2 * z)
    if value == "roi" and np.isfinite(row.get("profile_roi_lo", np.nan)):
        return float(row["profile_roi_hi"] - row["profile_roi_lo"]) / (2 * 1.96)
    return float("nan")


def future_labels(fitted: Fitted, offset: int, n: int) -> list[str]:
    """Period labels of the weeks offset, …, offset + n − 1 after the data's
    first week (past the last week: continued on the weekly grid)."""
    periods = fitted.panel.periods
    if np.issubdtype(periods.dtype, np.datetime64):
        first = pd.Timestamp(periods[0])
        return [(first + pd.Timedelta(weeks=offset + i)).strftime("%Y-%m-%d") for i in range(n)]
    return [str(int(periods[0]) + offset + i) for i in range(n)]


def start_offset(fitted: Fitted, dspec: DesignSpec, window: int) -> int:
    """The test's first week as an offset from the data's first week."""
    if dspec.retrospective:
        return window
    if dspec.start is None:
        return fitted.panel.n_weeks
    labels = future_labels(fitted, 0, fitted.panel.n_weeks + 520)
    text = dspec.start
    if np.issubdtype(fitted.panel.periods.dtype, np.datetime64):
        try:
            text = pd.Timestamp(text).strftime("%Y-%m-%d")
        except ValueError:
            raise ConfigError(f"design.start {dspec.start!r} is not a date") from None
    if text not in labels:
        raise ConfigError(f"design.start {dspec.start!r} is not a week on the data's weekly grid "
                          f"from {labels[0]}")
    return labels.index(text)


def sizing_lift(lifts: np.ndarray, treatment) -> float:
    """The lift a test of the `treatment` regions is sized for: the smallest
    of the fit's (member 0) and the ensemble members' expected lifts (lifts
    [members, R]; a single fit: its own)."""
    return float(np.min(lifts[:, np.asarray(treatment, int)].sum(axis=1)))


def sized_enough(lift: float, se: float, dspec: DesignSpec) -> bool:
    """Does a test with expected `lift` and standard error `se` measure the
    lift to `dspec.precision` and exclude zero with `dspec.power`?"""
    precise = lift > 0 and se <= dspec.precision * lift
    return precise and power.power(lift, se, dspec.level) >= dspec.power


def _member_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    if values.shape[0] < 2:
        return float("nan"), float("nan")
    lo, hi = interval(values[:, None], level)
    return float(lo[0]), float(hi[0])


def adjusted_kpi(fitted: Fitted, channel: int) -> np.ndarray:
    """[R, T] the KPI minus the fitted seasonality, controls and every other
    channel's media (KPI units; NaN where unobserved): what the test's
    estimator compares (`dcmmm.design.power`)."""
    pred = fitted.prediction()
    others = np.delete(np.asarray(pred.media), channel, axis=-1).sum(axis=-1)
    explained = np.asarray(pred.seasonality) + np.asarray(pred.controls).sum(axis=-1) + others
    return np.where(fitted.panel.mask, fitted.panel.y - fitted.to_kpi(explained), np.nan)


def noise_variance(fitted: Fitted) -> np.ndarray:
    """[R] each region's weekly noise variance out of sample (KPI units²): the
    variance of its training residuals, times the ratio of the holdout's mean
    squared scaled residual to the training weeks' (at least 1; a fit's
    residuals understate the noise it has not seen)."""
    panel = fitted.panel
    resid = np.where(panel.mask, panel.y - fitted.predict()[0], np.nan)
    cells = fitted.split.cells(panel.mask)
    scaled = resid / fitted.kpi_mean[:, None]
    ratio = 1.0
    if cells["holdout"].any() and cells["train"].any():
        ratio = max(1.0, float(np.nanmean(scaled[cells["holdout"]] ** 2)
                               / np.nanmean(scaled[cells["train"]] ** 2)))
    train = np.where(cells["train"] | cells["validation"], resid, np.nan)
    with np.errstate(invalid="ignore"):
        variance = np.nanvar(train, axis=1)
    return np.nan_to_num(variance) * ratio


def propose(fitted: Fitted, channels: pd.DataFrame, dspec: DesignSpec) -> dict:
    """The design (module docstring) of a fitted model whose channels.csv is
    `channels`: {"tests": one dict per test, "table": design.csv's frame,
    "why": how the channels were chosen, "control": the control regions,
    "not_proposed": the extrapolated channels skipped for want of power}."""
    panel = fitted.panel
    names, why = channels_to_test(channels, dspec)
    named = why != "extrapolated"
    rng = np.random.default_rng([dspec.seed, 17])
    n_pre = fitted.split.n_train
    sigma2 = noise_variance(fitted)
    pre = np.arange(panel.n_weeks) < n_pre
    y_pre = np.where(panel.mask[:, pre], panel.y[:, pre], np.nan)
    taken: set[int] = set()
    tests, weak = [], []
    for i, name in enumerate(names):
        if len(tests) == dspec.max_tests:
            break
        slots = min(dspec.max_tests - len(tests), len(names) - i)
        test = _size_test(fitted, dspec, name, taken, slots, rng, (n_pre, sigma2, y_pre))
        if not named and test["power"] < dspec.min_power:
            weak.append(test)
            continue
        taken |= set(test["treatment"].tolist())
        tests.append(test)
    if not tests:  # no channel can be measured at min_power: the best chance, said so
        best = max(weak, key=lambda t: t["power"])
        weak.remove(best)
        taken |= set(best["treatment"].tolist())
        tests.append(best)
        why = (f"extrapolated; no test reaches power {dspec.min_power:g} (design.min_power), "
               f"{best['channel']}'s comes closest")
    control = np.array([r for r in range(panel.n_regions) if r not in taken], int)
    design = _finish(fitted, channels, dspec, tests, control, (n_pre, sigma2, y_pre), why)
    design["not_proposed"] = [
        {"channel": t["channel"], "regions": int(len(t["treatment"])), "power": t["power"],
         "expected_lift": float(t["lifts"][0, t["treatment"]].sum()), "lift_se": t["se"]}
        for t in weak]
    return design


def _size_test(fitted: Fitted, dspec: DesignSpec, name: str, taken: set[int], slots: int,
               rng: np.random.Generator, data) -> dict:
    """A go-dark test of channel `name` in regions not `taken`: the shortest
    duration (`durations`) at which the fewest regions, at most its share of
    the free regions for `slots` tests and a control group, reach the
    precision and power asked for (module docstring), judged against as many
    free control regions as the later tests will leave; where none does, the
    longest duration that fits in the training weeks with the whole share.
    "power" is its power for the lift the fit expects."""
    panel = fitted.panel
    n_pre, sigma2, y_pre = data
    c = list(panel.channels).index(name)
    cool = dspec.cooldown if dspec.cooldown is not None else cooldown_weeks(fitted, c)
    adjusted = adjusted_kpi(fitted, c)
    fitting = [w for w in durations(dspec)
               if w + cool + baseline_weeks(dspec, n_pre, w + cool) <= n_pre]
    if not fitting:
        weeks = dspec.weeks if dspec.weeks is not None else min(durations(dspec))
        what = "design.weeks" if dspec.weeks is not None else "the shortest test"
        raise ConfigError(f"{what}={weeks}, a {cool}-week cool-down and a "
                          f"{baseline_weeks(dspec, n_pre, weeks + cool)}-week baseline "
                          f"(design.baseline_weeks) need more than the {n_pre} training weeks")
    for weeks in fitting:
        test = _size_for_weeks(fitted, dspec, c, weeks, cool, adjusted, taken, slots, rng, data)
        if test["reached"]:
            break
    return test


def _size_for_weeks(fitted, dspec, c, weeks, cool, adjusted, taken, slots, rng, data) -> dict:
    """`_size_test` for a test of `weeks` weeks dark."""
    panel = fitted.panel
    n_pre, sigma2, y_pre = data
    name = panel.channels[c]
    n_measured = weeks + cool
    baseline = baseline_weeks(dspec, n_pre, n_measured)
    window = best_window(fitted, c, weeks, n_measured)
    lifts = member_region_lifts(fitted, c, *week_masks(panel.n_weeks, window, weeks, n_measured))
    pool = np.array([r for r in range(panel.n_regions) if r not in taken and lifts[0, r] > 0])
    if pool.size == 0:
        raise ConfigError(f"channel {name!r} is not on air in any free region in the weeks "
                          "the design can use")
    share = max(1, pool.size // (slots + 1)) if panel.n_regions > 1 else 1
    sizes = [dspec.regions] if dspec.regions is not None else range(1, share + 1)
    if dspec.regions is not None and dspec.regions > pool.size:
        raise ConfigError(f"design.regions={dspec.regions} is more than the {pool.size} "
                          f"regions free for a test of {name!r}")
    for n in sizes:
        treatment = groups.assign(y_pre, pool, n, rng, dspec.draws)
        control = np.setdiff1d(pool, treatment)
        # the later tests take their shares too: the control group left is smaller
        keep = max(control.size - (slots - 1) * share, min(share, control.size))
        control = np.sort(rng.choice(control, size=keep, replace=False))
        se = power.standard_error(adjusted, sigma2, treatment, control, n_measured, n_pre,
                                  baseline)["se"]
        reached = sized_enough(sizing_lift(lifts, treatment), se, dspec)
        if reached:
            break
    return {"channel": name, "channel_index": c, "treatment": treatment, "window": window,
            "weeks": weeks, "cooldown": cool, "n_measured": n_measured, "baseline": baseline,
            "lifts": lifts, "adjusted": adjusted, "se": se, "reached": reached,
            "power": power.power(float(lifts[0, treatment].sum()), se, dspec.level)}


def _weeks_why(dspec: DesignSpec, test: dict, final_se: float) -> str:
    """Why the test lasts its weeks, in words; `final_se`: its standard error
    against the final control group (it was sized against the control group
    expected then, which the later tests may leave smaller)."""
    if dspec.weeks is not None:
        return "design.weeks"
    tried = ", ".join(str(w) for w in durations(dspec))
    if not test["reached"]:
        return (f"the longest of {tried} that fits (design.max_weeks): no test reaches the "
                "precision and power asked")
    if sized_enough(sizing_lift(test["lifts"], test["treatment"]), final_se, dspec):
        return (f"the shortest of {tried} weeks with which it reaches the precision and power "
                "asked")
    return (f"the shortest of {tried} weeks with which it reached the precision and power asked "
            "against the control group expected when it was sized; the control group the other "
            "tests leave measures it less precisely")


def _finish(fitted, channels, dspec, tests, control, data, why) -> dict:
    """Each test's numbers against the final control group, and design.csv."""
    panel = fitted.panel
    level = achieved_level(max(fitted.n_members, 1), fitted.spec.ensemble.interval)
    rows, out = [], []
    for t in tests:
        treat = t["treatment"]
        n_pre, sigma2, y_pre = data
        precision = power.standard_error(t["adjusted"], sigma2, treat, control,
                                         t["n_measured"], n_pre, t["baseline"])
        se = precision["se"]
        member_lifts = t["lifts"][:, treat].sum(axis=1)
        expected = float(member_lifts[0])
        lo, hi = _member_interval(member_lifts, fitted.spec.ensemble.interval)
        table = channels.set_index(channels["channel"].astype(str)).loc[t["channel"]]
        roi = float(table["roi"]) if np.isfinite(table.get("roi", np.nan)) else float(
            table["incremental_total"])
        sd_now = roi_sd_now(channels, t["channel"], level)
        sd_after, shrink = power.interval_shrinkage(roi, sd_now, expected, se)
        offset = start_offset(fitted, dspec, t["window"])
        labels = future_labels(fitted, offset, t["n_measured"])
        window_labels = future_labels(fitted, t["window"], t["n_measured"])
        test = {
            "channel": t["channel"], "treatment": [panel.regions[r] for r in treat],
            "start": labels[0], "end": labels[t["weeks"] - 1], "measure_end": labels[-1],
            "weeks": t["weeks"], "weeks_why": _weeks_why(dspec, t, se),
            "cooldown_weeks": t["cooldown"],
            "baseline_weeks": t["baseline"],
            "evaluated_on": [window_labels[0], window_labels[-1]],
            "expected_lift": expected, "expected_lift_lo": lo, "expected_lift_hi": hi,
            "lift_se": se, "lift_se_placebo": precision["placebo"],
            "lift_se_white_noise": precision["white"], "control_ratio": precision["beta"],
            "relative_se": se / abs(expected) if expected != 0 else float("inf"),
            "sizing_lift": sizing_lift(t["lifts"], treat),
            "power": power.power(expected, se, dspec.level),
            "power_at_lo": power.power(lo, se, dspec.level) if np.isfinite(lo) else float("nan"),
            "level": dspec.level, "roi": roi,
            "roi_is": "roi" if np.isfinite(table.get("roi", np.nan)) else "incremental_kpi",
            "roi_sd_now": sd_now, "roi_sd_after": sd_after,
            "interval_shrinkage": shrink,
            "balance": groups.balance(y_pre, treat, control),
        }
        out.append(test)
        rows.append({"channel": t["channel"], "region": REGION_SEPARATOR.join(test["treatment"]),
                     "start": test["start"], "end": test["end"],
                     "measure_end": test["measure_end"], "lift": np.nan, "lift_se": se})
    return {"tests": out, "table": pd.DataFrame(rows, columns=list(DESIGN_COLUMNS)), "why": why,
            "control": [panel.regions[r] for r in control]}
