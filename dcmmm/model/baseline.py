"""Baseline of one region: intercept + local level + seasonality + controls.

- The local level is piecewise linear between knots every `knot_weeks` weeks
  of the training weeks and flat after the last one, so forecasts carry the
  latest level instead of extrapolating a trend (Meridian's knots for its
  time-varying intercept). Knot values are a random walk from 0 (increments
  are parameters; the loss penalises their squares).
- Seasonality is a Fourier series of the real week of year.
- Controls enter linearly with signed coefficients.
"""

import jax.numpy as jnp
import numpy as np

from dcmmm.data.calendar import WEEKS_PER_YEAR


def fourier_features(week_of_year: np.ndarray, n_pairs: int) -> np.ndarray:
    """[T, 2·n_pairs]: sin/cos(2π·k·week/52.18) for k = 1..n_pairs."""
    angle = 2.0 * np.pi * np.asarray(week_of_year, np.float64)[:, None] / WEEKS_PER_YEAR
    k = np.arange(1, n_pairs + 1)[None, :]
    return np.concatenate([np.sin(k * angle), np.cos(k * angle)], axis=1)


def knot_positions(n_fit: int, knot_weeks: int) -> np.ndarray:
    """Week indices of the level's knots: 0, knot_weeks, ..., and n_fit − 1."""
    knots = np.arange(0, max(n_fit - 1, 1), max(knot_weeks, 1), dtype=np.float64)
    return np.unique(np.append(knots, max(n_fit - 1, 0)))


def level_basis(n_weeks: int, n_fit: int, knot_weeks: int, knots=None) -> np.ndarray:
    """Linear-interpolation basis [T, J] over knots in the first `n_fit` weeks
    (or at the given week indices `knots`, increasing).

    Row t holds the weights of the two knots around week t (hat functions);
    weeks after the last knot use the last knot only (flat level).
    """
    knots = knot_positions(n_fit, knot_weeks) if knots is None else np.asarray(knots, np.float64)
    t = np.arange(n_weeks, dtype=np.float64)
    eye = np.eye(len(knots))
    return np.stack([np.interp(t, knots, eye[j]) for j in range(len(knots))], axis=1)


def level(increments, basis):
    """Level[T] = basis[T, J] @ knots[J], knots = (0, cumsum(increments[J−1]))."""
    knots = jnp.concatenate([jnp.zeros(1, increments.dtype), jnp.cumsum(increments)])
    return basis @ knots


def seasonality(coef, fourier):
    """Seasonal term [T] = fourier[T, 2F] @ coef[2F]."""
    return fourier @ coef


def control_effects(gamma, z):
    """Per-control contributions [T, K] = z[T, K] · gamma[K] (signed)."""
    return z * gamma
