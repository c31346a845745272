import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.budget import (
    BudgetSpec,
    carryover_weeks,
    marginal_roi,
    optimise_budget,
    project_budget,
    tail_reference,
    what_if,
    window_kpi,
    window_start,
)
from dcmmm.analysis.plans import plan_kpi
from dcmmm.errors import ConfigError
from tests.analysis.conftest import arrays, with_betas, with_spend
from tests.fixtures import fitted_of

WINDOW = 20
STEPS = 150  # one step count everywhere: the optimiser compiles once for these tests
N_PLANS = 256


@pytest.fixture(scope="module")
def optimum(problem):
    return optimise_budget(problem, BudgetSpec(window_weeks=WINDOW), steps=STEPS)


@pytest.fixture(scope="module")
def evaluate(problem):
    """Plans [N ≤ N_PLANS, C] -> (objective [N], KPI of the window weeks only [N]).

    Independent of the optimiser's code path: `window_kpi` per plan, 8 plans at
    a time (lax.map over vmapped chunks), padded to one compiled shape.
    """
    spec, _, x, z, statics, w, kpi_mean = arrays(problem)
    start, extra = window_start(x.shape[1], WINDOW), carryover_weeks(spec)
    weeks = np.arange(x.shape[1]) >= start

    @jax.jit
    def values(params, plans):
        ref = tail_reference(spec, params, x, z, statics, start, extra)

        def one(m):
            full = window_kpi(spec, params, x, z, statics, w, kpi_mean, m, start, extra, ref)
            return full, plan_kpi(spec, params, x, z, statics, w, m, kpi_mean, weeks, weeks)

        return jax.lax.map(one, plans, batch_size=8)

    def run(params, plans):
        plans = np.asarray(plans, np.float32)
        padded = np.ones((N_PLANS, plans.shape[1]), np.float32)
        padded[: len(plans)] = plans
        full, window_only = values(params, jnp.asarray(padded))
        return np.asarray(full)[: len(plans)], np.asarray(window_only)[: len(plans)]

    return run


def test_needs_spend(problem):
    with pytest.raises(ConfigError, match="needs spend"):
        optimise_budget(with_spend(problem, None), BudgetSpec())


def test_plan_meets_budget_and_bounds_and_does_not_lose(optimum, problem, evaluate):
    table, summary = optimum
    assert list(table.columns) == ["channel", "current_spend", "optimal_spend", "multiplier",
                                   "lower", "upper", "bound", "mroi"]
    current = problem.panel.spend[:, -WINDOW:].sum(axis=(0, 1))
    np.testing.assert_allclose(table["current_spend"], current, rtol=1e-9)
    assert table["optimal_spend"].sum() == pytest.approx(current.sum(), rel=1e-4)
    assert np.all(table["multiplier"] >= 0.5 - 1e-6) and np.all(table["multiplier"] <= 1.5 + 1e-6)
    assert summary["total_budget"] == pytest.approx(current.sum())
    assert summary["window_weeks"] == WINDOW and summary["window_start"] == 40 - WINDOW
    assert summary["lift"] > 0 and summary["lift_pct"] > 0
    full, window_only = evaluate(problem.params, [np.ones(3), table["multiplier"]])
    assert summary["current_kpi"] == pytest.approx(full[0], rel=1e-5)
    assert summary["optimal_kpi"] == pytest.approx(full[1], rel=1e-5)
    # the objective counts the carry-over past the data end, beyond the window weeks
    assert summary["carryover_weeks"] == problem.model.max_lag - 1
    assert np.all(full > window_only)


def test_bound_labels_and_mroi(optimum):
    table, _ = optimum
    for row in table.itertuples():
        expected = ("lower" if row.multiplier - row.lower < 1e-3 else
                    "upper" if row.upper - row.multiplier < 1e-3 else "none")
        assert row.bound == expected
    assert np.all(table["mroi"] > 0)
    # KKT: channels at their upper bound return at least the free ones, at the lower at most
    mroi = table.groupby("bound")["mroi"]
    if "none" in mroi.groups:
        free = mroi.get_group("none")
        if "upper" in mroi.groups:
            assert mroi.get_group("upper").min() >= free.max() * (1 - 1e-2)
        if "lower" in mroi.groups:
            assert mroi.get_group("lower").max() <= free.min() * (1 + 1e-2)


@pytest.mark.parametrize("betas,binding", [((0.2, 0.4), "none"), ((0.4, 0.1), "upper")])
def test_matches_brute_force_for_two_channels(problem, evaluate, betas, binding):
    """Two channels free (search has no spend in the window, so it stays at 1):
    the optimiser's lift is within 1% of the best plan on a fine grid, at an
    interior optimum and at a corner."""
    prob = with_betas(problem, (*betas, 0.2))
    spend = prob.panel.spend.copy()
    spend[:, -WINDOW:, 2] = 0.0
    bspec = BudgetSpec(window_weeks=WINDOW, lower=0.3, upper={"default": 2.0, "radio": 1.8})
    table, summary = optimise_budget(with_spend(prob, spend), bspec, steps=STEPS)
    s = spend[:, -WINDOW:].sum(axis=(0, 1))
    lo = max(0.3, (s[:2].sum() - 1.8 * s[1]) / s[0])  # the feasible range of m_tv
    hi = min(2.0, (s[:2].sum() - 0.3 * s[1]) / s[0])
    m0 = np.linspace(lo, hi, N_PLANS - 1)
    m1 = (s[:2].sum() - m0 * s[0]) / s[1]
    plans = np.stack([m0, m1, np.ones_like(m0)], axis=1)
    full, _ = evaluate(prob.params, np.concatenate([np.ones((1, 3)), plans]))
    best_lift = full[1:].max() - full[0]
    assert best_lift > 0.003 * full[0]  # a real reallocation problem
    assert 0.99 * best_lift <= summary["lift"] <= 1.01 * best_lift
    assert table["multiplier"].iloc[0] == pytest.approx(m0[np.argmax(full[1:])], abs=0.05)
    assert table["bound"].iloc[0] == binding
    assert list(table["upper"]) == [2.0, 1.8, 1.0] and table["multiplier"].iloc[2] == 1.0


def test_interior_optimum_equalises_marginal_roi(problem):
    prob = with_betas(problem, (0.3, 0.25, 0.2))
    bspec = BudgetSpec(window_weeks=WINDOW, lower=0.05, upper=20.0)
    table, _ = optimise_budget(prob, bspec, steps=STEPS)
    assert (table["bound"] == "none").all(), table
    mroi = table["mroi"].to_numpy()
    assert mroi.max() / mroi.min() - 1 < 0.02, table


def test_total_override_dict_bounds_and_fixed_channels(problem):
    spend = problem.panel.spend.copy()
    spend[:, -WINDOW:, 1] = 0.0  # radio spends nothing in the window: it stays put
    current = spend[:, -WINDOW:].sum(axis=(0, 1))
    bspec = BudgetSpec(window_weeks=WINDOW, total=0.9 * current.sum(),
                       lower={"tv": 0.8, "default": 0.2}, upper=1.2)
    table, summary = optimise_budget(with_spend(problem, spend), bspec, steps=STEPS)
    assert table["optimal_spend"].sum() == pytest.approx(0.9 * current.sum(), rel=1e-4)
    radio = table.set_index("channel").loc["radio"]
    assert radio["multiplier"] == 1.0 and radio["bound"] == "none" and np.isnan(radio["mroi"])
    assert table.set_index("channel").loc["tv", "multiplier"] >= 0.8 - 1e-6
    assert summary["total_budget"] == pytest.approx(0.9 * current.sum())
    with pytest.raises(ConfigError, match="budget.total"):
        optimise_budget(with_spend(problem, spend),
                        BudgetSpec(window_weeks=WINDOW, total=5 * current.sum()))
    with pytest.raises(ConfigError, match="unknown channel"):
        optimise_budget(with_spend(problem, spend),
                        BudgetSpec(window_weeks=WINDOW, lower={"print": 0.1}))


def test_projection_is_the_closest_feasible_point():
    rng = np.random.default_rng(0)
    shares = jnp.asarray([0.5, 0.3, 0.2, 0.0], jnp.float32)
    lower = jnp.asarray([0.5, 0.5, 0.5, 1.0], jnp.float32)
    upper = jnp.asarray([1.5, 1.5, 1.5, 1.0], jnp.float32)
    project = jax.jit(project_budget)
    for _ in range(5):
        v = jnp.asarray(rng.uniform(-1, 3, 4), jnp.float32)
        p = np.asarray(project(v, shares, 1.0, lower, upper))
        assert float(np.dot(shares, p)) == pytest.approx(1.0, abs=1e-5)
        assert np.all(p >= lower - 1e-6) and np.all(p <= upper + 1e-6)
        # any other feasible point is at least as far from v
        q = rng.uniform(0.5, 1.5, (2000, 3))
        q = q[np.abs(q @ np.asarray(shares[:3]) - 1.0) < 1e-2]
        dist = np.linalg.norm(q - np.asarray(v[:3]), axis=1)
        assert np.linalg.norm(p[:3] - np.asarray(v[:3])) <= dist.min() + 2e-2


def test_what_if_total_direct_mediated(problem, effects):
    out = what_if(problem, {"tv": 0.0})
    assert out["kpi_change_total"] == pytest.approx(-effects.total[:, 0].sum(), rel=1e-4)
    assert out["kpi_change_direct"] == pytest.approx(-effects.direct[:, 0].sum(), rel=1e-4)
    assert out["kpi_change_total"] == pytest.approx(
        out["kpi_change_direct"] + out["kpi_change_mediated"])
    up = what_if(problem, {"tv": 1.3, "radio": 0.9}, weeks=np.arange(40) >= 30)
    assert up["kpi_change_mediated"] > 0  # tv drives search
    leaf = what_if(problem, {"search": 1.3})
    assert leaf["kpi_change_mediated"] == pytest.approx(0.0, abs=1e-6 * leaf["kpi_change_total"])
    assert what_if(problem, {})["kpi_change_total"] == 0.0
    with pytest.raises(ConfigError, match="unknown channel"):
        what_if(problem, {"print": 2.0})


def test_marginal_roi_is_the_derivative_per_unit_spend(problem):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    weeks = np.arange(40) >= 20
    mroi = marginal_roi(problem, weeks)
    grad = jax.jit(jax.grad(
        lambda m: plan_kpi(spec, params, x, z, statics, w, m, kpi_mean, weeks)))(jnp.ones(3))
    spend = problem.panel.spend[:, weeks].sum(axis=(0, 1))
    np.testing.assert_allclose(mroi, np.asarray(grad) / spend, rtol=2e-2)
    assert np.isnan(marginal_roi(with_spend(problem, None))).all()
    no_radio = problem.panel.spend.copy()
    no_radio[..., 1] = 0.0
    assert np.isnan(marginal_roi(with_spend(problem, no_radio))[1])


def test_marginal_roi_on_a_panel_past_2_15_cells(problem):
    """The panel tiled to 300 regions: 3 plans × 300 regions × 40 weeks is a vmap
    XLA:CPU (jaxlib 0.10.2) got wrong (the last channel took the first one's
    mROI). KPI change and spend both scale by 100, so mROI must not change."""
    tile = lambda a: jnp.tile(a, (100,) + (1,) * (a.ndim - 1))  # noqa: E731
    params = {"shared": problem.params["shared"],
              "region": jax.tree.map(tile, problem.params["region"])}
    batch = jax.tree.map(tile, problem.batch)
    big = fitted_of(problem.model, params, batch, problem.statics, problem.graph,
                    np.tile(problem.kpi_mean, 100), np.tile(problem.panel.spend, (100, 1, 1)),
                    problem.channels)
    np.testing.assert_allclose(marginal_roi(big), marginal_roi(problem), rtol=1e-3)
