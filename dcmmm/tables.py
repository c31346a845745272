"""The output tables of a fitted model: pure functions, no file I/O.

Each builder takes a `Fitted` (and the settings it needs) and returns the
table of one file of the run directory (`dcmmm.outputs` writes them; the
README's "Outputs" lists the files and their columns). Numbers are in KPI
units, money or data units as the README says. With an ensemble, the
analyses' tables get member intervals (`dcmmm.intervals`).
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from dcmmm.analysis.budget import BudgetSpec, marginal_roi, optimise_budget, window_start
from dcmmm.analysis.curves import fit_hill_curves, response_curves
from dcmmm.analysis.effects import incremental_effects, total_effect
from dcmmm.analysis.metrics import fit_metrics, naive_holdout_metrics
from dcmmm.data.calibration import REGION_SEPARATOR
from dcmmm.ensemble import achieved_level
from dcmmm.evidence import evidence_table
from dcmmm.fitted import Fitted
from dcmmm.intervals import INTERVAL_COLUMNS, ZERO_COLUMNS, over_members, plan_robustness, with_zero
from dcmmm.model.adstock import mean_lag
from dcmmm.model.mmm import adstock_kernel
from dcmmm.model.saturation import hill_k, hill_s
from dcmmm.refresh import Previous, compare

CURVE_COLUMNS = ("incremental_direct", "incremental_total")  # with member intervals


def _cells(fitted: Fitted) -> dict:
    """The `region` and `date` columns of a [R, T] table, regions first."""
    panel = fitted.panel
    return {"region": np.repeat(np.array(panel.regions, dtype=object), panel.n_weeks),
            "date": np.tile(np.array(panel.period_labels(), dtype=object), panel.n_regions)}


def predictions_table(fitted: Fitted) -> pd.DataFrame:
    """predictions.csv: region, date, split, actual (empty where masked), predicted (KPI units)."""
    panel = fitted.panel
    yhat, _ = fitted.predict()
    return pd.DataFrame({
        **_cells(fitted),
        "split": np.tile(fitted.split.labels(panel.n_weeks), panel.n_regions),
        "actual": np.where(panel.mask, panel.y, np.nan).ravel(),
        "predicted": yhat.ravel(),
    })


def decomposition_table(fitted: Fitted) -> pd.DataFrame:
    """decomposition.csv: region, date, intercept, trend (the local level),
    seasonality, control:<name>, channel:<name> and predicted = their sum (KPI units)."""
    panel = fitted.panel
    pred = fitted.prediction()
    columns = {**_cells(fitted), "intercept": fitted.to_kpi(pred.intercept).ravel(),
               "trend": fitted.to_kpi(pred.level).ravel(),
               "seasonality": fitted.to_kpi(pred.seasonality).ravel()}
    for k, name in enumerate(panel.controls):
        columns[f"control:{name}"] = fitted.to_kpi(pred.controls[..., k]).ravel()
    for c, name in enumerate(panel.channels):
        columns[f"channel:{name}"] = fitted.to_kpi(pred.media[..., c]).ravel()
    table = pd.DataFrame(columns)
    table["predicted"] = table.drop(columns=["region", "date"]).sum(axis=1)
    return table


def fit_metrics_table(fitted: Fitted) -> dict:
    """metrics.json's fit: `train`, `validation`, `holdout` metrics of the
    prediction (`dcmmm.analysis.metrics.fit_metrics`) and `naive_holdout`,
    the naive forecasts' on the holdout."""
    panel, kpi_mean = fitted.panel, fitted.kpi_mean
    yhat, _ = fitted.predict()
    cells = fitted.split.cells(panel.mask)
    metrics = {name: fit_metrics(panel.y, yhat, mask, kpi_mean) for name, mask in cells.items()}
    metrics["naive_holdout"] = naive_holdout_metrics(
        panel.y, panel.train_mask, cells["holdout"], fitted.split.n_train, kpi_mean)
    return metrics


def metrics_table(fitted: Fitted, steps: int, best_step: int, fit_seconds: float,
                  backtest_summary: dict | None = None, left_out: list | None = None) -> dict:
    """metrics.json (NaN as None): the fit's metrics, `fit_seconds`, `steps`,
    `best_step`; with an ensemble `ensemble` (size: the members the intervals
    are over, fitted: the members fitted, interval, interval_achieved, left_out:
    the members left out, `dcmmm.fitting.kept_members`); with a backtest its summary."""
    metrics = fit_metrics_table(fitted)
    metrics.update(fit_seconds=fit_seconds, steps=steps, best_step=best_step)
    if fitted.member_params is not None:
        ens = fitted.spec.ensemble
        metrics["ensemble"] = {"size": fitted.n_members, "fitted": ens.size,
                               "interval": ens.interval,
                               "interval_achieved": achieved_level(fitted.n_members, ens.interval),
                               "left_out": list(left_out or [])}
    if backtest_summary is not None:
        metrics["backtest"] = backtest_summary
    return metrics


DAG_COLUMNS = ["parent", "child", "weight", "stability", "kpi_mediated"]


def dag_table(fitted: Fitted) -> pd.DataFrame:
    """dag.csv: each edge of the graph every output uses, its `weight`, its
    `stability` (share of the bootstrap refits with the edge; NaN when not
    measured) and `kpi_mediated`: the parent's total incremental KPI (all
    weeks, all regions) that goes through this edge, i.e. its total effect
    minus its total effect with the edge cut."""
    names, graph, stability = fitted.channels, fitted.graph, fitted.graph_stability
    rows = []
    for i, j in zip(*np.nonzero(graph)):
        cut = graph.copy()
        cut[i, j] = 0.0
        rows.append({"parent": names[i], "child": names[j], "weight": graph[i, j],
                     "stability": np.nan if stability is None else stability[i, j],
                     "kpi_mediated": total_effect(fitted, i).sum()
                     - total_effect(fitted, i, graph=cut).sum()})
    return pd.DataFrame(rows, columns=DAG_COLUMNS)


def channel_table(fitted: Fitted, weeks=None) -> pd.DataFrame:
    """channels.csv rows over `weeks` (boolean [T], None = all weeks): spend,
    activity, incremental effects, share, ROI, mROI, adstock and Hill parameters."""
    panel, mspec = fitted.panel, fitted.model
    mask = np.ones(panel.n_weeks, bool) if weeks is None else np.asarray(weeks, bool)
    inc = incremental_effects(fitted, weeks=mask)
    spend = (panel.spend[:, mask].sum(axis=(0, 1)) if panel.spend is not None
             else np.full(panel.n_channels, np.nan))
    table = pd.DataFrame({
        "channel": panel.channels,
        "spend": spend,
        "activity": panel.media[:, mask].sum(axis=(0, 1)),
        "incremental_direct": inc.direct.sum(axis=0),
        "incremental_mediated": inc.mediated.sum(axis=0),
        "incremental_total": inc.total.sum(axis=0),
    })
    total = table["incremental_total"].sum()
    table["share"] = table["incremental_total"] / total if total > 0 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        table["mediated_share"] = np.where(table["incremental_total"] > 0,
                                           table["incremental_mediated"]
                                           / table["incremental_total"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["roi_direct"] = np.where(spend > 0, table["incremental_direct"] / spend, np.nan)
        table["roi"] = np.where(spend > 0, table["incremental_total"] / spend, np.nan)
    table["mroi"] = marginal_roi(fitted, weeks=mask)
    shared = fitted.params["shared"]
    table["adstock_family"] = mspec.adstock_family if mspec.adstock_enabled else "none"
    table["mean_lag_weeks"] = np.asarray(mean_lag(adstock_kernel(mspec, shared)))
    table["hill_k"] = np.asarray(hill_k(shared["hill"]["raw_k"]))
    table["hill_s"] = np.asarray(hill_s(shared["hill"]["raw_s"]))
    return table


def lift_table(fitted: Fitted) -> pd.DataFrame:
    """calibration.csv: each lift test beside the fitted model's lift for it."""
    panel, lifts = fitted.panel, fitted.batch.lifts
    model = fitted.model_lifts(lifts)
    measured, se = np.asarray(lifts.lift, np.float64), np.asarray(lifts.lift_se, np.float64)
    labels = panel.period_labels()
    regions, weeks = np.asarray(lifts.region_w) > 0, np.asarray(lifts.week_w) > 0
    measured_weeks = np.asarray(lifts.measure_w) > 0
    return pd.DataFrame({
        "channel": [panel.channels[c] for c in np.argmax(np.asarray(lifts.off), axis=1)],
        "region": ["" if r.all() else REGION_SEPARATOR.join(np.asarray(panel.regions)[r])
                   for r in regions],
        "start": [labels[np.flatnonzero(w)[0]] for w in weeks],
        "end": [labels[np.flatnonzero(w)[-1]] for w in weeks],
        "measure_end": [labels[np.flatnonzero(w)[-1]] for w in measured_weeks],
        "lift": measured, "lift_se": se, "model_lift": model, "z": (model - measured) / se})


def prior_table(fitted: Fitted, channels: pd.DataFrame) -> pd.DataFrame:
    """priors.csv: each ROI prior (`prior_roi`, `prior_sd`) beside the fitted
    ROI of channels.csv (with its interval in an ensemble) and
    z = (roi − prior_roi) / prior_sd."""
    priors = fitted.batch.priors
    index = np.argmax(np.asarray(priors.off), axis=1)
    spend = np.asarray(fitted.panel.spend.sum(axis=(0, 1)), np.float64)[index]
    table = pd.DataFrame({"channel": [fitted.channels[c] for c in index],
                          "prior_roi": np.asarray(priors.lift, np.float64) / spend,
                          "prior_sd": np.asarray(priors.lift_se, np.float64) / spend})
    fitted_cols = [c for c in ("roi", "roi_lo", "roi_hi") if c in channels]
    table = table.merge(channels[["channel", *fitted_cols]], on="channel", how="left")
    table["z"] = (table["roi"] - table["prior_roi"]) / table["prior_sd"]
    return table


def channels_tables(fitted: Fitted, bspec: BudgetSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """channels.csv (all weeks, with how each ROI is known:
    `dcmmm.evidence.evidence_table`) and channels_window.csv (the planning
    window), with member intervals and zero tests in an ensemble."""
    zero = fitted.zero_tests if fitted.member_params is not None else None
    n_weeks = fitted.panel.n_weeks
    window = np.arange(n_weeks) >= window_start(n_weeks, bspec.window_weeks)
    every = over_members(fitted, channel_table, INTERVAL_COLUMNS)
    recent = over_members(fitted, lambda member: channel_table(member, window), INTERVAL_COLUMNS)
    every = with_zero(every, zero, ZERO_COLUMNS).merge(evidence_table(fitted), on="channel")
    return every, with_zero(recent, zero, ZERO_COLUMNS)


def curves_tables(fitted: Fitted) -> tuple[pd.DataFrame, pd.DataFrame]:
    """response_curves.csv (with member bands in an ensemble) and
    response_curves_hill.csv (a Hill curve fitted to each)."""
    zero = fitted.zero_tests if fitted.member_params is not None else None
    curves = with_zero(over_members(fitted, response_curves, CURVE_COLUMNS), zero, ZERO_COLUMNS,
                       flags=False)
    return curves, fit_hill_curves(curves)


def budget_tables(fitted: Fitted, bspec: BudgetSpec) -> tuple[pd.DataFrame, dict]:
    """budget.csv and budget_summary.json (`optimise_budget`); with an
    ensemble the summary adds the plan's lift under each member."""
    budget, summary = optimise_budget(fitted, bspec)
    if fitted.member_params is not None:
        summary.update(plan_robustness(fitted.members(), budget["multiplier"].to_numpy(),
                                       bspec.window_weeks, fitted.spec.ensemble.interval))
    return budget, summary


def refresh_tables(fitted: Fitted, previous: Previous, channels: pd.DataFrame,
                   dag: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """refresh.csv, refresh_edges.csv and metrics.json's `refresh` summary
    (`dcmmm.refresh.compare`) from this run's channels and dag tables."""
    old_weeks = np.arange(fitted.panel.n_weeks) < previous.n_weeks
    table, edges, summary = compare(previous, channel_table(fitted, old_weeks), channels, dag)
    summary["new_weeks"] = fitted.panel.n_weeks - previous.n_weeks
    return table, edges, summary


class Analyses(NamedTuple):
    """The decision tables of a fitted model (None where they do not apply)."""

    dag: pd.DataFrame
    channels: pd.DataFrame
    channels_window: pd.DataFrame
    curves: pd.DataFrame
    curves_hill: pd.DataFrame
    budget: pd.DataFrame | None  # without spend: None
    budget_summary: dict | None
    calibration: pd.DataFrame | None  # without lift tests: None
    priors: pd.DataFrame | None  # without ROI priors: None
    refresh: tuple | None  # a refresh: (refresh.csv, refresh_edges.csv, summary)


def analyses(fitted: Fitted, bspec: BudgetSpec, previous: Previous | None = None) -> Analyses:
    """Every decision table of a fitted model; `previous`: the finished run a
    refresh continued (for its comparison tables)."""
    dag = dag_table(fitted)
    channels, channels_window = channels_tables(fitted, bspec)
    curves, hill = curves_tables(fitted)
    budget, summary = budget_tables(fitted, bspec) if fitted.panel.has_spend else (None, None)
    calibration = lift_table(fitted) if fitted.batch.lifts is not None else None
    priors = prior_table(fitted, channels) if fitted.batch.priors is not None else None
    refresh = refresh_tables(fitted, previous, channels, dag) if previous is not None else None
    return Analyses(dag, channels, channels_window, curves, hill, budget, summary, calibration,
                    priors, refresh)
