"""Treatment regions balanced on the pre-period KPI."""

import numpy as np

from dcmmm.design.groups import assign, balance, score


def regions_kpi(n_regions=30, n_weeks=100, seed=0):
    """Pre-period KPI [R, W]: sizes spread 10×, a shared season, regional noise."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(0.0, 0.6, n_regions))
    season = 1.0 + 0.1 * np.sin(2 * np.pi * np.arange(n_weeks) / 52)
    return 1000.0 * size[:, None] * season[None] * (1 + 0.05 * rng.normal(size=(n_regions, n_weeks)))


def test_treatment_regions_are_balanced_on_the_pre_period_kpi():
    y = regions_kpi()
    rng = np.random.default_rng(1)
    pool = np.arange(30)
    treatment = assign(y, pool, 8, rng, draws=200)
    control = np.setdiff1d(pool, treatment)
    assert treatment.size == 8 and len(set(treatment)) == 8
    stats = balance(y, treatment, control)
    assert abs(stats["smd"]) < 0.1, stats
    assert stats["corr"] > 0.9, stats
    # one region from each eighth of the regions sorted by size
    order = np.argsort(np.nanmean(y, axis=1))
    strata = np.array_split(order, 8)
    assert all(len(set(s) & set(treatment)) == 1 for s in strata)
    # better balanced than a typical random draw of 8 regions
    random = [score(balance(y, t, np.setdiff1d(pool, t)))
              for t in (rng.choice(30, 8, replace=False) for _ in range(200))]
    assert score(stats) < np.quantile(random, 0.1)


def test_assign_respects_the_pool_and_a_small_pool_goes_whole():
    y = regions_kpi(n_regions=12)
    rng = np.random.default_rng(0)
    pool = np.array([1, 3, 5, 7, 9])
    assert set(assign(y, pool, 2, rng, draws=20)) <= set(pool)
    np.testing.assert_array_equal(assign(y, pool, 9, rng, draws=20), pool)


def test_balance_of_identical_groups():
    y = np.tile(np.linspace(1.0, 2.0, 20), (4, 1))
    stats = balance(y, [0, 1], [2, 3])
    assert stats["smd"] == 0.0 and stats["corr"] == 1.0


def test_the_draws_scored_together_score_as_one_by_one():
    """draw_scores (every draw at once) against score(balance(...)) draw by draw,
    with an unobserved cell and a pool that leaves regions out."""
    from dcmmm.design.groups import draw_scores

    y = regions_kpi(n_regions=25, n_weeks=60, seed=3)
    y[4, 10] = np.nan
    pool = np.array([0, 1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 18, 20, 21, 22, 24])
    rng = np.random.default_rng(5)
    picks = np.sort(np.stack([rng.choice(pool, size=4, replace=False) for _ in range(30)]),
                    axis=1)
    together = draw_scores(y, pool, picks)
    one_by_one = [score(balance(y, p, np.setdiff1d(pool, p))) for p in picks]
    np.testing.assert_allclose(together, one_by_one, rtol=1e-9, atol=1e-12)
