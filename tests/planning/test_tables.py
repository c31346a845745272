"""A plan's tables: plan.csv per channel and per region, plan_weekly.csv, the
summary, ensemble intervals, plan.html."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.planning.planner import Planner
from dcmmm.planning.report import write_plan_report
from dcmmm.planning.spec import PlanSpec
from dcmmm.planning.tables import PLAN_COLUMNS, plan_table, summary, weekly_table
from tests.analysis.conftest import with_betas
from tests.planning.conftest import WEEKS

SPEC = PlanSpec(lower=0.3, upper=2.0, kpi_value=2.5)


@pytest.fixture(scope="module")
def tables(planner):
    optimum = planner.optimise(SPEC)
    by_region = dataclasses.replace(SPEC, by_region=True)
    regional = planner.optimise(by_region)
    return (optimum, plan_table(planner, optimum, SPEC), weekly_table(planner, optimum),
            summary(planner, optimum, SPEC), plan_table(planner, regional, by_region))


def test_plan_table_per_channel_and_per_region(planner, tables):
    optimum, table, _, summ, regional = tables
    assert list(table.columns) == ["channel", "spend_given", "spend_planned", "multiplier",
                                   "at_bound", "incremental_kpi_given",
                                   "incremental_kpi_planned", "roi", "mroi"]
    np.testing.assert_allclose(table["spend_given"], planner.spend_rc.sum(axis=0))
    np.testing.assert_allclose(table["spend_planned"], table["multiplier"] * table["spend_given"])
    np.testing.assert_allclose(table["roi"], 2.5 * table["incremental_kpi_planned"]
                               / table["spend_planned"])
    assert table["spend_planned"].sum() == pytest.approx(summ["spend_planned"])
    assert set(table["at_bound"]) <= {"lower", "upper", "none"}
    interior = table["at_bound"] == "none"
    np.testing.assert_allclose(table.loc[interior, "mroi"], optimum.alpha, rtol=1e-2)
    assert list(regional.columns[:2]) == ["region", "channel"] and len(regional) == 9
    sums = regional.groupby("channel", sort=False)[["spend_given", "incremental_kpi_given"]].sum()
    np.testing.assert_allclose(sums["spend_given"], table["spend_given"])
    np.testing.assert_allclose(sums["incremental_kpi_given"], table["incremental_kpi_given"],
                               rtol=1e-5)


def test_weekly_plan_is_what_to_buy(planner, tables):
    optimum, _, weekly, _, _ = tables
    assert list(weekly.columns) == ["date", "region", "channel", "spend", "activity"]
    assert len(weekly) == 3 * WEEKS * 3
    spend = weekly["spend"].to_numpy().reshape(3, WEEKS, 3)
    np.testing.assert_allclose(spend, planner.future.spend * optimum.multipliers[:, None, :])
    activity = weekly["activity"].to_numpy().reshape(3, WEEKS, 3)
    given = planner.future.activity
    unchanged = np.isclose(optimum.multipliers, 1.0)
    assert not unchanged.all()
    # the graph's parent (channel 0) drives channel 2: only channel 0 follows its multiplier alone
    np.testing.assert_allclose(activity[..., 0], given[..., 0] * optimum.multipliers[:, None, 0],
                               rtol=1e-5)
    assert weekly["date"].iloc[0] == str(planner.fitted.panel.periods[-1] + 1)


def test_summary_adds_up(planner, tables):
    _, table, _, summ, _ = tables
    assert summ["incremental_kpi_planned"] > summ["incremental_kpi_given"]
    assert summ["lift"] == pytest.approx(summ["incremental_kpi_planned"]
                                         - summ["incremental_kpi_given"])
    assert summ["roi_planned"] == pytest.approx(2.5 * summ["incremental_kpi_planned"]
                                                / summ["spend_planned"])
    weeks = summ["expected_kpi"]
    assert len(weeks) == WEEKS and summ["carryover_weeks"] == planner.fitted.model.max_lag - 1
    assert summ["expected_kpi_total"] == pytest.approx(sum(w["expected"] for w in weeks))
    assert all(w["expected"] == pytest.approx(w["baseline"] + w["media"]) for w in weeks)
    assert sum(r["spend_planned"] for r in summ["regions"]) == pytest.approx(summ["spend_planned"])
    assert summ["roi_unit"] == "money per unit of money"


def test_an_ensemble_gives_intervals(fitted, future, tmp_path):
    other = with_betas(fitted, [0.2, 0.3, 0.1])
    members = jax.tree.map(lambda *a: jnp.stack(a), fitted.params, other.params, other.params)
    planner = Planner(dataclasses.replace(fitted, member_params=members), future)
    optimum = planner.optimise(SPEC)
    table, summ = plan_table(planner, optimum, SPEC), summary(planner, optimum, SPEC)
    for col in PLAN_COLUMNS:
        assert (table[f"{col}_lo"] <= table[f"{col}_hi"]).all()
        assert (table[f"{col}_lo"] < table[f"{col}_hi"]).any()
    assert summ["members"] == 3 and summ["lift_lo"] <= summ["lift_hi"]
    assert all(w["expected_lo"] <= w["expected_hi"] for w in summ["expected_kpi"])
    page = write_plan_report(tmp_path / "plan.html", table, summ, planner.frontier(SPEC), "test")
    text = page.read_text()
    assert text.count("<img") == 4 and "ensemble members" in text
