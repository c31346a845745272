"""Scalers: fitted on training weeks only, exactly invertible, JSON round trip."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.data.panel import DataSpec, load_panel
from dcmmm.data.scaling import Scalers, fit_scalers
from dcmmm.errors import DataError

T, HOLDOUT = 40, 4


def make_frame(R=3, seed=0):
    """Long table with integer weeks 0..T-1: KPI 'sales', channels 'tv', 'radio',
    controls 'price' and the constant 'flag'; region sizes differ by 100x."""
    rng = np.random.default_rng(seed)
    n = R * T
    size = np.repeat(10.0 ** np.arange(R), T)
    return pd.DataFrame(
        {
            "region": np.repeat([f"r{i}" for i in range(R)], T),
            "week": np.tile(np.arange(T), R),
            "sales": size * rng.uniform(50.0, 150.0, n),
            "tv": size * rng.uniform(0.0, 10.0, n),
            "radio": rng.uniform(0.0, 1e6, n),
            "price": rng.normal(3.0, 0.5, n),
            "flag": 0.1,
        }
    )


SPEC = DataSpec(
    kpi="sales",
    channels=("tv", "radio"),
    controls=("price", "flag"),
    region="region",
    date="week",
    holdout_weeks=HOLDOUT,
    val_weeks=4,
)


@pytest.fixture
def panel():
    frame = make_frame()
    frame.loc[(frame["region"] == "r1") & (frame["week"] == 7), "sales"] = np.nan
    return load_panel(SPEC, frame.drop(index=5))


def test_shapes_and_training_statistics(panel):
    sc = fit_scalers(panel)
    assert sc.kpi_mean.shape == (3,) and sc.media_mean.shape == (3, 2)
    assert sc.control_mean.shape == (2,) and sc.control_std.shape == (2,)
    train = panel.train_mask
    for r in range(3):
        np.testing.assert_allclose(sc.kpi_mean[r], panel.y[r][train[r]].mean(), rtol=1e-13)
        rows = panel.observed[r, : T - HOLDOUT]
        np.testing.assert_allclose(
            sc.media_mean[r], panel.media[r, : T - HOLDOUT][rows].mean(0), rtol=1e-13
        )
    # scaled training data: mean 1 per region (KPI, media), controls mean 0 and std 1
    ys = sc.scale_kpi(panel.y)
    np.testing.assert_allclose([ys[r][train[r]].mean() for r in range(3)], 1.0, rtol=1e-12)
    zs = sc.scale_controls(panel.z)[panel.observed & (np.arange(T) < T - HOLDOUT)]
    np.testing.assert_allclose(zs[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(zs[:, 0].std(), 1.0, rtol=1e-12)


def test_constant_control_has_unit_std(panel):
    sc = fit_scalers(panel)
    assert sc.control_std[1] == 1.0
    np.testing.assert_allclose(sc.control_mean[1], 0.1, rtol=1e-13)
    assert np.isfinite(sc.scale_controls(panel.z)).all()


def test_round_trips_are_exact(panel):
    sc = fit_scalers(panel)
    np.testing.assert_allclose(sc.unscale_kpi(sc.scale_kpi(panel.y)), panel.y, rtol=1e-15, atol=0)
    np.testing.assert_allclose(
        sc.unscale_media(sc.scale_media(panel.media)), panel.media, rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(
        sc.unscale_controls(sc.scale_controls(panel.z)), panel.z, rtol=1e-14, atol=0
    )
    ys = np.random.default_rng(1).normal(size=panel.y.shape)
    np.testing.assert_allclose(sc.scale_kpi(sc.unscale_kpi(ys)), ys, rtol=1e-15, atol=0)


def test_json_and_file_round_trip(panel, tmp_path):
    sc = fit_scalers(panel)
    for back in (Scalers.from_json(sc.to_json()), _saved_and_loaded(sc, tmp_path / "scalers.json")):
        for name in ("kpi_mean", "media_mean", "control_mean", "control_std"):
            np.testing.assert_array_equal(getattr(back, name), getattr(sc, name))
            assert getattr(back, name).dtype == np.float64


def _saved_and_loaded(sc, path):
    sc.save(path)
    assert not path.with_name(path.name + ".tmp").exists()
    return Scalers.load(path)


def test_holdout_values_do_not_change_the_scalers():
    frame = make_frame()
    other = frame.copy()
    holdout = other["week"] >= T - HOLDOUT
    for column in ("sales", "tv", "radio", "price", "flag"):
        other.loc[holdout, column] *= 7.0
    a, b = fit_scalers(load_panel(SPEC, frame)), fit_scalers(load_panel(SPEC, other))
    for name in ("kpi_mean", "media_mean", "control_mean", "control_std"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_pooled_channel_mean_where_a_region_has_no_activity():
    frame = make_frame()
    frame.loc[(frame["region"] == "r2") & (frame["week"] < T - HOLDOUT), "tv"] = 0.0
    frame.loc[(frame["region"] == "r2") & (frame["week"] >= T - HOLDOUT), "tv"] = 5.0
    panel = load_panel(SPEC, frame)
    sc = fit_scalers(panel)
    train = frame[frame["week"] < T - HOLDOUT]
    np.testing.assert_allclose(sc.media_mean[2, 0], train["tv"].mean(), rtol=1e-13)
    np.testing.assert_allclose(
        sc.media_mean[2, 1], train.loc[train["region"] == "r2", "radio"].mean(), rtol=1e-13
    )
    assert np.isfinite(sc.scale_media(panel.media)).all()


def test_wrong_shapes_are_rejected(panel):
    sc = fit_scalers(panel)
    with pytest.raises(ValueError, match="R=3"):
        sc.scale_kpi(panel.y[:2])
    with pytest.raises(ValueError):
        sc.scale_kpi(panel.y[0])
    with pytest.raises(ValueError, match="last axis 2"):
        sc.scale_media(panel.media[..., :1])
    with pytest.raises(ValueError):
        sc.scale_controls(panel.z[..., :1])


def test_from_json_rejects_other_text():
    with pytest.raises(DataError, match="cannot read scalers"):
        Scalers.from_json('{"kpi_mean": [1.0]}')
    with pytest.raises(DataError, match="cannot read scalers"):
        Scalers.from_json("not json")


def test_non_positive_statistics_are_rejected():
    with pytest.raises(ValueError, match="kpi_mean must be positive"):
        Scalers(np.array([0.0]), np.ones((1, 1)), np.zeros(0), np.ones(0))
