"""Small model inputs shared by model/train/analysis tests."""

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.data.panel import Panel
from dcmmm.data.scaling import Scalers
from dcmmm.fitted import Fitted
from dcmmm.model.baseline import fourier_features, level_basis
from dcmmm.model.graph import allowed_edges
from dcmmm.model.mmm import ModelSpec, Statics, init_params
from dcmmm.specs import RunSpec
from dcmmm.train.inputs import Split
from dcmmm.train.loss import Batch


def tiny_problem(n_regions=3, n_weeks=40, n_channels=3, n_controls=2, seed=0, zero_weeks=()):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 0.5, size=(n_regions, n_weeks, n_channels))
    for t in zero_weeks:
        x[:, t, :] = 0.0
    z = rng.normal(size=(n_regions, n_weeks, n_controls))
    y = 1.0 + 0.2 * x.mean(axis=2) + 0.05 * rng.normal(size=(n_regions, n_weeks))
    n_fit, n_train = n_weeks - 12, n_weeks - 6
    week = np.arange(n_weeks)[None, :]
    fit_w = np.broadcast_to(week < n_fit, (n_regions, n_weeks)).astype(float)
    val_w = np.broadcast_to((week >= n_fit) & (week < n_train), (n_regions, n_weeks)).astype(float)
    xc = x - x.mean(axis=1, keepdims=True)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    batch = Batch(f32(x), f32(z), f32(y), f32(fit_w), f32(val_w), f32(xc), f32(fit_w), f32(x))
    statics = Statics(
        fourier=f32(fourier_features(np.arange(n_weeks) % 52, 2)),
        level_basis=f32(level_basis(n_weeks, n_fit, 4)),
        trend=f32((np.arange(n_weeks) - n_train) / 52.0),
        allowed=f32(allowed_edges("notears", n_channels)),
    )
    spec = ModelSpec(n_channels=n_channels, n_controls=n_controls, hidden=4)
    params = init_params(spec, jax.random.key(seed), x, y, fit_w, statics)
    return spec, params, batch, statics


def fitted_of(spec, params, batch, statics, graph, kpi_mean, spend=None, names=None,
              holdout_weeks=6, val_weeks=6, member_params=None, zero_tests=None):
    """A Fitted around model inputs, with no data file behind it: the panel's
    activity is the scaled activity (`batch.x`, media means of 1), its KPI
    `batch.y · kpi_mean`, its controls `batch.z` (standardised already);
    `spend` [R, T, C] money or None; `graph` the thresholded W [C, C]."""
    x = np.asarray(batch.x, np.float64)
    n_regions, n_weeks, n_channels = x.shape
    n_controls = batch.z.shape[-1]
    names = tuple(names or (f"c{c}" for c in range(n_channels)))
    kpi_mean = np.asarray(kpi_mean, np.float64)
    panel = Panel(
        regions=tuple(f"r{r}" for r in range(n_regions)), periods=np.arange(n_weeks),
        week_of_year=np.arange(n_weeks) % 52.0, channels=names, channel_columns=names,
        spend_columns=None if spend is None else tuple(f"{n}_spend" for n in names),
        controls=tuple(f"z{k}" for k in range(n_controls)), kpi_name="kpi",
        y=np.asarray(batch.y, np.float64) * kpi_mean[:, None], media=x,
        spend=None if spend is None else np.asarray(spend, np.float64),
        z=np.asarray(batch.z, np.float64), mask=np.ones((n_regions, n_weeks), bool),
        observed=np.ones((n_regions, n_weeks), bool), holdout_weeks=holdout_weeks)
    scalers = Scalers(kpi_mean, np.ones((n_regions, n_channels)), np.zeros(n_controls),
                      np.ones(n_controls))
    split = Split(n_weeks - holdout_weeks - val_weeks, n_weeks - holdout_weeks)
    return Fitted(RunSpec(spec, val_weeks=val_weeks), panel, scalers, params, batch, statics,
                  split, np.asarray(graph, np.float64), member_params, zero_tests)
