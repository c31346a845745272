"""ROI priors: what is known of a channel's return before the data (`priors.path`).

A prior file is a table with one row per channel:

| column    | meaning                                                                 |
|-----------|-------------------------------------------------------------------------|
| `channel` | the channel (display name or column)                                    |
| `roi`     | the prior's mean: incremental KPI per unit of spend, over all weeks     |
| `roi_sd`  | its standard deviation (> 0)                                            |

or, instead of `roi` and `roi_sd`, an interval `roi_lo`, `roi_hi` read as the
central 90% interval of a normal prior: roi = (lo + hi) / 2,
roi_sd = (hi − lo) / (2 · 1.645).

A prior enters the loss as the lift tests do (`dcmmm.train.loss`): the
Gaussian likelihood of the model's own counterfactual ROI, i.e. a test of all
weeks and regions whose lift is roi · spend with standard error roi_sd · spend.
ROI needs spend, so a panel without spend columns takes no prior.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from dcmmm.data.panel import Panel
from dcmmm.data.reading import read_table
from dcmmm.errors import DataError

INTERVAL = 0.9  # an interval roi_lo, roi_hi is the prior's central 90%
Z_INTERVAL = float(stats.norm.ppf(0.5 + INTERVAL / 2))  # 1.645


class RoiPriors(NamedTuple):
    """P priors on the ROI of P distinct channels."""

    channel: np.ndarray  # [P] channel index
    roi: np.ndarray  # [P] prior mean (KPI per unit of spend)
    roi_sd: np.ndarray  # [P] prior standard deviation
    spend: np.ndarray  # [P] the channel's spend over all weeks and regions (the ROI's denominator)


def _number(frame: pd.DataFrame, i: int, key: str, source: str) -> float:
    value = frame[key].iloc[i]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"prior file '{source}' row {i}: {key} {value!r} is not a number") from None
    if not np.isfinite(number):
        raise DataError(f"prior file '{source}' row {i}: {key} is {number}")
    return number


def priors_from_frame(frame: pd.DataFrame, panel: Panel, source: str = "<DataFrame>"
                      ) -> RoiPriors:
    """Validate a prior table against `panel`; DataError names the row and value."""
    if panel.spend is None:
        raise DataError(f"prior file '{source}': ROI priors need spend columns (data.spend); "
                        "this panel has none")
    columns = set(frame.columns)
    moments, interval = {"roi", "roi_sd"} <= columns, {"roi_lo", "roi_hi"} <= columns
    if "channel" not in columns or moments == interval:
        raise DataError(f"prior file '{source}' needs the columns channel and either roi, roi_sd "
                        f"or roi_lo, roi_hi; it has {list(frame.columns)}")
    if len(frame) == 0:
        raise DataError(f"prior file '{source}' has no rows")
    names = panel.channel_lookup()
    spend = panel.spend.sum(axis=(0, 1))
    channel, roi, roi_sd = [], [], []
    for i in range(len(frame)):
        name = str(frame["channel"].iloc[i]).strip()
        if name not in names:
            raise DataError(f"prior file '{source}' row {i}: channel {name!r} is not a channel "
                            f"of the panel {list(panel.channels)}")
        c = names[name]
        if c in channel:
            raise DataError(f"prior file '{source}' row {i}: a second prior for channel {name!r}")
        if spend[c] <= 0:
            raise DataError(f"prior file '{source}' row {i}: channel {name!r} has no spend, so "
                            "it has no ROI")
        if moments:
            mean, sd = _number(frame, i, "roi", source), _number(frame, i, "roi_sd", source)
            if sd <= 0:
                raise DataError(f"prior file '{source}' row {i}: roi_sd must be > 0, got {sd}")
        else:
            lo, hi = _number(frame, i, "roi_lo", source), _number(frame, i, "roi_hi", source)
            if hi <= lo:
                raise DataError(f"prior file '{source}' row {i}: roi_hi {hi} must be above "
                                f"roi_lo {lo}")
            mean, sd = 0.5 * (lo + hi), (hi - lo) / (2 * Z_INTERVAL)
        channel.append(c)
        roi.append(mean)
        roi_sd.append(sd)
    channel = np.asarray(channel, int)
    return RoiPriors(channel, np.asarray(roi), np.asarray(roi_sd), spend[channel])


def load_priors(path: str, panel: Panel) -> RoiPriors:
    """Read and validate a prior file (.csv, .csv.gz or .parquet)."""
    frame = read_table(path, str_columns=("channel",))
    return priors_from_frame(frame, panel, source=str(path))
