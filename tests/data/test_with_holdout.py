"""A backtest fold's panel: outages decided on its own training weeks, regions
without KPI before its origin masked instead of rejected."""

import numpy as np

from dcmmm.data.panel import load_panel, with_holdout
from dcmmm.data.scaling import fit_scalers
from tests.data.test_panel import make_frame, make_spec

T = 60


def _frame():
    frame = make_frame(R=3, T=T)
    week = np.tile(np.arange(T), 3)
    region = frame["region"]
    # r1: no KPI before week 40; r2: zero KPI in weeks 0-19, then positive
    frame.loc[(region == "r1") & (week < 40), "sales"] = np.nan
    frame.loc[(region == "r2") & (week < 20), "sales"] = 0.0
    return frame


def test_fold_panel_uses_only_its_training_weeks():
    panel = load_panel(make_spec(holdout_weeks=13), _frame())
    assert not panel.mask[2, :20].any()  # median of weeks 0-46 > 0: an outage, masked
    fold = with_holdout(panel, T - 35)
    assert fold.n_train == 35 and fold.holdout_weeks == 25
    # weeks 0-34 of r2 are 20 zeros and 15 positive weeks: median 0, so real zeros
    assert fold.mask[2, :20].all() and (fold.y[2, :20] == 0).all()
    assert not fold.mask[1].any()  # r1 has no KPI before week 35: masked in this fold
    np.testing.assert_array_equal(fold.mask[0], panel.mask[0])
    np.testing.assert_array_equal(fold.y[0], panel.y[0])
    scalers = fit_scalers(fold, empty_regions=True)
    assert scalers.kpi_mean[1] == 1.0 and scalers.kpi_mean[0] > 1.0


def test_same_holdout_gives_the_same_panel():
    panel = load_panel(make_spec(holdout_weeks=13), _frame())
    again = with_holdout(panel, 13)
    np.testing.assert_array_equal(again.mask, panel.mask)
    np.testing.assert_array_equal(again.y, panel.y)
    assert again.outages == panel.outages
