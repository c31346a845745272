"""Backtest scores against hand-computed values on a tiny linear panel."""

import numpy as np
import pytest

from dcmmm.analysis.metrics import BACKTEST_COLUMNS, backtest_table, forecast_scores

T, H = 70, 5
WEEK = np.arange(T)
# region 0 rises by 1 a week from 100, region 1 falls by 1 a week from 200
Y = np.stack([100.0 + WEEK, 200.0 - WEEK])
MEANS = np.array([100.0, 200.0])  # stand-ins for the regions' training means
MASK = np.ones((2, T), bool)


def _scores(origin):
    return forecast_scores(Y, MASK, origin, H, Y, MEANS)  # dcmmm is perfect here


@pytest.mark.parametrize("origin", [60, 65])
def test_naive_forecasts_by_hand(origin):
    s = _scores(origin)
    assert s["dcmmm"]["rmse"] == 0.0 and s["dcmmm"]["r2"] == 1.0
    # last value: y[o-1]; both regions are off by 1, 2, ..., H weeks of drift
    assert s["last_value"]["rmse"] == pytest.approx(np.sqrt(np.mean(np.arange(1, H + 1) ** 2)))
    # region mean over weeks 0..o-1 is y at week (o-1)/2: off by t - (o-1)/2
    t = np.arange(origin, origin + H)
    assert s["region_mean"]["rmse"] == pytest.approx(np.sqrt(np.mean((t - (origin - 1) / 2) ** 2)))
    # seasonal naive: y[t-52], off by exactly 52 in both regions
    seasonal = s["seasonal_naive"]
    assert seasonal["rmse"] == pytest.approx(52.0)
    assert seasonal["scaled_rmse"] == pytest.approx(np.sqrt((0.52**2 + 0.26**2) / 2))
    mape = np.mean(np.concatenate([52 / (100.0 + t), 52 / (200.0 - t)]))
    assert seasonal["mape"] == pytest.approx(mape)
    assert seasonal["median_region_r2"] < 0  # a constant offset of 52 on a ±2-week range


def test_forecasts_use_only_weeks_before_origin():
    y = Y.copy()
    y[:, 60:] *= 3.0  # what happens from the origin on cannot move a naive forecast
    s = forecast_scores(y, MASK, 60, H, y, MEANS)
    assert s["last_value"]["rmse"] == pytest.approx(
        np.sqrt(np.mean(np.concatenate([3 * (100.0 + np.arange(60, 65)) - 159,
                                        3 * (200.0 - np.arange(60, 65)) - 141]) ** 2)))


def test_backtest_table_rows_and_means():
    origins = [40, 60, 65]  # the first fold has no year before it: no seasonal naive
    table = backtest_table([_scores(o) for o in origins], [f"w{o}" for o in origins])
    assert list(table.columns) == list(BACKTEST_COLUMNS)
    assert len(table) == 4 * len(origins) + 4
    assert list(table["fold"].unique()) == ["0", "1", "2", "mean"]
    assert table.loc[table["fold"] == "0", "origin"].eq("w40").all()
    first = table[(table["fold"] == "0") & (table["model"] == "seasonal_naive")]
    assert first[["r2", "rmse", "mape", "scaled_rmse", "median_region_r2"]].isna().all(axis=None)
    mean = table[table["fold"] == "mean"].set_index("model")
    assert np.isnan(mean.loc["seasonal_naive", "rmse"])  # not defined in every fold
    lv = table[(table["model"] == "region_mean") & (table["fold"] != "mean")]["rmse"]
    assert mean.loc["region_mean", "rmse"] == pytest.approx(lv.mean())
    assert mean.loc["last_value", "rmse"] == pytest.approx(np.sqrt(11.0))
