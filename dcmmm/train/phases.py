"""The two training phases, shared by a single fit and by replicas.

Phase 1 fits the cells before the validation window (`Batch.fit_w`) and keeps
the parameters with the best validation score (early stopping on
`Batch.val_w`). Phase 2 continues from them on every training cell (the
validation cells join the fitted ones; nothing is validated), for
`refit_steps` steps at `lr_fraction` of the learning rate, with the seed + 1,
so the local level reaches the last training week. Phase 2 runs only when it
has steps and there are validation cells: without them phase 1 has fitted
every training week already. See docs/design.md, "Splits and training".

Where phase 2 runs, phase 1 weighs the lift tests and ROI priors `boost`
times more (`calibration.phase1_boost`; `phase1_batch`), and phase 2 at the
weight asked (`calibration.weight` for the tests; the priors as given). The
tests pin the directions the data barely move (how much of an always-on
channel's effect is baseline), and along those the optimiser is slow: a fit
at the tests' own weight stopped 0.5-0.8 standard errors short of tests that
agree with the truth (experiments/design/README.md, "The tests weigh more in
phase 1"), and one with priors at the true ROI 0.7-0.9 prior sds short of
them (0.37 boosted; README, "Priors"). Starting on the evidence, phase 2
keeps what the data do not contradict.

`dcmmm.fitting` runs the phases of one fit (with checkpoints and resume),
`dcmmm.train.replicas` those of N replicas as one vmapped program.
"""

import dataclasses

import jax.numpy as jnp

from dcmmm.train.loop import FitResult, TrainSpec
from dcmmm.train.loss import Batch


def refit_spec(tspec: TrainSpec, steps: int, lr_fraction: float) -> TrainSpec | None:
    """Phase 2's settings: `steps` steps at `lr_fraction` of the peak learning
    rate, warmup min(50, steps // 4), no early stopping; None when `steps` is 0."""
    if steps <= 0:
        return None
    return dataclasses.replace(tspec, max_steps=steps, warmup_steps=min(50, steps // 4),
                               learning_rate=tspec.learning_rate * lr_fraction, patience=steps)


def refits(refit: TrainSpec | None, has_validation: bool) -> bool:
    """Whether phase 2 runs: it has settings and phase 1 held validation cells out."""
    return refit is not None and has_validation


def refit_batch(batch: Batch) -> Batch:
    """Phase 2's batch: every training cell fitted (fit_w + val_w), none validated."""
    return batch._replace(fit_w=batch.fit_w + batch.val_w, val_w=jnp.zeros_like(batch.val_w))


def phase1_batch(batch: Batch, boost: float, refit: bool) -> Batch:
    """Phase 1's batch: the lift tests' and ROI priors' standard errors
    divided by √boost, so their likelihood weighs `boost` times more in the
    loss and in early stopping's score; `batch` itself without either, with
    boost 1, or when phase 2 does not run (phase 1 is then the final fit)."""
    if (batch.lifts is None and batch.priors is None) or boost == 1.0 or not refit:
        return batch

    def boosted(tests):
        return None if tests is None else tests._replace(lift_se=tests.lift_se / jnp.sqrt(boost))

    return batch._replace(lifts=boosted(batch.lifts), priors=boosted(batch.priors))


def refit_seed(seed: int) -> int:
    """Phase 2's seed (its own PRNG stream)."""
    return int(seed) + 1


def joined(second: FitResult, phase1: dict) -> FitResult:
    """Both phases as one result (a `FitResult` or a `replicas.ReplicaResult`): phase 2's parameters and state, phase 1's best
    step, the steps and seconds of both. `phase1`: {"steps", "best_step",
    "seconds"} of phase 1 (ints, or [N] arrays for replicas)."""
    return second._replace(best_step=phase1["best_step"], steps=phase1["steps"] + second.steps,
                           fit_seconds=phase1["seconds"] + second.fit_seconds)
