"""The simulation: a `World` drawn from a scenario and a seed, and the long
table observed from it (`simulate`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dcmmm.data.synthetic.blocks import adstock_kernel, apply_adstock, hill, yearly_fourier
from dcmmm.data.synthetic.processes import ar1, ar1_more, draws_more, flights, flights_more
from dcmmm.data.synthetic.scenarios import (
    DATE_COLUMN,
    DEFAULT_COST_PER_UNIT,
    DEFAULT_SPEND_SHARE,
    KPI_COLUMN,
    REGION_COLUMN,
    ScenarioConfig,
    channel_default,
    scenario,
    topological_order,
)
from dcmmm.data.synthetic.truth import truth
from dcmmm.data.synthetic.world import Future, World
from dcmmm.errors import ConfigError


def _readonly(**arrays: np.ndarray) -> None:
    for a in arrays.values():
        a.flags.writeable = False


def _shared_plan(cfg: ScenarioConfig, seed: int, dates_all: pd.DatetimeIndex,
                 season_std: np.ndarray, national: np.ndarray, regional: np.ndarray,
                 follows_national: np.ndarray, rng_future: np.random.Generator):
    """What makes channels move together without driving each other, or None.

    Returns ``log_plan`` [R, C, TT] added to every channel's log spend level
    (shared trend and season, a campaign intensity for the channels bought
    together, heavy-tailed burst sizes for spiky channels), ``on`` [R, C, TT]
    on/off schedules and ``rows`` [C], the channels whose schedule it sets.
    Drawn from a stream of its own, so scenarios without these features keep
    their draws. Arrays cover the panel's ``TT`` weeks (burn-in included) and
    the ``cfg.future_weeks`` after them (``season_std``, ``national`` and
    ``regional`` too); the future's draws come from ``rng_future``.
    """
    if not (cfg.shared_trend or cfg.shared_season or cfg.bought_together or cfg.spiky):
        return None
    rng = np.random.default_rng([seed, 20220103, 4])
    C, TT, F = len(cfg.channels), len(dates_all), cfg.future_weeks
    R = follows_national.shape[0]
    cidx = {c: i for i, c in enumerate(cfg.channels)}
    years = (np.arange(TT + F) - (TT - 1) / 2.0) / 52.0
    log_plan = np.broadcast_to(
        cfg.shared_trend * years + cfg.shared_season * season_std, (R, C, TT + F)).copy()
    on = np.zeros((R, C, TT + F))
    rows = np.zeros(C, bool)
    if cfg.bought_together:
        group = [cidx[c] for c in cfg.bought_together]
        campaigns, follows = national[group[0]], follows_national[:, group[0]]
        # how big each week's campaign is, nationally
        intensity = draws_more(rng.normal(0.0, 0.4, TT), rng_future.normal(0.0, 0.4, F))
        for c in group:  # regions that plan on their own keep each channel's own flights
            on[:, c] = np.where(follows, campaigns[None], regional[:, c])
            log_plan[:, c] += intensity[None]
            rows[c] = True
    for name in cfg.spiky:
        c = cidx[name]
        bursts_nat = flights_more(rng_future, flights(rng, (TT,), 1.5, 5.0), F, 1.5, 5.0)
        bursts_reg = flights_more(rng_future, flights(rng, (R, TT), 1.5, 5.0), F, 1.5, 5.0)
        on[:, c] = np.where(follows_national[:, c], bursts_nat[None], bursts_reg)
        log_plan[:, c] += draws_more(rng.normal(0.0, 0.6, (R, TT)),  # heavy-tailed burst sizes
                                      rng_future.normal(0.0, 0.6, (R, F)))
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
    spend_share = np.array([channel_default(DEFAULT_SPEND_SHARE, c) for c in ch])
    spend_share = spend_share / spend_share.sum()
    contrib_share = np.where(active, spend_share * np.exp(rng_par.normal(0.0, 0.45, C)), 0.0)
    contrib_share = contrib_share / max(contrib_share.sum(), 1e-300)
    beta_dev = rng_par.normal(0.0, cfg.beta_region_sd, (R, C))
    beta_dev = np.exp(beta_dev - beta_dev.mean(axis=0))
    intercept_dev = rng_par.normal(0.0, 0.05, R)
    intercept_r = (1.0 - media_share) * np.exp(intercept_dev - intercept_dev.mean())
    trend = float(unif(cfg.trend_per_year))
    season_raw = rng_par.normal(0.0, 1.0, 4) * np.array([1.0, 1.0, 0.5, 0.5])
    shape_all = yearly_fourier(dates_all, 2) @ season_raw
    amp = float(unif(cfg.season_amplitude))
    season_coef = season_raw * amp / np.abs(shape_all).max()
    season_scale_r = np.exp(rng_par.normal(0.0, 0.2, R)) if R > 1 else np.ones(1)
    elasticity = float(unif(cfg.price_elasticity))
    promo_lift = float(unif(cfg.promo_lift))
    cost_c = np.array([channel_default(DEFAULT_COST_PER_UNIT, c) for c in ch]) * np.exp(
        rng_par.normal(0, 0.2, C)
    )
    eff_tc = np.ones((T, C))
    for c, e0, e1 in cfg.drift:
        eff_tc[:, cidx[c]] = np.linspace(e0, e1, T)

    # ---- spend ----
    # The processes run on past the panel for `future_weeks` (future mode), with
    # those weeks' draws from a stream of their own: the panel keeps its draws.
    F = cfg.future_weeks
    rng_future = np.random.default_rng(np.random.SeedSequence([seed, 20220103, 5]))
    dates_future = pd.date_range(dates[-1] + pd.Timedelta(weeks=1), periods=F, freq="W-MON")
    season_std = np.concatenate([(yearly_fourier(dates_all, 2) @ season_coef) / amp,  # in [-1, 1]
                                 (yearly_fourier(dates_future, 2) @ season_coef) / amp])
    market = (ar1_more(rng_future, ar1(rng_spend, (TT,), 0.85, 0.25), F, 0.85, 0.25)[None]
              + ar1_more(rng_future, ar1(rng_spend, (R, TT), 0.7, 0.15), F, 0.7, 0.15))
    loading = rng_spend.uniform(0.6, 1.2, C)
    noise = ar1_more(rng_future, ar1(rng_spend, (R, C, TT), 0.5, 0.2), F, 0.5, 0.2)
    mix = np.exp(rng_spend.normal(0.0, 0.1, (R, C)))
    duty = cfg.flight_on_weeks / (cfg.flight_on_weeks + cfg.flight_off_weeks)
    on_off = (cfg.flight_on_weeks, cfg.flight_off_weeks)
    national = flights_more(rng_future, flights(rng_spend, (C, TT), *on_off), F, *on_off)
    regional = flights_more(rng_future, flights(rng_spend, (R, C, TT), *on_off), F, *on_off)
    follows_national = rng_spend.random((R, C, 1)) < (0.6 if R > 1 else 1.0)
    on = np.where(follows_national, national[None], regional)  # [R, C, TT + F]
    flighted = np.array([c in cfg.flighted for c in ch])
    on[:, ~flighted, :] = 1.0
    shared_plan = _shared_plan(cfg, seed, dates_all, season_std, national, regional,
                               follows_national, rng_future)
    if shared_plan is not None:
        log_plan, on_plan, plan_rows = shared_plan
        on = np.where(plan_rows[None, :, None], on_plan, on)
        flighted = flighted | plan_rows
    if cfg.collinear is not None:
        a, b = cidx[cfg.collinear[0]], cidx[cfg.collinear[1]]
        on[:, b] = on[:, a]
        loading[b] = loading[a]
        noise[:, b] = noise[:, a] + draws_more(rng_spend.normal(0.0, 0.05, (R, TT)),
                                                rng_future.normal(0.0, 0.05, (R, F)))
    log_level = (
        loading[None, :, None] * market[:, None, :] + 0.5 * season_std[None, None, :] + noise
    )
    if shared_plan is not None:
        log_level = log_level + log_plan
    panel_weeks = np.ascontiguousarray(log_level[..., :TT])  # normalised on the panel only
    level = np.exp(log_level - panel_weeks.mean(axis=2, keepdims=True))
    weekly = cfg.spend_ratio * cfg.kpi_scale * size_r[:, None] * spend_share[None] * mix  # [R, C]
    duty_c = np.where(flighted, duty, 1.0)
    if shared_plan is not None:  # the realised share of on-weeks (spiky channels are rarely on)
        duty_c = np.where(plan_rows, np.ascontiguousarray(on[..., :TT]).mean(axis=(0, 2)), duty_c)
    spend_rct = weekly[:, :, None] * level * on / duty_c[None, :, None]
    if cfg.null_follows is not None and cfg.null_follows[0] in cidx:
        lead, strength = cidx[cfg.null_follows[0]], cfg.null_follows[1]
        lead_on = on[:, lead, :]
        lead_mean = np.ascontiguousarray(lead_on[:, :TT]).mean()
        for c in cfg.null_channels:
            if c in cidx:
                spend_rct[:, cidx[c]] *= (1.0 + strength * lead_on) / (1.0 + strength * lead_mean)
    spend_ext = np.transpose(spend_rct, (0, 2, 1))  # [R, TT + F, C]
    spend_all = spend_ext[:, :TT].copy()
    cost_all = cost_c[None, None, :] * np.exp(rng_spend.normal(0.0, 0.03, (R, TT, C)))
    own_all = spend_all / cost_all

    # ---- graph: w_pc in scaled units -> raw-unit factors per region ----
    order = tuple(topological_order(ch, cfg.edges, cfg.name))
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
    promo_nat = draws_more(rng_ctrl.random(T), rng_future.random(F)) < cfg.promo_rate
    promo_reg = draws_more(rng_ctrl.random((R, T)), rng_future.random((R, F))) < cfg.promo_rate / 2
    promo_ext = (promo_nat[None] | promo_reg).astype(np.float64)
    price_ext = np.round(price_ref_r[:, None] * np.exp(
        ar1_more(rng_future, ar1(rng_ctrl, (R, T), 0.8, 0.03), F, 0.8, 0.03))
        * (1.0 - 0.05 * promo_ext), 2)
    price_rt, promo_rt = price_ext[:, :T].copy(), promo_ext[:, :T].copy()
    future = Future(
        dates=dates_future,
        spend=spend_ext[:, TT:].copy(),
        cost=cost_c[None, None, :] * np.exp(rng_future.normal(0.0, 0.03, (R, F, C))),
        price=price_ext[:, T:].copy(),
        promo=promo_ext[:, T:].copy(),
        eff=np.repeat(eff_tc[-1:], F, axis=0),  # effectiveness stays where the panel left it
    )

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
        future=future,
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
        **{f"future_{name}": array for name, array in future._asdict().items() if name != "dates"},
    )
    return world


def _columns(world: World, dates: pd.DatetimeIndex, activity: np.ndarray, spend: np.ndarray,
             price: np.ndarray, promo: np.ndarray, kpi: np.ndarray | None) -> dict[str, Any]:
    """The table's columns for [R, W] cells, regions first (no KPI column when `kpi` is None)."""
    cfg = world.config
    R, W = len(world.regions), len(dates)
    cols: dict[str, Any] = {DATE_COLUMN: np.tile(dates.to_numpy(), R)}
    if cfg.region_column:
        cols[REGION_COLUMN] = np.repeat(np.array(world.regions), W)
    if kpi is not None:
        cols[KPI_COLUMN] = kpi.reshape(-1)
    for i, c in enumerate(cfg.channels):
        cols[c] = activity[:, :, i].reshape(-1)
    for i, c in enumerate(cfg.channels):
        cols[f"{c}_spend"] = spend[:, :, i].reshape(-1)
    cols["price"] = price.reshape(-1)
    cols["promo"] = promo.reshape(-1)
    return cols


def _frame(world: World, rng_noise: np.random.Generator) -> pd.DataFrame:
    cfg = world.config
    R, T = len(world.regions), len(world.dates)
    mean_kpi = world.expected_kpi()
    sd_r = cfg.noise_sd * mean_kpi.mean(axis=1)
    sales = mean_kpi + sd_r[:, None] * rng_noise.standard_normal((R, T))
    # Only reachable with a very large noise_sd: a KPI cannot be negative.
    sales = np.maximum(sales, 0.0)
    return pd.DataFrame(_columns(world, world.dates, world.activity, world.spend, world.price_rt,
                                 world.promo_rt, sales))


def future_frame(world: World, weeks: int) -> pd.DataFrame:
    """The `weeks` after the panel as the simulated table would hold them, without
    the KPI: ``date, [region], <channels>, <channel>_spend, price, promo``, the
    spend processes, costs and controls continued (`World.future`). A plan
    file for these weeks; `World.future_kpi` is the truth of any spend in them."""
    future = world._future_weeks(weeks)
    spend = future.spend[:, :weeks]
    return pd.DataFrame(_columns(world, future.dates[:weeks], world.future_activity(spend), spend,
                                 future.price[:, :weeks], future.promo[:, :weeks], None))


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
