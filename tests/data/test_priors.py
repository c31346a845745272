"""ROI prior files: validation against the panel, and intervals read as normal priors."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.data.panel import load_panel
from dcmmm.data.priors import Z_INTERVAL, load_priors, priors_from_frame
from dcmmm.errors import DataError
from tests.data.test_panel import make_frame, make_spec


@pytest.fixture(scope="module")
def panel():
    return load_panel(make_spec(), make_frame(R=2, T=60))


def test_moments_and_intervals_become_means_and_sds(panel):
    frame = pd.DataFrame({"channel": ["search", "tv"], "roi": [2.0, 0.5], "roi_sd": [0.5, 0.1]})
    priors = priors_from_frame(frame, panel)
    np.testing.assert_array_equal(priors.channel, [1, 0])
    np.testing.assert_allclose(priors.roi, [2.0, 0.5])
    np.testing.assert_allclose(priors.roi_sd, [0.5, 0.1])
    np.testing.assert_allclose(priors.spend, panel.spend.sum(axis=(0, 1))[[1, 0]])
    interval = pd.DataFrame({"channel": ["tv"], "roi_lo": [1.0], "roi_hi": [3.0]})
    priors = priors_from_frame(interval, panel)
    assert priors.roi[0] == pytest.approx(2.0)
    assert priors.roi_sd[0] == pytest.approx(1.0 / Z_INTERVAL)  # 1.0 / 1.645: a 90% interval
    assert Z_INTERVAL == pytest.approx(1.6449, abs=1e-4)


def test_prior_file_round_trip(panel, tmp_path):
    path = tmp_path / "priors.csv"
    pd.DataFrame({"channel": ["tv"], "roi": [1.5], "roi_sd": [0.3]}).to_csv(path, index=False)
    assert load_priors(str(path), panel).roi[0] == 1.5


@pytest.mark.parametrize("rows, message", [
    ({"channel": ["radio"], "roi": [1.0], "roi_sd": [0.1]}, "row 0: channel 'radio' is not a channel"),
    ({"channel": ["tv"], "roi": [1.0], "roi_sd": [0.0]}, "row 0: roi_sd must be > 0, got 0.0"),
    ({"channel": ["tv"], "roi": [1.0], "roi_sd": [-1.0]}, "roi_sd must be > 0"),
    ({"channel": ["tv"], "roi": ["high"], "roi_sd": [0.1]}, "row 0: roi 'high' is not a number"),
    ({"channel": ["tv"], "roi": [np.nan], "roi_sd": [0.1]}, "row 0: roi is nan"),
    ({"channel": ["tv"], "roi": [np.inf], "roi_sd": [0.1]}, "row 0: roi is inf"),
    ({"channel": ["tv", "tv"], "roi": [1.0, 2.0], "roi_sd": [0.1, 0.1]},
     "row 1: a second prior for channel 'tv'"),
    ({"channel": ["tv"], "roi_lo": [2.0], "roi_hi": [1.0]}, "roi_hi 1.0 must be above roi_lo 2.0"),
    ({"channel": ["tv"], "roi": [1.0]}, "needs the columns channel and either roi, roi_sd"),
    ({"channel": ["tv"], "roi": [1.0], "roi_sd": [0.1], "roi_lo": [0.5], "roi_hi": [2.0]},
     "either roi, roi_sd or roi_lo, roi_hi"),
])
def test_bad_priors_name_row_and_value(panel, rows, message):
    with pytest.raises(DataError, match=message):
        priors_from_frame(pd.DataFrame(rows), panel)


def test_priors_need_spend():
    no_spend = load_panel(make_spec(spend=None), make_frame(R=2, T=60))
    with pytest.raises(DataError, match="ROI priors need spend columns"):
        priors_from_frame(pd.DataFrame({"channel": ["tv"], "roi": [1.0], "roi_sd": [0.1]}),
                          no_spend)
