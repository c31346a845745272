"""Frozen settings of a run, built from the config dict by `dcmmm.config`.

Nothing below the run layer sees a config dict: jitted code closes over these
hashable specs only. The defaults of every field equal the values of
`conf/` (tests/test_config.py checks it), so a spec built in Python means
what the same spec composed by Hydra means.
"""

from dataclasses import dataclass

from dcmmm.model.mmm import ModelSpec
from dcmmm.train.loop import TrainSpec
from dcmmm.train.loss import LossSpec
from dcmmm.train.phases import refit_spec
from dcmmm.train.sharding import MeshSpec


@dataclass(frozen=True)
class GraphSpec:
    """The channel graph's settings outside the model: the cut-off of the
    thresholded graph, prior edges as (parent, child) channel indices, and
    stability selection: an edge is kept when found in at least `stability` of
    `resamples` bootstrap refits (0 resamples: not measured)."""

    mode: str = "notears"
    threshold: float = 0.1
    forbid: tuple = ()
    require: tuple = ()
    resamples: int = 20
    stability: float = 0.8


@dataclass(frozen=True)
class EnsembleSpec:
    """Ensembles (`model.ensemble_*`): E members in one vmapped program.

    Member 0 is the plain fit (its parameters are the run's point estimates);
    members 1.. start from initial media parameters perturbed by `jitter`
    (raw units) and weigh the fitted cells by a Bayesian bootstrap (Exp(1)
    per region and block of `block_weeks` weeks). Every reported number gets
    the `interval` of the members as `<col>_lo` / `<col>_hi`; with
    `zero_tests`, effects whose channel may have brought nothing reach 0.
    """

    size: int = 1
    interval: float = 0.8
    jitter: float = 1.0
    block_weeks: int = 13
    zero_tests: bool = True


@dataclass(frozen=True)
class EvidenceSpec:
    """How each channel's ROI is known (`evidence.*`, `dcmmm.evidence`): the
    profile refits `steps` steps (0 = no profile: the basis rests on the spend
    range); a change of the effect by `tolerance` (relative) within `nats`
    of the best fit means the data cannot tell the ROI to ±tolerance."""

    steps: int = 100
    nats: float = 2.0
    tolerance: float = 0.25


@dataclass(frozen=True)
class RunSpec:
    """Everything a fit needs besides the data: model, loss, training, graph,
    the level's knot spacing (weeks), the validation window (weeks), the root
    seed, phase 2's length and learning-rate fraction, ensemble, mesh and
    the evidence of how each ROI is known, and how many times more the lift
    tests weigh in phase 1 (`calibration_boost`, `dcmmm.train.phases`; 1 =
    as in phase 2)."""

    model: ModelSpec
    loss: LossSpec = LossSpec()
    train: TrainSpec = TrainSpec()
    graph: GraphSpec = GraphSpec()
    knot_weeks: int = 4
    val_weeks: int = 8
    seed: int = 0
    refit_steps: int = 300
    refit_lr_fraction: float = 0.2
    calibration_boost: float = 10.0
    ensemble: EnsembleSpec = EnsembleSpec()
    mesh: MeshSpec = MeshSpec()
    evidence: EvidenceSpec = EvidenceSpec()

    @property
    def refit(self) -> TrainSpec | None:
        """Phase 2's training settings (`dcmmm.train.phases`), None without phase 2."""
        return refit_spec(self.train, self.refit_steps, self.refit_lr_fraction)


VALIDATE_MODES = ("holdout", "backtest")


@dataclass(frozen=True)
class ValidateSpec:
    """How a run is validated (the `validate` group).

    holdout: one split, the last `data.holdout_weeks` weeks are the holdout
    (the other fields are unused). backtest: `n_folds` rolling origins
    `step_weeks` apart, the last one the holdout split (origin =
    T − holdout_weeks); each fold is scored on the `horizon_weeks` weeks after
    its origin.
    """

    mode: str = "holdout"
    n_folds: int = 3
    step_weeks: int = 13
    horizon_weeks: int = 13
