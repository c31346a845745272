import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.model.adstock import (
    FAMILIES,
    adstock,
    adstock_weights,
    init_adstock_params,
    mean_lag,
    steady_state,
)


@pytest.mark.parametrize("family", FAMILIES)
def test_weights_normalised_and_positive(family):
    w = adstock_weights(family, init_adstock_params(family, 3), 8)
    assert w.shape == (3, 8)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.asarray(w) >= 0)


def test_geometric_closed_form():
    lam = 0.6
    raw = jnp.log(lam / (1 - lam))
    w = adstock_weights("geometric", {"decay": jnp.array([raw])}, 5)
    expected = lam ** np.arange(5) / np.sum(lam ** np.arange(5))
    np.testing.assert_allclose(w[0], expected, rtol=1e-5)


def test_delayed_peaks_at_delay():
    # θ = (L-1)·sigmoid(0) = 3.5 with L = 8: weights peak at lags 3 and 4
    w = adstock_weights("delayed", {"decay": jnp.array([0.0]), "delay": jnp.array([0.0])}, 8)
    assert int(jnp.argmax(w[0])) in (3, 4)


@pytest.mark.parametrize("family", FAMILIES)
def test_impulse_response_is_kernel(family):
    # one unit at week 5, nothing before (steady state 0): output is the kernel
    n_weeks, max_lag = 20, 6
    params = init_adstock_params(family, 1)
    w = adstock_weights(family, params, max_lag)
    x = jnp.zeros((n_weeks, 1)).at[5, 0].set(1.0)
    out = adstock(x, w)
    np.testing.assert_allclose(out[5 : 5 + max_lag, 0], w[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out[:5, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(out[5 + max_lag :, 0], 0.0, atol=1e-7)


def test_constant_input_is_steady_state():
    x = jnp.full((12, 2), 3.0)
    w = adstock_weights("geometric", init_adstock_params("geometric", 2), 8)
    np.testing.assert_allclose(adstock(x, w), 3.0, rtol=1e-6)


def test_prefill_uses_mean_of_first_weeks():
    x = jnp.array([[2.0], [4.0], [0.0], [2.0], [10.0], [0.0]])
    assert float(steady_state(x)[0]) == pytest.approx(2.0)
    w = jnp.array([[0.5, 0.5]])
    out = adstock(x, w)
    assert float(out[0, 0]) == pytest.approx(0.5 * 2.0 + 0.5 * 2.0)


def test_matches_python_loop():
    key = jax.random.key(0)
    x = jax.random.uniform(key, (15, 3))
    w = adstock_weights("weibull", init_adstock_params("weibull", 3), 5)
    pre = steady_state(x)
    expected = np.zeros((15, 3))
    for t in range(15):
        for l in range(5):
            src = x[t - l] if t - l >= 0 else pre
            expected[t] += np.asarray(w[:, l] * src)
    np.testing.assert_allclose(adstock(x, w), expected, rtol=1e-5)


def test_mean_lag():
    w = jnp.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(mean_lag(w), [0.5, 2.0])
