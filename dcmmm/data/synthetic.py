"""Ground-truth generator: weekly MMM panels simulated from a known model.

This module is the truth oracle for the recovery tests, so it is written
independently of ``dcmmm.model`` (numpy/pandas only) and on purpose uses a
model the fitted one does not assume exactly:

- **Spend**: per (region r, week t, channel c), log-normal around a level that
  scales with the region size, driven by a shared market factor (national AR(1)
  plus a regional AR(1)), mild seasonality and channel noise; TV-like channels
  are flighted (on/off Markov bursts, mostly following a national schedule),
  search-like channels are always on. Own activity = spend / cost per unit
  (a per-channel cost with 3% noise per cell), so activity is proportional to
  spend within a channel.
- **Channel graph**: ``x_child = u_child + Σ_parents w_pc · (M_child / M_parent) · x_parent``
  in the same week, with ``u`` own (spend-driven) activity, ``x`` observed
  (total) activity and ``M`` a region's mean total activity over the panel
  weeks, so that in scaled units (activity / its mean) the equation is exactly
  ``x̃_child = ũ_child + Σ w_pc · x̃_parent`` (the fitted model's ``x = u + x W``).
  Driven activity is free: a child's spend is its own spend only.
- **Adstock**: normalised kernels over lags ``l = 0 … L-1`` (``L = 13``):
  delayed ``w_l ∝ decay^((l - delay)^2)`` (Jin et al. 2017, "Bayesian Methods
  for Media Mix Modeling with Carryover and Shape Effects"), Weibull pdf
  ``w_l ∝ pdf(l + 1; shape, scale)`` and geometric ``w_l ∝ decay^l``.
  A 52-week burn-in with the same spend process precedes the panel and is
  discarded, so carry-over at the first week is realistic.
- **Saturation**: Hill ``h(a) = a^s / (a^s + k^s)`` (Jin et al. 2017) of the
  adstocked activity divided by that (region, channel)'s mean total activity
  over the panel weeks, so ``k`` is in units of mean activity.
- **KPI**: ``y[r, t] = S · size_r · (base_r(t) + Σ_c β_rc · eff_c(t) · h_rc(t)) + ε``
  with ``S`` = ``kpi_scale`` (weekly KPI of a size-1 region),
  ``base_r(t) = i_r · (1 + trend · (t - t̄) / 52 + season_r(t)) + control_r(t)``,
  ``control_r(t) = i_r · (-elasticity · (price_rt / p0_r - 1) + lift · promo_rt)``,
  ``ε ~ N(0, (noise_sd · mean_t E[y_r])^2)``, and ``β_rc = β_c · exp(δ_rc)``
  (±15% lognormal, geometric mean 1 over regions). ``eff_c(t) = 1`` except for
  the channels listed in ``ScenarioConfig.drift`` (linear from start to end).

Axis letters: ``R`` regions, ``T`` panel weeks, ``B`` burn-in weeks, ``C``
channels, ``L`` lags. Arrays with a ``B + T`` time axis include the burn-in.

Scenarios: ``geo``, ``national``, ``graph``, ``collinear``, ``drift``
(see :func:`scenario`). :func:`simulate` returns the long data frame, the truth
dictionary (incremental KPI and ROI per channel from counterfactual
re-simulation) and the :class:`World` that can answer further counterfactuals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dcmmm.errors import ConfigError

KPI_COLUMN = "sales"
DATE_COLUMN = "date"
REGION_COLUMN = "region"
CONTROL_COLUMNS = ("price", "promo")
ADSTOCK_FAMILIES = ("geometric", "delayed", "weibull")

# Per-channel defaults; a channel name not listed gets the "*" entry.
_DEFAULT_FAMILY = {
    "tv": "delayed",
    "radio": "weibull",
    "social": "geometric",
    "search": "geometric",
    "display": "weibull",
    "null_ch": "geometric",
    "events": "geometric",
    "*": "geometric",
}
_DEFAULT_SPEND_SHARE = {
    "tv": 0.35,
    "radio": 0.10,
    "social": 0.20,
    "search": 0.20,
    "display": 0.10,
    "null_ch": 0.10,
    "events": 0.08,
    "*": 0.10,
}
# Cost per unit of activity (spend currency per GRP, per click, per impression...).
_DEFAULT_COST_PER_UNIT = {
    "tv": 20.0,
    "radio": 8.0,
    "social": 0.008,
    "search": 1.5,
    "display": 0.004,
    "null_ch": 0.5,
    "events": 5.0,
    "*": 1.0,
}


def _lookup(table: dict[str, Any], channel: str) -> Any:
    return table.get(channel, table["*"])


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything that defines a simulated world except the seed.

    Ranges ``(lo, hi)`` are sampled uniformly per seed. Override any field with
    ``dataclasses.replace(scenario("geo"), n_regions=5)``.

    Attributes:
        name: scenario name, written to the truth.
        n_regions: R, number of regions (1 = national).
        n_weeks: T, panel weeks (starting ``start_date``, a Monday).
        channels: media channel names (activity columns; spend is ``<name>_spend``).
        noise_sd: KPI noise sd relative to the region's mean expected KPI.
        edges: ``(parent, child, weight)``; weight in scaled activity units
            (activity / its region mean); must form a DAG, in-weights sum < 1.
        region_column: write a ``region`` column (False only for one region:
            national data without a region column).
        start_date: first panel week (ISO Monday).
        burn_in_weeks: B, weeks simulated before the panel and discarded.
        max_lag: L, adstock kernel length in weeks.
        window_weeks: last weeks of the panel used for the truth's "window"
            (all weeks when the panel is shorter).
        null_channels: channels with β = 0 (real spend, no effect).
        flighted: channels with on/off bursts; others are always on.
        adstock: ``(channel, family)`` overrides of the default families.
        collinear: a channel pair whose spend is made nearly identical in shape
            (within-region correlation > 0.9), or None.
        null_follows: ``(channel, strength)``: the null channels' spend rises by
            ``strength`` in that channel's on-weeks (a spurious correlate), or None.
        drift: ``(channel, eff_start, eff_end)``: linear effectiveness drift.
        shared_trend: a trend in every channel's spend, in log units per year
            (all channels' activity grows together: a shared plan, not an edge).
        shared_season: extra amplitude (log units) of the KPI's own seasonal
            shape in every channel's spend (media peaks when demand peaks).
        bought_together: flighted channels bought in the same national
            campaigns: one national on/off schedule for the whole group (in the
            regions that follow the national plan) and a shared campaign
            intensity (log-normal, national) in its on-weeks.
        spiky: channels that are off most weeks and come in short bursts of
            heavy-tailed size (events, sponsorships): about 70% zero cells,
            peaks 10-30x the channel's mean.
        kpi_scale: weekly KPI of a size-1 region (KPI units).
        spend_ratio: weekly total spend as a fraction of weekly KPI.
        media_share: range of the media share of KPI.
        region_size_sigma: sd of log region size (0.6 gives ~10x spread).
        beta_region_sd: sd of log region deviation of β.
        hill_k, hill_s: ranges of Hill half-saturation (units of mean
            activity) and shape.
        geometric_decay, delayed_decay, delayed_delay, weibull_shape,
        weibull_scale: ranges of adstock parameters (lags in weeks).
        trend_per_year: range of the relative base trend per year.
        season_amplitude: range of the relative yearly seasonality amplitude.
        price_elasticity: range of the relative KPI drop per relative price rise.
        promo_lift: range of the relative KPI lift in promo weeks.
        promo_rate: probability that a (region, week) is a promo week.
        flight_on_weeks, flight_off_weeks: mean lengths of on and off bursts.
    """

    name: str
    n_regions: int
    n_weeks: int
    channels: tuple[str, ...]
    noise_sd: float = 0.05
    edges: tuple[tuple[str, str, float], ...] = ()
    region_column: bool = True
    start_date: str = "2022-01-03"
    burn_in_weeks: int = 52
    max_lag: int = 13
    window_weeks: int = 52
    null_channels: tuple[str, ...] = ("null_ch",)
    flighted: tuple[str, ...] = ("tv", "radio", "display")
    adstock: tuple[tuple[str, str], ...] = ()
    collinear: tuple[str, str] | None = None
    null_follows: tuple[str, float] | None = ("tv", 0.5)
    drift: tuple[tuple[str, float, float], ...] = ()
    shared_trend: float = 0.0
    shared_season: float = 0.0
    bought_together: tuple[str, ...] = ()
    spiky: tuple[str, ...] = ()
    kpi_scale: float = 1.0e4
    spend_ratio: float = 0.10
    media_share: tuple[float, float] = (0.22, 0.32)
    region_size_sigma: float = 0.6
    beta_region_sd: float = 0.15
    hill_k: tuple[float, float] = (0.5, 2.0)
    hill_s: tuple[float, float] = (0.8, 2.5)
    geometric_decay: tuple[float, float] = (0.2, 0.7)
    delayed_decay: tuple[float, float] = (0.4, 0.8)
    delayed_delay: tuple[float, float] = (1.0, 3.0)
    weibull_shape: tuple[float, float] = (1.5, 3.0)
    weibull_scale: tuple[float, float] = (2.0, 5.0)
    trend_per_year: tuple[float, float] = (-0.02, 0.05)
    season_amplitude: tuple[float, float] = (0.05, 0.10)
    price_elasticity: tuple[float, float] = (1.0, 2.0)
    promo_lift: tuple[float, float] = (0.04, 0.10)
    promo_rate: float = 0.12
    flight_on_weeks: float = 6.0
    flight_off_weeks: float = 5.0

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"synthetic scenario '{self.name}': {key} {msg}")

        if self.n_regions < 1:
            raise bad("n_regions", f"must be >= 1, got {self.n_regions}")
        if not self.region_column and self.n_regions != 1:
            raise bad("region_column", f"may be False only with n_regions=1, got {self.n_regions}")
        if self.n_weeks < 2:
            raise bad("n_weeks", f"must be >= 2, got {self.n_weeks}")
        if self.window_weeks < 1:
            raise bad("window_weeks", f"must be >= 1, got {self.window_weeks}")
        if self.burn_in_weeks < self.max_lag:
            raise bad(
                "burn_in_weeks", f"must be >= max_lag={self.max_lag}, got {self.burn_in_weeks}"
            )
        if self.max_lag < 1:
            raise bad("max_lag", f"must be >= 1, got {self.max_lag}")
        if len(set(self.channels)) != len(self.channels) or not self.channels:
            raise bad("channels", f"must be non-empty and unique, got {list(self.channels)}")
        reserved = {KPI_COLUMN, DATE_COLUMN, REGION_COLUMN, *CONTROL_COLUMNS}
        clash = reserved & {*self.channels, *(f"{c}_spend" for c in self.channels)}
        if clash:
            raise bad("channels", f"use reserved column names {sorted(clash)}")
        if self.noise_sd < 0:
            raise bad("noise_sd", f"must be >= 0, got {self.noise_sd}")
        if pd.Timestamp(self.start_date).day_of_week != 0:
            raise bad("start_date", f"must be a Monday, got {self.start_date}")
        known = set(self.channels)

        def check(key: str, names: list[str]) -> None:
            unknown = [n for n in names if n not in known]
            if unknown:
                raise bad(
                    key, f"name unknown channels {unknown}; channels are {list(self.channels)}"
                )

        check("edges", [n for p, c, _ in self.edges for n in (p, c)])
        check("drift", [d[0] for d in self.drift])
        check("adstock", [a[0] for a in self.adstock])
        check("bought_together", list(self.bought_together))
        check("spiky", list(self.spiky))
        together = [c for c in self.bought_together if c not in self.flighted]
        if together:
            raise bad("bought_together", f"names channels that are not flighted: {together}")
        both = set(self.spiky) & set(self.bought_together)
        if both:
            raise bad("spiky", f"channels {sorted(both)} are also bought_together")
        if self.collinear is not None:
            check("collinear", list(self.collinear))
            if self.collinear[0] == self.collinear[1]:
                raise bad("collinear", "needs two different channels")
        for ch, fam in self.adstock:
            if fam not in ADSTOCK_FAMILIES:
                raise bad(
                    "adstock", f"family '{fam}' of '{ch}' is not one of {list(ADSTOCK_FAMILIES)}"
                )
        for p, c, w in self.edges:
            if p == c or not w > 0:
                raise bad("edges", f"edge {p}->{c} needs two channels and a weight > 0, got {w}")
            if p in self.null_channels or c in self.null_channels:
                raise bad("edges", f"edge {p}->{c} touches a null channel")
        inflow: dict[str, float] = {}
        for _, c, w in self.edges:
            inflow[c] = inflow.get(c, 0.0) + w
        for c, w in inflow.items():
            if w >= 1.0:
                raise bad("edges", f"weights into '{c}' sum to {w:.3f}; must be < 1")
        if len({(p, c) for p, c, _ in self.edges}) != len(self.edges):
            raise bad("edges", "repeat a (parent, child) pair")
        _topological_order(self.channels, self.edges, self.name)

    @property
    def families(self) -> dict[str, str]:
        """Adstock family per channel (defaults, then ``adstock`` overrides)."""
        out = {c: _lookup(_DEFAULT_FAMILY, c) for c in self.channels}
        out.update(dict(self.adstock))
        return out


def _topological_order(
    channels: tuple[str, ...], edges: tuple[tuple[str, str, float], ...], name: str = ""
) -> list[int]:
    """Channel indices, parents before children; ConfigError on a cycle."""
    idx = {c: i for i, c in enumerate(channels)}
    parents = {i: {idx[p] for p, c, _ in edges if idx[c] == i} for i in range(len(channels))}
    order: list[int] = []
    while len(order) < len(channels):
        ready = [i for i in range(len(channels)) if i not in order and parents[i] <= set(order)]
        if not ready:
            left = [channels[i] for i in range(len(channels)) if i not in order]
            raise ConfigError(f"synthetic scenario '{name}': edges form a cycle among {left}")
        order.extend(ready)
    return order


_GEO_CHANNELS = ("tv", "radio", "social", "search", "null_ch")
# What real activity data without spend looks like (the DMA panel): all channels
# rise and fall together with a trend and the season, campaigns buy several
# channels in the same weeks, and one channel is sparse and spiky.
_SHARED_CHANNELS = ("tv", "radio", "display", "social", "search", "events", "null_ch")
_SHARED = dict(n_regions=40, n_weeks=130, channels=_SHARED_CHANNELS, shared_trend=0.3,
               shared_season=1.0, bought_together=("tv", "radio", "display"), spiky=("events",))
_SCENARIOS: dict[str, ScenarioConfig] = {
    "geo": ScenarioConfig(name="geo", n_regions=40, n_weeks=130, channels=_GEO_CHANNELS),
    "national": ScenarioConfig(
        name="national", n_regions=1, n_weeks=156, channels=_GEO_CHANNELS, region_column=False
    ),
    "graph": ScenarioConfig(
        name="graph",
        n_regions=30,
        n_weeks=130,
        channels=("tv", "social", "display", "search", "null_ch"),
        edges=(("tv", "search", 0.5), ("display", "search", 0.2)),
    ),
    "collinear": ScenarioConfig(
        name="collinear",
        n_regions=40,
        n_weeks=130,
        channels=_GEO_CHANNELS,
        collinear=("tv", "radio"),
    ),
    "drift": ScenarioConfig(
        name="drift",
        n_regions=40,
        n_weeks=130,
        channels=_GEO_CHANNELS,
        drift=(("social", 0.6, 1.5), ("tv", 1.4, 0.6)),
    ),
    "shared": ScenarioConfig(name="shared", **_SHARED),
    "shared_graph": ScenarioConfig(
        name="shared_graph", edges=(("tv", "search", 0.5), ("display", "social", 0.3)), **_SHARED
    ),
}
SCENARIOS: tuple[str, ...] = tuple(_SCENARIOS)


def scenario(name: str) -> ScenarioConfig:
    """The named scenario's config; ConfigError listing the names if unknown.

    - ``geo``: 40 regions, 130 weeks, tv/radio/social/search + null_ch, no graph.
    - ``national``: 1 region (no region column), 156 weeks, same channels.
    - ``graph``: 30 regions, 130 weeks, edges tv->search (0.5), display->search (0.2).
    - ``collinear``: geo with tv and radio spend nearly identical in shape.
    - ``drift``: geo with social's effectiveness rising 0.6 -> 1.5 and tv's
      fading 1.4 -> 0.6 over the panel.
    - ``shared``: 40 regions, 130 weeks, 7 channels whose activity moves
      together without any edge: a shared trend and season, tv/radio/display
      bought in the same campaigns, a sparse and spiky ``events`` channel.
    - ``shared_graph``: ``shared`` with edges tv->search (0.5), display->social (0.3).
    """
    try:
        return _SCENARIOS[name]
    except KeyError:
        raise ConfigError(
            f"unknown synthetic scenario '{name}'; known scenarios: {list(SCENARIOS)}"
        ) from None


def data_keys(config: ScenarioConfig | str) -> dict[str, Any]:
    """Data-config keys for the simulated frame (the ``data`` group of DESIGN.md §2).

    ``region`` is None for a national scenario written without a region column.
    """
    cfg = scenario(config) if isinstance(config, str) else config
    return {
        "date": DATE_COLUMN,
        "region": REGION_COLUMN if cfg.region_column else None,
        "kpi": KPI_COLUMN,
        "channels": list(cfg.channels),
        "spend": [f"{c}_spend" for c in cfg.channels],
        "controls": list(CONTROL_COLUMNS),
    }


# --------------------------------------------------------------------------
# Building blocks (numpy)


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


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) along the last axis with marginal sd ``sd``."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0] * sd
    innov = sd * np.sqrt(1.0 - phi**2)
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + innov * e[..., t]
    return out


def _flights(rng: np.random.Generator, shape: tuple[int, ...], on: float, off: float) -> np.ndarray:
    """0/1 on-off Markov bursts along the last axis (mean lengths ``on``, ``off`` weeks)."""
    u = rng.random(shape)
    state = np.empty(shape, dtype=bool)
    state[..., 0] = rng.random(shape[:-1]) < on / (on + off)
    for t in range(1, shape[-1]):
        prev = state[..., t - 1]
        state[..., t] = np.where(prev, u[..., t] >= 1.0 / on, u[..., t] < 1.0 / off)
    return state.astype(np.float64)


def _fourier(dates: pd.DatetimeIndex, n_pairs: int) -> np.ndarray:
    """[T, 2·n_pairs] cos/sin terms of the day of year (period 365.25 days)."""
    phase = 2.0 * np.pi * (dates.day_of_year.to_numpy() - 1) / 365.25
    cols = []
    for j in range(1, n_pairs + 1):
        cols += [np.cos(j * phase), np.sin(j * phase)]
    return np.stack(cols, axis=1)


# --------------------------------------------------------------------------
# The world


def _readonly(**arrays: np.ndarray) -> None:
    for a in arrays.values():
        a.flags.writeable = False


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
            coefficients of ``_fourier(dates, 2)``; season_scale_r: [R].
        price_rt, promo_rt: [R, T] controls; price_ref_r: [R] reference price;
            price_elasticity, promo_lift: scalars.
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
        T = len(self.dates)
        t_years = (np.arange(T) - (T - 1) / 2.0) / 52.0
        season = self.season_scale_r[:, None] * (_fourier(self.dates, 2) @ self.season_coef)[None]
        level = 1.0 + self.trend_per_year * t_years[None] + season
        controls = -self.price_elasticity * (self.price_rt / self.price_ref_r[:, None] - 1.0)
        controls = controls + self.promo_lift * self.promo_rt
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
        h = hill(a / self.act_mean_rc[:, None, :], self.hill_k, self.hill_s)
        unit = self.beta_rc[:, None, :] * self.eff_tc[None] * h
        return self.config.kpi_scale * self.size_r[:, None, None] * unit

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
            m = np.asarray(spend_multiplier, dtype=np.float64)
            if m.shape not in ((C,), (R, C)):
                raise ConfigError(
                    f"spend_multiplier must have shape ({C},) or ({R}, {C}), got {m.shape}"
                )
            if np.any(m < 0) or not np.all(np.isfinite(m)):
                raise ConfigError("spend_multiplier must be finite and >= 0")
            mult = mult * m
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


# --------------------------------------------------------------------------
# Simulation


def _shared_plan(cfg: ScenarioConfig, seed: int, dates_all: pd.DatetimeIndex,
                 season_std: np.ndarray, national: np.ndarray, regional: np.ndarray,
                 follows_national: np.ndarray):
    """What makes channels move together without driving each other, or None.

    Returns ``log_plan`` [R, C, TT] added to every channel's log spend level
    (shared trend and season, a campaign intensity for the channels bought
    together, heavy-tailed burst sizes for spiky channels), ``on`` [R, C, TT]
    on/off schedules and ``rows`` [C], the channels whose schedule it sets.
    Drawn from a stream of its own, so scenarios without these features keep
    their draws.
    """
    if not (cfg.shared_trend or cfg.shared_season or cfg.bought_together or cfg.spiky):
        return None
    rng = np.random.default_rng([seed, 20220103, 4])
    C, TT = len(cfg.channels), len(dates_all)
    R = follows_national.shape[0]
    cidx = {c: i for i, c in enumerate(cfg.channels)}
    years = (np.arange(TT) - (TT - 1) / 2.0) / 52.0
    log_plan = np.broadcast_to(
        cfg.shared_trend * years + cfg.shared_season * season_std, (R, C, TT)).copy()
    on = np.zeros((R, C, TT))
    rows = np.zeros(C, bool)
    if cfg.bought_together:
        group = [cidx[c] for c in cfg.bought_together]
        campaigns, follows = national[group[0]], follows_national[:, group[0]]
        intensity = rng.normal(0.0, 0.4, TT)  # how big each week's campaign is, nationally
        for c in group:  # regions that plan on their own keep each channel's own flights
            on[:, c] = np.where(follows, campaigns[None], regional[:, c])
            log_plan[:, c] += intensity[None]
            rows[c] = True
    for name in cfg.spiky:
        c = cidx[name]
        bursts_nat = _flights(rng, (TT,), 1.5, 5.0)
        bursts_reg = _flights(rng, (R, TT), 1.5, 5.0)
        on[:, c] = np.where(follows_national[:, c], bursts_nat[None], bursts_reg)
        log_plan[:, c] += rng.normal(0.0, 0.6, (R, TT))  # heavy-tailed burst sizes
        rows[c] = True
    return log_plan, on, rows


def _draw_world(cfg: ScenarioConfig, seed: int) -> World:
    ss = np.random.SeedSequence([seed, 20220103])
    rng_par, rng_spend, rng_ctrl = (np.random.default_rng(s) for s in ss.spawn(3))
    R, T, B, C, L = cfg.n_regions, cfg.n_weeks, cfg.burn_in_weeks, len(cfg.channels), cfg.max_lag
    TT = B + T
    ch = cfg.channels
    cidx = {c: i for i, c in enumerate(ch)}
    dates = pd.date_range(cfg.start_date, periods=T, freq="W-MON")
    dates_all = pd.date_range(
        pd.Timestamp(cfg.start_date) - pd.Timedelta(weeks=B), periods=TT, freq="W-MON"
    )

    def unif(r: tuple[float, float], size=None):
        return rng_par.uniform(r[0], r[1], size)

    # ---- parameters ----
    log_size = rng_par.normal(0.0, cfg.region_size_sigma, R)
    size_r = np.exp(log_size - log_size.mean())
    regions = tuple(f"r{r:03d}" for r in range(R))

    families = cfg.families
    adstock_params = []
    for c in ch:
        fam = families[c]
        if fam == "geometric":
            p = {"decay": float(unif(cfg.geometric_decay))}
        elif fam == "delayed":
            p = {"decay": float(unif(cfg.delayed_decay)), "delay": float(unif(cfg.delayed_delay))}
        else:
            p = {"shape": float(unif(cfg.weibull_shape)), "scale": float(unif(cfg.weibull_scale))}
        adstock_params.append((fam, p))
    kernels = np.stack([adstock_kernel(f, p, L) for f, p in adstock_params])
    hill_k = unif(cfg.hill_k, C)
    hill_s = unif(cfg.hill_s, C)
    media_share = float(unif(cfg.media_share))
    active = np.array([c not in cfg.null_channels for c in ch])
    # Media KPI share per channel = spend share x a lognormal relative ROI, so
    # true ROIs spread around media_share / spend_ratio (about 0.7x to 1.5x).
    spend_share = np.array([_lookup(_DEFAULT_SPEND_SHARE, c) for c in ch])
    spend_share = spend_share / spend_share.sum()
    contrib_share = np.where(active, spend_share * np.exp(rng_par.normal(0.0, 0.45, C)), 0.0)
    contrib_share = contrib_share / max(contrib_share.sum(), 1e-300)
    beta_dev = rng_par.normal(0.0, cfg.beta_region_sd, (R, C))
    beta_dev = np.exp(beta_dev - beta_dev.mean(axis=0))
    intercept_dev = rng_par.normal(0.0, 0.05, R)
    intercept_r = (1.0 - media_share) * np.exp(intercept_dev - intercept_dev.mean())
    trend = float(unif(cfg.trend_per_year))
    season_raw = rng_par.normal(0.0, 1.0, 4) * np.array([1.0, 1.0, 0.5, 0.5])
    shape_all = _fourier(dates_all, 2) @ season_raw
    amp = float(unif(cfg.season_amplitude))
    season_coef = season_raw * amp / np.abs(shape_all).max()
    season_scale_r = np.exp(rng_par.normal(0.0, 0.2, R)) if R > 1 else np.ones(1)
    elasticity = float(unif(cfg.price_elasticity))
    promo_lift = float(unif(cfg.promo_lift))
    cost_c = np.array([_lookup(_DEFAULT_COST_PER_UNIT, c) for c in ch]) * np.exp(
        rng_par.normal(0, 0.2, C)
    )
    eff_tc = np.ones((T, C))
    for c, e0, e1 in cfg.drift:
        eff_tc[:, cidx[c]] = np.linspace(e0, e1, T)

    # ---- spend ----
    season_std = (_fourier(dates_all, 2) @ season_coef) / amp  # in [-1, 1]
    market = _ar1(rng_spend, (TT,), 0.85, 0.25)[None] + _ar1(rng_spend, (R, TT), 0.7, 0.15)
    loading = rng_spend.uniform(0.6, 1.2, C)
    noise = _ar1(rng_spend, (R, C, TT), 0.5, 0.2)
    mix = np.exp(rng_spend.normal(0.0, 0.1, (R, C)))
    duty = cfg.flight_on_weeks / (cfg.flight_on_weeks + cfg.flight_off_weeks)
    national = _flights(rng_spend, (C, TT), cfg.flight_on_weeks, cfg.flight_off_weeks)
    regional = _flights(rng_spend, (R, C, TT), cfg.flight_on_weeks, cfg.flight_off_weeks)
    follows_national = rng_spend.random((R, C, 1)) < (0.6 if R > 1 else 1.0)
    on = np.where(follows_national, national[None], regional)  # [R, C, TT]
    flighted = np.array([c in cfg.flighted for c in ch])
    on[:, ~flighted, :] = 1.0
    shared_plan = _shared_plan(cfg, seed, dates_all, season_std, national, regional,
                               follows_national)
    if shared_plan is not None:
        log_plan, on_plan, plan_rows = shared_plan
        on = np.where(plan_rows[None, :, None], on_plan, on)
        flighted = flighted | plan_rows
    if cfg.collinear is not None:
        a, b = cidx[cfg.collinear[0]], cidx[cfg.collinear[1]]
        on[:, b] = on[:, a]
        loading[b] = loading[a]
        noise[:, b] = noise[:, a] + rng_spend.normal(0.0, 0.05, (R, TT))
    log_level = (
        loading[None, :, None] * market[:, None, :] + 0.5 * season_std[None, None, :] + noise
    )
    if shared_plan is not None:
        log_level = log_level + log_plan
    level = np.exp(log_level - log_level.mean(axis=2, keepdims=True))
    weekly = cfg.spend_ratio * cfg.kpi_scale * size_r[:, None] * spend_share[None] * mix  # [R, C]
    duty_c = np.where(flighted, duty, 1.0)
    if shared_plan is not None:  # the realised share of on-weeks (spiky channels are rarely on)
        duty_c = np.where(plan_rows, on.mean(axis=(0, 2)), duty_c)
    spend_rct = weekly[:, :, None] * level * on / duty_c[None, :, None]
    if cfg.null_follows is not None and cfg.null_follows[0] in cidx:
        lead, strength = cidx[cfg.null_follows[0]], cfg.null_follows[1]
        lead_on = on[:, lead, :]
        for c in cfg.null_channels:
            if c in cidx:
                spend_rct[:, cidx[c]] *= (1.0 + strength * lead_on) / (
                    1.0 + strength * lead_on.mean()
                )
    spend_all = np.transpose(spend_rct, (0, 2, 1)).copy()  # [R, TT, C]
    cost_all = cost_c[None, None, :] * np.exp(rng_spend.normal(0.0, 0.03, (R, TT, C)))
    own_all = spend_all / cost_all

    # ---- graph: w_pc in scaled units -> raw-unit factors per region ----
    order = tuple(_topological_order(ch, cfg.edges, cfg.name))
    edge_rcc = np.zeros((R, C, C))
    mean_total = np.zeros((R, C))
    for c in order:
        ins = [(cidx[p], w) for p, cc, w in cfg.edges if cidx[cc] == c]
        own_mean = own_all[:, B:, c].mean(axis=1)
        mean_total[:, c] = own_mean / (1.0 - sum(w for _, w in ins))
        for p, w in ins:
            edge_rcc[:, p, c] = w * mean_total[:, c] / mean_total[:, p]

    # ---- controls ----
    price_ref_r = rng_ctrl.uniform(8.0, 12.0, R)
    promo_nat = rng_ctrl.random(T) < cfg.promo_rate
    promo_reg = rng_ctrl.random((R, T)) < cfg.promo_rate / 2
    promo_rt = (promo_nat[None] | promo_reg).astype(np.float64)
    price_rt = (
        price_ref_r[:, None] * np.exp(_ar1(rng_ctrl, (R, T), 0.8, 0.03)) * (1.0 - 0.05 * promo_rt)
    )
    price_rt = np.round(price_rt, 2)

    world = World(
        config=cfg,
        seed=seed,
        dates=dates,
        regions=regions,
        size_r=size_r,
        spend_all=spend_all,
        cost_all=cost_all,
        own_all=own_all,
        edge_rcc=edge_rcc,
        order=order,
        driven_all=np.zeros_like(own_all),
        activity_all=np.zeros_like(own_all),
        kernels=kernels,
        adstock_params=tuple(adstock_params),
        act_mean_rc=np.ones((R, C)),
        hill_k=hill_k,
        hill_s=hill_s,
        beta_c=np.zeros(C),
        beta_rc=np.zeros((R, C)),
        eff_tc=eff_tc,
        intercept_r=intercept_r,
        trend_per_year=trend,
        season_coef=season_coef,
        season_scale_r=season_scale_r,
        price_rt=price_rt,
        promo_rt=promo_rt,
        price_ref_r=price_ref_r,
        price_elasticity=elasticity,
        promo_lift=promo_lift,
    )
    # Fill in the quantities that depend on the world's own functions.
    activity_all, driven_all = world.propagate(own_all)
    act_mean_rc = activity_all[:, B:].mean(axis=1)
    act_mean_rc = np.where(act_mean_rc > 0, act_mean_rc, 1.0)
    a = apply_adstock(activity_all, kernels)[:, B:]
    h = hill(a / act_mean_rc[:, None, :], hill_k, hill_s)
    mean_h = (beta_dev[:, None, :] * eff_tc[None] * h).mean(axis=(0, 1))
    beta_c = np.where(active, media_share * contrib_share / np.maximum(mean_h, 1e-12), 0.0)
    beta_rc = beta_c[None] * beta_dev
    for name, value in dict(
        driven_all=driven_all,
        activity_all=activity_all,
        act_mean_rc=act_mean_rc,
        beta_c=beta_c,
        beta_rc=beta_rc,
    ).items():
        object.__setattr__(world, name, value)
    _readonly(
        size_r=size_r,
        spend_all=spend_all,
        cost_all=cost_all,
        own_all=own_all,
        edge_rcc=edge_rcc,
        driven_all=driven_all,
        activity_all=activity_all,
        kernels=kernels,
        act_mean_rc=act_mean_rc,
        hill_k=hill_k,
        hill_s=hill_s,
        beta_c=beta_c,
        beta_rc=beta_rc,
        eff_tc=eff_tc,
        intercept_r=intercept_r,
        season_coef=season_coef,
        season_scale_r=season_scale_r,
        price_rt=price_rt,
        promo_rt=promo_rt,
        price_ref_r=price_ref_r,
    )
    return world


def _frame(world: World, rng_noise: np.random.Generator) -> pd.DataFrame:
    cfg = world.config
    R, T = len(world.regions), len(world.dates)
    mean_kpi = world.expected_kpi()
    sd_r = cfg.noise_sd * mean_kpi.mean(axis=1)
    sales = mean_kpi + sd_r[:, None] * rng_noise.standard_normal((R, T))
    # Only reachable with a very large noise_sd: a KPI cannot be negative.
    sales = np.maximum(sales, 0.0)
    cols: dict[str, Any] = {DATE_COLUMN: np.tile(world.dates.to_numpy(), R)}
    if cfg.region_column:
        cols[REGION_COLUMN] = np.repeat(np.array(world.regions), T)
    cols[KPI_COLUMN] = sales.reshape(-1)
    for i, c in enumerate(cfg.channels):
        cols[c] = world.activity[:, :, i].reshape(-1)
    for i, c in enumerate(cfg.channels):
        cols[f"{c}_spend"] = world.spend[:, :, i].reshape(-1)
    cols["price"] = world.price_rt.reshape(-1)
    cols["promo"] = world.promo_rt.reshape(-1)
    return pd.DataFrame(cols)


def _mean_lag(kernel: np.ndarray) -> float:
    return float((np.arange(kernel.size) * kernel).sum())


def truth(world: World) -> dict[str, Any]:
    """JSON-serialisable ground truth of a world (KPI units, sums over regions).

    Per channel ``c``, over all panel weeks and over the last ``window_weeks``:
    ``incremental_total`` = Σ(E[y] − E[y | c's own spend off]) with the change
    propagating through the graph, ``incremental_direct`` the same with every
    child keeping its observed activity, ``incremental_mediated`` = total −
    direct, ``roi`` = incremental_total / spend_total, ``roi_direct``,
    ``mroi`` = (E[y | c's spend × 1.01] − E[y]) / (1% of c's spend), ``share`` =
    incremental_total / Σ_c incremental_total. The all-weeks counterfactual
    changes c's whole history (burn-in included, so the carry-in at the first
    week goes too) and ``baseline_total`` is the KPI with every channel's spend
    off throughout (base and controls only). The window counterfactual changes
    c in the window weeks only and sums the KPI change over those weeks.
    Carry-over past the last panel week is not counted. Edge weights and Hill
    ``k`` are in scaled activity units (activity / its region mean over the
    panel weeks); ``beta_scaled`` is β in units of the region mean KPI.
    """
    cfg = world.config
    T = len(world.dates)
    W = min(cfg.window_weeks, T)
    win = slice(T - W, T)
    y0 = world.expected_kpi()
    base = world.expected_kpi(spend_multiplier=np.zeros(len(cfg.channels)))
    spend, activity = world.spend, world.activity

    def effects(c: str, i: int, weeks: slice | None) -> dict[str, float]:
        sel = slice(None) if weeks is None else weeks
        tot = float((y0 - world.expected_kpi(off=c, mode="total", weeks=weeks))[:, sel].sum())
        direct = float((y0 - world.expected_kpi(off=c, mode="direct", weeks=weeks))[:, sel].sum())
        up = np.ones(len(cfg.channels))
        up[i] = 1.01
        marginal = float((world.expected_kpi(spend_multiplier=up, weeks=weeks) - y0)[:, sel].sum())
        sp = float(spend[:, sel, i].sum())
        return {
            "spend_total": sp,
            "activity_total": float(activity[:, sel, i].sum()),
            "incremental_total": tot,
            "incremental_direct": direct,
            "incremental_mediated": tot - direct,
            "roi": tot / sp if sp > 0 else 0.0,
            "roi_direct": direct / sp if sp > 0 else 0.0,
            "mroi": marginal / (0.01 * sp) if sp > 0 else 0.0,
        }

    per = {c: effects(c, i, None) for i, c in enumerate(cfg.channels)}
    per_win = {c: effects(c, i, win) for i, c in enumerate(cfg.channels)}
    for table in (per, per_win):
        denom = sum(v["incremental_total"] for v in table.values())
        for v in table.values():
            v["share"] = v["incremental_total"] / denom if denom != 0 else 0.0

    mean_kpi_r = y0.mean(axis=1)
    channels: dict[str, Any] = {}
    for i, c in enumerate(cfg.channels):
        fam, params = world.adstock_params[i]
        drift = {d[0]: (d[1], d[2]) for d in cfg.drift}.get(c, (1.0, 1.0))
        beta_scaled = world.beta_rc[:, i] * cfg.kpi_scale * world.size_r / mean_kpi_r
        channels[c] = {
            "adstock": {
                "family": fam,
                "params": params,
                "mean_lag_weeks": _mean_lag(world.kernels[i]),
                "max_lag": cfg.max_lag,
                "weights": world.kernels[i].tolist(),
            },
            "hill": {"k": float(world.hill_k[i]), "s": float(world.hill_s[i])},
            "beta": float(world.beta_c[i]),
            "beta_scaled": float(beta_scaled.mean()),
            "is_null": c in cfg.null_channels,
            "flighted": c in cfg.flighted,
            "cost_per_unit": float(np.median(world.cost_all[..., i])),
            "effectiveness": {"start": float(drift[0]), "end": float(drift[1])},
            **per[c],
            "window": per_win[c],
        }
    kpi_total = float(y0.sum())
    baseline_total = float(base.sum())
    keys = data_keys(cfg)
    return {
        "scenario": cfg.name,
        "seed": int(world.seed),
        "noise_sd": float(cfg.noise_sd),
        "data_keys": keys,
        "n_regions": len(world.regions),
        "n_weeks": T,
        "start_date": str(world.dates[0].date()),
        "regions": list(world.regions),
        "region_size": world.size_r.tolist(),
        "kpi_scale": float(cfg.kpi_scale),
        "edges": [[p, c, float(w)] for p, c, w in cfg.edges],
        "kpi_total": kpi_total,
        "baseline_total": baseline_total,
        "media_share": (kpi_total - baseline_total) / kpi_total,
        "spend_total": float(spend.sum()),
        "controls": {"price_elasticity": world.price_elasticity, "promo_lift": world.promo_lift},
        "trend_per_year": world.trend_per_year,
        "window": {
            "n_weeks": W,
            "start_week": T - W,
            "start_date": str(world.dates[T - W].date()),
            "kpi_total": float(y0[:, win].sum()),
            "baseline_total": float(base[:, win].sum()),
            "kpi_without_window_spend": float(
                world.expected_kpi(spend_multiplier=np.zeros(len(cfg.channels)), weeks=win)[
                    :, win
                ].sum()
            ),
        },
        "channels": channels,
    }


def simulate(
    config: ScenarioConfig | str, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, Any], World]:
    """Simulate one panel.

    Args:
        config: a :class:`ScenarioConfig` or a scenario name.
        seed: draws parameters, spend, controls and noise (independent streams).
    Returns:
        ``(frame, truth, world)``: the long frame (one row per region and week,
        columns ``date, [region], sales, <channels>, <channel>_spend, price,
        promo``; activity columns hold total activity), the truth dict of
        :func:`truth`, and the :class:`World`.
    """
    cfg = scenario(config) if isinstance(config, str) else config
    if not isinstance(cfg, ScenarioConfig):
        raise ConfigError(
            f"config must be a ScenarioConfig or a scenario name, got {type(config).__name__}"
        )
    world = _draw_world(cfg, int(seed))
    rng_noise = np.random.default_rng(np.random.SeedSequence([int(seed), 20220103]).spawn(4)[3])
    frame = _frame(world, rng_noise)
    return frame, truth(world), world


def lift_tests(world: World, channels, start_week, n_weeks: int, rel_se: float = 0.1,
               regions=None, seed: int = 0, post_weeks: int = 0) -> pd.DataFrame:
    """Simulated lift tests (geo experiments) with the world's true lifts.

    For each channel, its own spend is switched off in panel weeks
    ``[start_week, start_week + n_weeks)`` (in every region, or in each of
    ``regions`` separately; ``start_week`` may be a list: one test per window,
    each window a separate experiment with its own noise); the true lift is the
    expected KPI lost over those weeks and the ``post_weeks`` after them (a
    cool-down that counts the carry-over of the spend switched off; 0 = inside
    the window only), the change flowing through the graph to the channel's
    children. The reported ``lift`` adds Gaussian measurement noise of sd
    ``lift_se = sqrt((rel_se · true lift)² + noise²)``, with ``noise`` the sd of
    the KPI noise summed over the measured cells (so a test of a channel without
    effect still has an honest error). Returns a frame with the lift-test columns
    ``channel, region, start, end, measure_end, lift, lift_se`` (dates ISO) and
    ``true_lift``.
    """
    T = len(world.dates)
    starts = [start_week] if np.ndim(start_week) == 0 else list(start_week)
    if post_weeks < 0:
        raise ConfigError(f"lift test post_weeks must be >= 0, got {post_weeks}")
    for start in starts:
        if not 0 <= start < start + n_weeks + post_weeks <= T:
            raise ConfigError(f"lift test weeks [{start}, {start + n_weeks + post_weeks}) "
                              f"(test and cool-down) are not inside the panel's {T} weeks")
    rng = np.random.default_rng([seed, 7])
    base = world.expected_kpi()
    measured = n_weeks + post_weeks
    cell_var = (world.config.noise_sd * base.mean(axis=1)) ** 2 * measured  # [R]
    rows = []
    for start_week, c in [(s, c) for s in starts for c in channels]:
        weeks = slice(start_week, start_week + n_weeks)
        window = slice(start_week, start_week + measured)
        if c not in world.channels:
            raise ConfigError(f"lift test channel '{c}' is not one of {list(world.channels)}")
        lost = (base - world.expected_kpi(off=c, weeks=weeks))[:, window].sum(axis=1)  # [R]
        groups = [(None, slice(None))] if regions is None else [
            (r, [world.regions.index(r)]) for r in regions]
        for label, idx in groups:
            true = float(np.sum(lost[idx]))
            se = float(np.sqrt((rel_se * true) ** 2 + np.sum(cell_var[idx])))
            rows.append({"channel": c, "region": label,
                         "start": world.dates[start_week].strftime("%Y-%m-%d"),
                         "end": world.dates[start_week + n_weeks - 1].strftime("%Y-%m-%d"),
                         "measure_end": world.dates[start_week + measured - 1].strftime("%Y-%m-%d"),
                         "lift": true + se * rng.standard_normal(), "lift_se": se,
                         "true_lift": true})
    return pd.DataFrame(rows)


__all__ = [
    "SCENARIOS",
    "ScenarioConfig",
    "World",
    "adstock_kernel",
    "apply_adstock",
    "data_keys",
    "hill",
    "lift_tests",
    "scenario",
    "simulate",
    "truth",
]
