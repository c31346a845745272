"""Ground-truth generator: closed forms, counterfactual identities, file round trip."""

import dataclasses
import json
import time
from functools import cache

import numpy as np
import pandas as pd
import pytest

from dcmmm.data import synthetic as syn
from dcmmm.errors import ConfigError


@cache
def sim(name: str, seed: int = 0):
    return syn.simulate(name, seed)


# ---- building blocks --------------------------------------------------------


@pytest.mark.parametrize(
    "family,params",
    [
        ("geometric", {"decay": 0.5}),
        ("delayed", {"decay": 0.6, "delay": 2.0}),
        ("weibull", {"shape": 2.0, "scale": 3.0}),
    ],
)
def test_kernel_is_normalised_and_nonnegative(family, params):
    w = syn.adstock_kernel(family, params, 13)
    assert w.shape == (13,)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)


def test_kernel_closed_forms():
    w = syn.adstock_kernel("geometric", {"decay": 0.5}, 13)
    np.testing.assert_allclose(w[1:] / w[:-1], 0.5)
    w = syn.adstock_kernel("delayed", {"decay": 0.6, "delay": 2.0}, 13)
    assert np.argmax(w) == 2
    np.testing.assert_allclose(w[1] / w[2], 0.6)  # decay^((1-2)^2) / decay^0
    w = syn.adstock_kernel("weibull", {"shape": 1.0, "scale": 2.0}, 13)  # exponential pdf
    np.testing.assert_allclose(w[1:] / w[:-1], np.exp(-0.5))
    with pytest.raises(ConfigError):
        syn.adstock_kernel("nope", {}, 13)


def test_apply_adstock_equals_loop():
    rng = np.random.default_rng(0)
    x = rng.random((2, 20, 3))
    k = np.stack([syn.adstock_kernel("geometric", {"decay": d}, 5) for d in (0.2, 0.5, 0.8)])
    out = syn.apply_adstock(x, k)
    ref = np.zeros_like(x)
    for r in range(2):
        for t in range(20):
            for c in range(3):
                ref[r, t, c] = sum(k[c, l] * x[r, t - l, c] for l in range(5) if t - l >= 0)
    np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize("k,s", [(0.5, 0.8), (1.0, 1.0), (2.0, 2.5)])
def test_hill_closed_forms(k, s):
    assert syn.hill(np.array(0.0), k, s) == 0.0
    np.testing.assert_allclose(syn.hill(np.array(k), k, s), 0.5)
    if k == s == 1.0:
        x = np.linspace(0, 5, 11)
        np.testing.assert_allclose(syn.hill(x, k, s), x / (1 + x))


# ---- scenarios and config ---------------------------------------------------


def test_scenarios_and_unknown_name():
    assert set(syn.SCENARIOS) == {"geo", "national", "graph", "collinear", "drift", "shared",
                                  "shared_graph"}
    assert syn.scenario("geo").n_regions == 40
    with pytest.raises(ConfigError, match="geo"):
        syn.scenario("nope")


@pytest.mark.parametrize(
    "change,match",
    [
        ({"edges": (("tv", "search", 0.5), ("search", "tv", 0.2))}, "cycle"),
        ({"edges": (("tv", "nope", 0.5),)}, "nope"),
        ({"edges": (("tv", "search", 0.7), ("radio", "search", 0.4))}, "search"),
        ({"bought_together": ("tv", "social")}, "not flighted"),
        ({"spiky": ("nope",)}, "nope"),
        ({"bought_together": ("tv", "radio"), "spiky": ("radio",)}, "also bought_together"),
        ({"n_regions": 0}, "n_regions"),
        ({"drift": (("nope", 1.0, 2.0),)}, "nope"),
        ({"adstock": (("tv", "gamma"),)}, "gamma"),
    ],
)
def test_bad_config_raises(change, match):
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(syn.scenario("geo"), **change)


@pytest.mark.parametrize("name", syn.SCENARIOS)
def test_simulate_is_fast(name):
    t0 = time.perf_counter()
    syn.simulate(name, 3)
    assert time.perf_counter() - t0 < 1.0


# ---- frame ------------------------------------------------------------------


@pytest.mark.parametrize("name", syn.SCENARIOS)
def test_frame_is_clean(name):
    frame, truth, world = sim(name)
    cfg = syn.scenario(name)
    keys = syn.data_keys(cfg)
    assert truth["data_keys"] == keys
    cols = [keys["date"], keys["kpi"], *keys["channels"], *keys["spend"], *keys["controls"]]
    if keys["region"] is not None:
        cols.insert(1, keys["region"])
    assert list(frame.columns) == cols
    assert len(frame) == cfg.n_regions * cfg.n_weeks
    assert not frame.isna().any().any()
    media = frame[keys["channels"] + keys["spend"]].to_numpy()
    assert np.all(np.isfinite(media)) and np.all(media >= 0)
    assert np.all(frame[keys["kpi"]] > 0)
    for c, s in zip(keys["channels"], keys["spend"]):
        assert frame[c].sum() > 0 and frame[s].sum() > 0
    dates = pd.DatetimeIndex(frame[keys["date"]].unique())
    assert dates[0] == pd.Timestamp("2022-01-03")
    assert (dates.day_of_week == 0).all() and (
        dates[1:] - dates[:-1] == pd.Timedelta(weeks=1)
    ).all()
    if keys["region"] is not None:
        assert not frame.duplicated([keys["region"], keys["date"]]).any()
        assert frame[keys["region"]].iloc[0] == "r000"


def test_national_has_no_region_column():
    frame, truth, _ = sim("national")
    assert "region" not in frame.columns and truth["data_keys"]["region"] is None
    assert truth["n_regions"] == 1 and truth["n_weeks"] == 156


def test_region_sizes_spread():
    _, truth, _ = sim("geo")
    sizes = np.array(truth["region_size"])
    assert 4 < sizes.max() / sizes.min() < 40


def test_determinism():
    a, ta, _ = syn.simulate("geo", 0)
    b, tb, _ = syn.simulate("geo", 0)
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb
    c, _, _ = syn.simulate("geo", 1)
    assert not np.allclose(a["sales"], c["sales"])
    assert not np.allclose(a["tv_spend"], c["tv_spend"])


def test_noise_sd_changes_only_the_kpi():
    cfg = syn.scenario("geo")
    a, _, _ = syn.simulate(cfg, 0)
    b, _, _ = syn.simulate(dataclasses.replace(cfg, noise_sd=0.0), 0)
    pd.testing.assert_frame_equal(a.drop(columns="sales"), b.drop(columns="sales"))
    resid = (a["sales"] - b["sales"]).to_numpy().reshape(cfg.n_regions, cfg.n_weeks)
    rel = resid.std(axis=1) / b["sales"].to_numpy().reshape(cfg.n_regions, -1).mean(axis=1)
    assert abs(np.median(rel) - 0.05) < 0.01


@pytest.mark.parametrize("name", ["geo", "graph"])
def test_spend_activity_proportional(name):
    _, _, w = sim(name)
    np.testing.assert_allclose(w.own_activity * w.cost_all[:, w.burn_in :], w.spend, rtol=1e-12)
    ratio = w.cost_all / np.median(w.cost_all, axis=(0, 1))
    assert np.all(np.abs(np.log(ratio)) < 0.2)  # small per-cell cost noise
    assert np.all(w.activity >= w.own_activity)
    if name == "geo":
        np.testing.assert_array_equal(w.activity, w.own_activity)
    else:
        s = w.channels.index("search")
        assert np.mean(w.activity[..., s] > w.own_activity[..., s]) > 0.5
        # In scaled units the structural equation is x = u + Σ w_pc x_parent.
        scaled = w.activity / w.act_mean_rc[:, None, :]
        own = w.own_activity / w.act_mean_rc[:, None, :]
        expect = own[..., s].copy()
        for p, _child, wt in w.config.edges:
            expect += wt * scaled[..., w.channels.index(p)]
        np.testing.assert_allclose(scaled[..., s], expect, rtol=1e-10)


def test_collinear_pair():
    def within_corr(frame, a, b, n_regions):
        x = frame[a].to_numpy().reshape(n_regions, -1)
        y = frame[b].to_numpy().reshape(n_regions, -1)
        return np.mean([np.corrcoef(x[r], y[r])[0, 1] for r in range(n_regions)])

    frame, _, _ = sim("collinear")
    assert np.corrcoef(frame["tv_spend"], frame["radio_spend"])[0, 1] > 0.9
    assert within_corr(frame, "tv_spend", "radio_spend", 40) > 0.9
    geo, _, _ = sim("geo")
    assert within_corr(geo, "tv_spend", "radio_spend", 40) < 0.9


# ---- truth ------------------------------------------------------------------


@pytest.mark.parametrize("name", syn.SCENARIOS)
def test_null_channel_has_exactly_zero_effect(name):
    _, truth, w = sim(name)
    t = truth["channels"]["null_ch"]
    assert t["is_null"] and t["beta"] == 0.0
    for table in (t, t["window"]):
        assert table["incremental_total"] == 0.0
        assert table["incremental_direct"] == 0.0
        assert table["roi"] == 0.0 and table["share"] == 0.0
    assert t["spend_total"] > 0 and t["activity_total"] > 0
    np.testing.assert_array_equal(w.expected_kpi(off="null_ch"), w.expected_kpi())


@pytest.mark.parametrize("name", ["geo", "national", "graph"])
def test_all_spend_off_equals_independent_baseline(name):
    frame, truth, w = sim(name)
    cfg = w.config
    R, T = cfg.n_regions, cfg.n_weeks
    price = frame["price"].to_numpy().reshape(R, T)
    promo = frame["promo"].to_numpy().reshape(R, T)
    dates = pd.DatetimeIndex(frame["date"].to_numpy()[:T])
    doy = 2 * np.pi * (dates.day_of_year.to_numpy() - 1) / 365.25
    c = w.season_coef
    season = (
        c[0] * np.cos(doy) + c[1] * np.sin(doy) + c[2] * np.cos(2 * doy) + c[3] * np.sin(2 * doy)
    )
    years = (np.arange(T) - (T - 1) / 2) / 52
    unit = w.intercept_r[:, None] * (
        1
        + w.trend_per_year * years
        + w.season_scale_r[:, None] * season
        - w.price_elasticity * (price / w.price_ref_r[:, None] - 1)
        + w.promo_lift * promo
    )
    expected = cfg.kpi_scale * w.size_r[:, None] * unit
    off = w.expected_kpi(spend_multiplier=np.zeros(len(cfg.channels)))
    np.testing.assert_allclose(off, expected, rtol=1e-12)
    np.testing.assert_allclose(truth["baseline_total"], expected.sum(), rtol=1e-12)
    # Switching every channel off one by one in "total" mode reaches the same baseline.
    assert np.all(off < w.expected_kpi())


@pytest.mark.parametrize("name", syn.SCENARIOS)
def test_shares_and_decomposition(name):
    _, truth, _ = sim(name)
    for key in (None, "window"):
        rows = [v if key is None else v[key] for v in truth["channels"].values()]
        np.testing.assert_allclose(sum(r["share"] for r in rows), 1.0, rtol=1e-12)
        for r in rows:
            np.testing.assert_allclose(
                r["incremental_total"],
                r["incremental_direct"] + r["incremental_mediated"],
                rtol=1e-12,
            )
            np.testing.assert_allclose(
                r["roi"], r["incremental_total"] / r["spend_total"], rtol=1e-12
            )
    for v in truth["channels"].values():
        if not v["is_null"]:
            assert v["incremental_total"] > 0 and v["share"] > 0 and v["mroi"] > 0


def test_mediated_effects_only_with_graph():
    _, geo, _ = sim("geo")
    for v in geo["channels"].values():
        assert v["incremental_mediated"] == 0.0
    _, graph, _ = sim("graph")
    ch = graph["channels"]
    parents = {p for p, _, _ in graph["edges"]}
    assert parents == {"tv", "display"}
    for p in parents:
        assert ch[p]["incremental_mediated"] > 0.05 * ch[p]["incremental_total"]
        assert ch[p]["roi"] > ch[p]["roi_direct"]
    for c in ("search", "social", "null_ch"):
        assert ch[c]["incremental_mediated"] == 0.0
    assert graph["edges"] == [["tv", "search", 0.5], ["display", "search", 0.2]]


def test_direct_mode_keeps_children():
    _, _, w = sim("graph")
    y_total = w.expected_kpi(off="tv", mode="total")
    y_direct = w.expected_kpi(off="tv", mode="direct")
    assert np.all(y_total <= y_direct + 1e-9) and np.any(y_total < y_direct)
    with pytest.raises(ConfigError):
        w.expected_kpi(mode="both")
    with pytest.raises(ConfigError):
        w.expected_kpi(off="nope")


def test_counterfactual_carry_over():
    _, _, w = sim("geo")
    y0 = w.expected_kpi()
    np.testing.assert_array_equal(w.expected_kpi(spend_multiplier=np.ones(5)), y0)
    y = w.expected_kpi(off="tv", weeks=slice(50, 60))
    np.testing.assert_array_equal(y[:, :50], y0[:, :50])  # causal
    assert np.any(y[:, 60:70] < y0[:, 60:70])  # carry-over after the window
    np.testing.assert_array_equal(y[:, 75:], y0[:, 75:])  # lag < 13 weeks
    more = w.expected_kpi(spend_multiplier=np.full((40, 5), 1.5))
    assert np.all(more >= y0)


def test_geo_magnitudes():
    _, truth, _ = sim("geo")
    assert 0.15 < truth["media_share"] < 0.4
    rois = [v["roi"] for v in truth["channels"].values() if not v["is_null"]]
    assert 0.3 < min(rois) and max(rois) < 15
    for v in truth["channels"].values():
        assert 0 < v["adstock"]["mean_lag_weeks"] < 13
        assert 0.5 <= v["hill"]["k"] <= 2 and 0.8 <= v["hill"]["s"] <= 2.5
    fams = {v["adstock"]["family"] for v in truth["channels"].values()}
    assert fams == {"geometric", "delayed", "weibull"}


def test_drift_window_roi():
    _, truth, w = sim("drift")
    rising, fading = truth["channels"]["social"], truth["channels"]["tv"]
    assert rising["effectiveness"] == {"start": 0.6, "end": 1.5}
    assert rising["window"]["roi"] > 1.1 * rising["roi"]
    assert fading["window"]["roi"] < 0.9 * fading["roi"]
    np.testing.assert_allclose(w.eff_tc[[0, -1], w.channels.index("social")], [0.6, 1.5])


# ---- script -----------------------------------------------------------------


def _script():
    from scripts import make_synthetic

    return make_synthetic


def test_script_round_trip(tmp_path, capsys):
    out = tmp_path / "sub" / "geo_0"
    assert _script().main(["--scenario", "geo", "--seed", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "data.kpi=sales" in printed
    frame, truth, _ = sim("geo")
    back = pd.read_csv(tmp_path / "sub" / "geo_0.csv", parse_dates=["date"])
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=1e-12)
    loaded = json.loads((tmp_path / "sub" / "geo_0.truth.json").read_text())
    assert loaded == json.loads(json.dumps(truth))
    for key in (
        "scenario",
        "seed",
        "noise_sd",
        "data_keys",
        "n_regions",
        "n_weeks",
        "edges",
        "baseline_total",
    ):
        assert key in loaded
    ch = loaded["channels"]["tv"]
    for key in (
        "adstock",
        "hill",
        "beta",
        "is_null",
        "spend_total",
        "activity_total",
        "incremental_total",
        "incremental_direct",
        "incremental_mediated",
        "share",
        "roi",
        "roi_direct",
        "window",
    ):
        assert key in ch
    assert set(ch["adstock"]) >= {"family", "params", "mean_lag_weeks"}


def test_script_bad_scenario(tmp_path, capsys):
    assert _script().main(["--scenario", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err


def _scaled(world):
    a = world.activity
    return a / a.mean(axis=1, keepdims=True)


def test_shared_plan_moves_channels_together_without_edges():
    """`shared`: what activity data without spend looks like (the DMA panel's
    co-movement and a sparse, spiky channel), and no channel drives another."""
    _, truth, world = sim("shared")
    assert truth["edges"] == []
    ch = list(world.channels)
    x = _scaled(world)
    national = x.mean(axis=0)  # [T, C]
    corr = np.corrcoef(national.T)
    upper = corr[np.triu_indices(len(ch), 1)]
    assert np.median(upper) > 0.3  # channels rise and fall together nationally
    together = [ch.index(c) for c in ("tv", "radio", "display")]
    on = world.activity[..., together] > 0
    follows = on.all(axis=2) | ~on.any(axis=2)
    assert follows.mean() > 0.6  # bought in the same weeks in most regions
    events = world.activity[..., ch.index("events")]
    assert 0.6 < (events == 0).mean() < 0.85
    assert (events / events.mean(axis=1, keepdims=True)).max() > 15  # rare, large spikes
    # a plain geo world keeps its draws (the new features use a stream of their own)
    np.testing.assert_array_equal(sim("geo")[2].spend, syn.simulate("geo", 0)[2].spend)


def test_shared_graph_adds_true_edges_to_the_shared_plan():
    _, truth, world = sim("shared_graph")
    assert {(p, c) for p, c, _ in truth["edges"]} == {("tv", "search"), ("display", "social")}
    shared = sim("shared")[2]
    np.testing.assert_allclose(world.own_activity, shared.own_activity)
