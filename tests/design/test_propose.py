"""Which channels a design tests."""

import numpy as np
import pandas as pd

from dcmmm.design.propose import DesignSpec, channels_to_test, durations


def test_without_an_ensemble_the_least_known_extrapolated_channels_are_tested_first():
    channels = pd.DataFrame({
        "channel": ["tv", "radio", "social", "search", "null_ch"],
        "roi": [2.8, 8.5, 1.3, 2.7, 1.9],
        "roi_basis": ["extrapolated", "extrapolated", "extrapolated", "measured", "extrapolated"],
        "profile_nats_low": [4.6, -1.48, 0.53, 9.0, -0.36],
        "profile_nats_high": [-1.5, 4.4, -0.85, 8.0, 0.45]})
    names, why = channels_to_test(channels, DesignSpec(max_tests=3))
    # every extrapolated channel, least known first: propose() takes the first
    # max_tests whose tests have design.min_power
    assert names == ["tv", "radio", "social", "null_ch"] and why == "extrapolated"
    # none extrapolated: the single cheapest to move
    pinned = channels.assign(roi_basis="measured")
    assert channels_to_test(pinned, DesignSpec())[0] == ["tv"]
    assert channels_to_test(channels, DesignSpec(channel="search"))[0] == ["search"]


def test_with_an_ensemble_the_channels_with_the_most_kpi_at_stake_are_tested_first():
    channels = pd.DataFrame({
        "channel": ["tv", "social", "search", "null_ch"],
        "roi": [2.8, 1.3, 2.7, 1.9],
        "roi_basis": ["extrapolated", "extrapolated", "measured", "extrapolated"],
        # null_ch's ROI interval is the widest relative to its value, but social's
        # credit could be anything from 0 to 9.75 million KPI
        "incremental_total_lo": [0.0, 0.0, 2.9e6, 0.0],
        "incremental_total_hi": [9.4e6, 9.75e6, 3.9e6, 8.0e6],
        "profile_nats_low": [4.2, 0.58, 2.4, -0.54],
        "profile_nats_high": [-0.76, -0.39, -0.35, 0.38]})
    names, why = channels_to_test(channels, DesignSpec())
    assert names == ["social", "tv", "null_ch"] and why == "extrapolated"
    # none extrapolated: the single channel with most at stake
    pinned = channels.assign(roi_basis="measured")
    assert channels_to_test(pinned, DesignSpec())[0] == ["social"]


def test_a_test_is_sized_for_the_smallest_lift_the_ensemble_expects():
    from dcmmm.design.propose import sizing_lift

    lifts = np.array([[10.0, 20.0, 30.0], [4.0, 14.0, 30.0], [12.0, 18.0, 40.0]])  # [members, R]
    assert sizing_lift(lifts, [0, 1]) == 18.0  # member 1's 4 + 14 (the fit says 30)
    assert sizing_lift(lifts[:1], [2]) == 30.0  # a single fit: its own


def test_sized_enough_needs_both_the_precision_and_the_power():
    from dcmmm.design.propose import sized_enough

    spec = DesignSpec(precision=0.1, power=0.8)
    assert sized_enough(100.0, 10.0, spec)  # se/lift 10%, power ~1
    assert not sized_enough(100.0, 10.5, spec)  # power ~1 but not precise enough
    assert not sized_enough(100.0, 45.0, DesignSpec(precision=1.0, power=0.8))  # power 0.59
    assert not sized_enough(-100.0, 1.0, spec)  # a lift the test cannot see the sign of


def test_the_default_baseline_is_half_the_weeks_the_test_leaves_at_most_a_year():
    from dcmmm.design.propose import baseline_weeks

    spec = DesignSpec()
    assert baseline_weeks(spec, n_pre=104, n_measured=14) == 45  # (104 - 14) // 2
    assert baseline_weeks(spec, n_pre=200, n_measured=14) == 52  # at most a year
    assert baseline_weeks(spec, n_pre=15, n_measured=14) == 1  # at least one week
    assert baseline_weeks(DesignSpec(baseline_weeks=13), n_pre=104, n_measured=14) == 13


def test_without_weeks_the_durations_tried_are_4_8_12_up_to_max_weeks():
    assert durations(DesignSpec()) == [4, 8, 12, 16]
    assert durations(DesignSpec(max_weeks=10)) == [4, 8, 10]
    assert durations(DesignSpec(max_weeks=3)) == [3]
    assert durations(DesignSpec(weeks=6)) == [6]  # design.weeks: that duration only


def test_why_a_test_lasts_its_weeks_follows_its_final_precision():
    from dcmmm.design.propose import _weeks_why

    spec = DesignSpec(precision=0.1, power=0.8)
    test = {"lifts": np.array([[50.0, 50.0, 30.0]]), "treatment": np.array([0, 1]),
            "reached": True}  # sized for a lift of 100
    assert _weeks_why(spec, test, final_se=8.0).startswith("the shortest of 4, 8, 12, 16 weeks "
                                                           "with which it reaches")
    # the control group the later tests left is smaller: se 14 > 10% of the lift
    assert "measures it less precisely" in _weeks_why(spec, test, final_se=14.0)
    assert _weeks_why(spec, {**test, "reached": False}, 14.0).startswith("the longest")
    assert _weeks_why(DesignSpec(weeks=6), test, 8.0) == "design.weeks"
