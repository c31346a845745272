"""Ensembles: members as one vmapped program, bootstrap weights, intervals in the outputs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from dcmmm.config import DEFAULT_MEMBERS, check_config, ensemble_size, ensemble_spec, run_spec
from dcmmm.ensemble import (
    achieved_level,
    bootstrap_weights,
    fit_ensemble,
    interval,
    interval_rank,
    zero_tests,
)
from dcmmm.errors import ConfigError
from dcmmm.intervals import ZERO_COLUMNS, with_intervals, with_zero
from dcmmm.loaded import load_run
from dcmmm.run import main
from dcmmm.train.loop import fit
from dcmmm.train.loss import LossSpec
from dcmmm.train.replicas import replica
from tests.fixtures import tiny_problem
from tests.test_run import TINY, _compose


def test_bootstrap_weights_are_blocks_of_exponentials_with_mean_one():
    w = bootstrap_weights(5, 30, 13, np.random.default_rng(0))
    assert w.shape == (5, 30) and w.min() > 0
    assert w.mean() == pytest.approx(np.repeat(w[:, ::13], 13, axis=1)[:, :30].mean())
    np.testing.assert_array_equal(w[:, :13], np.repeat(w[:, :1], 13, axis=1))  # one block
    assert w[:, ::13].mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(bootstrap_weights(2, 7, 0, None), np.ones((2, 7)))


def test_interval_is_a_prediction_interval_of_order_statistics():
    values = np.arange(19.0)[:, None] * np.array([1.0, -1.0])
    lo, hi = interval(values, 0.8)  # 19 members: the 2nd smallest and largest, (20 - 4) / 20
    np.testing.assert_allclose(lo, [1.0, -17.0])
    np.testing.assert_allclose(hi, [17.0, -1.0])
    assert interval_rank(8, 0.8) == 1 and achieved_level(8, 0.8) == pytest.approx(7 / 9)
    assert achieved_level(9, 0.8) == pytest.approx(0.8) and interval_rank(30, 0.8) == 3
    with_nan = np.array([[1.0], [np.nan], [3.0], [2.0]])
    np.testing.assert_allclose(interval(with_nan, 0.5), ([1.0], [3.0]))
    table = pd.DataFrame({"channel": ["a", "b"], "roi": [5.0, -5.0]})
    members = [table.assign(roi=table["roi"] + d) for d in (-1.0, 0.0, 1.0)]
    out = with_intervals(table, members, ["roi"], 0.8)
    np.testing.assert_allclose(out["roi_lo"], [4.0, -6.0])
    np.testing.assert_allclose(out["roi_hi"], [6.0, -4.0])
    assert with_intervals(table, [], ["roi"], 0.8) is table


def test_the_interval_holds_a_new_member_as_often_as_it_says():
    """Oracle: Monte Carlo. Members and a new draw from the same distribution (skewed)."""
    rng = np.random.default_rng(0)
    for n_members, level in ((8, 0.8), (19, 0.8), (30, 0.5)):
        draws = rng.lognormal(0.0, 1.0, (20000, n_members + 1))
        lo, hi = interval(draws[:, :n_members].T, level)
        inside = np.mean((lo <= draws[:, -1]) & (draws[:, -1] <= hi))
        assert inside == pytest.approx(achieved_level(n_members, level), abs=0.01)
        assert achieved_level(n_members, level) >= level or n_members < 9
    # the sample quantiles it replaces hold far fewer new draws than their label
    draws = rng.normal(size=(20000, 9))
    q_lo, q_hi = np.quantile(draws[:, :8], [0.1, 0.9], axis=1)
    assert np.mean((q_lo <= draws[:, -1]) & (draws[:, -1] <= q_hi)) < 0.7


def test_member_zero_is_the_plain_fit_and_members_differ():
    spec_m, params, batch, statics = tiny_problem()
    cfg = OmegaConf.to_container(_compose([*TINY, "model.ensemble_size=3", "train.max_steps=30",
                                           "train.steps_per_call=10", "train.refit_steps=0",
                                           "model.dynamics.hidden=4"]), resolve=True)
    spec = run_spec(cfg, spec_m.n_channels, spec_m.n_controls, ("a", "b", "c"))
    spec = spec.__class__(**{**spec.__dict__, "model": spec_m, "loss": LossSpec()})
    res, phase1 = fit_ensemble(params, batch, statics, spec)
    plain = fit(params, batch, statics, spec_m, LossSpec(), spec.train, seed=spec.seed)
    for a, b in zip(jax.tree.leaves(replica(res.params, 0)), jax.tree.leaves(plain.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-4)
    beta = np.asarray(res.params["shared"]["beta"])
    assert np.abs(beta[1] - beta[0]).max() > 1e-2 and np.abs(beta[2] - beta[1]).max() > 1e-2
    assert not phase1["refit"]


def test_ensemble_run_writes_intervals_and_reloads_members(tmp_path):
    cfg = OmegaConf.to_container(_compose([*TINY, "model.ensemble_size=3", "train.max_steps=20",
                                           "train.steps_per_call=10"]), resolve=True)
    main(cfg, tmp_path)
    channels = pd.read_csv(tmp_path / "channels.csv")
    for col in ("roi", "incremental_total", "mroi", "hill_k"):
        assert (channels[f"{col}_lo"] <= channels[f"{col}_hi"]).all(), col
    window = pd.read_csv(tmp_path / "channels_window.csv")
    assert "roi_lo" in window and "roi_hi" in window
    curves = pd.read_csv(tmp_path / "response_curves.csv")
    assert (curves["incremental_total_lo"] <= curves["incremental_total_hi"] + 1e-9).all()
    summary = json.loads((tmp_path / "budget_summary.json").read_text())
    assert len(summary["lift_members"]) == 3
    assert summary["lift_members"][0] == pytest.approx(summary["lift"], rel=1e-3, abs=1.0)
    run = load_run(tmp_path)
    assert run.n_members == 3
    for a, b in zip(jax.tree.leaves(replica(run.member_params, 0)), jax.tree.leaves(run.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert "Robustness: under the 3 ensemble members" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("overrides, message", [
    (["model.ensemble_interval=1.5"], r"model.ensemble_interval must be a finite number in \(0, 1\)"),
    (["model.ensemble_size=0"], "model.ensemble_size"),
    (["model.ensemble_size=2", "validate=backtest"], "validate=backtest fits one model"),
    (["model.ensemble_size=2", "train.replica_threads=-1"], "train.replica_threads must be an integer >= 0"),
])
def test_bad_ensemble_config_is_a_config_error(tmp_path, overrides, message):
    cfg = OmegaConf.to_container(_compose([*TINY, *overrides]), resolve=True)
    with pytest.raises(ConfigError, match=message):
        main(cfg, tmp_path)


def test_with_zero_takes_the_lower_ends_of_plausibly_zero_channels_to_zero():
    table = pd.DataFrame({"channel": ["a", "b"], "roi": [2.0, 1.0], "roi_lo": [1.5, 0.4],
                          "roi_hi": [2.5, 3.0], "hill_k_lo": [0.5, 0.6]})
    zero = {"channels": ["a", "b"], "t": [4.0, 0.3], "plausible": [False, True]}
    out = with_zero(table, zero, ZERO_COLUMNS)
    np.testing.assert_allclose(out["roi_lo"], [1.5, 0.0])
    np.testing.assert_allclose(out["roi_hi"], [2.5, 3.0])
    np.testing.assert_allclose(out["hill_k_lo"], [0.5, 0.6])  # not an effect: unchanged
    assert list(out["zero_plausible"]) == [False, True] and list(out["zero_t"]) == [4.0, 0.3]
    curves = pd.DataFrame({"channel": ["b", "b"], "multiplier": [0.0, 1.0],
                           "incremental_total": [0.0, 1.0], "incremental_total_lo": [0.0, 0.5]})
    out = with_zero(curves, zero, ZERO_COLUMNS, flags=False)
    np.testing.assert_allclose(out["incremental_total_lo"], [0.0, 0.0])
    assert "zero_t" not in out
    assert with_zero(table.drop(columns=["roi_lo"]), zero, ["roi"]).equals(
        table.drop(columns=["roi_lo"]))  # no intervals: nothing to change
    assert with_zero(table, None, ZERO_COLUMNS) is table


def test_zero_tests_reject_a_channel_that_drives_the_kpi_and_not_one_that_does_not():
    spec_m, params, batch, statics = tiny_problem(n_regions=4, n_weeks=60, seed=1)
    x = np.asarray(batch.x)
    rng = np.random.default_rng(5)
    y = 1.0 + 0.6 * x[..., 0] / (x[..., 0] + 1.0) + 0.02 * rng.normal(size=x.shape[:2])
    batch = batch._replace(y=jnp.asarray(y, jnp.float32))
    cfg = OmegaConf.to_container(_compose([*TINY, "model.ensemble_size=2", "train.max_steps=300",
                                           "train.steps_per_call=50", "train.refit_steps=150",
                                           "model.dynamics.hidden=4"]), resolve=True)
    spec = run_spec(cfg, spec_m.n_channels, spec_m.n_controls, ("a", "b", "c"))
    spec = spec.__class__(**{**spec.__dict__, "model": spec_m, "loss": LossSpec()})
    fitted = fit(params, batch, statics, spec_m, LossSpec(), spec.train, seed=spec.seed)
    zero = zero_tests(fitted.params, batch, statics, spec)
    assert zero["weeks"] == 6 and zero["critical"] == pytest.approx(1.476, abs=1e-3)
    # channel a drives y: removing it predicts the validation weeks worse; b and c do not
    assert zero["plausible"] == [False, True, True], zero
    assert zero["t"][0] > zero["critical"] > max(zero["t"][1:]), zero


@pytest.mark.parametrize("overrides, members", [
    ([], DEFAULT_MEMBERS),  # the default run: an ensemble
    (["validate=backtest"], 1),  # a backtest fits one model per fold
    (["refresh.from=/some/run"], 1),  # a refresh continues one fit
    (["model.ensemble_size=1"], 1),
    (["model.ensemble_size=4"], 4),
])
def test_the_default_run_is_an_ensemble_and_a_backtest_or_refresh_one_fit(overrides, members):
    cfg = OmegaConf.to_container(_compose(overrides), resolve=True)
    assert ensemble_size(cfg) == members and ensemble_spec(cfg).size == members
    check_config(cfg)  # the default never asks for what a backtest or refresh cannot do


def test_a_lift_test_that_excludes_zero_outweighs_the_validation_weeks():
    from dcmmm.ensemble import with_lift_tests

    zero = {"channels": ["a", "b", "c"], "t": [0.2, 0.1, 3.0], "plausible": [True, True, False],
            "critical": 1.4, "weeks": 8}
    # a: two tests pooled, (30 + 30) / √(20² + 20²) = 2.12 > 1.28 (80% two-sided);
    # b: one test at 1.0 se cannot rule zero out; c: no test, the zero test stands
    out = with_lift_tests(zero, channel=[0, 0, 1], lift=[30.0, 30.0, 10.0],
                          lift_se=[20.0, 20.0, 10.0], level=0.8)
    assert out["plausible"] == [False, True, False]
    assert out["lift_z"][0] == pytest.approx(60.0 / np.sqrt(800.0)) and out["lift_z"][1] == 1.0
    assert np.isnan(out["lift_z"][2]) and out["lift_critical"] == pytest.approx(1.2816, abs=1e-4)
    assert out["t"] == zero["t"] and zero["plausible"] == [True, True, False]  # not mutated
    # a negative lift measured as precisely rules zero out too (two-sided)
    assert with_lift_tests(zero, [0], [-30.0], [10.0], 0.8)["plausible"][0] is False


def _spec_of(spec_m, size):
    cfg = OmegaConf.to_container(_compose([*TINY, f"model.ensemble_size={size}"]), resolve=True)
    spec = run_spec(cfg, spec_m.n_channels, spec_m.n_controls, ("a", "b", "c"))
    return spec.__class__(**{**spec.__dict__, "model": spec_m, "loss": LossSpec()})


def _with_evidence(batch, kpi_mean, lift=50.0, se=10.0):
    from tests.train.test_calibration import lift_batch

    n_regions, n_weeks, n_channels = batch.x.shape
    lifts = lift_batch(n_regions, n_weeks, n_channels, 1, slice(5, 15), lift, se, kpi_mean)
    two = lifts._replace(**{k: jnp.concatenate([getattr(lifts, k)] * 2)
                            for k in ("off", "region_w", "week_w", "measure_w")},
                         lift=jnp.asarray([lift, lift], jnp.float32),
                         lift_se=jnp.asarray([se, 3 * se], jnp.float32))
    prior = lift_batch(n_regions, n_weeks, n_channels, 2, slice(0, n_weeks), 400.0, 40.0,
                       kpi_mean)
    return batch._replace(lifts=two, priors=prior)


def test_members_redraw_their_lift_tests_and_priors_and_keep_their_bootstrap():
    """Oracle: the sampling distribution. Member 0 keeps the tests as measured;
    every other member's lift is lift + N(0, se²), independent across members
    and tests; the bootstrap weights are those of the same ensemble without tests."""
    from scipy import stats as st

    from dcmmm.ensemble import member_batches

    spec_m, params, batch, statics = tiny_problem()
    spec = _spec_of(spec_m, 400)
    with_tests = _with_evidence(batch, np.full(batch.x.shape[0], 100.0))
    stacked = member_batches(with_tests, spec)
    np.testing.assert_array_equal(np.asarray(stacked.fit_w),
                                  np.asarray(member_batches(batch, spec).fit_w))
    for tests, original in ((stacked.lifts, with_tests.lifts), (stacked.priors, with_tests.priors)):
        lift, se = np.asarray(tests.lift, np.float64), np.asarray(tests.lift_se, np.float64)
        np.testing.assert_array_equal(lift[0], np.asarray(original.lift))
        np.testing.assert_array_equal(se, np.broadcast_to(np.asarray(original.lift_se), se.shape))
        z = (lift[1:] - np.asarray(original.lift)) / np.asarray(original.lift_se)
        for column in z.T:  # each test: N(0, 1) over the members
            assert st.kstest(column, "norm").pvalue > 1e-3
        if z.shape[1] > 1:
            assert abs(np.corrcoef(z.T)[0, 1]) < 4 / np.sqrt(len(z))


def test_a_member_whose_fit_its_tests_rule_out_is_left_out_of_the_intervals():
    """Member 0 meets its tests; member 1 has member 0's parameters and the
    redrawn tests (χ² of a few draws); member 2's channel 1 has 4 times the
    effect: its χ² is far beyond the 0.999 quantile of χ² with 3 terms."""
    from scipy import stats as st

    from dcmmm.ensemble import contradicted, evidence_chi2, member_batches
    from dcmmm.fitting import kept_members
    from dcmmm.model.mmm import inverse_softplus, predict_panel
    from dcmmm.train.loss import model_lifts

    spec_m, params, batch, statics = tiny_problem()
    spec = _spec_of(spec_m, 3)
    kpi_mean = np.full(batch.x.shape[0], 100.0)
    pred = predict_panel(spec_m, params, batch.x, batch.z, statics)
    probe = _with_evidence(batch, kpi_mean)
    lift = float(model_lifts(params, probe, statics, spec_m, pred)[0])
    prior_lift = float(model_lifts(params, probe, statics, spec_m, pred, lifts=probe.priors)[0])
    batch = _with_evidence(batch, kpi_mean, lift=lift, se=0.05 * lift)
    batch = batch._replace(priors=batch.priors._replace(
        lift=jnp.asarray([prior_lift], jnp.float32),
        lift_se=jnp.asarray([0.2 * prior_lift], jnp.float32)))
    beta = params["shared"]["beta"]
    big = dict(params, shared=dict(params["shared"], beta=beta.at[1].set(
        inverse_softplus(4.0 * float(jax.nn.softplus(beta[1]))))))
    members = jax.tree.map(lambda *a: jnp.stack(a), params, params, big)
    chi2 = evidence_chi2(members, member_batches(batch, spec), statics, spec)
    bound = st.chi2.ppf(0.999, 3)
    assert chi2[0] < 1.0 and chi2[1] - chi2[0] < bound and chi2[2] - chi2[0] > bound
    assert contradicted(chi2, 3) == [2]
    kept, out = kept_members(members, member_batches(batch, spec), statics, spec)
    assert np.asarray(kept["shared"]["beta"]).shape[0] == 2
    np.testing.assert_array_equal(np.asarray(kept["shared"]["beta"][1]), np.asarray(beta))
    assert [o["member"] for o in out] == [2] and out[0]["terms"] == 3
    assert out[0]["chi2"] == pytest.approx(chi2[2], rel=1e-6)
    # without tests or priors nothing is measured and nothing left out
    plain = member_batches(batch._replace(lifts=None, priors=None), spec)
    same, none = kept_members(members, plain, statics, spec)
    assert same is members and none == []


def test_contradicted_compares_each_member_with_the_point_fit():
    from scipy import stats as st

    from dcmmm.ensemble import contradicted

    q = st.chi2.ppf(0.999, 3)
    chi2 = [5.0, 5.0 + q - 0.01, 5.0 + q + 0.01, np.nan, 0.0]
    assert contradicted(chi2, 3) == [2, 3]  # NaN: not a fit the evidence allows
    assert contradicted([50.0, 60.0, 50.0 + 2 * q], 3) == [2]  # all far: only beyond the point's
    assert contradicted([0.0, 1e6], 0) == []
