import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dcmmm.model.dynamics import EffectivenessGRU, effectiveness, gru_cell, gru_scan


def _params(in_f=5, hidden=6, channels=3, seed=0):
    module = EffectivenessGRU(in_f, hidden, channels, rngs=nnx.Rngs(seed))
    return module, nnx.to_pure_dict(nnx.state(module, nnx.Param))


def test_scan_equals_python_loop_over_flax_cell():
    module, p = _params()
    context = jax.random.normal(jax.random.key(1), (20, 5))
    states = gru_scan(p["cell"], context)
    h = jnp.zeros(6)
    for t in range(20):
        h, _ = module.cell(h, context[t])  # flax's own GRUCell is the oracle
        np.testing.assert_allclose(states[t], h, rtol=1e-5, atol=1e-6)


def test_cell_matches_flax():
    module, p = _params(seed=3)
    h = jax.random.normal(jax.random.key(2), (6,))
    x = jax.random.normal(jax.random.key(3), (5,))
    np.testing.assert_allclose(gru_cell(p["cell"], h, x), module.cell(h, x)[0], rtol=1e-5, atol=1e-6)


def test_effectiveness_bounded_and_one_at_init():
    _, p = _params()
    context = jax.random.normal(jax.random.key(1), (30, 5)) * 10
    m = effectiveness(p, context, 0.5)
    assert m.shape == (30, 3)
    np.testing.assert_allclose(m, 1.0)  # zero-initialised head
    p["head"]["kernel"] = jnp.full_like(p["head"]["kernel"], 100.0)
    m = effectiveness(p, context, 0.5)
    assert float(m.max()) <= np.exp(0.5) + 1e-5 and float(m.min()) >= np.exp(-0.5) - 1e-5
