import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.plans import (
    direct_plan_activity,
    extend_inputs,
    extend_statics,
    plan_activity,
    plan_kpi,
    plan_kpi_change,
    plan_prediction,
)
from dcmmm.model.mmm import predict_panel
from tests.analysis.conftest import arrays


def test_multiplier_one_reproduces_the_actual_plan_exactly(problem):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    ones = jnp.ones(x.shape[-1])
    np.testing.assert_array_equal(plan_activity(x, w, ones), x)
    np.testing.assert_array_equal(direct_plan_activity(x, w, ones), x)
    actual = predict_panel(spec, params, x, z, statics).y
    np.testing.assert_array_equal(plan_prediction(spec, params, x, z, statics, w, ones), actual)
    expected = np.sum(np.asarray(actual, np.float64) * kpi_mean[:, None])
    assert float(plan_kpi(spec, params, x, z, statics, w, ones, kpi_mean)) == pytest.approx(
        expected, rel=1e-5)


def test_multiplier_zero_equals_incremental_effects(problem, effects):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    inc = effects
    actual = predict_panel(spec, params, x, z, statics).y
    for c in range(x.shape[-1]):
        off = jnp.ones(x.shape[-1]).at[c].set(0.0)
        for propagate, expected in ((True, inc.total), (False, inc.direct)):
            removed = -plan_kpi_change(spec, params, x, z, statics, w, off, kpi_mean, actual,
                                       propagate=propagate)
            np.testing.assert_allclose(float(removed), expected[:, c].sum(), rtol=1e-4)
    assert inc.mediated[:, 0].sum() > 0  # the edge tv -> search carries an effect


def test_change_flows_to_children_through_the_graph(problem):
    x, w = problem.batch.x, problem.graph
    m = jnp.array([1.5, 1.0, 1.0])
    total, direct = plan_activity(x, w, m), direct_plan_activity(x, w, m)
    np.testing.assert_allclose(total[..., 0] - x[..., 0], 0.5 * x[..., 0], rtol=1e-5)
    np.testing.assert_allclose(total[..., 2] - x[..., 2], w[0, 2] * 0.5 * x[..., 0], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_array_equal(total[..., 1], x[..., 1])
    np.testing.assert_array_equal(direct[..., 1:], x[..., 1:])


@pytest.mark.parametrize("m", [0.0, 0.3, 3.0])
def test_activity_is_never_negative(problem, m):
    w = np.array([[0.0, -0.8, 0.9], [0.0, 0.0, -1.5], [0.0, 0.0, 0.0]])
    mult = jnp.full(problem.batch.x.shape[-1], m)
    assert float(plan_activity(problem.batch.x, w, mult).min()) >= 0.0
    assert float(direct_plan_activity(problem.batch.x, w, mult).min()) >= 0.0


def test_multipliers_act_only_in_the_week_mask(problem):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    weeks = np.arange(x.shape[1]) >= 30
    m = jnp.array([2.0, 0.5, 1.0])
    planned = plan_activity(x, w, m, weeks)
    np.testing.assert_array_equal(planned[:, :30], x[:, :30])
    assert not np.allclose(planned[:, 30:], x[:, 30:])
    y0 = predict_panel(spec, params, x, z, statics).y
    y1 = plan_prediction(spec, params, x, z, statics, w, m, weeks)
    np.testing.assert_array_equal(y1[:, :30], y0[:, :30])  # the model is causal


def test_plan_kpi_is_jittable_and_differentiable(problem):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    weeks = np.arange(x.shape[1]) >= 20

    def f(m):
        return plan_kpi(spec, params, x, z, statics, w, m, kpi_mean, weeks, weeks)

    m = jnp.array([1.2, 0.8, 1.0])
    f_jit = jax.jit(f)
    assert float(f_jit(m)) == pytest.approx(float(f(m)), rel=1e-6)
    grad = np.asarray(jax.jit(jax.grad(f))(m))
    eps = 1e-2
    for c in range(3):
        step = jnp.zeros(3).at[c].set(eps)
        fd = (float(f_jit(m + step)) - float(f_jit(m - step))) / (2 * eps)
        assert grad[c] == pytest.approx(fd, rel=2e-2)
    assert np.all(grad > 0)  # β ≥ 0: more spend never lowers the KPI


def test_extension_continues_the_calendar_and_keeps_the_past(problem):
    spec, params, x, z, statics, _, _ = arrays(problem)
    short = statics._replace(fourier=statics.fourier[:30], trend=statics.trend[:30],
                             level_basis=statics.level_basis[:30])
    extended = extend_statics(short, 10)
    np.testing.assert_allclose(extended.fourier, statics.fourier, atol=1e-5)
    np.testing.assert_allclose(extended.trend, statics.trend, atol=1e-5)
    x_e, z_e, statics_e = extend_inputs(x, z, statics, 7)
    assert x_e.shape[1] == x.shape[1] + 7 and float(jnp.abs(x_e[:, -7:]).max()) == 0.0
    predict = jax.jit(lambda x, z, statics: predict_panel(spec, params, x, z, statics).y)
    y, y_e = predict(x, z, statics), predict(x_e, z_e, statics_e)
    np.testing.assert_allclose(y_e[:, : x.shape[1]], y, rtol=1e-6)
