"""A plan's weeks: copied from a year earlier, or read from a plan file and
validated like the training data (one DataError naming the problem)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dcmmm.data import synthetic as syn
from dcmmm.data.future import cost_per_unit, last_year, next_periods, read_future
from dcmmm.data.panel import DataSpec, load_panel
from dcmmm.errors import ConfigError, DataError

H = 4


@pytest.fixture(scope="module")
def world_panel():
    """A small generator panel (3 regions, 60 weeks) and its world."""
    config = dataclasses.replace(syn.scenario("geo"), n_regions=3, n_weeks=60)
    frame, _, world = syn.simulate(config, 0)
    keys = syn.data_keys(config)
    dspec = DataSpec(kpi=keys["kpi"], channels=tuple(keys["channels"]), region=keys["region"],
                     spend=tuple(keys["spend"]), controls=tuple(keys["controls"]))
    return world, load_panel(dspec, frame)


@pytest.fixture(scope="module")
def plan_file(world_panel):
    world, _ = world_panel
    return syn.future_frame(world, H)


def test_last_year_copies_the_same_weeks_a_year_earlier(world_panel):
    _, panel = world_panel
    ones = np.ones(panel.n_channels)
    weeks = last_year(panel, H, None, ones)
    source = slice(panel.n_weeks - 52, panel.n_weeks - 52 + H)
    np.testing.assert_array_equal(weeks.spend, panel.spend[:, source])
    np.testing.assert_array_equal(weeks.activity, panel.media[:, source])
    np.testing.assert_array_equal(weeks.z, panel.z[:, source])
    np.testing.assert_array_equal(weeks.periods, next_periods(panel, H))
    assert weeks.periods[0] == panel.periods[-1] + np.timedelta64(7, "D")
    cost = np.array([1.0, 2.0, 1.0, 1.0, 0.5])
    scaled = last_year(panel, H, 3.0 * weeks.spend.sum(), cost)
    np.testing.assert_allclose(scaled.spend, 3.0 * weeks.spend)
    np.testing.assert_allclose(scaled.activity, 3.0 * weeks.activity / cost)
    with pytest.raises(ConfigError, match=r"plan.weeks must be in \[1, 52\]"):
        last_year(panel, 53, None, ones)


def test_a_plan_file_reads_back_the_generator_future(world_panel, plan_file):
    world, panel = world_panel
    weeks = read_future(panel, plan_file, np.ones(panel.n_channels))
    np.testing.assert_array_equal(weeks.periods, next_periods(panel, H))
    np.testing.assert_allclose(weeks.spend, world.future.spend[:, :H])
    np.testing.assert_allclose(weeks.activity, world.future_activity(world.future.spend[:, :H]))
    np.testing.assert_allclose(weeks.z[..., 0], world.future.price[:, :H])


def test_one_of_activity_and_spend_gives_the_other_at_todays_cost(world_panel, plan_file):
    _, panel = world_panel
    cost = np.array([1.0, 1.25, 1.0, 1.0, 1.0])
    unit = cost_per_unit(panel) * cost[None, :]  # [R, C]
    full = read_future(panel, plan_file, np.ones(panel.n_channels))
    spend_only = read_future(panel, plan_file.drop(columns=["radio"]), cost)
    np.testing.assert_allclose(spend_only.activity[..., 1], full.spend[..., 1] / unit[:, None, 1])
    activity_only = read_future(panel, plan_file.drop(columns=["radio_spend"]), cost)
    np.testing.assert_allclose(activity_only.spend[..., 1], full.activity[..., 1] * unit[:, None, 1])
    with pytest.raises(ConfigError, match="gives both its activity and its spend"):
        read_future(panel, plan_file, cost)


def _shift(frame, weeks):
    out = frame.copy()
    out["date"] = pd.to_datetime(out["date"]) + pd.Timedelta(weeks=weeks)
    return out


BAD = {
    "overlap": (lambda f: _shift(f, -2), "the plan overlaps the data: its first week 2023-02-13"),
    "gap": (lambda f: _shift(f, 3), "must start the week after the data's last (2023-02-27)"),
    "missing row": (lambda f: f.iloc[1:], "no row for region 'r000' at 2023-02-27"),
    "duplicate": (lambda f: pd.concat([f, f.iloc[:1]]), "duplicate rows in region 'r000'"),
    "unknown region": (lambda f: f.replace({"region": {"r002": "r009"}}), "region 'r009'"),
    "unknown column": (lambda f: f.assign(tiktok_spend=1.0), "column 'tiktok_spend', which is "
                                                            "not a column of the run"),
    "kpi": (lambda f: f.assign(sales=1.0), "has the KPI column 'sales'"),
    "negative spend": (lambda f: f.assign(tv_spend=f["tv_spend"].where(f.index != 5, -3.0)),
                       "column 'tv_spend' has negative value -3.0 in region 'r001' at 2023-03-06 (plan file)"),
    "nan control": (lambda f: f.assign(price=f["price"].where(f.index != 2, np.nan)),
                    "column 'price' has a missing value (NaN)"),
    "neither column": (lambda f: f.drop(columns=["tv", "tv_spend"]), "channel 'tv' has neither"),
    "no control": (lambda f: f.drop(columns=["promo"]), "column 'promo' not found in the plan"),
    "week ids": (lambda f: f.assign(date=np.arange(len(f)) % H), "must be ISO dates"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_plan_file_is_one_data_error(world_panel, plan_file, case):
    _, panel = world_panel
    change, words = BAD[case]
    with pytest.raises(DataError) as err:
        read_future(panel, change(plan_file.reset_index(drop=True)), np.ones(panel.n_channels))
    assert words in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_plan_file_on_disk_and_a_run_without_spend(world_panel, plan_file, tmp_path):
    _, panel = world_panel
    path = tmp_path / "plan.csv"
    plan_file.to_csv(path, index=False)
    from_file = read_future(panel, path, np.ones(panel.n_channels))
    assert from_file.source == str(path)
    np.testing.assert_allclose(from_file.spend, read_future(panel, plan_file, np.ones(5)).spend)
    no_spend = dataclasses.replace(panel, spend=None, spend_columns=None)
    for read in (lambda: read_future(no_spend, plan_file, np.ones(5)),
                 lambda: last_year(no_spend, H, None, np.ones(5))):
        with pytest.raises(ConfigError, match="planning needs spend columns"):
            read()
