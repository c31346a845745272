"""`World`: the true model of one seed, and its counterfactuals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from dcmmm.data.synthetic.blocks import apply_adstock, hill, yearly_fourier
from dcmmm.data.synthetic.scenarios import ScenarioConfig
from dcmmm.errors import ConfigError


class Future(NamedTuple):
    """The weeks after the panel (future mode): what the spend processes,
    costs and controls do next, ``F = config.future_weeks`` weeks.

    dates: [F] week starts (Mondays) continuing the panel's; spend: [R, F, C]
    own spend (currency) of the processes continued; cost: [R, F, C] cost per
    unit of own activity; price, promo: [R, F] controls; eff: [F, C]
    effectiveness (the panel's last week's).
    """

    dates: pd.DatetimeIndex
    spend: np.ndarray
    cost: np.ndarray
    price: np.ndarray
    promo: np.ndarray
    eff: np.ndarray


@dataclass(frozen=True, eq=False)
class World:
    """The true model of one seed: drawn parameters and drawn spend, pure numpy.

    KPI, in KPI units: ``y = kpi_scale · size_r · (base + Σ_c β_rc · eff_tc · h)``
    (see the module docstring). Arrays of shape ``[R, B+T, C]`` include the
    ``B`` burn-in weeks; the ``panel_*`` properties drop them.

    Attributes:
        config: the scenario.
        seed: the seed it was drawn with.
        dates: [T] panel week starts (Mondays).
        regions: [R] region labels.
        size_r: [R] region size (geometric mean 1).
        spend_all: [R, B+T, C] own spend (currency).
        cost_all: [R, B+T, C] cost per unit of own activity (currency / unit).
        own_all: [R, B+T, C] own activity ``u = spend / cost``.
        edge_rcc: [R, C, C] ``w_pc · M_child / M_parent`` in raw activity units
            (``[r, parent, child]``).
        order: channel indices in topological order.
        driven_all: [R, B+T, C] graph-driven activity under the actual plan.
        activity_all: [R, B+T, C] observed (total) activity ``u + driven``.
        kernels: [C, L] adstock weights; adstock_params: per channel
            ``(family, params)``.
        act_mean_rc: [R, C] mean total activity over the panel weeks (Hill scale).
        hill_k, hill_s: [C] Hill half-saturation (units of mean activity) and shape.
        beta_c: [C] shared β (fraction of a size-1 region's KPI / kpi_scale);
            beta_rc: [R, C] per region.
        eff_tc: [T, C] effectiveness multiplier.
        intercept_r: [R]; trend_per_year: scalar; season_coef: [4] Fourier
            coefficients of ``yearly_fourier(dates, 2)``; season_scale_r: [R].
        price_rt, promo_rt: [R, T] controls; price_ref_r: [R] reference price;
            price_elasticity, promo_lift: scalars.
        future: the weeks after the panel (`Future`), or None.
    """

    config: ScenarioConfig
    seed: int
    dates: pd.DatetimeIndex
    regions: tuple[str, ...]
    size_r: np.ndarray
    spend_all: np.ndarray
    cost_all: np.ndarray
    own_all: np.ndarray
    edge_rcc: np.ndarray
    order: tuple[int, ...]
    driven_all: np.ndarray
    activity_all: np.ndarray
    kernels: np.ndarray
    adstock_params: tuple[tuple[str, dict[str, float]], ...]
    act_mean_rc: np.ndarray
    hill_k: np.ndarray
    hill_s: np.ndarray
    beta_c: np.ndarray
    beta_rc: np.ndarray
    eff_tc: np.ndarray
    intercept_r: np.ndarray
    trend_per_year: float
    season_coef: np.ndarray
    season_scale_r: np.ndarray
    price_rt: np.ndarray
    promo_rt: np.ndarray
    price_ref_r: np.ndarray
    price_elasticity: float
    promo_lift: float
    future: Future | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    # ---- panel views -------------------------------------------------------
    @property
    def burn_in(self) -> int:
        return self.config.burn_in_weeks

    @property
    def channels(self) -> tuple[str, ...]:
        return self.config.channels

    @property
    def spend(self) -> np.ndarray:
        """[R, T, C] own spend over the panel weeks (currency)."""
        return self.spend_all[:, self.burn_in :]

    @property
    def own_activity(self) -> np.ndarray:
        """[R, T, C] own (spend-driven) activity over the panel weeks."""
        return self.own_all[:, self.burn_in :]

    @property
    def activity(self) -> np.ndarray:
        """[R, T, C] observed (total) activity over the panel weeks."""
        return self.activity_all[:, self.burn_in :]

    def base(self) -> np.ndarray:
        """[R, T] expected KPI without media (KPI units): trend, seasonality, controls."""
        return self._base(np.arange(len(self.dates)), self.dates, self.price_rt, self.promo_rt)

    def _base(self, weeks: np.ndarray, dates: pd.DatetimeIndex, price: np.ndarray,
              promo: np.ndarray) -> np.ndarray:
        """[R, len(weeks)] KPI without media at panel week indices `weeks` (T and
        later: after the panel) with their dates and controls [R, len(weeks)]."""
        T = len(self.dates)
        t_years = (weeks - (T - 1) / 2.0) / 52.0
        season = self.season_scale_r[:, None] * (yearly_fourier(dates, 2) @ self.season_coef)[None]
        level = 1.0 + self.trend_per_year * t_years[None] + season
        controls = -self.price_elasticity * (price / self.price_ref_r[:, None] - 1.0)
        controls = controls + self.promo_lift * promo
        unit = self.intercept_r[:, None] * (level + controls)
        return self.config.kpi_scale * self.size_r[:, None] * unit

    # ---- structural equations ---------------------------------------------
    def propagate(self, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Total and driven activity ``[R, T', C]`` from own activity through the graph."""
        x = np.zeros_like(own)
        driven = np.zeros_like(own)
        idx = {c: i for i, c in enumerate(self.channels)}
        parents = {i: [idx[p] for p, c, _ in self.config.edges if idx[c] == i] for i in self.order}
        for c in self.order:
            for p in parents[c]:
                driven[:, :, c] += self.edge_rcc[:, p, c][:, None] * x[:, :, p]
            x[:, :, c] = own[:, :, c] + driven[:, :, c]
        return x, driven

    def media_effects(self, activity_all: np.ndarray) -> np.ndarray:
        """[R, T, C] media KPI per channel (KPI units) from total activity ``[R, B+T, C]``."""
        a = apply_adstock(activity_all, self.kernels)[:, self.burn_in :]
        return self._media(a, self.eff_tc)

    def _media(self, adstocked: np.ndarray, eff: np.ndarray) -> np.ndarray:
        """[R, W, C] media KPI from adstocked activity [R, W, C] and effectiveness [W, C]."""
        h = hill(adstocked / self.act_mean_rc[:, None, :], self.hill_k, self.hill_s)
        unit = self.beta_rc[:, None, :] * eff[None] * h
        return self.config.kpi_scale * self.size_r[:, None, None] * unit

    # ---- future mode ---------------------------------------------------------
    def future_activity(self, spend: np.ndarray) -> np.ndarray:
        """[R, H, C] total activity that a spend plan [R, H, C] of the first H
        weeks after the panel buys: own activity spend / cost, propagated
        through the graph."""
        cost = self._future_weeks(spend.shape[1]).cost[:, : spend.shape[1]]
        return self.propagate(np.asarray(spend, np.float64) / cost)[0]

    def future_kpi(self, spend: np.ndarray, tail_weeks: int | None = None) -> np.ndarray:
        """[R, H + tail] noise-free KPI (KPI units) of the H weeks after the
        panel and the `tail_weeks` after them (default max_lag − 1: all the
        carry-over of the plan), when the panel is spent as observed, the H
        weeks by the plan `spend` [R, H, C] (own spend, currency) and the tail
        weeks not at all. The panel's carry-over into these weeks is included;
        controls and costs are the future's (`Future`)."""
        spend = np.asarray(spend, np.float64)
        R, C = self.act_mean_rc.shape
        H = spend.shape[1]
        if spend.ndim != 3 or spend.shape[0] != R or spend.shape[2] != C:
            raise ConfigError(f"a future spend plan has shape [R, H, C] = [{R}, H, {C}], "
                              f"got {list(spend.shape)}")
        if np.any(spend < 0) or not np.all(np.isfinite(spend)):
            raise ConfigError("a future spend plan must be finite and >= 0")
        tail = self.config.max_lag - 1 if tail_weeks is None else int(tail_weeks)
        future = self._future_weeks(H + tail)
        n = H + tail
        own = np.concatenate([self.own_all, spend / future.cost[:, :H], np.zeros((R, tail, C))],
                             axis=1)
        x, _ = self.propagate(own)
        a = apply_adstock(x, self.kernels)[:, -n:] if n else np.zeros((R, 0, C))
        T = len(self.dates)
        base = self._base(np.arange(T, T + n), future.dates[:n], future.price[:, :n],
                          future.promo[:, :n])
        return base + self._media(a, future.eff[:n]).sum(axis=2)

    def _future_weeks(self, n: int) -> Future:
        """The future, checked to hold at least `n` weeks."""
        available = 0 if self.future is None else len(self.future.dates)
        if n > available:
            raise ConfigError(f"the world simulates {available} weeks after the panel "
                              f"(future_weeks), {n} are needed")
        return self.future

    def expected_kpi(
        self,
        spend_multiplier: np.ndarray | None = None,
        off: str | None = None,
        mode: str = "total",
        weeks: slice | None = None,
    ) -> np.ndarray:
        """[R, T] noise-free KPI (KPI units) under a changed spend plan.

        Args:
            spend_multiplier: [C] or [R, C] factors on each channel's own spend
                (and so own activity) over ``weeks``; None = 1.
            off: a channel whose own spend is set to 0 over ``weeks``.
            mode: ``"total"``: the change propagates through the graph to the
                children's driven activity; ``"direct"``: every channel keeps
                its observed driven activity (only own activity changes).
            weeks: slice of panel weeks (0 … T-1) the change applies to, the
                burn-in unchanged; None = the whole history including the
                burn-in (a world with that plan throughout, so the carry-in at
                the first panel week changes too). Carry-over of the change
                into later panel weeks is included.
        """
        if mode not in ("total", "direct"):
            raise ConfigError(f"mode must be 'total' or 'direct', got '{mode}'")
        R, C = self.act_mean_rc.shape
        mult = np.ones((R, C))
        if spend_multiplier is not None:
            factors = np.asarray(spend_multiplier, dtype=np.float64)
            if factors.shape not in ((C,), (R, C)):
                raise ConfigError(
                    f"spend_multiplier must have shape ({C},) or ({R}, {C}), got {factors.shape}"
                )
            if np.any(factors < 0) or not np.all(np.isfinite(factors)):
                raise ConfigError("spend_multiplier must be finite and >= 0")
            mult = mult * factors
        if off is not None:
            if off not in self.channels:
                raise ConfigError(
                    f"off='{off}' is not a channel; channels are {list(self.channels)}"
                )
            mult[:, self.channels.index(off)] = 0.0
        if spend_multiplier is None and off is None:
            media = self._observed_media()
        else:
            own = self.own_all.copy()
            if weeks is None:
                own *= mult[:, None, :]
            else:
                own[:, np.arange(len(self.dates))[weeks] + self.burn_in, :] *= mult[:, None, :]
            if mode == "total":
                x, _ = self.propagate(own)
            else:
                x = own + self.driven_all
            media = self.media_effects(x)
        return self.base() + media.sum(axis=2)

    def _observed_media(self) -> np.ndarray:
        if "media" not in self._cache:
            self._cache["media"] = self.media_effects(self.activity_all)
        return self._cache["media"]

    def contributions(self) -> np.ndarray:
        """[R, T, C] each channel's media KPI under the actual plan (KPI units)."""
        return self._observed_media().copy()
