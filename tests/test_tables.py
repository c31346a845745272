"""Each output table's builder called on a small fitted model (tests/analysis/conftest.py),
checked against independent computations of the same numbers."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dcmmm.analysis.budget import BudgetSpec, marginal_roi, optimise_budget, plan_lift
from dcmmm.analysis.curves import response_curves
from dcmmm.analysis.effects import incremental_effects
from dcmmm.analysis.metrics import fit_metrics
from dcmmm.analysis.plans import plan_prediction
from dcmmm.evidence import evidence_table
from dcmmm.refresh import Continuation, Previous
from dcmmm.specs import EnsembleSpec
from dcmmm.tables import (
    analyses,
    budget_tables,
    channel_table,
    channels_tables,
    curves_tables,
    dag_table,
    decomposition_table,
    fit_metrics_table,
    lift_table,
    metrics_table,
    predictions_table,
    refresh_tables,
)
from dcmmm.train.replicas import stack
from tests.analysis.conftest import make_problem, with_betas
from tests.train.test_calibration import lift_batch

BSPEC = BudgetSpec(window_weeks=20)
R, T, C = 3, 40, 3


@pytest.fixture(scope="module")
def problem():
    return make_problem()


@pytest.fixture(scope="module")
def effects(problem):
    return incremental_effects(problem)


@pytest.fixture(scope="module")
def ensemble(problem):
    """The problem as a 3-member ensemble: members 1 and 2 have other channel effects;
    zero tests call radio's effect plausibly zero."""
    others = [with_betas(problem, b).params for b in ((0.2, 0.1, 0.25), (0.4, 0.2, 0.15))]
    zero = {"channels": ["tv", "radio", "search"], "t": [5.0, 0.2, 3.0],
            "plausible": [False, True, False], "critical": 1.5, "weeks": 6}
    spec = dataclasses.replace(problem.spec, ensemble=EnsembleSpec(size=3))
    return dataclasses.replace(problem, spec=spec, member_params=stack([problem.params, *others]),
                               zero_tests=zero)


def test_predictions_table(problem):
    table = predictions_table(problem)
    assert list(table.columns) == ["region", "date", "split", "actual", "predicted"]
    assert len(table) == R * T and list(table["region"][:2]) == ["r0", "r0"]
    yhat = np.asarray(problem.prediction().y, np.float64) * problem.kpi_mean[:, None]
    np.testing.assert_allclose(table["predicted"], yhat.ravel(), rtol=1e-12)
    np.testing.assert_allclose(table["actual"], problem.panel.y.ravel())
    counts = table[table["region"] == "r1"]["split"].value_counts()
    split = problem.split
    assert (counts["train"], counts["validation"], counts["holdout"]) == (
        split.n_fit, split.n_train - split.n_fit, T - split.n_train)


def test_decomposition_table(problem):
    table = decomposition_table(problem)
    assert list(table.columns) == ["region", "date", "intercept", "trend", "seasonality",
                                   "control:z0", "control:z1", "channel:tv", "channel:radio",
                                   "channel:search", "predicted"]
    parts = table.drop(columns=["region", "date", "predicted"]).sum(axis=1)
    np.testing.assert_allclose(parts, table["predicted"], rtol=1e-12)
    np.testing.assert_allclose(table["predicted"], predictions_table(problem)["predicted"],
                               rtol=1e-5)
    media = np.asarray(problem.prediction().media[..., 0], np.float64) * problem.kpi_mean[:, None]
    np.testing.assert_allclose(table["channel:tv"], media.ravel(), rtol=1e-12)


def test_metrics_tables(problem, ensemble):
    metrics = fit_metrics_table(problem)
    assert list(metrics) == ["train", "validation", "holdout", "naive_holdout"]
    yhat, _ = problem.predict()
    holdout = np.zeros((R, T), bool)
    holdout[:, problem.split.n_train:] = True
    y = problem.panel.y
    assert metrics["holdout"] == fit_metrics(y, yhat, holdout, problem.kpi_mean)
    sse = ((yhat - y)[holdout] ** 2).sum()
    sst = ((y[holdout] - y[holdout].mean()) ** 2).sum()
    assert metrics["holdout"]["r2"] == pytest.approx(1 - sse / sst)
    assert set(metrics["naive_holdout"]) == {"last_value", "region_mean", "seasonal_naive"}
    full = metrics_table(problem, steps=10, best_step=5, fit_seconds=1.5,
                         backtest_summary={"folds": 3})
    assert (full["steps"], full["best_step"], full["fit_seconds"]) == (10, 5, 1.5)
    assert full["backtest"] == {"folds": 3} and "ensemble" not in full
    assert metrics_table(ensemble, 10, 5, 1.5)["ensemble"] == {
        "size": 3, "fitted": 3, "interval": 0.8, "interval_achieved": pytest.approx(0.5),
        "left_out": []}
    # members left out (dcmmm.fitting.kept_members): the intervals are over the members kept
    out = [{"member": 3, "chi2": 40.0, "chi2_point": 1.0, "terms": 2}]
    ens = dataclasses.replace(ensemble, spec=dataclasses.replace(
        ensemble.spec, ensemble=dataclasses.replace(ensemble.spec.ensemble, size=4)))
    assert metrics_table(ens, 10, 5, 1.5, left_out=out)["ensemble"] == {
        "size": 3, "fitted": 4, "interval": 0.8, "interval_achieved": pytest.approx(0.5),
        "left_out": out}


def test_dag_table(problem, effects):
    table = dag_table(problem)
    assert list(table.columns) == ["parent", "child", "weight", "stability", "kpi_mediated"]
    assert table[["parent", "child", "weight"]].to_dict("records") == [
        {"parent": "tv", "child": "search", "weight": 0.4}]
    assert np.isnan(table["stability"].iloc[0])  # not measured
    # tv's only edge carries all of tv's mediated effect
    np.testing.assert_allclose(table["kpi_mediated"].iloc[0], effects.mediated.sum(axis=0)[0],
                               rtol=1e-5)
    stability = np.zeros((C, C))
    stability[0, 2] = 0.9
    assert dag_table(dataclasses.replace(problem, graph_stability=stability))[
        "stability"].iloc[0] == 0.9
    empty = dag_table(dataclasses.replace(problem, graph=np.zeros((C, C))))
    assert list(empty.columns) == list(table.columns) and empty.empty


def test_channel_table(problem, effects):
    table = channel_table(problem)
    assert list(table.columns) == [
        "channel", "spend", "activity", "incremental_direct", "incremental_mediated",
        "incremental_total", "share", "mediated_share", "roi_direct", "roi", "mroi",
        "adstock_family", "mean_lag_weeks", "hill_k", "hill_s"]
    spend = problem.panel.spend.sum(axis=(0, 1))
    np.testing.assert_allclose(table["spend"], spend)
    np.testing.assert_allclose(table["incremental_total"], effects.total.sum(axis=0))
    np.testing.assert_allclose(table["roi"], effects.total.sum(axis=0) / spend)
    np.testing.assert_allclose(table["mroi"], marginal_roi(problem))
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["incremental_mediated"].iloc[0] > 0 == table["incremental_mediated"].iloc[1]
    np.testing.assert_allclose(table["mediated_share"],
                               effects.mediated.sum(axis=0) / effects.total.sum(axis=0))


def test_channels_and_window_tables(problem, ensemble):
    channels, window = channels_tables(problem, BSPEC)
    plain = channel_table(problem)  # then how each ROI is known (dcmmm.evidence)
    pd.testing.assert_frame_equal(channels[list(plain.columns)], plain)
    evidence = evidence_table(problem)
    assert list(channels.columns) == [*plain.columns, *evidence.columns[1:]]
    pd.testing.assert_frame_equal(channels[list(evidence.columns)], evidence)
    late = np.arange(T) >= T - 20
    np.testing.assert_allclose(window["spend"], problem.panel.spend[:, late].sum(axis=(0, 1)))
    inc = incremental_effects(problem, weeks=late)
    np.testing.assert_allclose(window["incremental_total"], inc.total.sum(axis=0))
    channels, window = channels_tables(ensemble, BSPEC)
    for table in (channels, window):
        for col in ("roi", "incremental_total", "hill_k"):
            assert (table[f"{col}_lo"] <= table[col] + 1e-9).all(), col
            assert (table[col] <= table[f"{col}_hi"] + 1e-9).all(), col
        assert list(table["zero_plausible"]) == [False, True, False]
        assert table.loc[1, "roi_lo"] == 0.0 and table.loc[0, "roi_lo"] > 0


def test_curves_tables(problem, effects, ensemble):
    curves, hill = curves_tables(problem)
    pd.testing.assert_frame_equal(curves, response_curves(problem))
    at_one = curves[curves["multiplier"] == 1.0]
    np.testing.assert_allclose(at_one["incremental_total"], effects.total.sum(axis=0), rtol=1e-4)
    assert list(hill["channel"]) == ["tv", "radio", "search"] and (hill["r2"] > 0.99).all()
    bands, _ = curves_tables(ensemble)
    assert (bands["incremental_total_lo"] <= bands["incremental_total_hi"] + 1e-9).all()
    assert "zero_t" not in bands  # curves get the zero tests' lower ends, not their flags
    assert (bands.loc[bands["channel"] == "radio", "incremental_total_lo"] == 0.0).all()


def test_budget_tables(problem, ensemble):
    budget, summary = budget_tables(problem, BSPEC)
    want, want_summary = optimise_budget(problem, BSPEC)
    pd.testing.assert_frame_equal(budget, want)
    assert summary == want_summary and "lift_members" not in summary
    _, robust = budget_tables(ensemble, BSPEC)
    assert len(robust["lift_members"]) == 3
    assert robust["lift_members"][0] == pytest.approx(robust["lift"], rel=1e-3, abs=1e-3)
    # a member uses its own thresholded graph: these parameters' learned graph is empty
    member = dataclasses.replace(with_betas(problem, (0.4, 0.2, 0.15)), graph=np.zeros((C, C)))
    plan = budget["multiplier"].to_numpy()
    assert robust["lift_members"][2] == pytest.approx(plan_lift(member, plan, 20), rel=1e-6)
    assert robust["lift_lo"] == min(robust["lift_members"])


def test_lift_table():
    fitted = make_problem()
    lifts = lift_batch(R, T, C, 0, slice(10, 18), 500.0, 50.0, fitted.kpi_mean,
                       measured=slice(10, 22))
    fitted = dataclasses.replace(fitted, batch=fitted.batch._replace(lifts=lifts))
    table = lift_table(fitted)
    assert table.drop(columns=["model_lift", "z"]).to_dict("records") == [
        {"channel": "tv", "region": "", "start": "10", "end": "17", "measure_end": "21",
         "lift": 500.0, "lift_se": 50.0}]
    weeks = np.zeros(T, bool)
    weeks[10:18] = True
    y = fitted.prediction().y
    off = plan_prediction(fitted.model, fitted.params, fitted.batch.x, fitted.batch.z,
                          fitted.statics, fitted.graph, np.array([0.0, 1.0, 1.0], np.float32),
                          weeks)
    lost = (np.asarray(y - off, np.float64) * fitted.kpi_mean[:, None])[:, 10:22].sum()
    assert table["model_lift"].iloc[0] == pytest.approx(lost, rel=1e-4)
    assert table["z"].iloc[0] == pytest.approx((table["model_lift"].iloc[0] - 500.0) / 50.0)


def test_refresh_tables(problem):
    """Against itself over the first 30 weeks: no ROI moved, every edge kept."""
    old = np.arange(T) < 30
    before = channel_table(problem, old)
    dag = dag_table(problem)
    previous = Previous(Path("old_run"), problem.scalers, problem.params, np.arange(3.0),
                        Continuation(np.arange(3.0), 0), 30, 0.1, before, dag)
    table, edges, summary = refresh_tables(problem, previous, channel_table(problem), dag)
    assert list(table.columns) == [
        "channel", "roi_before", "roi_after", "roi_change", "roi_change_pct",
        "incremental_total_before", "incremental_total_after", "mroi_before", "mroi_after",
        "roi_all_weeks"]
    np.testing.assert_allclose(table["roi_change"], 0.0, atol=1e-12)
    assert list(edges["status"]) == ["kept"] and summary["new_weeks"] == 10
    assert summary["old_weeks"] == 30 and summary["max_abs_roi_change_pct"] == 0.0


def test_analyses_is_every_decision_table(problem):
    out = analyses(problem, BSPEC)
    assert out.calibration is None and out.refresh is None
    pd.testing.assert_frame_equal(out.dag, dag_table(problem))
    assert out.budget is not None and out.budget_summary["window_weeks"] == 20
