"""One run: check the config, load the data, fit, write the run directory.

The orchestration only: the config is checked by `dcmmm.config`, the data
and the run directory's files by `dcmmm.rundir`, the fit by `dcmmm.fitting`
(`dcmmm.backtest` for a backtest), the tables by `dcmmm.tables`, and
`dcmmm.outputs` writes them (docs/design.md, "Layers").
"""

import dataclasses
import logging
import time
from pathlib import Path

from dcmmm import rundir, tables
from dcmmm.backtest import fit_backtest
from dcmmm.config import (
    budget_spec,
    check_config,
    mesh_spec,
    refresh_settings,
    run_spec_for,
    validate_spec,
)
from dcmmm.data.panel import Panel
from dcmmm.data.scaling import fit_scalers
from dcmmm.evidence import JITTERS, effect_profile
from dcmmm.fitted import Fitted
from dcmmm.fitting import Fit, continuation_record, fit_members, fit_panel
from dcmmm.outputs import write_analyses, write_run_report, write_table
from dcmmm.refresh import Previous, load_previous
from dcmmm.train.graph_stability import edge_stability
from dcmmm.train.inputs import national_without_spend
from dcmmm.train.sharding import initialize_distributed, region_layout

logger = logging.getLogger(__name__)


def _previous(cfg: dict, panel: Panel) -> Previous | None:
    """The finished run a refresh continues (`refresh.from`), or None."""
    source, scale = refresh_settings(cfg)
    if source is None:
        return None
    previous = load_previous(source, scale, cfg, panel)
    logger.info("refresh of %s: %d old weeks, %d new", source, previous.n_weeks,
                panel.n_weeks - previous.n_weeks)
    return previous


def main(cfg: dict, run_dir: str | Path) -> dict:
    """Run one experiment (a resolved config dict) into `run_dir`; returns
    metrics.json's content. metrics.json is written last: it marks a finished run."""
    check_config(cfg)  # before any data is read or anything is computed
    initialize_distributed(mesh_spec(cfg))  # before any computation (multi-host jobs)
    run_dir, checkpoint_dir = rundir.open_run_dir(run_dir)
    rundir.write_json(run_dir / rundir.CONFIG, cfg)
    started = time.time()
    panel, data_path, truth = rundir.load_data(cfg, run_dir)
    spec = run_spec_for(cfg, panel)
    bspec, vspec = budget_spec(cfg), validate_spec(cfg)
    previous = _previous(cfg, panel)
    scalers = previous.scalers if previous is not None else fit_scalers(panel)
    scalers.save(run_dir / rundir.SCALERS)
    logger.info("panel: %d regions x %d weeks, %d channels, %d controls", panel.n_regions,
                panel.n_weeks, panel.n_channels, panel.n_controls)
    lift_tests, priors = rundir.lift_tests_of(cfg, panel), rundir.priors_of(cfg, panel)

    if vspec.mode == "backtest":
        fit = fit_backtest(panel, scalers, spec, vspec, run_dir / rundir.CHECKPOINTS)
    elif spec.ensemble.size > 1:
        fit = fit_members(panel, scalers, spec, lift_tests, run_dir / rundir.CHECKPOINTS, priors)
    else:
        fit = fit_panel(panel, scalers, spec, checkpoint_dir, int(cfg["train"]["checkpoint_every"]),
                        lift_tests, previous, priors)
    result, fitted = fit.result, fit.fitted
    logger.info("fit: %d steps in %.1f s (best validation at step %d)", result.steps,
                result.fit_seconds, result.best_step)
    _write_fit(run_dir, fit)
    fitted = _with_graph_stability(run_dir, fitted)
    if vspec.mode != "backtest":
        fitted = _with_evidence(run_dir, fitted)

    metrics = rundir.clean(tables.metrics_table(fitted, result.steps, result.best_step,
                                                result.fit_seconds, fit.backtest_summary,
                                                fit.left_out))
    predictions = tables.predictions_table(fitted)
    decomposition = tables.decomposition_table(fitted)
    write_table(run_dir, rundir.PREDICTIONS, predictions)
    write_table(run_dir, rundir.DECOMPOSITION, decomposition)
    analyses = tables.analyses(fitted, bspec, previous)
    refresh = None
    if analyses.refresh is not None:
        refresh = analyses.refresh[:2]
        metrics["refresh"] = rundir.clean(analyses.refresh[2])
    write_analyses(run_dir, analyses)
    write_run_report(run_dir, analyses, metrics, predictions, decomposition, fit.backtest,
                     refresh)

    info = rundir.run_info(spec, panel, fitted.split, data_path,
                           continuation_record(panel, spec, previous), time.time() - started)
    rundir.write_json(run_dir / rundir.RUN_INFO, rundir.clean(info))
    rundir.write_json(run_dir / rundir.METRICS, metrics)
    if truth is not None:
        logger.info("synthetic truth written to %s", run_dir / rundir.DATA / rundir.TRUTH)
    return metrics


def _with_graph_stability(run_dir: Path, fitted: Fitted) -> Fitted:
    """The fitted model with its edges' stability measured (written to
    graph_stability.json), when the run asks for refits and its thresholded
    graph has an edge to judge; logs why national data learns no edge."""
    if national_without_spend(fitted.panel) and fitted.model.graph_mode != "none":
        logger.warning("national data without spend columns: a shared media plan and one channel "
                       "driving another look the same here, so no channel edges are learned "
                       "(model.graph.require adds edges you know)")
    spec = fitted.spec
    if spec.graph.resamples == 0 or not fitted.graph.any():
        return fitted
    started = time.time()
    stability = edge_stability(fitted.params, fitted.batch, fitted.statics, spec, spec.seed)
    logger.info("graph stability: %d bootstrap refits in %.1f s", spec.graph.resamples,
                time.time() - started)
    rundir.write_graph_stability(run_dir, fitted.channels, spec.graph.resamples, stability)
    return fitted.with_stability(stability)


def _with_evidence(run_dir: Path, fitted: Fitted) -> Fitted:
    """The fitted model with the profile of its channels' effect sizes
    (`dcmmm.evidence.effect_profile`, written to evidence.json), unless
    `evidence.steps` is 0."""
    spec = fitted.spec
    steps = min(spec.evidence.steps, spec.train.max_steps)
    if steps == 0:
        return fitted
    started = time.time()
    profile = effect_profile(fitted.params, fitted.batch, fitted.statics, spec, fitted.kpi_mean,
                             steps, spec.evidence.tolerance,
                             region_layout(spec.mesh, fitted.panel.n_regions))
    logger.info("evidence: effect profile of %d channels (%d refits of %d steps) in %.1f s",
                fitted.panel.n_channels, 2 * fitted.panel.n_channels + 1 + JITTERS, steps,
                time.time() - started)
    rundir.write_json(run_dir / rundir.EVIDENCE, rundir.clean(profile))
    return dataclasses.replace(fitted, evidence=profile)


def _write_fit(run_dir: Path, fit: Fit) -> None:
    """An ensemble's members and zero tests, a backtest's table."""
    fitted = fit.fitted
    if fitted.member_params is not None:
        rundir.save_members(run_dir, fitted.member_params)
        if fitted.zero_tests is not None:
            rundir.write_json(run_dir / rundir.ZERO_TESTS, fitted.zero_tests)
    if fit.backtest is not None:
        write_table(run_dir, rundir.BACKTEST, fit.backtest)
