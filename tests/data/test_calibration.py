"""Lift-test files: validation against the panel, and simulated tests with known lifts."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.data import synthetic
from dcmmm.data.calibration import lift_tests_from_frame, load_lift_tests
from dcmmm.data.panel import load_panel
from dcmmm.errors import ConfigError, DataError
from tests.data.test_panel import make_frame, make_spec


@pytest.fixture(scope="module")
def panel():
    return load_panel(make_spec(), make_frame(R=2, T=60))


def lift_frame(**change):
    row = {"channel": "tv", "region": "r1", "start": "2023-02-06", "end": "2023-03-06",
           "lift": 120.0, "lift_se": 15.0}
    row.update(change)
    return pd.DataFrame([row, {**row, "region": None, "channel": "search"}])


def test_valid_tests_become_region_and_week_weights(panel):
    tests = lift_tests_from_frame(lift_frame(), panel)
    np.testing.assert_array_equal(tests.channel, [0, 1])
    np.testing.assert_array_equal(tests.region_w, [[0, 1], [1, 1]])  # empty region = all
    weeks = np.flatnonzero(tests.week_w[0])
    assert (weeks[0], weeks[-1]) == (5, 9)  # 2023-02-06 is week 5, end inclusive
    np.testing.assert_array_equal(tests.week_w[0], tests.week_w[1])
    np.testing.assert_array_equal(tests.lift, [120.0, 120.0])


def test_a_cool_down_extends_the_measured_weeks_only(panel):
    tests = lift_tests_from_frame(lift_frame(measure_end="2023-03-20"), panel)
    np.testing.assert_array_equal(np.flatnonzero(tests.week_w[0]), np.arange(5, 10))
    np.testing.assert_array_equal(np.flatnonzero(tests.measure_w[0]), np.arange(5, 12))
    assert tests.labels[0] == "tv r1 2023-02-06..2023-03-06 (measured to 2023-03-20)"
    plain = lift_tests_from_frame(lift_frame(), panel)  # no column: measured in the window
    np.testing.assert_array_equal(plain.measure_w, plain.week_w)
    blank = lift_tests_from_frame(lift_frame(measure_end=None), panel)
    np.testing.assert_array_equal(blank.measure_w, blank.week_w)


def test_lift_test_file_round_trip(panel, tmp_path):
    path = tmp_path / "lifts.csv"
    lift_frame().to_csv(path, index=False)
    tests = load_lift_tests(str(path), panel)
    assert tests.labels[0] == "tv r1 2023-02-06..2023-03-06"
    lift_frame(measure_end="2023-03-20").to_csv(path, index=False)
    cooled = load_lift_tests(str(path), panel)
    np.testing.assert_array_equal(np.flatnonzero(cooled.measure_w[1]), np.arange(5, 12))


@pytest.mark.parametrize("change, message", [
    ({"channel": "radio"}, "channel 'radio' is not a channel"),
    ({"region": "r9"}, "region 'r9' is not in the panel"),
    ({"start": "2030-01-07"}, "start 2030-01-07 is not a week of the panel"),
    ({"start": "someday"}, "start 'someday' is not a date"),
    ({"end": "2023-01-30"}, "end 2023-01-30 is before start"),
    ({"lift_se": 0.0}, "lift_se must be > 0"),
    ({"measure_end": "2023-02-27"}, "measure_end 2023-02-27 is before end 2023-03-06"),
    ({"measure_end": "2031-01-06"}, "measure_end 2031-01-06 is not a week of the panel"),
    ({"lift": "big"}, "lift 'big' is not a number"),
    ({"lift": float("inf")}, "lift is inf"),
])
def test_bad_lift_tests_name_row_and_value(panel, change, message):
    with pytest.raises(DataError, match=message):
        lift_tests_from_frame(lift_frame(**change), panel)


def test_missing_column_and_no_spend_are_errors(panel):
    with pytest.raises(DataError, match=r"lacks column\(s\) \['lift_se'\]"):
        lift_tests_from_frame(lift_frame().drop(columns="lift_se"), panel)
    frame = make_frame(R=2, T=60)
    frame.loc[(frame.region == "r1") & (frame.date < "2023-03-13"), "tv_spend"] = 0.0
    frame.loc[(frame.region == "r1") & (frame.date < "2023-03-13"), "tv"] = 0.0
    with pytest.raises(DataError, match="has no spend in r1"):
        lift_tests_from_frame(lift_frame(), load_panel(make_spec(), frame))


def test_simulated_lift_over_the_window_is_the_truths_window_effect():
    cfg = synthetic.scenario("graph")
    _, truth, world = synthetic.simulate(cfg, seed=0)
    window = truth["window"]
    tests = synthetic.lift_tests(world, ["tv", "null_ch"], window["start_week"], window["n_weeks"],
                                 rel_se=0.0)
    tv = truth["channels"]["tv"]["window"]["incremental_total"]
    assert tests["true_lift"][0] == pytest.approx(tv, rel=1e-9)  # mediated through search too
    assert tests["true_lift"][1] == pytest.approx(0.0, abs=1e-6)
    assert (tests["lift_se"] > 0).all()  # KPI noise: even a null channel's test has an error
    regional = synthetic.lift_tests(world, ["tv"], 10, 4, regions=list(world.regions[:2]))
    assert list(regional["region"]) == list(world.regions[:2])


def test_simulated_cool_down_counts_the_carry_over_of_the_spend_switched_off():
    """A test measured long enough after its window holds the whole effect of
    the spend it switched off: the truth's lift from switching the window off,
    summed over all later weeks."""
    _, _, world = synthetic.simulate(synthetic.scenario("geo"), seed=0)
    inside = synthetic.lift_tests(world, ["tv"], 20, 8, rel_se=0.0)
    cooled = synthetic.lift_tests(world, ["tv"], 20, 8, rel_se=0.0, post_weeks=13)
    assert cooled["end"][0] == inside["end"][0] == inside["measure_end"][0]
    assert cooled["measure_end"][0] == world.dates[20 + 8 + 13 - 1].strftime("%Y-%m-%d")
    weeks = slice(20, 28)
    everything = (world.expected_kpi() - world.expected_kpi(off="tv", weeks=weeks))[:, 20:].sum()
    assert cooled["true_lift"][0] == pytest.approx(everything, rel=1e-6)  # tv's lag < 13 weeks
    assert cooled["true_lift"][0] > 1.05 * inside["true_lift"][0]
    assert cooled["lift_se"][0] > inside["lift_se"][0]  # more weeks of KPI noise
    with pytest.raises(ConfigError, match="cool-down"):
        synthetic.lift_tests(world, ["tv"], len(world.dates) - 8, 8, post_weeks=1)


def test_simulated_lift_tests_in_several_windows_are_separate_experiments():
    _, _, world = synthetic.simulate(synthetic.scenario("geo"), seed=0)
    one = synthetic.lift_tests(world, ["tv", "radio"], 20, 8, seed=3)
    pd.testing.assert_frame_equal(one, synthetic.lift_tests(world, ["tv", "radio"], [20], 8, seed=3))
    several = synthetic.lift_tests(world, ["tv", "radio"], [20, 60], 8, seed=3)
    assert list(several["channel"]) == ["tv", "radio", "tv", "radio"]
    assert list(several["start"][:2]) == list(one["start"]) and several["start"][2] != one["start"][0]
    np.testing.assert_allclose(several["true_lift"][:2], one["true_lift"])
    later = synthetic.lift_tests(world, ["tv", "radio"], 60, 8, seed=3)
    np.testing.assert_allclose(several["true_lift"][2:], later["true_lift"])
    assert not np.allclose(several["lift"][2:] - several["true_lift"][2:],
                           later["lift"] - later["true_lift"])  # its own measurement noise
