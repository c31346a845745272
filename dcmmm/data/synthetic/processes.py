"""The generator's random processes: stationary AR(1) series, on/off flights
(Markov bursts), and their continuation past the panel (future mode) from a
stream of their own."""

from __future__ import annotations

import numpy as np


def ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) along the last axis with marginal sd ``sd``."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0] * sd
    innov = sd * np.sqrt(1.0 - phi**2)
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + innov * e[..., t]
    return out


def flights(rng: np.random.Generator, shape: tuple[int, ...], on: float, off: float) -> np.ndarray:
    """0/1 on-off Markov bursts along the last axis (mean lengths ``on``, ``off`` weeks)."""
    u = rng.random(shape)
    state = np.empty(shape, dtype=bool)
    state[..., 0] = rng.random(shape[:-1]) < on / (on + off)
    for t in range(1, shape[-1]):
        prev = state[..., t - 1]
        state[..., t] = np.where(prev, u[..., t] >= 1.0 / on, u[..., t] < 1.0 / off)
    return state.astype(np.float64)


def ar1_more(rng: np.random.Generator, series: np.ndarray, n: int, phi: float,
              sd: float) -> np.ndarray:
    """``series`` [..., T] continued by ``n`` more steps of its AR(1) (drawn from ``rng``)."""
    out = np.empty(series.shape[:-1] + (n,))
    e = rng.standard_normal(out.shape)
    last = series[..., -1]
    innov = sd * np.sqrt(1.0 - phi**2)
    for t in range(n):
        last = out[..., t] = phi * last + innov * e[..., t]
    return np.concatenate([series, out], axis=-1)


def flights_more(rng: np.random.Generator, series: np.ndarray, n: int, on: float,
                  off: float) -> np.ndarray:
    """0/1 bursts ``series`` [..., T] continued by ``n`` more weeks of their Markov chain."""
    out = np.empty(series.shape[:-1] + (n,), dtype=bool)
    u = rng.random(out.shape)
    prev = series[..., -1] > 0
    for t in range(n):
        prev = out[..., t] = np.where(prev, u[..., t] >= 1.0 / on, u[..., t] < 1.0 / off)
    return np.concatenate([series, out.astype(np.float64)], axis=-1)


def draws_more(panel: np.ndarray, future: np.ndarray) -> np.ndarray:
    """Independent draws for the panel weeks and the future weeks, along the last axis."""
    return np.concatenate([panel, future], axis=-1)
