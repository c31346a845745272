"""The jaxlib CPU fusion bug (jax-ml/jax#39103) is switched off by importing dcmmm."""

import os

import jax
import jax.numpy as jnp
import numpy as np

import dcmmm  # noqa: F401


def test_flag_set_and_large_fused_reduction_is_right():
    assert "--xla_cpu_experimental_ynn_fusion_type=" in os.environ.get("XLA_FLAGS", "")
    f = jax.jit(lambda m, a, x, z: a[None, :, None]
                + (jnp.tanh(z)[None] * (x[None] * m[:, None, None, None])).sum(-1))
    m = jnp.linspace(0, 3, 31)
    a = jnp.arange(30.0)
    x = jax.random.normal(jax.random.key(0), (30, 40, 3))
    z = jax.random.normal(jax.random.key(1), (30, 40, 3))
    ref = np.stack([np.asarray(a[:, None] + (jnp.tanh(z) * (x * v)).sum(-1)) for v in m])
    np.testing.assert_allclose(np.asarray(f(m, a, x, z)), ref, rtol=1e-5, atol=1e-4)
