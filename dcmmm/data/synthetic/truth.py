"""The generator's ground truth: each channel's true incremental KPI and ROI
from counterfactual re-simulation, and simulated lift tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dcmmm.data.synthetic.scenarios import data_keys
from dcmmm.data.synthetic.world import World
from dcmmm.errors import ConfigError


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


def designed_lift_tests(world: World, design: pd.DataFrame, seed: int = 0,
                        draw: int = 0) -> pd.DataFrame:
    """The tests of a design (`design.py`'s design.csv) run in the true world.

    Each row switches its channel's own spend off in its regions (``;``-joined
    labels; empty = every region) over weeks ``[start, end]``; the true lift is
    the expected KPI those regions lose over ``[start, measure_end]``, the
    change flowing through the graph. The reported ``lift`` adds Gaussian
    measurement noise at the precision the design states (its ``lift_se``).
    Returns the design with ``lift`` filled and ``true_lift`` added.

    ``draw`` picks an independent draw of that noise for the same tests (the
    same experiments run again): 0 is the stream of ``seed`` alone, so a
    design simulated without ``draw`` always measures the same.
    """
    dates = [d.strftime("%Y-%m-%d") for d in world.dates]
    rng = np.random.default_rng([seed, 19] if draw == 0 else [seed, 19, draw])
    base = world.expected_kpi()
    out = design.copy()
    true, measured = [], []
    for i, row in enumerate(design.itertuples(index=False)):
        if row.channel not in world.channels:
            raise ConfigError(f"design row {i}: channel {row.channel!r} is not one of "
                              f"{list(world.channels)}")
        try:
            start, end = dates.index(str(row.start)), dates.index(str(row.end))
            last = dates.index(str(row.measure_end)) if isinstance(row.measure_end, str) else end
        except ValueError:
            raise ConfigError(f"design row {i}: weeks {row.start}..{row.measure_end} are not all "
                              f"weeks of the world ({dates[0]} to {dates[-1]}): simulate a "
                              "design placed inside the data (design.retrospective=true)") from None
        labels = [] if not isinstance(row.region, str) or not row.region.strip() else [
            r.strip() for r in row.region.split(";")]
        unknown = [r for r in labels if r not in world.regions]
        if unknown:
            raise ConfigError(f"design row {i}: regions {unknown} are not regions of the world")
        regions = [world.regions.index(r) for r in labels] or list(range(len(world.regions)))
        mult = np.ones((len(world.regions), len(world.channels)))
        mult[regions, world.channels.index(row.channel)] = 0.0
        dark = world.expected_kpi(spend_multiplier=mult, weeks=slice(start, end + 1))
        lift = float((base - dark)[regions, start:last + 1].sum())
        true.append(lift)
        measured.append(lift + float(row.lift_se) * rng.standard_normal())
    out["lift"], out["true_lift"] = measured, true
    return out
