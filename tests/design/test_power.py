"""A geo test's estimator and stated power against a simulation of the experiment."""

import numpy as np
import pytest
from scipy import stats

from dcmmm.design.power import (
    estimate_lift,
    interval_shrinkage,
    power,
    standard_error,
    white_noise_se,
)

R, T, START, MEASURED, BASELINE = 30, 120, 100, 12, 13


def world(rng, level, sigma, lift=0.0, treatment=()):
    """Adjusted KPI [R, T]: each region's level times a shared weekly shock,
    plus independent noise; the treatment regions lose `lift` in total over
    the measured weeks (in proportion to their level)."""
    shock = 1.0 + 0.03 * rng.normal(size=T)
    a = level[:, None] * shock[None] + sigma[:, None] * rng.normal(size=(R, T))
    if lift:
        treatment = np.asarray(treatment)
        share = level[treatment] / level[treatment].sum()
        a[treatment, START:START + MEASURED] -= lift * share[:, None] / MEASURED
    return a


def test_the_stated_power_is_the_power_of_the_experiment():
    """Design on one pre-period (as design.py does on the data), then run the
    experiment 3000 times with fresh noise: the estimator is unbiased, its
    spread is the stated standard error, and it excludes zero as often as
    the stated power says."""
    rng = np.random.default_rng(0)
    level = 1000.0 * np.exp(rng.normal(0.0, 0.5, R))
    sigma = 0.05 * level
    treatment, control = np.arange(0, R, 5), np.setdiff1d(np.arange(R), np.arange(0, R, 5))
    history = world(rng, level, sigma)
    se = standard_error(history, sigma**2, treatment, control, MEASURED, START, BASELINE)["se"]
    z = stats.norm.ppf(0.975)
    lift = (z + 0.3) * se  # a power of about 62%: sensitive to a wrong se
    stated = power(lift, se)
    assert 0.55 < stated < 0.7
    estimates = np.array([estimate_lift(world(rng, level, sigma, lift, treatment), treatment,
                                        control, START, MEASURED, BASELINE)
                          for _ in range(3000)])
    assert estimates.mean() == pytest.approx(lift, abs=3 * estimates.std() / np.sqrt(3000))
    assert estimates.std() == pytest.approx(se, rel=0.08)
    simulated = np.mean(np.abs(estimates) / se > z)
    assert simulated == pytest.approx(stated, abs=0.04)


def test_white_noise_se_is_the_estimators_sd_for_independent_noise():
    rng = np.random.default_rng(2)
    level = np.full(R, 500.0)
    sigma = np.full(R, 20.0)
    treatment, control = np.arange(5), np.arange(5, R)
    beta = 5 / 25  # equal levels: the control scaled to the treatment's size
    se = white_noise_se(sigma**2, treatment, control, beta, MEASURED, BASELINE)
    estimates = [estimate_lift(level[:, None] + sigma[:, None] * rng.normal(size=(R, T)),
                               treatment, control, START, MEASURED, BASELINE) for _ in range(3000)]
    assert np.std(estimates) == pytest.approx(se, rel=0.06)


def test_power_and_shrinkage_closed_forms():
    assert power(0.0, 1.0) == pytest.approx(0.05, abs=1e-9)  # the test's level under the null
    assert power(1.96, 1.0) == pytest.approx(0.5, abs=1e-3)
    assert power(2.8, 1.0) == pytest.approx(0.8, abs=2e-3)
    assert power(-2.8, 1.0) == power(2.8, 1.0)
    # a test as precise as what is known now halves the variance: sd × 1/√2
    after, shrink = interval_shrinkage(2.0, 0.5, 1000.0, 250.0)
    assert after == pytest.approx(0.5 / np.sqrt(2)) and shrink == pytest.approx(1 - 1 / np.sqrt(2))
    assert np.isnan(interval_shrinkage(2.0, float("nan"), 1000.0, 250.0)[1])
