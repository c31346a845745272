"""The recovery tables that compare a fit with the generator's truth."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.analysis.recovery import lift_window_table


def test_lift_window_table_splits_the_ratio_at_the_tests_weeks():
    # 2 regions × 6 weeks × 2 channels; the fit is 2× the truth for tv in weeks 1-2
    # (the test and its cool-down) and 0.5× elsewhere, radio is exact everywhere
    dates = pd.date_range("2024-01-01", periods=6, freq="7D")
    rng = np.random.default_rng(0)
    true = rng.uniform(1.0, 3.0, size=(2, 6, 2))
    factor = np.where(np.isin(np.arange(6), [1, 2]), 2.0, 0.5)
    rows = []
    for r, region in enumerate(["b", "a"]):  # rows not in the truth's region order
        for t in reversed(range(6)):
            rows.append({"region": region, "date": dates[t].strftime("%Y-%m-%d"),
                         "channel:tv": true[r, t, 0] * factor[t], "channel:radio": true[r, t, 1]})
    tests = pd.DataFrame({"channel": ["tv", "radio"], "start": [dates[1].strftime("%Y-%m-%d")] * 2,
                          "measure_end": [dates[2].strftime("%Y-%m-%d"), dates[4].strftime("%Y-%m-%d")]})
    table = lift_window_table(pd.DataFrame(rows), true, ["b", "a"], dates, ["tv", "radio"],
                               tests).set_index("channel")
    assert table.loc["tv", "tested_weeks"] == 2 and table.loc["radio", "tested_weeks"] == 4
    np.testing.assert_allclose(table.loc["tv", ["fit_over_true_tested", "fit_over_true_other"]], [2.0, 0.5])
    np.testing.assert_allclose(table.loc["radio", ["fit_over_true_tested", "fit_over_true_other"]], [1.0, 1.0])
    with pytest.raises(ValueError, match="all regions only"):
        lift_window_table(pd.DataFrame(rows), true, ["b", "a"], dates, ["tv", "radio"],
                          tests.assign(region=["a", None]))
