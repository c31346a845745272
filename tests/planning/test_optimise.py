"""The plan optimiser: projections keep the total and the bounds, the optimum
has equal marginal ROI where no bound binds, nothing random does better,
targets are met, and the frontier is one vmapped program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.budget import project_budget
from dcmmm.errors import ConfigError
from dcmmm.planning import horizon as hz
from dcmmm.planning.optimise import FRONTIER, at_bounds
from dcmmm.planning.planner import Planner
from dcmmm.planning.spec import PlanSpec
from tests.analysis.conftest import with_spend

FIXED = PlanSpec(total=None, lower=0.3, upper=2.0)
N_RANDOM = 256


@pytest.fixture(scope="module")
def fixed(planner):
    return planner.optimise(FIXED)


@pytest.fixture(scope="module")
def kpi_of(planner):
    """Plans [N, R, C] -> incremental KPI [N] under the model, vmapped (the oracle)."""
    return jax.jit(jax.vmap(lambda m: hz.incremental(planner.horizon, m)))


def _free_mroi(planner, optimum, pspec):
    """(marginal ROI [n] of the optimum's variables, free and not at a bound [n])."""
    spend, bounds = planner.variables(pspec)
    theta = optimum.multipliers.ravel() if pspec.by_region else optimum.multipliers[0]
    grad = planner.evaluate(optimum.multipliers).grad
    grad = grad.ravel() if pspec.by_region else grad.sum(axis=0)
    lower, upper = at_bounds(theta, bounds.lower, bounds.upper)
    return pspec.value * grad / spend, ~bounds.fixed & ~lower & ~upper, theta, spend, bounds


def test_fixed_keeps_total_and_bounds_with_equal_marginal_roi(planner, fixed):
    mroi, interior, theta, spend, bounds = _free_mroi(planner, fixed, FIXED)
    assert spend @ theta == pytest.approx(spend.sum(), rel=1e-5)
    assert np.all(theta >= bounds.lower - 1e-6) and np.all(theta <= bounds.upper + 1e-6)
    assert interior.sum() >= 2
    np.testing.assert_allclose(mroi[interior], fixed.alpha, rtol=1e-2)
    lower, upper = at_bounds(theta, bounds.lower, bounds.upper)  # KKT at the bounds
    assert np.all(mroi[lower] <= fixed.alpha * 1.01) and np.all(mroi[upper] >= fixed.alpha * 0.99)


def test_no_random_plan_with_the_same_total_does_better(planner, fixed, kpi_of):
    spend, bounds = planner.variables(FIXED)
    rng = np.random.default_rng(0)
    v = rng.uniform(bounds.lower, bounds.upper, (N_RANDOM, len(spend)))
    project = jax.vmap(project_budget, in_axes=(0, None, None, None, None))
    plans = project(jnp.asarray(v, jnp.float32), jnp.asarray(spend / spend.sum(), jnp.float32),
                    1.0, jnp.asarray(bounds.lower, jnp.float32),
                    jnp.asarray(bounds.upper, jnp.float32))
    np.testing.assert_allclose(np.asarray(plans) @ spend, spend.sum(), rtol=1e-4)
    random = np.asarray(kpi_of(jnp.broadcast_to(plans[:, None, :], (N_RANDOM, 3, 3))))
    best = planner.evaluate(fixed.multipliers).total
    given = planner.evaluate(np.ones((3, 3))).total
    assert best > given and best >= random.max() - 1e-5 * abs(best)


def test_by_region_keeps_total_and_bounds_and_does_at_least_as_well(planner, fixed):
    pspec = PlanSpec(lower=0.3, upper=2.0, by_region=True, region_upper={"r1": 0.9},
                     hold=("radio",))
    optimum = planner.optimise(pspec)
    mroi, interior, theta, spend, bounds = _free_mroi(planner, optimum, pspec)
    assert spend @ theta == pytest.approx(spend.sum(), rel=1e-5)
    assert np.all(theta >= bounds.lower - 1e-6) and np.all(theta <= bounds.upper + 1e-6)
    mult = optimum.multipliers
    assert np.all(mult[1, [0, 2]] <= 0.9 + 1e-6) and np.all(mult[:, 1] == 1.0)  # region bound, held
    np.testing.assert_allclose(mroi[interior], optimum.alpha, rtol=1e-2)
    unheld = planner.optimise(PlanSpec(lower=0.3, upper=2.0, by_region=True))
    assert (planner.evaluate(unheld.multipliers).total
            >= planner.evaluate(fixed.multipliers).total * (1 - 1e-6))


def test_target_mroi_ends_with_the_target_on_unbounded_channels(planner):
    given = planner.evaluate(np.ones((3, 3)))
    target = float(np.median(given.grad.sum(axis=0) / planner.spend_rc.sum(axis=0)))
    for by_region in (False, True):
        pspec = PlanSpec(scenario="target_mroi", target_mroi=target, lower=0.1, upper=5.0,
                         by_region=by_region)
        optimum = planner.optimise(pspec)
        mroi, interior, theta, _, bounds = _free_mroi(planner, optimum, pspec)
        assert interior.sum() >= 2, theta
        np.testing.assert_allclose(mroi[interior], target, rtol=1e-2)
        lower, upper = at_bounds(theta, bounds.lower, bounds.upper)
        assert np.all(mroi[lower] <= target * 1.01) and np.all(mroi[upper] >= target * 0.99)


def test_target_roi_takes_the_largest_budget_that_keeps_it(planner):
    frontier = planner.frontier(FIXED)
    target = float(frontier["roi"].iloc[7])  # about the given spend
    pspec = PlanSpec(scenario="target_roi", target_roi=target, lower=0.3, upper=2.0)
    optimum = planner.optimise(pspec)
    roi = planner.evaluate(optimum.multipliers).total / optimum.budget
    assert roi >= target and optimum.target_met
    larger = planner.optimise(PlanSpec(total=optimum.budget * 1.02, lower=0.3, upper=2.0))
    assert planner.evaluate(larger.multipliers).total / (optimum.budget * 1.02) < target
    capped = planner.optimise(PlanSpec(scenario="target_roi", target_roi=target, lower=0.3,
                                       upper=2.0, max_total=0.5 * optimum.budget))
    assert capped.budget <= 0.5 * optimum.budget * (1 + 1e-5)
    with pytest.raises(ConfigError, match="cannot be reached within the bounds"):
        planner.optimise(PlanSpec(scenario="target_roi", target_roi=100 * target))


def test_frontier_is_the_best_plan_at_each_budget(planner, fixed):
    frontier = planner.frontier(FIXED)
    given = planner.spend_rc.sum()
    np.testing.assert_allclose(frontier["budget"], FRONTIER * given)
    assert np.all(np.diff(frontier["incremental_kpi"]) > 0)
    assert np.all(frontier["incremental_kpi"] >= frontier["incremental_kpi_scaled"] * (1 - 1e-6))
    np.testing.assert_allclose(frontier["roi"], frontier["incremental_kpi"] / frontier["budget"])
    at_given = np.interp(given, frontier["budget"], frontier["incremental_kpi"])
    best = planner.evaluate(fixed.multipliers).total
    assert best == pytest.approx(at_given, rel=0.02)


def test_held_channels_infeasible_bounds_and_no_spend(planner, fitted, future):
    optimum = planner.optimise(PlanSpec(hold=("tv",), lower=0.5, upper=1.5))
    assert np.all(optimum.multipliers[:, 0] == 1.0)
    with pytest.raises(ConfigError, match=r"plan.total = .* cannot be met within the bounds"):
        planner.optimise(PlanSpec(total=10 * planner.spend_rc.sum()))
    with pytest.raises(ConfigError, match=r"plan.hold names unknown channel\(s\) \['tvv'\]"):
        planner.optimise(PlanSpec(hold=("tvv",)))
    with pytest.raises(ConfigError, match=r"plan.upper names unknown channel\(s\) \['radioo'\]"):
        planner.optimise(PlanSpec(upper={"radioo": 2.0}))
    with pytest.raises(ConfigError, match="plan bounds of 'radio' are empty"):
        planner.optimise(PlanSpec(lower={"radio": 1.2}, upper={"radio": 1.1}))
    with pytest.raises(ConfigError, match="need plan.by_region=true"):
        PlanSpec(region_upper={"r1": 1.0})
    with pytest.raises(ConfigError, match="planning needs spend columns"):
        Planner(with_spend(fitted, None), future)


def test_by_region_refines_the_channel_plan(planner):
    """by_region starts from the per-channel optimum of the same settings and
    keeps its best iterate, so however few its steps, the regional plan brings
    at least what the channel plan brings under the model."""
    for steps in (2, 300):
        channel = planner.optimise(PlanSpec(lower=0.3, upper=2.0, steps=steps))
        regional = planner.optimise(PlanSpec(lower=0.3, upper=2.0, steps=steps, by_region=True))
        assert (planner.evaluate(regional.multipliers).total
                >= planner.evaluate(channel.multipliers).total * (1 - 1e-6))
        assert regional.budget == pytest.approx(channel.budget, rel=1e-5)
