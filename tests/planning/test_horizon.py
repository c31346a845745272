"""A plan's weeks under a fitted model: the horizon against the model run over
the extended inputs, carry-in and carry-out, per-cell effects, gradients."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.model.graph import planned_activity
from dcmmm.model.mmm import predict_panel
from dcmmm.planning import horizon as hz
from dcmmm.planning.planner import Planner
from tests.analysis.conftest import with_betas
from tests.planning.conftest import WEEKS

MULT = np.array([[1.3, 0.6, 1.0], [0.8, 1.1, 1.4], [1.0, 0.5, 0.9]], np.float32)  # [R, C]


def _model_media(fitted, future, mult):
    """Media [R, S, C] and baseline [R, S] after the data: the whole model run
    (`predict_panel`) on the extended inputs with the plan's activity made by
    the model's own `planned_activity` (the oracle of the horizon's shortcuts)."""
    x, z, statics = hz.extended_inputs(fitted, future)
    n_data = fitted.panel.n_weeks
    weeks = np.zeros(x.shape[1], np.float32)
    weeks[n_data:n_data + WEEKS] = 1.0
    x = planned_activity(x, jnp.asarray(fitted.graph, jnp.float32), jnp.asarray(mult)[:, None, :],
                         jnp.asarray(weeks))
    pred = predict_panel(fitted.model, fitted.params, x, z, statics)
    return np.asarray(pred.media[:, n_data:]), np.asarray(pred.y - pred.media.sum(-1))[:, n_data:]


def test_the_horizon_is_the_model_run_on_into_the_plan_weeks(fitted, future, planner):
    h = planner.horizon
    assert fitted.graph.any()  # the graph's spread is part of what is checked
    assert h.base.shape == (3, WEEKS + fitted.model.max_lag - 1)
    for mult in (np.ones_like(MULT), MULT, np.zeros_like(MULT)):
        media, base = _model_media(fitted, future, mult)
        np.testing.assert_allclose(hz.media(h, hz.plan_activity(h, mult)), media, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(h.base, base, rtol=1e-5, atol=1e-6)


def test_a_plan_of_no_spend_still_gets_the_carry_in(fitted, future, planner):
    zero = planner.evaluate(np.zeros_like(MULT))
    media, _ = _model_media(fitted, future, np.zeros_like(MULT))
    kpi_media = (media.sum(-1) * fitted.kpi_mean[:, None]).sum(axis=0)
    assert abs(zero.total) < 1e-6 * zero.carry_in.sum() and np.all(zero.by_cell == 0.0)
    np.testing.assert_allclose(zero.media, zero.carry_in)
    np.testing.assert_allclose(zero.carry_in, kpi_media, rtol=1e-5)
    assert zero.carry_in[0] > 0.01 * zero.base[0]  # the data's last weeks still bring KPI
    assert zero.carry_in[0] > zero.carry_in[-1] >= 0.0


def test_the_carry_over_after_the_plan_is_counted(fitted, future):
    last_week_only = dataclasses.replace(future, spend=future.spend * (np.arange(WEEKS) == WEEKS - 1)[
        None, :, None], activity=future.activity * (np.arange(WEEKS) == WEEKS - 1)[None, :, None])
    evaluation = Planner(fitted, last_week_only).evaluate(np.ones_like(MULT))
    gain = evaluation.media - evaluation.carry_in
    assert np.allclose(gain[:WEEKS - 1], 0.0, atol=1e-3 * gain.max())
    assert gain[WEEKS:].sum() > 0.2 * gain.sum()  # weeks after the plan, counted in its total
    np.testing.assert_allclose(evaluation.total, gain.sum(), rtol=1e-4)


def test_cells_and_gradient_of_an_evaluation(planner):
    h, out = planner.horizon, planner.evaluate(MULT)
    for c in range(3):
        without = MULT.copy()
        without[:, c] = 0.0
        expected = np.asarray(hz.region_kpi(h, MULT)) - np.asarray(hz.region_kpi(h, without))
        np.testing.assert_allclose(out.by_cell[:, c], expected, rtol=1e-5)
    np.testing.assert_allclose(out.total, float(hz.incremental(h, MULT)), rtol=1e-6)
    step = 1e-2
    for r, c in [(0, 0), (1, 2), (2, 1)]:
        up, down = MULT.copy(), MULT.copy()
        up[r, c] += step
        down[r, c] -= step
        diff = (float(hz.incremental(h, up)) - float(hz.incremental(h, down))) / (2 * step)
        np.testing.assert_allclose(out.grad[r, c], diff, rtol=2e-2)


def test_members_evaluate_as_their_own_models(fitted, future):
    other = with_betas(fitted, [0.2, 0.3, 0.1])
    members = jax.tree.map(lambda a, b: jnp.stack([a, b]), fitted.params, other.params)
    planner = Planner(dataclasses.replace(fitted, member_params=members), future)
    together = planner.evaluate_members(MULT)
    for i, member in enumerate(planner.fitted.members()):
        alone = Planner(member, future).evaluate(MULT)
        np.testing.assert_allclose(together.by_cell[i], alone.by_cell, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(together.total[i], alone.total, rtol=1e-5)
    assert not np.allclose(together.total[0], together.total[1])
