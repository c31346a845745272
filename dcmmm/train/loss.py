"""The training loss (scaled units).

    loss = masked Huber(ŷ − y)                                   fit
         + shrinkage · mean_r Σ δ_r²                              regions
         + level_penalty · mean_r Σ_j Δlevel_j²                   random walk
         + m_smoothness · mean (log m_t − log m_{t−1})²
         + m_distance · mean (log m)²                              dynamics
         + media_shrinkage · mean_r mean_t Σ_c media_c                credit toward 0

Means over regions are weighted by `Batch.region_w` (0 for the dummy regions
that pad the region axis to a multiple of the device count, dcmmm.train.sharding).
         + sem · ½‖xc − xc W − own‖² + floor · ½‖relu(xW − x)‖²
         + l1 · |W|₁ + α·h(W) + ρ/2·h(W)²                           channel graph
         + σ̂²/N · Σ_i ½ ((lift_model_i − lift_i) / se_i)²           lift tests
         + σ̂²/N · Σ_c ½ ((roi_model_c − roi_c) / sd_c)²              ROI priors
         + σ̂²/N · Σ_j ½ w_j ((θ_j − θ⁰_j) / τ)²                      refresh pull

The lift-test term is the Gaussian likelihood of the measured lifts on the
scale of the fit term: the Huber fit of N cells is ≈ Σ r²/(2N), the data's
log-likelihood Σ r²/(2σ²), so a likelihood term enters multiplied by σ²/N,
with σ̂² the current mean squared residual (held constant in the gradient).
An ROI prior is the same likelihood for the model's own counterfactual ROI
(the channel's own activity removed in all weeks and regions, KPI lost over
all weeks per unit of its spend): a test of every week whose lift is
roi · spend with standard error sd · spend (`dcmmm.data.priors`).
The refresh pull (dcmmm.refresh) is, on the same scale, a Gaussian prior of
standard deviation τ around a finished run's parameters θ⁰ (w_j = 0 for the
parameters that run did not have, such as the level of new weeks).
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dcmmm.model.graph import acyclicity, excess_driven, planned_activity, sem_loss
from dcmmm.model.mmm import (
    ModelSpec,
    Prediction,
    Statics,
    graph_weights,
    media_panel,
    predict_panel,
)


@dataclass(frozen=True)
class LossSpec:
    """Weights of the loss terms (all in scaled-KPI loss units)."""

    huber_delta: float = 0.2
    shrinkage: float = 1e-3
    level_penalty: float = 0.05
    m_smoothness: float = 1.0
    m_distance: float = 1e-3
    graph_sem: float = 1.0
    graph_l1: float = 0.05
    graph_enabled: bool = True
    graph_own_spend: bool = False  # SEM with each channel's own spend-driven activity
    graph_floor: float = 100.0  # weight of excess_driven: parents driving more than the child has
    calibration_weight: float = 1.0  # multiplies the lift-test likelihood (1 = as measured)
    media_shrinkage: float = 0.0  # price per unit of mean scaled KPI credited to media (0 = none)


class LiftBatch(NamedTuple):
    """Lift tests as arrays (`dcmmm.data.calibration.LiftTests` on the device)."""

    off: jax.Array  # [N, C] 1.0 at the channel switched off
    region_w: jax.Array  # [N, R] regions in the test
    week_w: jax.Array  # [N, T] weeks the spend is off
    measure_w: jax.Array  # [N, T] weeks the KPI lost is summed over (⊇ week_w)
    lift: jax.Array  # [N] measured KPI lost (KPI units)
    lift_se: jax.Array  # [N] its standard error (KPI units)
    kpi_mean: jax.Array  # [R] KPI units per scaled unit


class Anchor(NamedTuple):
    """A finished run's parameters that a refresh is pulled toward (dcmmm.refresh)."""

    params: dict  # θ⁰, the structure of the parameters
    weight: dict  # w: 1.0 where θ⁰ holds a value of the finished run, 0.0 where it does not
    scale: jax.Array  # τ, the prior's standard deviation (raw parameter units)


class Batch(NamedTuple):
    """Region-first training arrays."""

    x: jax.Array  # [R, T, C] scaled activity
    z: jax.Array  # [R, T, K] standardised controls
    y: jax.Array  # [R, T] scaled KPI (0 where not observed)
    fit_w: jax.Array  # [R, T] weight of a cell in the fit (training weeks before validation)
    val_w: jax.Array  # [R, T] weight of a cell in the validation score
    xc: jax.Array  # [R, T, C] SEM activity: x itself with spend, else centred per (region, channel)
    sem_w: jax.Array  # [R, T] weight of a week in the graph's SEM loss
    spend: jax.Array  # [R, T, C] spend / its training mean per (region, channel); zeros without spend
    lifts: LiftBatch | None = None  # lift tests that calibrate the fit, or None
    region_w: jax.Array | None = None  # [R] 1 = real region, 0 = padding (None = all real)
    anchor: Anchor | None = None  # refresh: the pull toward a finished run's parameters
    sem_on: jax.Array | None = None  # [R, T, C] on-air weeks for the plan's part of own activity
    priors: LiftBatch | None = None  # ROI priors: tests of all weeks and regions (data.priors)


def region_weight(batch: Batch):
    """[R] weight of each region in the region means (1 real, 0 padding)."""
    if batch.region_w is None:
        return jnp.ones(batch.x.shape[0], jnp.float32)
    return batch.region_w


def region_mean(values, region_w):
    """Mean over real regions of each region's sum: Σ_r w_r Σ values[r] / Σ_r w_r."""
    per_region = jnp.sum(values.reshape(values.shape[0], -1), axis=1)
    return jnp.sum(region_w * per_region) / jnp.maximum(jnp.sum(region_w), 1.0)


def masked_mean(values, weight):
    """Σ weight·values / Σ weight (0 when the weight is all zero)."""
    return jnp.sum(weight * values) / jnp.maximum(jnp.sum(weight), 1e-9)


def loss_terms(params, alpha, rho, batch: Batch, statics: Statics, mspec: ModelSpec, lspec: LossSpec):
    """Total loss and a dict of its scalar parts."""
    pred = predict_panel(mspec, params, batch.x, batch.z, statics)
    resid = pred.y - batch.y
    fit = masked_mean(optax.huber_loss(resid, delta=lspec.huber_delta), batch.fit_w)
    region = params["region"]
    offsets = [region["beta"], region["season"], region["gamma"]]
    rw = region_weight(batch)
    shrink = sum(region_mean(o**2, rw) for o in offsets)
    level_rw = region_mean(region["level"] ** 2, rw)
    log_m = jnp.log(pred.effectiveness)  # [R, T, C]
    d_log_m = jnp.diff(log_m, axis=1)
    m_smooth = region_mean(d_log_m**2, rw) / d_log_m[0].size
    m_dist = region_mean(log_m**2, rw) / log_m[0].size
    terms = {
        "fit": fit,
        "shrinkage": lspec.shrinkage * shrink,
        "level": lspec.level_penalty * level_rw,
        "dynamics": lspec.m_smoothness * m_smooth + lspec.m_distance * m_dist,
    }
    if lspec.media_shrinkage > 0:
        n_fit = jnp.maximum(jnp.sum(batch.fit_w, axis=1), 1.0)  # [R]
        credit = jnp.sum(pred.media.sum(axis=-1) * batch.fit_w, axis=1) / n_fit  # [R]
        terms["media_shrinkage"] = lspec.media_shrinkage * jnp.sum(rw * credit) / jnp.maximum(
            jnp.sum(rw), 1.0)
    w = graph_weights(params, statics)
    h = acyclicity(w)
    if lspec.graph_enabled:
        terms["graph"] = graph_loss(params, w, h, alpha, rho, batch, lspec)
    # likelihood terms enter on the fit's scale: σ̂²/N (σ̂² held constant in the gradient)
    per_nat = jax.lax.stop_gradient(masked_mean(resid**2, batch.fit_w)) / jnp.maximum(
        jnp.sum(batch.fit_w), 1.0)
    if batch.lifts is not None:
        terms["calibration"] = lspec.calibration_weight * per_nat * likelihood_nats(
            params, batch, statics, mspec, pred, batch.lifts)
    if batch.priors is not None:
        terms["priors"] = per_nat * likelihood_nats(params, batch, statics, mspec, pred,
                                                    batch.priors)
    if batch.anchor is not None:
        terms["refresh"] = per_nat * 0.5 * anchor_sum_sq(params, batch.anchor, rw)
    total = sum(terms.values())
    terms["h"] = h
    return total, terms


def graph_loss(params, w, h, alpha, rho, batch: Batch, lspec: LossSpec):
    """The channel graph's terms: structural-equation least squares, the
    excess of driven over observed activity, L1 and the augmented Lagrangian
    of h(W). Own activity is the spend-driven activity (a learned share of
    scaled spend) with spend, the plan's on-air weeks times V without
    (`graph.plan_v`), or nothing."""
    n_ch = batch.xc.shape[-1]
    own = None
    if lspec.graph_own_spend:
        own = (jax.nn.softplus(params["region"]["own"])[:, None, :] * batch.spend).reshape(-1, n_ch)
    elif "plan_v" in params["shared"]["graph"] and batch.sem_on is not None:
        own = batch.sem_on.reshape(-1, n_ch) @ params["shared"]["graph"]["plan_v"]
    sem_w = batch.sem_w.reshape(-1)
    sem = sem_loss(w, batch.xc.reshape(-1, n_ch), sem_w, own)
    floor = excess_driven(w, batch.x.reshape(-1, n_ch), sem_w) if lspec.graph_floor else 0.0
    return (lspec.graph_sem * sem + lspec.graph_floor * floor + lspec.graph_l1 * jnp.sum(jnp.abs(w))
            + alpha * h + 0.5 * rho * h**2)


def anchor_sum_sq(params, anchor: Anchor, region_w):
    """Σ_j w_j ((θ_j − θ⁰_j) / τ)² over the parameters (padded regions excluded)."""
    def part(tree, anchor_tree, weight_tree, regional):
        def one(p, a, w):
            sq = w * ((p - a) / anchor.scale) ** 2
            if regional:  # leading region axis
                sq = sq * region_w.reshape((-1,) + (1,) * (sq.ndim - 1))
            return jnp.sum(sq)
        return sum(jax.tree.leaves(jax.tree.map(one, tree, anchor_tree, weight_tree)), 0.0)

    return (part(params["shared"], anchor.params["shared"], anchor.weight["shared"], False)
            + part(params["region"], anchor.params["region"], anchor.weight["region"], True))


def model_lifts(params, batch: Batch, statics: Statics, mspec: ModelSpec, pred: Prediction,
                w=None, lifts: LiftBatch | None = None):
    """The model's KPI lost in each lift test [N] (KPI units).

    For test i: channel c's own activity is removed in the test's weeks (the
    change flows through the graph `w` to the channels c drives; default the
    learned graph, held constant), and Σ_r Σ_t (ŷ − ŷ_off)[r, t] · kpi_mean[r]
    is summed over the test's regions and measured weeks (its weeks, plus a
    cool-down where the test has one). pred: the prediction with the actual
    plan; only its media terms change (ŷ − ŷ_off = Σ_c media − media_off, the
    effectiveness m kept: it never depends on media). `lifts`: the tests
    (default `batch.lifts`; ROI priors are tests of all weeks and regions).
    """
    lifts = batch.lifts if lifts is None else lifts
    if w is None:
        w = jax.lax.stop_gradient(graph_weights(params, statics))

    weights = lifts.region_w[:, :, None] * lifts.measure_w[:, None, :]  # [N, R, T]

    def lost_in(off, week_w, cells):
        x_off = planned_activity(batch.x, w, 1.0 - off, week_w)
        media_off = media_panel(mspec, params, x_off, pred.effectiveness)
        return jnp.sum((pred.media - media_off).sum(axis=-1) * lifts.kpi_mean[:, None] * cells)

    return jax.vmap(lost_in)(lifts.off, lifts.week_w, weights)


def likelihood_nats(params, batch: Batch, statics: Statics, mspec: ModelSpec, pred: Prediction,
                    lifts: LiftBatch):
    """Σ_i ½ z_i², z = (model lift − measured lift) / se: the tests' (or
    priors') negative Gaussian log-likelihood in nats."""
    z = (model_lifts(params, batch, statics, mspec, pred, lifts=lifts) - lifts.lift) / lifts.lift_se
    return 0.5 * jnp.sum(z**2)


EVIDENCE_TERMS = ("calibration", "priors")  # loss terms that are likelihoods of outside evidence


def selection_score(metrics: dict, batch: Batch):
    """Early stopping's score: the validation MSE plus the lift tests' and ROI
    priors' misfit on its scale. Both are log-likelihoods: the validation
    cells' is N_val · mse / (2σ̂²) nats, and a likelihood term of the loss is
    t = σ̂²/N_fit · nats (module docstring); in the MSE's units (× 2σ̂²/N_val)
    their sum is mse + 2 · N_fit/N_val · t. Without tests or priors it is the
    validation MSE. Counting the tests keeps a step where the fit still
    disagrees with them from being chosen for a hair's better validation
    weeks: the directions the tests pin are those the data barely move,
    along which the optimiser is slowest. `metrics`: a call's last step's
    terms (`val_mse` after it)."""
    present = [metrics[k] for k in EVIDENCE_TERMS if k in metrics]
    if not present:
        return metrics["val_mse"]
    n_val = jnp.maximum(jnp.sum(batch.val_w), 1.0)
    return metrics["val_mse"] + 2.0 * jnp.sum(batch.fit_w) / n_val * sum(present)


def validation_mse(params, batch: Batch, statics: Statics, mspec: ModelSpec):
    """Mean squared error (scaled units) over the validation cells."""
    pred = predict_panel(mspec, params, batch.x, batch.z, statics)
    return masked_mean((pred.y - batch.y) ** 2, batch.val_w)
