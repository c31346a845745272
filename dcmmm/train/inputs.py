"""From a validated Panel and its Scalers to the model's arrays.

Splits (docs/design.md, "Splits and training"): the last `holdout_weeks`
weeks are the holdout (never fitted, never used for selection); the last
`val_weeks` training weeks are the validation window for early stopping; the
weeks before are fitted.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from dcmmm.data.calendar import WEEKS_PER_YEAR
from dcmmm.data.calibration import LiftTests
from dcmmm.data.panel import Panel
from dcmmm.data.priors import RoiPriors
from dcmmm.data.scaling import Scalers
from dcmmm.model.baseline import fourier_features, level_basis
from dcmmm.model.graph import allowed_edges
from dcmmm.model.mmm import Statics
from dcmmm.train.loss import Batch, LiftBatch


class Split(NamedTuple):
    n_fit: int  # weeks [0, n_fit) are fitted
    n_train: int  # weeks [n_fit, n_train) are validation; [n_train, T) holdout

    def cells(self, mask: np.ndarray) -> dict[str, np.ndarray]:
        """The usable cells `mask` [R, T] of each part: {"train": fitted weeks,
        "validation": the validation window, "holdout": the holdout}, [R, T] bool."""
        week = np.arange(np.shape(mask)[1])[None, :]
        return {"train": mask & (week < self.n_fit),
                "validation": mask & (week >= self.n_fit) & (week < self.n_train),
                "holdout": mask & (week >= self.n_train)}

    def labels(self, n_weeks: int) -> np.ndarray:
        """[T] "train", "validation" or "holdout" per week."""
        week = np.arange(n_weeks)
        return np.where(week < self.n_fit, "train",
                        np.where(week < self.n_train, "validation", "holdout"))


def make_split(panel: Panel, val_weeks: int) -> Split:
    n_train = panel.n_train
    return Split(max(n_train - val_weeks, 1), n_train)


def national_without_spend(panel: Panel) -> bool:
    """One region and no spend columns: a shared plan and an edge look the same
    there (no regional variation, no spend to explain own activity), so no
    edge is learned unless required (`model.graph.require`)."""
    return panel.n_regions == 1 and panel.spend is None


def make_statics(panel: Panel, split: Split, n_fourier: int, knot_weeks: int, graph_mode: str,
                 forbid=(), require=(), level_weeks: int | None = None, knots=None,
                 trend_origin: int | None = None) -> Statics:
    """Calendar features, level basis (knots over the first `level_weeks` weeks,
    default the fitted weeks, or at the week indices `knots`), the trend (0 at
    week `trend_origin`, default the last training week) and the allowed-edge
    mask of the channel graph."""
    n_weeks = panel.n_weeks
    origin = split.n_train - 1 if trend_origin is None else trend_origin
    trend = (np.arange(n_weeks) - origin) / WEEKS_PER_YEAR
    basis = level_basis(n_weeks, level_weeks or split.n_fit, knot_weeks, knots)
    allowed = allowed_edges(graph_mode, panel.n_channels, forbid, require,
                            learn=not national_without_spend(panel))
    return Statics(
        fourier=jnp.asarray(fourier_features(panel.week_of_year, n_fourier), jnp.float32),
        level_basis=jnp.asarray(basis, jnp.float32),
        trend=jnp.asarray(trend, jnp.float32),
        allowed=jnp.asarray(allowed, jnp.float32),
    )


def week_deviations(v, rows):
    """v[R, T, C] minus each week's mean over the regions observed that week,
    zero outside `rows` [R, T]: what a national plan shared by all regions
    does not explain."""
    w = rows[..., None].astype(np.float64)
    national = (v * w).sum(axis=0, keepdims=True) / np.maximum(w.sum(axis=0, keepdims=True), 1.0)
    return (v - national) * w


def prior_batch(priors: RoiPriors, panel: Panel, scalers: Scalers) -> LiftBatch:
    """ROI priors as lift tests of all weeks and regions: the channel's own
    activity off in every week, its KPI lost over every week, measured as
    roi · spend with standard error roi_sd · spend (KPI units)."""
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    n = len(priors.channel)
    every = np.ones((n, panel.n_weeks))
    return LiftBatch(f32(np.eye(panel.n_channels)[priors.channel]),
                     f32(np.ones((n, panel.n_regions))), f32(every), f32(every),
                     f32(priors.roi * priors.spend), f32(priors.roi_sd * priors.spend),
                     f32(scalers.kpi_mean))


def make_batch(panel: Panel, scalers: Scalers, split: Split, media=None,
               lift_tests: LiftTests | None = None, deviations: bool = False,
               priors: RoiPriors | None = None) -> Batch:
    """Scaled arrays and cell weights; `media` [R, T, C] replaces the panel's activity;
    `lift_tests` (validated against the panel) calibrate the fit, and ROI
    `priors` enter as tests of all weeks (`prior_batch`).

    The channel graph's structural equations (`xc`, `sem_on`): with spend,
    activity itself (own activity comes from spend); without spend, with
    `deviations` and several regions, each region's deviation from
    the week's national pattern, with the channels' on-air weeks (as the same
    deviations) for the plan's part of own activity; otherwise activity
    centred per (region, channel)."""
    media = panel.media if media is None else media
    x = scalers.scale_media(media)
    z = scalers.scale_controls(panel.z)
    y = np.where(panel.mask, scalers.scale_kpi(panel.y), 0.0)
    week = np.arange(panel.n_weeks)[None, :]
    cells = split.cells(panel.mask)
    fit_w, val_w = cells["train"], cells["validation"]
    train_rows = panel.observed & (week < split.n_train)
    counts = np.maximum(train_rows.sum(axis=1), 1)[:, None]
    x_mean = (x * train_rows[..., None]).sum(axis=1) / counts
    if panel.spend is not None:
        spend = panel.spend
        s_mean = (spend * train_rows[..., None]).sum(axis=1) / counts
        pooled = (spend * train_rows[..., None]).sum(axis=(0, 1)) / max(train_rows.sum(), 1)
        s_mean = np.where(s_mean > 0, s_mean, np.maximum(pooled, 1e-12)[None, :])
        s_scaled = spend / s_mean[:, None, :]
        xc = x * train_rows[..., None]
        sem_on = np.zeros_like(x)
    elif deviations and panel.n_regions > 1:
        s_scaled = np.zeros_like(x)
        xc = week_deviations(x, train_rows)
        sem_on = week_deviations((media > 0).astype(np.float64), train_rows)
    else:
        s_scaled = np.zeros_like(x)
        xc = (x - x_mean[:, None, :]) * train_rows[..., None]
        sem_on = np.zeros_like(x)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    lifts = None
    if lift_tests is not None:
        off = np.eye(panel.n_channels)[lift_tests.channel]
        lifts = LiftBatch(f32(off), f32(lift_tests.region_w), f32(lift_tests.week_w),
                          f32(lift_tests.measure_w),
                          f32(lift_tests.lift), f32(lift_tests.lift_se), f32(scalers.kpi_mean))
    return Batch(f32(x), f32(z), f32(y), f32(fit_w), f32(val_w), f32(xc), f32(train_rows),
                 f32(s_scaled), lifts, f32(np.ones(panel.n_regions)), sem_on=f32(sem_on),
                 priors=None if priors is None else prior_batch(priors, panel, scalers))
