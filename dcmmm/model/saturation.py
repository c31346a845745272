"""Hill saturation (Jin et al. 2017, "Bayesian methods for media mix modeling
with carryover and shape effects").

    h(a) = a^s / (a^s + k^s),   k > 0 half saturation, s in [S_MIN, S_MAX]

`a` is adstocked activity in scaled units (1 = the region's mean activity).
"""

import jax
import jax.numpy as jnp
from flax import nnx

S_MIN, S_MAX = 0.5, 3.0


def hill(a, k, s):
    """Hill curve a^s / (a^s + k^s), elementwise, broadcasting `k`, `s` over `a`.

    Written as sigmoid(s · (log a − log k)) with a double `where`, so the
    value and the gradient are finite (0) at a = 0 for every slope s,
    including s < 1, and do not overflow for tiny or huge a.
    """
    positive = a > 0
    a_safe = jnp.where(positive, a, 1.0)
    return jnp.where(positive, jax.nn.sigmoid(s * (jnp.log(a_safe) - jnp.log(k))), 0.0)


def hill_k(raw_k):
    """Half saturation k = softplus(raw) > 0, scaled activity units."""
    return jax.nn.softplus(raw_k) + 1e-4


def hill_s(raw_s):
    """Slope s = S_MIN + (S_MAX - S_MIN) * sigmoid(raw): concave (s<1) to S-shaped."""
    return S_MIN + (S_MAX - S_MIN) * jax.nn.sigmoid(raw_s)


def inverse_hill_k(k):
    """raw_k such that hill_k(raw_k) == k (for data-driven initialisation)."""
    k = jnp.asarray(k) - 1e-4
    return k + jnp.log(-jnp.expm1(-k))


def inverse_hill_s(s):
    """raw_s such that hill_s(raw_s) == s."""
    p = (jnp.asarray(s) - S_MIN) / (S_MAX - S_MIN)
    return jnp.log(p) - jnp.log1p(-p)


class HillSaturation(nnx.Module):
    """Holds one Hill curve per channel: raw half saturation and raw slope, [C] each."""

    def __init__(self, k_init, s_init=1.0):
        k_init = jnp.asarray(k_init, jnp.float32)
        self.raw_k = nnx.Param(inverse_hill_k(k_init))
        self.raw_s = nnx.Param(jnp.full(k_init.shape, inverse_hill_s(s_init), jnp.float32))

    def __call__(self, a):
        """a: [T, C] adstocked activity -> [T, C] in [0, 1)."""
        return hill(a, hill_k(self.raw_k[...]), hill_s(self.raw_s[...]))
