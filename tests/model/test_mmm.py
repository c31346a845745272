import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.model.mmm import predict_panel, predict_region
from dcmmm.train.loss import LossSpec, loss_terms
from tests.fixtures import tiny_problem


def _perturbed(params, seed=1):
    """Non-trivial parameters: random offsets everywhere (GRU head included)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [a + 0.1 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)]
    return jax.tree.unflatten(tree, leaves)


def test_vmap_over_regions_equals_loop():
    spec, params, batch, statics = tiny_problem()
    params = _perturbed(params)
    lifted = predict_panel(spec, params, batch.x, batch.z, statics)
    for r in range(batch.x.shape[0]):
        region = jax.tree.map(lambda a, r=r: a[r], params["region"])
        one = predict_region(spec, params["shared"], region, batch.x[r], batch.z[r], statics)
        for a, b in zip(lifted, one):
            np.testing.assert_allclose(a[r], b, rtol=1e-5, atol=1e-6)


def test_components_sum_to_prediction():
    spec, params, batch, statics = tiny_problem()
    pred = predict_panel(spec, _perturbed(params), batch.x, batch.z, statics)
    total = pred.intercept + pred.level + pred.seasonality + pred.controls.sum(-1) + pred.media.sum(-1)
    np.testing.assert_allclose(pred.y, total, rtol=1e-6, atol=1e-6)


def test_media_non_negative_and_zero_without_activity():
    spec, params, batch, statics = tiny_problem()
    params = _perturbed(params)
    pred = predict_panel(spec, params, jnp.zeros_like(batch.x), batch.z, statics)
    np.testing.assert_allclose(pred.media, 0.0, atol=1e-7)
    pred = predict_panel(spec, params, batch.x, batch.z, statics)
    assert float(pred.media.min()) >= 0.0


def test_finite_gradients_with_zero_spend_weeks():
    spec, params, batch, statics = tiny_problem(zero_weeks=range(0, 40, 3))
    x = batch.x.at[:, :, 0].set(0.0)  # one channel never active
    batch = batch._replace(x=x)
    grads = jax.grad(lambda p: loss_terms(p, 0.0, 1.0, batch, statics, spec, LossSpec())[0])(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_dynamics_disabled_gives_unit_effectiveness():
    spec, params, batch, statics = tiny_problem()
    import dataclasses

    static = dataclasses.replace(spec, dynamics_enabled=False)
    pred = predict_panel(static, _perturbed(params), batch.x, batch.z, statics)
    np.testing.assert_allclose(pred.effectiveness, 1.0)
