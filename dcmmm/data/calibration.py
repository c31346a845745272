"""Lift tests (experiments) that calibrate the model.

A lift-test file is a table with one row per experiment:

| column    | meaning                                                               |
|-----------|-----------------------------------------------------------------------|
| `channel` | the channel whose spend was switched off (display name or column)     |
| `region`  | the region it ran in, or several separated by `;`; empty = all regions |
| `start`   | first week of the test (a period label of the panel: date or week id) |
| `end`     | last week of the test (inclusive)                                     |
| `lift`    | KPI lost over [start, measure_end] because the spend was off (KPI units) |
| `lift_se` | standard error of `lift` (KPI units, > 0)                             |
| `measure_end` | optional: last week the lost KPI was measured (inclusive, ≥ `end`; empty or absent = `end`) |

A test that keeps measuring after the spend comes back on (a cool-down) also
counts the carry-over of the spend it switched off, so its lift is the whole
effect of that spend whatever the adstock's lag; one measured only inside the
window misses the carry-over past `end`, and the share it misses is the longer
the lag (about mean lag / window length), which a fit can trade against the
effect size when two channels move together.

`load_lift_tests` validates it against a Panel and returns `LiftTests`:
region-first weights the loss uses to compare the model's own counterfactual
(the channel's own activity removed in those weeks and regions) with the
measured lift as a Gaussian likelihood.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from dcmmm.data.panel import Panel
from dcmmm.data.reading import read_table
from dcmmm.errors import DataError

COLUMNS = ("channel", "region", "start", "end", "lift", "lift_se")
REGION_SEPARATOR = ";"  # a test run in several regions lists them in one cell


class LiftTests(NamedTuple):
    """N lift tests on a panel of R regions, T weeks, C channels."""

    channel: np.ndarray  # [N] channel index
    region_w: np.ndarray  # [N, R] 1.0 for regions in the test
    week_w: np.ndarray  # [N, T] 1.0 for weeks in [start, end] (spend off)
    measure_w: np.ndarray  # [N, T] 1.0 for weeks in [start, measure_end] (KPI lost summed)
    lift: np.ndarray  # [N] KPI lost with the channel off (KPI units)
    lift_se: np.ndarray  # [N] its standard error (KPI units)
    labels: tuple  # [N] "channel region start..end" for messages and outputs


def _blank(value) -> bool:
    """An empty cell: None, NaN or only whitespace."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _period_index(panel: Panel, labels: list, value, row: int, column: str) -> int:
    text = str(value).strip()
    if np.issubdtype(panel.periods.dtype, np.datetime64):
        try:
            text = pd.Timestamp(text).strftime("%Y-%m-%d")
        except (ValueError, TypeError):
            raise DataError(f"lift test row {row}: {column} {value!r} is not a date") from None
    else:
        try:
            text = str(int(float(text)))
        except ValueError:
            raise DataError(f"lift test row {row}: {column} {value!r} is not a week id") from None
    if text not in labels:
        raise DataError(f"lift test row {row}: {column} {text} is not a week of the panel "
                        f"({labels[0]} to {labels[-1]})")
    return labels.index(text)


def lift_tests_from_frame(frame: pd.DataFrame, panel: Panel, source: str = "<DataFrame>"
                          ) -> LiftTests:
    """Validate a lift-test table against `panel`; DataError names the row and value."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"lift-test file '{source}' lacks column(s) {missing}; it has "
                        f"{list(frame.columns)}")
    if len(frame) == 0:
        raise DataError(f"lift-test file '{source}' has no rows")
    names = panel.channel_lookup()
    n_tests = len(frame)
    channel = np.zeros(n_tests, int)
    region_w = np.zeros((n_tests, panel.n_regions))
    week_w = np.zeros((n_tests, panel.n_weeks))
    measure_w = np.zeros((n_tests, panel.n_weeks))
    lift, lift_se, labels = np.zeros(n_tests), np.zeros(n_tests), []
    periods = panel.period_labels()
    for i, row in enumerate(frame.itertuples(index=False)):
        rec = row._asdict()
        ch = str(rec["channel"]).strip()
        if ch not in names:
            raise DataError(f"lift test row {i}: channel {ch!r} is not a channel of the panel "
                            f"{list(panel.channels)}")
        channel[i] = names[ch]
        reg = rec["region"]
        if _blank(reg):
            region_w[i] = 1.0
            reg_label = "all regions"
        else:
            listed = [r.strip() for r in str(reg).split(REGION_SEPARATOR)]
            for label in listed:
                if label not in panel.regions:
                    raise DataError(f"lift test row {i}: region {label!r} is not in the panel")
                region_w[i, panel.regions.index(label)] = 1.0
            reg_label = (listed[0] if len(listed) == 1 else
                         f"{len(listed)} regions ({listed[0]}, ...)")
        start = _period_index(panel, periods, rec["start"], i, "start")
        end = _period_index(panel, periods, rec["end"], i, "end")
        if end < start:
            raise DataError(f"lift test row {i}: end {rec['end']} is before start {rec['start']}")
        week_w[i, start:end + 1] = 1.0
        measure_end = rec.get("measure_end")
        if _blank(measure_end):
            last = end
        else:
            last = _period_index(panel, periods, measure_end, i, "measure_end")
            if last < end:
                raise DataError(f"lift test row {i}: measure_end {measure_end} is before end "
                                f"{rec['end']}")
        measure_w[i, start:last + 1] = 1.0
        for key, out in (("lift", lift), ("lift_se", lift_se)):
            if key == "lift" and _blank(rec[key]):
                raise DataError(f"lift test row {i}: lift is empty (a designed test not yet run? "
                                "fill in the KPI it measured)")
            try:
                value = float(rec[key])
            except (TypeError, ValueError):
                raise DataError(f"lift test row {i}: {key} {rec[key]!r} is not a number") from None
            if not np.isfinite(value):
                raise DataError(f"lift test row {i}: {key} is {value}")
            out[i] = value
        if lift_se[i] <= 0:
            raise DataError(f"lift test row {i}: lift_se must be > 0, got {lift_se[i]}")
        if panel.spend is not None and panel.spend[region_w[i] > 0][:, start:end + 1,
                                                                    channel[i]].sum() <= 0:
            raise DataError(f"lift test row {i}: channel {ch!r} has no spend in "
                            f"{reg_label} over those weeks, so switching it off changes nothing")
        labels.append(f"{panel.channels[channel[i]]} {reg_label} "
                      f"{periods[start]}..{periods[end]}"
                      + (f" (measured to {periods[last]})" if last > end else ""))
    return LiftTests(channel, region_w, week_w, measure_w, lift, lift_se, tuple(labels))


def load_lift_tests(path: str, panel: Panel) -> LiftTests:
    """Read and validate a lift-test file (.csv, .csv.gz or .parquet)."""
    frame = read_table(path, str_columns=("region", "channel", "start", "end", "measure_end"))
    return lift_tests_from_frame(frame, panel, source=str(path))
