"""Fit metrics (docs/design.md, "Outputs and metrics") and naive baselines.

All metrics take KPI-unit arrays y, ŷ [R, T], a boolean cell mask [R, T] and
the regions' training-week KPI means [R]:

- r2: 1 − SSE/SST pooled over all unmasked cells (KPI units)
- rmse: root mean squared error (KPI units)
- mape: mean |y − ŷ| / |y| over cells with y ≠ 0
- scaled_rmse: RMSE of y / mean_r(y) (each region in units of its mean)
- median_region_r2: median over regions (with ≥ 2 cells) of per-region R²
"""

import numpy as np
import pandas as pd

from dcmmm.data.calendar import WEEKS_PER_YEAR


def fit_metrics(y, yhat, mask, region_mean) -> dict:
    """The metrics above as floats (NaN when undefined)."""
    y, yhat, mask = np.asarray(y, float), np.asarray(yhat, float), np.asarray(mask, bool)
    if not mask.any():
        return dict.fromkeys(["r2", "rmse", "mape", "scaled_rmse", "median_region_r2"], float("nan"))
    err = (yhat - y)[mask]
    yy = y[mask]
    sst = np.sum((yy - yy.mean()) ** 2)
    nz = mask & (y != 0)
    scaled = ((yhat - y) / np.asarray(region_mean, float)[:, None])[mask]
    region_r2 = []
    for r in range(y.shape[0]):
        cells = mask[r]
        if cells.sum() >= 2:
            ss = np.sum((y[r, cells] - y[r, cells].mean()) ** 2)
            if ss > 0:
                region_r2.append(1 - np.sum((yhat[r, cells] - y[r, cells]) ** 2) / ss)
    return {
        "r2": float(1 - np.sum(err**2) / sst) if sst > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(np.mean(np.abs((yhat - y)[nz] / y[nz]))) if nz.any() else float("nan"),
        "scaled_rmse": float(np.sqrt(np.mean(scaled**2))),
        "median_region_r2": float(np.median(region_r2)) if region_r2 else float("nan"),
    }


def naive_forecasts(y, train_mask, n_train: int) -> dict:
    """Per-region naive forecasts [R, T] for weeks ≥ n_train, from training cells only.

    - last_value: the region's last observed training KPI
    - region_mean: the region's mean training KPI
    - seasonal_naive: the KPI 52 weeks earlier (NaN where that week is not a
      usable training cell, or the panel is shorter than a year plus the holdout)
    """
    y = np.asarray(y, float)
    train_mask = np.asarray(train_mask, bool)
    n_regions, n_weeks = y.shape
    week = np.arange(n_weeks)
    last_idx = np.where(train_mask, week[None, :], -1).max(axis=1)
    last_value = y[np.arange(n_regions), np.maximum(last_idx, 0)]
    mean = (y * train_mask).sum(axis=1) / np.maximum(train_mask.sum(axis=1), 1)
    seasonal = np.full_like(y, np.nan)
    lag = int(round(WEEKS_PER_YEAR))
    for t in range(n_train, n_weeks):
        src = t - lag
        if 0 <= src < n_train:
            seasonal[:, t] = np.where(train_mask[:, src], y[:, src], np.nan)
    return {
        "last_value": np.repeat(last_value[:, None], n_weeks, axis=1),
        "region_mean": np.repeat(mean[:, None], n_weeks, axis=1),
        "seasonal_naive": seasonal,
    }


def naive_holdout_metrics(y, train_mask, holdout_mask, n_train: int, region_mean) -> dict:
    """`fit_metrics` of each naive forecast over the holdout cells it covers."""
    out = {}
    for name, forecast in naive_forecasts(y, train_mask, n_train).items():
        covered = holdout_mask & np.isfinite(forecast)
        if name == "seasonal_naive" and covered.sum() < 0.5 * holdout_mask.sum():
            out[name] = None  # fewer than two years of data: not defined
            continue
        out[name] = fit_metrics(y, np.nan_to_num(forecast), covered, region_mean)
    return out


METRICS = ("r2", "rmse", "mape", "scaled_rmse", "median_region_r2")
BACKTEST_MODELS = ("dcmmm", "last_value", "region_mean", "seasonal_naive")
BACKTEST_COLUMNS = ("fold", "origin", "model", *METRICS)


def forecast_scores(y, mask, origin: int, horizon: int, yhat, region_mean) -> dict:
    """Metrics of dcmmm's `yhat` and of the naive forecasts over the `horizon`
    weeks from week `origin`, the naive ones built from the cells before it.

    y, yhat: [R, T] KPI units; mask: [R, T] usable cells; region_mean: [R] the
    KPI means of the weeks before `origin`. Returns {model: metrics} for
    `BACKTEST_MODELS`; a seasonal naive that covers fewer than half of the
    scored cells (no year of data before them) has NaN metrics.
    """
    mask = np.asarray(mask, bool)
    week = np.arange(mask.shape[1])[None, :]
    before = mask & (week < origin)
    window = mask & (week >= origin) & (week < origin + horizon)
    out = {"dcmmm": fit_metrics(y, yhat, window, region_mean)}
    for name, vals in naive_holdout_metrics(y, before, window, origin, region_mean).items():
        out[name] = vals if vals is not None else dict.fromkeys(METRICS, float("nan"))
    return out


def backtest_table(scores: list, origins: list) -> pd.DataFrame:
    """backtest.csv: one row per (fold, model), then a `mean` row per model.

    scores: per fold (oldest first) the dict of `forecast_scores`; origins:
    the folds' origin labels. A model's mean is NaN unless it is defined in
    every fold, so the means compare models over the same folds.
    """
    rows = [{"fold": str(k), "origin": origin, "model": model, **fold[model]}
            for k, (fold, origin) in enumerate(zip(scores, origins)) for model in BACKTEST_MODELS]
    table = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    means = table.groupby("model", sort=False)[list(METRICS)].mean(numeric_only=True)
    defined = table.groupby("model", sort=False)[list(METRICS)].agg(lambda s: s.notna().all())
    means = means.where(defined).reset_index()
    means.insert(0, "origin", "")
    means.insert(0, "fold", "mean")
    return pd.concat([table, means[list(BACKTEST_COLUMNS)]], ignore_index=True)
