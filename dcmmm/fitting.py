"""Fitting a run: the model's inputs, one fit with checkpoints, an ensemble.

Every fit follows the schedule of `dcmmm.train.phases` and returns a `Fit`:
the fitted model (`dcmmm.fitted.Fitted`), the training result, and a
backtest's scores (`dcmmm.backtest.fit_backtest`). A non-finite loss stops
any fit with one `TrainingError` (`stops_on_non_finite`), before anything is
written.
"""

import contextlib
import logging
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.data.calibration import LiftTests
from dcmmm.data.panel import Panel
from dcmmm.data.priors import RoiPriors
from dcmmm.data.scaling import Scalers
from dcmmm.ensemble import (
    achieved_level,
    contradicted,
    evidence_chi2,
    evidence_terms,
    fit_ensemble,
    member_batches,
    with_lift_tests,
    zero_tests,
)
from dcmmm.errors import TrainingError
from dcmmm.fitted import Fitted
from dcmmm.model.baseline import knot_positions
from dcmmm.model.mmm import Statics, init_params
from dcmmm.refresh import Continuation, Previous
from dcmmm.rundir import clean
from dcmmm.specs import RunSpec
from dcmmm.train.checkpoint import Checkpointer
from dcmmm.train.inputs import Split, make_batch, make_split, make_statics
from dcmmm.train.loop import FitResult, Progress, fit, init_state, make_optimizer, static_part
from dcmmm.train.loss import Batch
from dcmmm.train.phases import joined, phase1_batch, refit_batch, refit_seed, refits
from dcmmm.train.replicas import replica
from dcmmm.train.sharding import RegionLayout, region_layout

logger = logging.getLogger(__name__)


class Fit(NamedTuple):
    """What a fit returns."""

    fitted: Fitted  # the model: member 0 of an ensemble, the last fold of a backtest
    result: FitResult  # both phases: final state, best step, steps, seconds
    backtest: pd.DataFrame | None = None  # backtest.csv
    backtest_summary: dict | None = None  # metrics.json's "backtest"
    left_out: list | None = None  # ensemble members left out of the intervals (`kept_members`)


@contextlib.contextmanager
def stops_on_non_finite(ckpt: Checkpointer | None = None):
    """Turns a non-finite loss or gradient (FloatingPointError) into a
    TrainingError naming the last good checkpoint of `ckpt`, if any."""
    try:
        yield
    except FloatingPointError as err:
        where = ""
        if ckpt is not None:
            last = ckpt.latest_step()
            where = (f" (last good checkpoint: {ckpt.path(last)})" if last is not None
                     else " (no checkpoint yet)")
        raise TrainingError(f"training stopped: {err}{where}; nothing was written. Lower "
                            "optim.learning_rate or check the data's scale.") from None


def fit_inputs(panel: Panel, scalers: Scalers, spec: RunSpec, lift_tests: LiftTests | None = None,
               continuation: Continuation | None = None, priors: RoiPriors | None = None
               ) -> tuple[Split, Statics, Batch]:
    """Split, calendar statics and scaled batch of a panel (with its lift tests
    and ROI priors).

    The level's knots cover the training weeks; `continuation` gives the knots
    and trend origin of a refreshed run instead.
    """
    split = make_split(panel, spec.val_weeks)
    knots, origin = continuation if continuation is not None else (None, None)
    statics = make_statics(panel, split, spec.model.n_fourier, spec.knot_weeks, spec.graph.mode,
                           spec.graph.forbid, spec.graph.require, level_weeks=split.n_train,
                           knots=knots, trend_origin=origin)
    return split, statics, make_batch(panel, scalers, split, lift_tests=lift_tests,
                                      deviations=spec.model.graph_plan, priors=priors)


def initial_params(spec: RunSpec, batch: Batch, statics: Statics) -> dict:
    """Data-driven initial parameters (`dcmmm.model.mmm.init_params`) from the root seed."""
    return init_params(spec.model, jax.random.key(spec.seed), batch.x, batch.y,
                       np.asarray(batch.fit_w), statics)


def prepare(panel: Panel, scalers: Scalers, spec: RunSpec, lift_tests: LiftTests | None = None,
            continuation: Continuation | None = None, previous: Previous | None = None,
            priors: RoiPriors | None = None):
    """(split, statics, batch, initial parameters) of a panel.

    `previous`: the finished run a refresh starts from (its knots, its
    parameters as the initial ones, and the pull toward them in the batch).
    """
    if previous is not None:
        continuation = previous.continuation
    split, statics, batch = fit_inputs(panel, scalers, spec, lift_tests, continuation, priors)
    params = initial_params(spec, batch, statics)
    if previous is not None:
        params, anchor = previous.start(params)
        batch = batch._replace(anchor=anchor)
    return split, statics, batch, params


def continuation_record(panel: Panel, spec: RunSpec, previous: Previous | None) -> dict:
    """run_info.json's level knots and trend origin (what a later refresh continues)."""
    if previous is not None:
        knots, origin = previous.continuation
    else:
        knots, origin = knot_positions(panel.n_train, spec.knot_weeks), panel.n_train - 1
    return {"level_knots": [int(k) for k in knots], "trend_origin": int(origin)}


def fit_panel(panel: Panel, scalers: Scalers, spec: RunSpec, checkpoint_dir: Path | None = None,
              checkpoint_every: int = 0, lift_tests: LiftTests | None = None,
              previous: Previous | None = None, priors: RoiPriors | None = None) -> Fit:
    """Build inputs, initialise and fit one model (both phases).

    With `checkpoint_dir`, progress is saved every `checkpoint_every` steps
    and at the end, and a fit found there is resumed. `lift_tests` and ROI
    `priors` add their likelihood to the loss (calibration); `previous` makes the fit a refresh
    of that finished run (dcmmm.refresh). Fitting runs in the layout of
    `spec.mesh` (dcmmm.train.sharding); what comes back, and every checkpoint,
    holds the real regions on one device.
    """
    split, statics, batch, params = prepare(panel, scalers, spec, lift_tests, previous=previous,
                                            priors=priors)
    layout = region_layout(spec.mesh, panel.n_regions)
    ckpt = Checkpointer(checkpoint_dir, checkpoint_every) if checkpoint_dir else None
    saved = None
    if ckpt is not None:
        template = init_state(params, make_optimizer(static_part(spec.train)), spec.train, spec.seed)
        saved = ckpt.restore_latest(Progress(template, np.inf, params, 0, False))
    try:
        with stops_on_non_finite(ckpt):
            result = _two_phases(params, layout.batch_to_mesh(batch), layout.to_mesh(statics),
                                 spec, ckpt, saved, layout)
    finally:
        if ckpt is not None:
            ckpt.close()
    return Fit(Fitted.of(spec, panel, scalers, result.params, batch, statics, split), result)


def _start(params, tspec, seed: int, layout: RegionLayout) -> Progress:
    """A fresh fit's progress, placed in `layout` (what `fit` makes with resume=None)."""
    params = jax.tree.map(jnp.copy, layout.to_mesh(params))
    state = init_state(params, make_optimizer(static_part(tspec)), tspec, seed)
    return Progress(layout.to_mesh(state), np.inf, None, 0, False)


def _two_phases(params, batch, statics, spec: RunSpec, ckpt, saved, layout: RegionLayout
                ) -> FitResult:
    """Phase 1 (early stopping) then phase 2 (refit), resuming from `saved`.

    `batch` and `statics` are in `layout`; `params`, `saved` and the result are not.
    """
    refit = refits(spec.refit, float(jnp.sum(batch.val_w)) > 0)
    if saved is not None and saved.final:
        p = saved.progress
        return FitResult(p.best_params, p.state, int(saved.phase1["best_step"]) if refit else
                         p.best_step, saved.step, [], 0.0)

    def saver(phase, offset, phase1=None):
        if ckpt is None:
            return None

        def save(prog):
            step = offset + int(prog.state.step)
            if ckpt.due(step):
                ckpt.save(step, layout.to_host(prog), phase, phase1)

        return save

    if saved is None or saved.phase == 1:
        resume = layout.to_mesh(saved.progress) if saved is not None else _start(
            params, spec.train, spec.seed, layout)
        first = fit(params, phase1_batch(batch, spec.calibration_boost, refit), statics,
                    spec.model, spec.loss, spec.train, seed=spec.seed,
                    on_call=saver(1, 0), resume=resume)
        phase1 = {"steps": first.steps, "best_step": first.best_step, "seconds": first.fit_seconds}
        result, start_params = first, first.params
    else:
        phase1, start_params = saved.phase1, params
    if refit:
        seed = refit_seed(spec.seed)
        resume = (layout.to_mesh(saved.progress) if saved is not None and saved.phase == 2
                  else _start(start_params, spec.refit, seed, layout))
        second = fit(start_params, refit_batch(batch), statics, spec.model, spec.loss, spec.refit,
                     seed=seed, on_call=saver(2, int(phase1["steps"]), phase1), resume=resume)
        result = joined(second, {"steps": int(phase1["steps"]),
                                 "best_step": int(phase1["best_step"]),
                                 "seconds": phase1["seconds"]})
    result = result._replace(params=layout.to_host(result.params),
                             state=layout.to_host(result.state))
    if ckpt is not None:
        final = Progress(result.state, 0.0, result.params, result.best_step, True)
        ckpt.save(result.steps, final, 2 if refit else 1, phase1, force=True, final=True)
    return result


def save_final(checkpoint_dir: Path, result: FitResult, refit: bool, phase1: dict) -> None:
    """The final checkpoint of a fit done without checkpoints along the way
    (backtest, ensemble): what `load_run` reads."""
    ckpt = Checkpointer(checkpoint_dir, 0)
    ckpt.save(result.steps, Progress(result.state, 0.0, result.params, result.best_step, True),
              2 if refit else 1, phase1, force=True, final=True)
    ckpt.close()


def replica_fit(res, phase1: dict, i: int) -> tuple[FitResult, dict]:
    """Replica `i` of a replicas' result and phase-1 summary, as one fit's."""
    result = FitResult(replica(res.params, i), replica(res.state, i), int(res.best_step[i]),
                       int(res.steps[i]), [], res.fit_seconds)
    return result, {"steps": int(phase1["steps"][i]), "best_step": int(phase1["best_step"][i]),
                    "seconds": phase1["seconds"]}


def members_for(level: float) -> int:
    """The fewest members whose range is a `level` interval."""
    return int(np.ceil(2.0 / (1.0 - level) - 1.0 - 1e-9))


def fit_members(panel: Panel, scalers: Scalers, spec: RunSpec, lift_tests: LiftTests | None,
                checkpoint_dir: Path, priors: RoiPriors | None = None) -> Fit:
    """An ensemble fit (dcmmm.ensemble): member 0 is the fitted model, with every
    member's parameters [E, ...] and the zero tests (None when they are off).
    Member 0's final checkpoint goes to `checkpoint_dir`. Not checkpointed
    along the way: an interrupted ensemble starts again."""
    split, statics, batch, params = prepare(panel, scalers, spec, lift_tests, priors=priors)
    ens = spec.ensemble
    logger.info("ensemble: %d members in one vmapped program", ens.size)
    achieved = achieved_level(ens.size, ens.interval)
    if achieved < ens.interval - 1e-9:
        logger.warning("model.ensemble_interval=%g with %d members: the widest interval (their "
                       "range) holds a new member with probability %.0f%%; %d members reach %g",
                       ens.interval, ens.size, 100 * achieved, members_for(ens.interval),
                       ens.interval)
    with stops_on_non_finite():
        batches = member_batches(batch, spec)
        res, phase1 = fit_ensemble(params, batch, statics, spec, batches)
    members, left_out = kept_members(res.params, batches, statics, spec)
    result, phase1_0 = replica_fit(res, phase1, 0)
    save_final(checkpoint_dir, result, phase1["refit"], phase1_0)
    zero = None
    if ens.zero_tests and float(jnp.sum(batch.val_w)) > 0:
        zero = {"channels": list(panel.channels), **zero_tests(
            replica(phase1["params"], 0), batch, statics, spec,
            region_layout(spec.mesh, panel.n_regions))}
        if lift_tests is not None:
            zero = with_lift_tests(zero, lift_tests.channel, lift_tests.lift, lift_tests.lift_se,
                                   ens.interval)
        zero = clean(zero)
        logger.info("zero tests: zero is plausible for %s",
                    [c for c, ok in zip(panel.channels, zero["plausible"]) if ok] or "no channel")
    fitted = Fitted.of(spec, panel, scalers, result.params, batch, statics, split, members, zero)
    return Fit(fitted, result, left_out=left_out)


def kept_members(params: dict, batches: Batch, statics: Statics, spec: RunSpec
                 ) -> tuple[dict, list]:
    """The members' parameters [E', ...] without those their lift tests and
    priors contradict (`dcmmm.ensemble.contradicted`), and what was left out:
    [{"member", "chi2", "chi2_point", "terms"}] (empty without evidence).
    `batches`: the members' own batches, as they were fitted (`member_batches`)."""
    n_terms = evidence_terms(batches)
    if n_terms == 0:
        return params, []
    chi2 = evidence_chi2(params, batches, statics, spec)
    out = contradicted(chi2, n_terms)
    if not out:
        return params, []
    keep = np.asarray([i for i in range(len(chi2)) if i not in out])
    logger.warning("ensemble: %d of %d members left out of the intervals: their fits contradict "
                   "their lift tests and priors (chi2 %s against the point fit's %.1f, %d terms)",
                   len(out), len(chi2), ", ".join(f"{chi2[i]:.1f}" for i in out), chi2[0], n_terms)
    return (jax.tree.map(lambda leaf: leaf[keep], params),
            [{"member": i, "chi2": float(chi2[i]), "chi2_point": float(chi2[0]),
              "terms": n_terms} for i in out])
