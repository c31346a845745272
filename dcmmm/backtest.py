"""Rolling-origin backtest: K folds fitted as one vmapped program, then scored.

Fold k has origin o_k = T − holdout_weeks − (K − 1 − k)·step_weeks (the last
fold is the usual holdout split). A fold is the run that a panel with
`holdout_weeks = T − o_k` would make (`panel.with_holdout`): outage masks
decided on its own training weeks, scalers fitted on weeks < o_k, its
validation window (the `train.val_weeks` weeks before o_k), level knots that
stop at o_k and stay flat after it, its own initial parameters. Nothing at or
after o_k reaches a fold's parameters: the KPI there is out of the loss, the
validation score and every statistic. Media and controls after o_k are
exogenous and only enter predictions of those weeks. A region without usable
KPI before o_k is masked in that fold (neither fitted nor scored).

Folds differ in their level basis width (later origins have more knots); the
basis is padded with zero columns to the widest fold. A padded knot has zero
gradient and the random-walk penalty's gradient is zero at its initial 0, so
it stays exactly 0 and a padded fold fits as the unpadded one would.
"""

import logging
from pathlib import Path
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.analysis.metrics import backtest_table, forecast_scores
from dcmmm.data.panel import MIN_FIT_WEEKS, Panel, with_holdout
from dcmmm.data.scaling import Scalers, fit_scalers
from dcmmm.errors import ConfigError
from dcmmm.fitted import Fitted
from dcmmm.fitting import (
    Fit,
    fit_inputs,
    initial_params,
    replica_fit,
    save_final,
    stops_on_non_finite,
)
from dcmmm.model.mmm import Statics, predict_panel
from dcmmm.specs import RunSpec, ValidateSpec
from dcmmm.train.inputs import Split
from dcmmm.train.loss import Batch
from dcmmm.train.replicas import ReplicaResult, fit_replicas_two_phases, replica, stack
from dcmmm.train.sharding import region_layout

logger = logging.getLogger(__name__)


class Fold(NamedTuple):
    origin: int  # first week after the fold's training weeks (week index)
    panel: Panel  # the panel with holdout_weeks = T − origin
    scalers: Scalers  # fitted on weeks < origin
    split: Split
    statics: Statics  # level basis padded to the widest fold
    batch: Batch
    params: dict  # initial parameters


class FoldsFit(NamedTuple):
    result: ReplicaResult  # [K, ...] both phases: params, final states, steps
    phase1: dict  # {"steps", "best_step"}: [K] arrays of phase 1; "seconds"
    refit: bool  # phase 2 ran


def fold_origins(n_weeks: int, holdout_weeks: int, val_weeks: int, vspec: ValidateSpec
                 ) -> tuple[int, ...]:
    """Origins (week indices) of the folds, oldest first; the last is T − holdout_weeks."""
    last = n_weeks - holdout_weeks
    origins = tuple(last - vspec.step_weeks * (vspec.n_folds - 1 - k)
                    for k in range(vspec.n_folds))
    if vspec.horizon_weeks > holdout_weeks:
        raise ConfigError(
            f"validate.horizon_weeks ({vspec.horizon_weeks}) must be <= data.holdout_weeks "
            f"({holdout_weeks}): the last fold scores the holdout weeks")
    need = val_weeks + MIN_FIT_WEEKS
    if origins[0] < need:
        raise ConfigError(
            f"validate: the first fold's origin is week {origins[0]} of {n_weeks} "
            f"(T - data.holdout_weeks - (validate.n_folds - 1) * validate.step_weeks), but a fold "
            f"needs {need} training weeks (train.val_weeks {val_weeks} + {MIN_FIT_WEEKS} to fit); "
            "lower validate.n_folds or validate.step_weeks")
    return origins


def pad_level_basis(statics: Statics, n_knots: int) -> Statics:
    """Statics with the level basis [T, J] padded by zero columns to [T, n_knots]."""
    basis = statics.level_basis
    return statics._replace(level_basis=jnp.pad(basis, ((0, 0), (0, n_knots - basis.shape[1]))))


def prepare_folds(panel: Panel, origins, spec: RunSpec) -> list:
    """The folds (oldest first) of `panel` at `origins` (week indices)."""
    parts = []
    for origin in origins:
        if origin != panel.n_train:
            panel_k = with_holdout(panel, panel.n_weeks - origin)
        else:
            panel_k = panel
        parts.append(_fold_parts(panel_k, spec))
    n_knots = max(p[3].level_basis.shape[1] for p in parts)
    folds = []
    for panel_k, scalers, split, statics, batch in parts:
        statics = pad_level_basis(statics, n_knots)
        params = initial_params(spec, batch, statics)
        folds.append(Fold(panel_k.n_train, panel_k, scalers, split, statics, batch, params))
    return folds


def _fold_parts(panel: Panel, spec: RunSpec):
    """Scalers, split, statics and batch of one fold's panel: a fresh fit's
    inputs (`fitting.fit_inputs`) with scalers of the weeks before its origin."""
    scalers = fit_scalers(panel, empty_regions=True)
    return (panel, scalers, *fit_inputs(panel, scalers, spec))


def fit_folds(folds: list, spec: RunSpec) -> FoldsFit:
    """Both training phases of every fold, each phase one vmapped program.

    Phase 1 early-stops each fold on its own validation window; phase 2
    (`train.refit_steps` > 0) continues each fold from its best parameters on
    all its training weeks, as `fitting.fit_panel` does for one split.
    """
    params = stack([f.params for f in folds])
    batch = stack([f.batch for f in folds])
    statics = stack([f.statics for f in folds])
    layout = region_layout(spec.mesh, batch.y.shape[1])  # mesh=regions: folds sharded too
    result, phase1 = fit_replicas_two_phases(params, batch, statics, spec.model, spec.loss,
                                             spec.train, spec.refit, [spec.seed] * len(folds), layout)
    return FoldsFit(result, phase1, phase1["refit"])


def fold_prediction(fold: Fold, params: dict, spec: RunSpec) -> np.ndarray:
    """A fold's prediction [R, T] in KPI units."""
    pred = predict_panel(spec.model, params, fold.batch.x, fold.batch.z, fold.statics)
    return fold.scalers.unscale_kpi(np.asarray(pred.y, np.float64))


def score_folds(folds: list, params: dict, spec: RunSpec, horizon_weeks: int) -> pd.DataFrame:
    """backtest.csv: the metrics of metrics.json for dcmmm and the naive forecasts
    per fold on the `horizon_weeks` after its origin, and their means.

    params: [K, ...] fitted parameters of the folds. `origin` is the period
    label of the fold's first scored week.
    """
    scores, origins = [], []
    for k, fold in enumerate(folds):
        yhat = fold_prediction(fold, replica(params, k), spec)
        scores.append(forecast_scores(fold.panel.y, fold.panel.mask, fold.origin, horizon_weeks,
                                      yhat, fold.scalers.kpi_mean))
        origins.append(fold.panel.period_labels()[fold.origin])
    return backtest_table(scores, origins)


def fit_backtest(panel: Panel, scalers: Scalers, spec: RunSpec, vspec: ValidateSpec,
                 checkpoint_dir: Path) -> Fit:
    """Rolling-origin backtest (dcmmm.backtest): all folds as one vmapped fit.

    The fitted model is the last fold's (the usual holdout split, saved as the
    final checkpoint in `checkpoint_dir` so `load_run` works; `scalers` are the
    panel's, as for a single fit), with
    backtest.csv's table and a summary for metrics.json. A backtest is not
    checkpointed along the way: an interrupted one starts again.
    """
    origins = fold_origins(panel.n_weeks, panel.holdout_weeks, spec.val_weeks, vspec)
    folds = prepare_folds(panel, origins, spec)
    logger.info("backtest: %d folds, origins at weeks %s", len(folds), list(origins))
    with stops_on_non_finite():
        fitted = fit_folds(folds, spec)
    res = fitted.result
    table = score_folds(folds, res.params, spec, vspec.horizon_weeks)
    result, phase1 = replica_fit(res, fitted.phase1, -1)
    save_final(checkpoint_dir, result, fitted.refit, phase1)
    summary = {"folds": len(folds), "origins": [panel.period_labels()[o] for o in origins],
               "horizon_weeks": vspec.horizon_weeks,
               "best_step": [int(s) for s in res.best_step],
               "steps": [int(s) for s in res.steps]}
    last = folds[-1]
    model = Fitted.of(spec, panel, scalers, result.params, last.batch, last.statics, last.split)
    return Fit(model, result, table, summary)
