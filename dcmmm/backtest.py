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

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.analysis.metrics import backtest_table, forecast_scores
from dcmmm.config import RunSpec, ValidateSpec, refit_train_spec
from dcmmm.data.panel import MIN_FIT_WEEKS, Panel, with_holdout
from dcmmm.data.scaling import Scalers, fit_scalers
from dcmmm.errors import ConfigError
from dcmmm.model.mmm import Statics, init_params, predict_panel
from dcmmm.train.inputs import Split, make_batch, make_split, make_statics
from dcmmm.train.loss import Batch
from dcmmm.train.replicas import ReplicaResult, fit_replicas_two_phases, replica, stack
from dcmmm.train.sharding import region_layout


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
        params = init_params(spec.model, jax.random.key(spec.seed), batch.x, batch.y,
                             np.asarray(batch.fit_w), statics)
        folds.append(Fold(panel_k.n_train, panel_k, scalers, split, statics, batch, params))
    return folds


def _fold_parts(panel: Panel, spec: RunSpec):
    """Scalers, split, statics and batch of one fold's panel (as `run.prepare`)."""
    scalers = fit_scalers(panel, empty_regions=True)
    split = make_split(panel, spec.val_weeks)
    statics = make_statics(panel, split, spec.model.n_fourier, spec.knot_weeks,
                           spec.graph.mode, spec.graph.forbid, spec.graph.require,
                           level_weeks=split.n_train)
    return panel, scalers, split, statics, make_batch(panel, scalers, split,
                                                      deviations=spec.model.graph_plan)


def fit_folds(folds: list, spec: RunSpec) -> FoldsFit:
    """Both training phases of every fold, each phase one vmapped program.

    Phase 1 early-stops each fold on its own validation window; phase 2
    (`train.refit_steps` > 0) continues each fold from its best parameters on
    all its training weeks, as `run.fit_panel` does for one split.
    """
    params = stack([f.params for f in folds])
    batch = stack([f.batch for f in folds])
    statics = stack([f.statics for f in folds])
    refit = refit_train_spec(spec) if spec.refit_steps > 0 else None
    layout = region_layout(spec.mesh, batch.y.shape[1])  # mesh=regions: folds sharded too
    result, phase1 = fit_replicas_two_phases(params, batch, statics, spec.model, spec.loss,
                                             spec.train, refit, [spec.seed] * len(folds), layout)
    return FoldsFit(result, phase1, phase1["refit"])


def fold_prediction(fold: Fold, params: dict, spec: RunSpec) -> np.ndarray:
    """A fold's prediction [R, T] in KPI units."""
    pred = predict_panel(spec.model, params, fold.batch.x, fold.batch.z, fold.statics)
    return np.asarray(pred.y, np.float64) * fold.scalers.kpi_mean[:, None]


def score_folds(folds: list, params: dict, spec: RunSpec, horizon_weeks: int) -> pd.DataFrame:
    """backtest.csv: DESIGN section 7 metrics of dcmmm and the naive forecasts
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
