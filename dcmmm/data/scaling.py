"""Scalers: per-region levels fitted on training weeks, exactly invertible.

Scaling keeps levels (never shares of voice), docs/design.md, "Scaling":

    KPI       y_s[r, t]    = y[r, t] / kpi_mean[r]
    media     x_s[r, t, c] = x[r, t, c] / media_mean[r, c]
    controls  z_s[r, t, k] = (z[r, t, k] - control_mean[k]) / control_std[k]

All statistics come from training weeks only (week index < `Panel.n_train`):
the KPI mean over usable KPI cells (`Panel.train_mask`), media and control
statistics over observed rows. A region with no activity in a channel during
training gets that channel's pooled mean over all regions' training cells. The
scale methods accept numpy or JAX arrays and return the same kind.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import numpy as np

from dcmmm.data.panel import Panel
from dcmmm.errors import DataError

logger = logging.getLogger(__name__)

_FORMAT = "dcmmm.Scalers"
_VERSION = 1
_FIELDS = ("kpi_mean", "media_mean", "control_mean", "control_std")
_CONSTANT_RTOL = 1e-12
"""A control whose training std is below this fraction of its mean is constant."""


@dataclass(frozen=True, eq=False)
class Scalers:
    """Fitted scaling statistics (float64).

    kpi_mean: [R] mean training-week KPI per region, in KPI units (> 0).
    media_mean: [R, C] mean training-week activity per region and channel over
        observed rows; the pooled channel mean where a region's is 0 (> 0).
    control_mean: [K] training mean of each control over observed cells.
    control_std: [K] training standard deviation of each control; 1.0 for a
        constant control.
    """

    kpi_mean: np.ndarray
    media_mean: np.ndarray
    control_mean: np.ndarray
    control_std: np.ndarray

    def __post_init__(self) -> None:
        for name, ndim in zip(_FIELDS, (1, 2, 1, 1)):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != ndim:
                raise ValueError(
                    f"Scalers.{name} must have {ndim} dimensions, got shape {value.shape}"
                )
            if not np.isfinite(value).all():
                raise ValueError(f"Scalers.{name} has non-finite values")
            object.__setattr__(self, name, value)
        if self.media_mean.shape[0] != self.kpi_mean.shape[0]:
            raise ValueError(
                f"Scalers.media_mean has {self.media_mean.shape[0]} regions, kpi_mean {self.kpi_mean.shape[0]}"
            )
        if self.control_mean.shape != self.control_std.shape:
            raise ValueError("Scalers.control_mean and control_std differ in length")
        for name in ("kpi_mean", "media_mean", "control_std"):
            if not (getattr(self, name) > 0).all():
                raise ValueError(f"Scalers.{name} must be positive")

    @property
    def n_regions(self) -> int:
        return self.kpi_mean.shape[0]

    @property
    def n_channels(self) -> int:
        return self.media_mean.shape[1]

    @property
    def n_controls(self) -> int:
        return self.control_mean.shape[0]

    def scale_kpi(self, y):
        """[R, T] KPI units -> [R, T] multiples of the region's training mean."""
        self._check(y, 2, "y [R, T]")
        return y / self.kpi_mean[:, None]

    def unscale_kpi(self, ys):
        """[R, T] scaled KPI -> [R, T] KPI units."""
        self._check(ys, 2, "ys [R, T]")
        return ys * self.kpi_mean[:, None]

    def scale_media(self, media):
        """[R, T, C] activity -> [R, T, C] multiples of the (region, channel) training mean."""
        self._check(media, 3, "media [R, T, C]", last=self.n_channels)
        return media / self.media_mean[:, None, :]

    def unscale_media(self, ms):
        """[R, T, C] scaled activity -> [R, T, C] activity units."""
        self._check(ms, 3, "ms [R, T, C]", last=self.n_channels)
        return ms * self.media_mean[:, None, :]

    def scale_controls(self, z):
        """[R, T, K] raw controls -> [R, T, K] standardised (training mean 0, std 1)."""
        self._check(z, 3, "z [R, T, K]", last=self.n_controls)
        return (z - self.control_mean) / self.control_std

    def unscale_controls(self, zs):
        """[R, T, K] standardised controls -> [R, T, K] raw units."""
        self._check(zs, 3, "zs [R, T, K]", last=self.n_controls)
        return zs * self.control_std + self.control_mean

    def _check(self, x, ndim: int, what: str, last: int | None = None) -> None:
        shape = tuple(np.shape(x))
        if (
            len(shape) != ndim
            or shape[0] != self.n_regions
            or (last is not None and shape[-1] != last)
        ):
            raise ValueError(
                f"{what} expected with R={self.n_regions}"
                + (f" and last axis {last}" if last is not None else "")
                + f", got shape {shape}"
            )

    def to_json(self) -> str:
        """JSON text; floats are written with full precision (exact round trip)."""
        data = {"format": _FORMAT, "version": _VERSION}
        data.update({name: getattr(self, name).tolist() for name in _FIELDS})
        return json.dumps(data, allow_nan=False)

    @classmethod
    def from_json(cls, s: str) -> Scalers:
        """Inverse of `to_json`; raises `DataError` for text that is not saved Scalers."""
        try:
            data = json.loads(s)
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError(f"not {_FORMAT} version {_VERSION}")
            media_mean = np.asarray(data["media_mean"], dtype=np.float64)
            if media_mean.size == 0:
                media_mean = media_mean.reshape(len(data["kpi_mean"]), 0)
            return cls(
                kpi_mean=np.asarray(data["kpi_mean"], dtype=np.float64),
                media_mean=media_mean,
                control_mean=np.asarray(data["control_mean"], dtype=np.float64).reshape(-1),
                control_std=np.asarray(data["control_std"], dtype=np.float64).reshape(-1),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"cannot read scalers: {e}") from e

    def save(self, path: str | os.PathLike) -> None:
        """Write `to_json()` to `path` atomically (temporary file, then rename)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Scalers:
        with open(os.fspath(path), encoding="utf-8") as f:
            return cls.from_json(f.read())


def fit_scalers(panel: Panel, empty_regions: bool = False) -> Scalers:
    """Fit `Scalers` on the training weeks of `panel` (holdout values are never read).

    kpi_mean[r] = mean of y[r, t] over `panel.train_mask`;
    media_mean[r, c] = mean of media[r, t, c] over observed training rows of r,
        or sum_r' / count_r' pooled over all regions where that mean is 0;
    control_mean, control_std = mean and (population) std of z[..., k] over
        observed training cells of all regions; std 1.0 for a constant control.
    Raises `DataError` for a region without positive training KPI or a channel
    without training activity (`load_panel` rejects both already). With
    `empty_regions`, a region without any usable training KPI cell (a
    backtest fold's region masked by `with_holdout`) gets kpi_mean 1.0 instead.
    """
    train_weeks = np.arange(panel.n_weeks) < panel.n_train
    usable = panel.train_mask
    n_kpi = usable.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kpi_mean = np.where(usable, panel.y, 0.0).sum(1) / n_kpi
    if empty_regions:
        kpi_mean = np.where(n_kpi == 0, 1.0, kpi_mean)
    bad = ~(kpi_mean > 0)
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(
            f"region '{panel.regions[r]}' has no positive KPI mean over the training weeks"
        )

    rows = panel.observed & train_weeks  # [R, T]
    media = np.where(rows[:, :, None], panel.media, 0.0)
    sum_rc = media.sum(1)  # [R, C]
    n_r = rows.sum(1)  # [R]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rc = sum_rc / n_r[:, None]
    pooled_c = sum_rc.sum(0) / max(int(n_r.sum()), 1)  # [C]
    inactive = ~(pooled_c > 0)
    if inactive.any():
        c = int(np.argmax(inactive))
        raise DataError(f"channel '{panel.channels[c]}' has no activity in the training weeks")
    fallback = ~(mean_rc > 0)
    media_mean = np.where(fallback, pooled_c[None, :], mean_rc)
    if fallback.any():
        logger.info(
            "%d (region, channel) pairs have no training activity; scaled by the pooled channel mean",
            int(fallback.sum()),
        )

    z = panel.z[rows]  # [N, K]
    control_mean = z.mean(0)
    dev = z - control_mean
    size = np.abs(dev).max(0) if len(z) else np.zeros(panel.n_controls)
    size = np.where(size > 0, size, 1.0)  # scale before squaring: no underflow/overflow
    std = size * np.sqrt(np.mean((dev / size) ** 2, axis=0))
    constant = ~(std > _CONSTANT_RTOL * np.abs(control_mean))
    if constant.any():
        logger.info(
            "constant controls (std set to 1): %s",
            ", ".join(k for k, const in zip(panel.controls, constant) if const),
        )
    control_std = np.where(constant, 1.0, std)
    return Scalers(
        kpi_mean=kpi_mean, media_mean=media_mean, control_mean=control_mean, control_std=control_std
    )
