"""The generator's scenarios: `ScenarioConfig` (everything that defines a
simulated world except the seed), the registry of named scenarios, and the
columns of the simulated table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dcmmm.errors import ConfigError

KPI_COLUMN = "sales"
DATE_COLUMN = "date"
REGION_COLUMN = "region"
CONTROL_COLUMNS = ("price", "promo")
ADSTOCK_FAMILIES = ("geometric", "delayed", "weibull")

# Per-channel defaults; a channel name not listed gets the "*" entry.
DEFAULT_FAMILY = {
    "tv": "delayed",
    "radio": "weibull",
    "social": "geometric",
    "search": "geometric",
    "display": "weibull",
    "null_ch": "geometric",
    "events": "geometric",
    "*": "geometric",
}
DEFAULT_SPEND_SHARE = {
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
DEFAULT_COST_PER_UNIT = {
    "tv": 20.0,
    "radio": 8.0,
    "social": 0.008,
    "search": 1.5,
    "display": 0.004,
    "null_ch": 0.5,
    "events": 5.0,
    "*": 1.0,
}


def channel_default(table: dict[str, Any], channel: str) -> Any:
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
        future_weeks: F, weeks simulated after the panel (future mode: the
            spend processes, costs and controls continued, never in the
            table; `future_frame`, `World.future_kpi`). Their draws come from
            a stream of their own, so the panel does not depend on F.
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
            regions that follow the national plan; the others keep each
            channel's own regional flights) and a shared campaign
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
    future_weeks: int = 52
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
        if self.future_weeks < 0:
            raise bad("future_weeks", f"must be >= 0, got {self.future_weeks}")
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
        topological_order(self.channels, self.edges, self.name)

    @property
    def families(self) -> dict[str, str]:
        """Adstock family per channel (defaults, then ``adstock`` overrides)."""
        out = {c: channel_default(DEFAULT_FAMILY, c) for c in self.channels}
        out.update(dict(self.adstock))
        return out


def topological_order(
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
    """Data-config keys for the simulated frame (the ``data`` group of conf/).

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
