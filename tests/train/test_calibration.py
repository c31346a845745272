"""Lift tests in the loss: the model's counterfactual lift, and its pull on the fit."""

import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.effects import incremental_effects
from dcmmm.analysis.plans import plan_prediction
from dcmmm.model.mmm import predict_panel
from dcmmm.train.loop import TrainSpec, fit
from dcmmm.train.loss import LiftBatch, LossSpec, loss_terms, model_lifts
from tests.analysis.conftest import arrays, make_problem
from tests.fixtures import tiny_problem


def lift_batch(n_regions, n_weeks, n_channels, channel, weeks, lift, se, kpi_mean, regions=None,
               measured=None):
    off = np.zeros((1, n_channels))
    off[0, channel] = 1.0
    region_w = np.ones((1, n_regions)) if regions is None else np.asarray(regions, float)[None]
    week_w = np.zeros((1, n_weeks))
    week_w[0, weeks] = 1.0
    measure_w = week_w.copy()
    if measured is not None:
        measure_w[0, measured] = 1.0
    f = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return LiftBatch(f(off), f(region_w), f(week_w), f(measure_w), f([lift]), f([se]), f(kpi_mean))


@pytest.mark.parametrize("channel", [0, 2])
def test_model_lift_equals_incremental_effect_of_the_same_intervention(channel):
    problem = make_problem()
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    n_regions, n_weeks, n_channels = x.shape
    weeks = np.zeros(n_weeks, bool)
    weeks[10:18] = True
    inc = incremental_effects(problem, weeks=weeks)
    regions = [1.0, 0.0, 1.0]
    lifts = lift_batch(n_regions, n_weeks, n_channels, channel, slice(10, 18), 0.0, 1.0, kpi_mean,
                       regions)
    _, _, batch, _ = tiny_problem()
    batch = batch._replace(lifts=lifts)
    pred = predict_panel(spec, params, x, z, statics)
    got = float(model_lifts(params, batch, statics, spec, pred, w=jnp.asarray(w, jnp.float32))[0])
    expected = inc.total[[0, 2], channel].sum()  # total: channel 0 drives channel 2
    assert got == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_a_cool_down_adds_the_carry_over_after_the_window():
    """Spend off in weeks 10..17, KPI lost summed over 10..23: the direct sum of
    the predictions' difference over those weeks (an oracle), more than the
    window alone by the carry-over the adstock spreads past week 17."""
    problem = make_problem()
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    n_regions, n_weeks, n_channels = x.shape
    channel = 0
    _, _, batch, _ = tiny_problem()
    w32 = jnp.asarray(w, jnp.float32)
    pred = predict_panel(spec, params, x, z, statics)
    y = pred.y
    off_weeks = np.zeros(n_weeks, bool)
    off_weeks[10:18] = True
    multipliers = np.ones(n_channels, np.float32)
    multipliers[channel] = 0.0
    y_off = plan_prediction(spec, params, x, z, statics, w32, jnp.asarray(multipliers),
                            jnp.asarray(off_weeks, jnp.float32))
    lost = np.asarray((y - y_off) * jnp.asarray(kpi_mean)[:, None], np.float64)  # [R, T]

    def model_lift(measured):
        lifts = lift_batch(n_regions, n_weeks, n_channels, channel, slice(10, 18), 0.0, 1.0,
                           kpi_mean, measured=measured)
        return float(model_lifts(params, batch._replace(lifts=lifts), statics, spec, pred, w=w32)[0])

    inside, cooled = model_lift(None), model_lift(slice(10, 24))
    assert inside == pytest.approx(lost[:, 10:18].sum(), rel=1e-4)
    assert cooled == pytest.approx(lost[:, 10:24].sum(), rel=1e-4)
    assert cooled - inside > 0.01 * inside  # the adstock carries spend past the window


def test_lift_test_pulls_the_channel_effect_towards_the_measurement():
    spec, params, batch, statics = tiny_problem()
    n_regions, n_weeks, n_channels = batch.x.shape
    kpi_mean = np.full(n_regions, 100.0)
    tspec = TrainSpec(max_steps=300, steps_per_call=50, patience=300, progress=False)
    lspec = LossSpec(graph_enabled=False)

    def fitted_lift(lifts):
        result = fit(params, batch._replace(lifts=lifts), statics, spec, lspec, tspec)
        probe = batch._replace(lifts=lifts)
        pred = predict_panel(spec, result.params, batch.x, batch.z, statics)
        return float(model_lifts(result.params, probe, statics, spec, pred)[0])

    weeks = slice(5, 15)
    weak = lift_batch(n_regions, n_weeks, n_channels, 1, weeks, 0.0, 1e9, kpi_mean)
    free = fitted_lift(weak)  # a test with a huge error carries no information
    target = 3.0 * free
    pulled = fitted_lift(lift_batch(n_regions, n_weeks, n_channels, 1, weeks, target,
                                    0.02 * target, kpi_mean))
    assert abs(pulled - target) < 0.5 * abs(free - target)
    # and the term is part of the loss, in the fit's units
    lifts = lift_batch(n_regions, n_weeks, n_channels, 1, weeks, target, 0.02 * target, kpi_mean)
    _, terms = loss_terms(params, 0.0, 1.0, batch._replace(lifts=lifts), statics, spec, lspec)
    assert float(terms["calibration"]) > 0



def test_early_stopping_counts_the_lift_tests_as_the_nats_they_are():
    """selection_score is the validation cells' and the tests' log-likelihood
    together, on the validation MSE's scale (closed form)."""
    from dcmmm.train.loss import selection_score

    fit_w = np.zeros((4, 30))
    fit_w[:, :22] = 1.0
    val_w = np.zeros((4, 30))
    val_w[:, 22:] = 1.0  # 32 validation cells, 88 fitted
    batch = tiny_problem(n_regions=4, n_weeks=30)[2]._replace(fit_w=jnp.asarray(fit_w),
                                                             val_w=jnp.asarray(val_w))
    sigma2, mse, nats = 0.04, 0.05, 3.0
    assert float(selection_score({"val_mse": mse}, batch)) == pytest.approx(mse)  # no evidence
    term = sigma2 / 88 * nats  # a likelihood term of the loss: σ̂²/N_fit per nat
    score = float(selection_score({"val_mse": mse, "calibration": term}, batch))
    assert score * 32 / (2 * sigma2) == pytest.approx(32 * mse / (2 * sigma2) + nats, rel=1e-5)
    both = float(selection_score({"val_mse": mse, "calibration": term, "priors": term}, batch))
    assert both * 32 / (2 * sigma2) == pytest.approx(32 * mse / (2 * sigma2) + 2 * nats, rel=1e-5)
    # the refresh pull is a prior on parameters, not outside evidence: not counted
    assert float(selection_score({"val_mse": mse, "refresh": term}, batch)) == pytest.approx(mse)


def test_phase_1_weighs_the_tests_boost_times_and_only_before_a_phase_2():
    """phase1_batch: the tests' and priors' likelihood × boost (closed form),
    nothing changed without either, with boost 1 or without phase 2."""
    from dcmmm.train.loss import likelihood_nats
    from dcmmm.train.phases import phase1_batch

    spec, params, batch, statics = tiny_problem()
    n_regions, n_weeks, n_channels = batch.x.shape
    lifts = lift_batch(n_regions, n_weeks, n_channels, 1, slice(5, 15), 50.0, 20.0,
                       np.full(n_regions, 100.0))
    with_tests = batch._replace(lifts=lifts)
    pred = predict_panel(spec, params, batch.x, batch.z, statics)
    nats = lambda b: float(likelihood_nats(params, b, statics, spec, pred, b.lifts))  # noqa: E731
    assert nats(with_tests) > 0
    assert nats(phase1_batch(with_tests, 10.0, True)) == pytest.approx(10 * nats(with_tests),
                                                                     rel=1e-5)
    assert phase1_batch(with_tests, 10.0, False) is with_tests  # phase 1 is the final fit
    assert phase1_batch(with_tests, 1.0, True) is with_tests
    assert phase1_batch(batch, 10.0, True) is batch
    # ROI priors (tests of all weeks and regions) weigh boost times more too, alone or with tests
    prior = lift_batch(n_regions, n_weeks, n_channels, 2, slice(0, n_weeks), 400.0, 40.0,
                       np.full(n_regions, 100.0))
    prior_nats = lambda b: float(likelihood_nats(params, b, statics, spec, pred,  # noqa: E731
                                                 b.priors))
    for b in (batch._replace(priors=prior), with_tests._replace(priors=prior)):
        boosted = phase1_batch(b, 10.0, True)
        assert prior_nats(b) > 0
        assert prior_nats(boosted) == pytest.approx(10 * prior_nats(b), rel=1e-5)
        assert (boosted.lifts is None) == (b.lifts is None)
        if b.lifts is not None:
            assert nats(boosted) == pytest.approx(10 * nats(b), rel=1e-5)
        assert phase1_batch(b, 10.0, False) is b and phase1_batch(b, 1.0, True) is b


def test_the_boost_brings_phase_1_closer_to_its_test_and_phase_2_fits_at_the_weight_asked():
    """Two phases of replicas (the ensemble's path): with a boost, phase 1
    ends nearer a test the data do not pin; without phase 2 there is no
    boost; phase 2 runs at the weight asked (its loss term unboosted)."""
    from dcmmm.train.phases import refit_spec
    from dcmmm.train.replicas import fit_replicas_two_phases, replica, stack

    spec, params, batch, statics = tiny_problem()
    n_regions, n_weeks, n_channels = batch.x.shape
    kpi_mean = np.full(n_regions, 100.0)
    tspec = TrainSpec(max_steps=200, steps_per_call=50, patience=200, progress=False)
    lspec = LossSpec(graph_enabled=False)
    weeks = slice(5, 15)
    probe = batch._replace(lifts=lift_batch(n_regions, n_weeks, n_channels, 1, weeks, 0.0, 1.0,
                                            kpi_mean))
    pred0 = predict_panel(spec, params, batch.x, batch.z, statics)
    start = float(model_lifts(params, probe, statics, spec, pred0)[0])
    target = 3.0 * start
    lifts = lift_batch(n_regions, n_weeks, n_channels, 1, weeks, target, 0.5 * abs(target),
                       kpi_mean)
    one = lambda tree: stack([tree])  # noqa: E731  one replica
    refit = refit_spec(tspec, 50, 0.2)

    def phase1_lift(boost, refit):
        res, phase1 = fit_replicas_two_phases(one(params), one(batch._replace(lifts=lifts)),
                                              one(statics), spec, lspec, tspec, refit, [0],
                                              boost=boost)
        p = replica(phase1["params"], 0)
        pred = predict_panel(spec, p, batch.x, batch.z, statics)
        return float(model_lifts(p, probe, statics, spec, pred)[0]), res

    plain, _ = phase1_lift(1.0, refit)
    boosted, res = phase1_lift(10.0, refit)
    assert abs(boosted - target) < 0.5 * abs(plain - target)  # measured: 0.18
    no_phase2, _ = phase1_lift(10.0, None)
    assert no_phase2 == pytest.approx(plain, rel=1e-6)
    # phase 2's last loss term is the tests' likelihood at weight 1
    p = replica(res.params, 0)
    b = batch._replace(lifts=lifts)
    b = b._replace(fit_w=b.fit_w + b.val_w)
    _, terms = loss_terms(p, 0.0, 1.0, b, statics, spec, lspec)
    assert float(res.history[-1]["calibration"][0]) == pytest.approx(float(terms["calibration"]),
                                                                    rel=0.2)
