"""Small model inputs shared by model/train tests."""

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.model.baseline import fourier_features, level_basis
from dcmmm.model.graph import allowed_edges
from dcmmm.model.mmm import ModelSpec, Statics, init_params
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
