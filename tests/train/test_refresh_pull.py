"""The refresh pull of the loss (dcmmm.train.loss): a Gaussian prior around a finished run."""

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.model.mmm import predict_panel
from dcmmm.train.loss import Anchor, LossSpec, anchor_sum_sq, loss_terms, masked_mean
from tests.fixtures import tiny_problem


def test_pull_is_the_weighted_squared_distance_on_the_fit_scale():
    spec, params, batch, statics = tiny_problem(n_regions=3)
    rng = np.random.default_rng(0)
    old = jax.tree.map(lambda a: a + jnp.asarray(rng.normal(0, 0.1, a.shape), a.dtype), params)
    weight = jax.tree.map(lambda a: jnp.asarray(rng.integers(0, 2, a.shape), a.dtype), params)
    tau = 0.05
    expected = sum(float(np.sum(np.asarray(w) * ((np.asarray(p) - np.asarray(o)) / tau) ** 2))
                   for p, o, w in zip(jax.tree.leaves(params), jax.tree.leaves(old),
                                      jax.tree.leaves(weight)))
    anchor = Anchor(old, weight, jnp.asarray(tau))
    np.testing.assert_allclose(float(anchor_sum_sq(params, anchor, jnp.ones(3))), expected, rtol=1e-5)
    alpha, rho = jnp.asarray(0.0), jnp.asarray(1.0)
    total0, terms0 = loss_terms(params, alpha, rho, batch, statics, spec, LossSpec())
    total, terms = loss_terms(params, alpha, rho, batch._replace(anchor=anchor), statics, spec,
                              LossSpec())
    np.testing.assert_allclose(float(terms["fit"]), float(terms0["fit"]), rtol=1e-6)
    resid = predict_panel(spec, params, batch.x, batch.z, statics).y - batch.y
    sigma2 = float(masked_mean(resid**2, batch.fit_w))
    n = float(jnp.sum(batch.fit_w))
    np.testing.assert_allclose(float(terms["refresh"]), sigma2 / n * 0.5 * expected, rtol=1e-5)
    np.testing.assert_allclose(float(total - total0), float(terms["refresh"]), rtol=1e-5)
    # at the anchor the pull is zero, and so is its gradient
    at = batch._replace(anchor=Anchor(params, weight, jnp.asarray(tau)))
    g = jax.grad(lambda p: loss_terms(p, alpha, rho, at, statics, spec, LossSpec())[1]["refresh"])(params)
    assert all(not np.asarray(leaf).any() for leaf in jax.tree.leaves(g))
