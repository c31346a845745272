"""The page's numbers (dcmmm.planner.view) against the planning API's: the
weekly expected KPI and its interval are plan_summary.json's, each response
curve passes through plan.csv's incremental KPI at the planned and the given
spend, and one region's numbers add up to all regions'."""

import numpy as np
import pytest

import dcmmm
from dcmmm.planner import session
from dcmmm.planner.view import page_spec, view
from dcmmm.planning.tables import plan_table, summary

# one worker trains the tiny run (conftest) for all of tests/planner under -n 2
pytestmark = pytest.mark.xdist_group("planner")

WEEKS = 8


@pytest.fixture(scope="module")
def planned(run_dir):
    run = dcmmm.load_run(run_dir)
    pspec = dcmmm.PlanSpec(weeks=WEEKS)
    planner = dcmmm.Planner.of(run, pspec)
    mult_c = np.array([1.4, 0.7, 1.0, 1.2, 0.5])
    return planner, pspec, mult_c


def test_weekly_kpi_and_totals_are_the_summarys(planned):
    planner, pspec, mult_c = planned
    v = view(planner, pspec, mult_c)
    mult = planner.channel_multipliers(dict(zip(planner.fitted.channels, mult_c)))
    s = summary(planner, planner.optimum_of(mult), pspec)
    weeks = s["expected_kpi"]
    assert len(v.weekly) == WEEKS
    for col in ("baseline", "expected", "expected_given", "expected_lo", "expected_hi"):
        np.testing.assert_allclose(v.weekly[col], [w[col] for w in weeks], rtol=1e-5, err_msg=col)
    assert v.kpi_planned == pytest.approx(s["incremental_kpi_planned"], rel=1e-5)
    assert v.kpi_given == pytest.approx(s["incremental_kpi_given"], rel=1e-5)
    assert v.spend_planned == pytest.approx(s["spend_planned"], rel=1e-9)
    assert v.kpi_planned_lo <= v.kpi_planned_hi  # a 3-member ensemble: its range


def test_curves_pass_through_the_tables_numbers(planned):
    planner, pspec, mult_c = planned
    v = view(planner, pspec, mult_c)
    mult = planner.channel_multipliers(dict(zip(planner.fitted.channels, mult_c)))
    table = plan_table(planner, planner.optimum_of(mult), page_spec(pspec))
    points = v.curves[v.curves["kind"] == "this plan"].set_index("channel")
    for _, row in table.iterrows():
        point = points.loc[row["channel"]]
        assert point["incremental_kpi"] == pytest.approx(row["incremental_kpi_planned"], rel=1e-4,
                                                         abs=1e-3)
        assert point["spend"] == pytest.approx(row["spend_planned"], rel=1e-9)
    line = v.curves[v.curves["kind"] == "curve"]
    for _, curve in line.groupby("channel"):
        assert curve["incremental_kpi"].iloc[0] == pytest.approx(0.0, abs=1e-2)  # no spend
        assert curve["spend"].is_monotonic_increasing


def test_regions_add_up_to_all(planned):
    planner, pspec, mult_c = planned
    whole = view(planner, pspec, mult_c)
    parts = [view(planner, pspec, mult_c, r) for r in planner.fitted.panel.regions]
    assert sum(p.kpi_planned for p in parts) == pytest.approx(whole.kpi_planned, rel=1e-5)
    assert sum(p.spend_planned for p in parts) == pytest.approx(whole.spend_planned, rel=1e-9)
    np.testing.assert_allclose(sum(p.weekly["expected"].to_numpy() for p in parts),
                               whole.weekly["expected"], rtol=1e-5)
    np.testing.assert_allclose(sum(p.table["spend_planned"].to_numpy() for p in parts),
                               whole.table["spend_planned"], rtol=1e-9)


def test_plan_html_is_plan_pys_page(planned, run_dir):
    planner, pspec, mult_c = planned
    page = session.plan_html(planner, pspec, mult_c, "a plan").decode()
    assert page.count("<img") == 4 and "http" not in page.replace("http-equiv", "")
    assert "as is" in page
