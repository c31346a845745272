"""The generator's future mode: the weeks after the panel, and the true KPI of any spend in them."""

import dataclasses
from functools import cache

import numpy as np
import pandas as pd
import pytest

from dcmmm.data import synthetic as syn
from dcmmm.errors import ConfigError

H = 13


@cache
def sim(name: str, seed: int = 0, future_weeks: int | None = None):
    config = syn.scenario(name)
    if future_weeks is not None:
        config = dataclasses.replace(config, future_weeks=future_weeks)
    return syn.simulate(config, seed)


@pytest.mark.parametrize("name", ["geo", "shared_graph", "collinear", "national"])
def test_the_panel_does_not_depend_on_the_future(name):
    frame, truth, _ = sim(name)
    without, truth_without, world = sim(name, future_weeks=0)
    pd.testing.assert_frame_equal(frame, without, check_exact=True)
    assert truth == truth_without
    with pytest.raises(ConfigError, match="0 weeks after the panel"):
        syn.future_frame(world, 1)


@pytest.mark.parametrize("name", ["geo", "graph"])
def test_future_frame_continues_the_table_without_its_kpi(name):
    frame, _, world = sim(name)
    future = syn.future_frame(world, H)
    assert list(future.columns) == [c for c in frame.columns if c != syn.KPI_COLUMN]
    dates = pd.to_datetime(future[syn.DATE_COLUMN].unique())
    assert dates[0] == pd.to_datetime(frame[syn.DATE_COLUMN]).max() + pd.Timedelta(weeks=1)
    assert len(dates) == H and (np.diff(dates) == np.timedelta64(7, "D")).all()
    R = len(world.regions)
    spend = np.stack([future[f"{c}_spend"].to_numpy().reshape(R, H) for c in world.channels], -1)
    activity = np.stack([future[c].to_numpy().reshape(R, H) for c in world.channels], -1)
    np.testing.assert_array_equal(spend, world.future.spend[:, :H])
    own = spend / world.future.cost[:, :H]
    if world.config.edges:  # a child's activity is its own plus what its parents drive
        assert (activity >= own - 1e-9).all() and (activity > own + 1e-9).any()
    else:
        np.testing.assert_allclose(activity, own, rtol=1e-12)


def test_future_spend_continues_the_processes():
    _, _, world = sim("geo")
    panel, future = world.spend[:, -52:], world.future.spend
    ratio = future.mean(axis=(0, 1)) / panel.mean(axis=(0, 1))
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio  # the same level, new draws
    assert not np.allclose(future[:, :52], panel)
    flighted = [world.channels.index(c) for c in world.config.flighted if c in world.channels]
    always = [c for c in range(len(world.channels)) if c not in flighted]
    assert (future[..., flighted] == 0).any() and (future[..., always] > 0).all()


def _loop_media(world, own_future, r, c, n):
    """Channel c's true media KPI in region r over the n weeks after the panel,
    by a loop over lags (no graph): the model of the generator's docstring."""
    own = np.concatenate([world.own_all[r, :, c], own_future, np.zeros(n)])
    k, T, B = world.kernels[c], len(world.dates), world.burn_in
    out = []
    for t in range(B + T, B + T + n):
        a = sum(k[l] * own[t - l] for l in range(len(k)))
        h = syn.hill(np.array(a / world.act_mean_rc[r, c]), world.hill_k[c], world.hill_s[c])
        out.append(world.config.kpi_scale * world.size_r[r] * world.beta_rc[r, c]
                   * world.future.eff[t - B - T, c] * h)
    return np.array(out)


def test_future_kpi_equals_a_loop_over_lags():
    _, _, world = sim("geo")
    spend = world.future.spend[:, :H] * 1.3
    tail = world.config.max_lag - 1
    y = world.future_kpi(spend)
    assert y.shape == (len(world.regions), H + tail)
    for c in (0, 2):  # tv (delayed adstock), social (geometric)
        without = spend.copy()
        without[..., c] = 0.0
        change = (y - world.future_kpi(without))[3]
        own = spend[3, :, c] / world.future.cost[3, :H, c]
        expected = _loop_media(world, own, 3, c, H + tail) - _loop_media(
            world, np.zeros(H), 3, c, H + tail)
        np.testing.assert_allclose(change, expected, rtol=1e-9, atol=1e-9 * expected.max())


def test_future_kpi_counts_the_carry_in_and_then_the_baseline_alone():
    _, _, world = sim("geo")
    n = 30
    y = world.future_kpi(np.zeros((len(world.regions), n, len(world.channels))), tail_weeks=0)
    T, f = len(world.dates), world.future
    t_years = (np.arange(T, T + n) - (T - 1) / 2.0) / 52.0
    season = world.season_scale_r[:, None] * (syn.blocks.yearly_fourier(f.dates[:n], 2)
                                              @ world.season_coef)[None]
    controls = (-world.price_elasticity * (f.price[:, :n] / world.price_ref_r[:, None] - 1.0)
                + world.promo_lift * f.promo[:, :n])
    base = world.config.kpi_scale * world.size_r[:, None] * world.intercept_r[:, None] * (
        1.0 + world.trend_per_year * t_years[None] + season + controls)
    lag = world.config.max_lag
    np.testing.assert_allclose(y[:, lag:], base[:, lag:], rtol=1e-12)  # the carry-in is over
    assert (y[:, 0] > base[:, 0] * 1.01).all()  # the panel's last weeks still bring KPI


def test_future_kpi_refuses_bad_plans():
    _, _, world = sim("geo")
    R, C = len(world.regions), len(world.channels)
    with pytest.raises(ConfigError, match="shape"):
        world.future_kpi(np.zeros((R, H)))
    with pytest.raises(ConfigError, match=">= 0"):
        world.future_kpi(np.full((R, H, C), -1.0))
    with pytest.raises(ConfigError, match="52 weeks after the panel"):
        world.future_kpi(np.zeros((R, 50, C)))  # 50 + 12 carry-over weeks
