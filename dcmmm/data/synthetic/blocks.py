"""Numpy building blocks of the generator: adstock kernels (Jin et al. 2017),
the causal carry-over convolution, Hill saturation, yearly Fourier terms.
Written independently of `dcmmm.model`: the generator is the fitted model's
oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dcmmm.data.synthetic.scenarios import ADSTOCK_FAMILIES
from dcmmm.errors import ConfigError


def adstock_kernel(family: str, params: dict[str, float], max_lag: int) -> np.ndarray:
    """Normalised carry-over weights ``w[L]`` (sum 1) for lags ``0 … L-1`` weeks.

    - geometric: ``w_l ∝ decay^l``
    - delayed (Jin et al. 2017): ``w_l ∝ decay^((l - delay)^2)``
    - weibull: ``w_l ∝ pdf(l + 1; shape, scale)``, the Weibull density
      ``(k/λ)(x/λ)^(k-1) exp(-(x/λ)^k)``
    """
    lag = np.arange(max_lag, dtype=np.float64)
    if family == "geometric":
        w = params["decay"] ** lag
    elif family == "delayed":
        w = params["decay"] ** ((lag - params["delay"]) ** 2)
    elif family == "weibull":
        k, lam = params["shape"], params["scale"]
        x = (lag + 1.0) / lam
        w = (k / lam) * x ** (k - 1.0) * np.exp(-(x**k))
    else:
        raise ConfigError(f"unknown adstock family '{family}'; known: {list(ADSTOCK_FAMILIES)}")
    return w / w.sum()


def apply_adstock(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Causal carry-over ``a[..., t, c] = Σ_l w[c, l] · x[..., t - l, c]``.

    Args:
        x: [R, T', C] activity (weeks before index 0 count as zero).
        kernels: [C, L] weights.
    Returns:
        [R, T', C] adstocked activity, same units as ``x``.
    """
    out = np.zeros_like(x)
    n = x.shape[1]
    for l in range(kernels.shape[1]):
        if l >= n:
            break
        out[:, l:, :] += kernels[:, l] * x[:, : n - l, :]
    return out


def hill(a: np.ndarray, k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Hill saturation ``a^s / (a^s + k^s)`` (Jin et al. 2017); ``a >= 0``, 0 at 0."""
    a_s = np.power(a, s)
    return a_s / (a_s + np.power(k, s))


def yearly_fourier(dates: pd.DatetimeIndex, n_pairs: int) -> np.ndarray:
    """[T, 2·n_pairs] cos/sin terms of the day of year (period 365.25 days)."""
    phase = 2.0 * np.pi * (dates.day_of_year.to_numpy() - 1) / 365.25
    cols = []
    for j in range(1, n_pairs + 1):
        cols += [np.cos(j * phase), np.sin(j * phase)]
    return np.stack(cols, axis=1)
