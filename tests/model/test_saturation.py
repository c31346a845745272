import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.model.saturation import (
    S_MAX,
    S_MIN,
    HillSaturation,
    hill,
    hill_k,
    hill_s,
    inverse_hill_k,
    inverse_hill_s,
)


@pytest.mark.parametrize("k,s", [(1.0, 1.0), (0.5, 2.0), (2.0, 0.5), (1.3, 3.0)])
def test_hill_zero_half_and_limit(k, s):
    a = jnp.array([0.0, k, 1e12])
    out = hill(a, k, s)
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0], atol=1e-5)


def test_hill_k1_s1_is_x_over_1_plus_x():
    x = jnp.linspace(0.0, 5.0, 11)
    np.testing.assert_allclose(hill(x, 1.0, 1.0), x / (1 + x), rtol=1e-6)


@pytest.mark.parametrize("s", [0.5, 0.8, 1.0, 2.5])
def test_hill_gradient_finite_at_zero(s):
    grad = jax.grad(lambda a, k, s: hill(a, k, s).sum(), argnums=(0, 1, 2))
    g = grad(jnp.array([0.0, 0.0, 1.0]), 1.0, s)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g)


def test_hill_matches_closed_form_s_shaped():
    a = jnp.array([0.25, 0.5, 2.0, 4.0])
    k, s = 1.5, 2.0
    np.testing.assert_allclose(hill(a, k, s), a**s / (a**s + k**s), rtol=1e-6)


def test_parameter_transforms_invert_and_bound():
    np.testing.assert_allclose(hill_k(inverse_hill_k(jnp.array([0.3, 1.0, 4.0]))), [0.3, 1.0, 4.0], rtol=1e-4)
    np.testing.assert_allclose(hill_s(inverse_hill_s(jnp.array([0.7, 1.0, 2.5]))), [0.7, 1.0, 2.5], rtol=1e-4)
    s = hill_s(jnp.array([-50.0, 50.0]))
    assert S_MIN <= float(s[0]) and float(s[1]) <= S_MAX


def test_module_matches_pure_function():
    module = HillSaturation(jnp.array([1.0, 2.0]), 1.5)
    a = jnp.array([[0.0, 0.5], [1.0, 3.0]])
    np.testing.assert_allclose(module(a), hill(a, jnp.array([1.0, 2.0]), 1.5), rtol=1e-5)
