"""The model of one region, and its lift over regions.

    ŷ[t] = intercept + level[t] + seasonality[t] + Σ_k γ_k z[t, k]
           + Σ_c β_c · m[t, c] · hill(adstock(x)[t, c])

in scaled units (KPI / region's training mean; activity / its training mean).
Region-specific parameters are θ_r = θ_shared + δ_r (β through a softplus);
adstock, Hill, the channel graph and the GRU are shared. `predict_panel` is
the one place where the region model is vmapped.
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dcmmm.model import adstock as adstock_lib
from dcmmm.model.baseline import control_effects, level, seasonality
from dcmmm.model.dynamics import EffectivenessGRU, effectiveness
from dcmmm.model.graph import ChannelGraph, graph_matrix
from dcmmm.model.saturation import HillSaturation, hill, hill_k, hill_s


@dataclass(frozen=True)
class ModelSpec:
    """Static structure of the model (hashable; closed over by jitted code).

    Defaults are those of conf/model/default.yaml.
    """

    n_channels: int
    n_controls: int
    n_fourier: int = 2
    adstock_family: str = "weibull"
    adstock_enabled: bool = True
    max_lag: int = 8
    graph_mode: str = "notears"
    graph_sign: str = "positive"  # positive: W >= 0 (a parent only adds activity); any
    graph_plan: bool = False  # SEM with the plan's part of own activity (no spend columns)
    dynamics_enabled: bool = True
    hidden: int = 8
    max_log_ratio: float = 1.0
    region_beta: bool = True
    region_controls: bool = True
    region_season: bool = True
    beta_init: float = 0.05


class Statics(NamedTuple):
    """Inputs shared by all regions."""

    fourier: jax.Array  # [T, 2F] Fourier terms of the real week of year
    level_basis: jax.Array  # [T, J] interpolation basis of the local level
    trend: jax.Array  # [T] centred time, 0 at the last training week, 1 = one year
    allowed: jax.Array  # [C, C] 1.0 where the channel graph may have an edge


class Prediction(NamedTuple):
    """Prediction and its additive components (scaled units); leading [R] when lifted."""

    y: jax.Array  # [T]
    intercept: jax.Array  # [T]
    level: jax.Array  # [T]
    seasonality: jax.Array  # [T]
    controls: jax.Array  # [T, K]
    media: jax.Array  # [T, C]
    effectiveness: jax.Array  # [T, C] multiplier m


def context_features(statics: Statics, z):
    """GRU input [T, 2F + 1 + K]: calendar, trend and controls (never the KPI)."""
    return jnp.concatenate([statics.fourier, statics.trend[:, None], z], axis=1)


def channel_betas(mspec: ModelSpec, shared: dict, region: dict):
    """β[C] ≥ 0 of one region = softplus(shared + region offset)."""
    raw = shared["beta"] + (region["beta"] if mspec.region_beta else 0.0)
    return jax.nn.softplus(raw)


def adstock_kernel(mspec: ModelSpec, shared: dict):
    """Normalised adstock kernel w[C, L] (a unit impulse when adstock is disabled)."""
    if not mspec.adstock_enabled:
        return jnp.eye(1, mspec.max_lag).repeat(mspec.n_channels, axis=0)
    return adstock_lib.adstock_weights(mspec.adstock_family, shared["adstock"], mspec.max_lag)


def region_media(mspec: ModelSpec, shared: dict, region: dict, x, m):
    """One region's media terms [T, C] = β · m · hill(adstock(x)) for x[T, C]
    scaled activity and effectiveness m[T, C]."""
    w = adstock_kernel(mspec, shared)
    saturated = hill(
        adstock_lib.adstock(x, w),
        hill_k(shared["hill"]["raw_k"]),
        hill_s(shared["hill"]["raw_s"]),
    )
    return channel_betas(mspec, shared, region) * m * saturated


def predict_region(mspec: ModelSpec, shared: dict, region: dict, x, z, statics: Statics) -> Prediction:
    """One region: x[T, C] scaled activity, z[T, K] standardised controls -> Prediction."""
    if mspec.dynamics_enabled:
        m = effectiveness(shared["gru"], context_features(statics, z), mspec.max_log_ratio)
    else:
        m = jnp.ones_like(x)
    media = region_media(mspec, shared, region, x, m)
    season_coef = shared["season"] + (region["season"] if mspec.region_season else 0.0)
    gamma = shared["gamma"] + (region["gamma"] if mspec.region_controls else 0.0)
    n_weeks = x.shape[0]
    intercept = jnp.full(n_weeks, region["intercept"])
    lvl = level(region["level"], statics.level_basis)
    season = seasonality(season_coef, statics.fourier)
    controls = control_effects(gamma, z)
    y = intercept + lvl + season + controls.sum(axis=1) + media.sum(axis=1)
    return Prediction(y, intercept, lvl, season, controls, media, m)


def predict_panel(mspec: ModelSpec, params: dict, x, z, statics: Statics) -> Prediction:
    """All regions: x[R, T, C], z[R, T, K] -> Prediction with a leading R axis."""
    return jax.vmap(predict_region, in_axes=(None, None, 0, 0, 0, None))(
        mspec, params["shared"], params["region"], x, z, statics
    )


def media_panel(mspec: ModelSpec, params: dict, x, effectiveness_rtc):
    """All regions' media terms [R, T, C] for activity x[R, T, C] at the
    effectiveness m[R, T, C] of a prediction (m depends on the calendar and
    controls only, never on media, so a counterfactual plan keeps it)."""
    return jax.vmap(region_media, in_axes=(None, None, 0, 0, 0))(
        mspec, params["shared"], params["region"], x, effectiveness_rtc)


def graph_weights(params: dict, statics: Statics):
    """The learned (un-thresholded) channel graph W[C, C]."""
    return graph_matrix(params["shared"]["graph"], statics.allowed)


def inverse_softplus(y: float) -> float:
    """x such that softplus(x) == y > 0."""
    return float(y + np.log(-np.expm1(-y)))


def graph_params(mspec: ModelSpec, allowed: np.ndarray) -> dict:
    """Initial graph parameters: W's raw weights and, with `graph_plan`, the
    plan's loadings V[C, C] (own activity of c = Σ_p on_p · V[p, c], on-air
    weeks as deviations from the week's national pattern)."""
    module = ChannelGraph(allowed, sign=mspec.graph_sign)
    out = nnx.to_pure_dict(nnx.state(module, nnx.Param))
    if mspec.graph_plan:
        out["plan_v"] = jnp.zeros(allowed.shape, jnp.float32)
    return out


def init_params(mspec: ModelSpec, key, x, y, fit_mask, statics: Statics) -> dict:
    """Data-driven initial parameters.

    x: [R, T, C] scaled activity, y: [R, T] scaled KPI, fit_mask: [R, T] cells
    used for fitting. Hill k starts at the median positive activity, β small,
    intercepts at each region's mean KPI minus the initial media effect.
    """
    x = np.asarray(x)
    n_regions, _, n_ch = x.shape
    n_ctrl = mspec.n_controls
    positive = x[x > 0]
    k0 = np.full(n_ch, np.median(positive) if positive.size else 1.0)
    for c in range(n_ch):
        pos_c = x[..., c][x[..., c] > 0]
        if pos_c.size:
            k0[c] = np.median(pos_c)
    rngs = nnx.Rngs(key)
    pure = lambda module: nnx.to_pure_dict(nnx.state(module, nnx.Param))  # noqa: E731
    gru = EffectivenessGRU(statics.fourier.shape[1] + 1 + n_ctrl, mspec.hidden, n_ch, rngs=rngs)
    shared = {
        "adstock": adstock_lib.init_adstock_params(mspec.adstock_family, n_ch),
        "hill": pure(HillSaturation(k0, 1.0)),
        "beta": jnp.full(n_ch, inverse_softplus(mspec.beta_init)),
        "season": jnp.zeros(statics.fourier.shape[1]),
        "gamma": jnp.zeros(n_ctrl),
        "graph": graph_params(mspec, np.asarray(statics.allowed) > 0),
        "gru": pure(gru),
    }
    n_knots = statics.level_basis.shape[1]
    y_mean = np.sum(np.asarray(y) * fit_mask, axis=1) / np.maximum(fit_mask.sum(axis=1), 1)
    media0 = mspec.beta_init * 0.5 * n_ch
    region = {
        "intercept": jnp.asarray(y_mean - media0, jnp.float32),
        "level": jnp.zeros((n_regions, n_knots - 1)),
        "beta": jnp.zeros((n_regions, n_ch)),
        "season": jnp.zeros((n_regions, statics.fourier.shape[1])),
        "gamma": jnp.zeros((n_regions, n_ctrl)),
        # share of activity driven by the channel's own spend (softplus; graph SEM only)
        "own": jnp.full((n_regions, n_ch), inverse_softplus(1.0)),
    }
    params = {"shared": shared, "region": region}
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
