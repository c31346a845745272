"""Which channels a design tests."""

import pandas as pd

from dcmmm.design.propose import DesignSpec, channels_to_test


def test_the_least_known_extrapolated_channels_are_tested_first():
    channels = pd.DataFrame({
        "channel": ["tv", "radio", "social", "search", "null_ch"],
        "roi": [2.8, 8.5, 1.3, 2.7, 1.9],
        "roi_basis": ["extrapolated", "extrapolated", "extrapolated", "measured", "extrapolated"],
        "profile_nats_low": [4.6, -1.48, 0.53, 9.0, -0.36],
        "profile_nats_high": [-1.5, 4.4, -0.85, 8.0, 0.45]})
    names, why = channels_to_test(channels, DesignSpec(max_tests=3))
    assert names == ["tv", "radio", "social"] and why == "extrapolated"
    # none extrapolated: the single cheapest to move
    pinned = channels.assign(roi_basis="measured")
    assert channels_to_test(pinned, DesignSpec())[0] == ["tv"]
    assert channels_to_test(channels, DesignSpec(channel="search"))[0] == ["search"]
