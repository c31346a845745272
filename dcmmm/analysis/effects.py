"""Counterfactual effects of channels (DESIGN section 5).

Incremental effect of channel c = prediction with the actual plan minus the
prediction with c's own activity u_c removed (u = x (I − W)). The activity
c's parents drive stays. `total` propagates the removal through the
thresholded graph W to the channels c drives; `direct` does not;
`mediated = total − direct`. All in KPI units.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.model.graph import remove_own_activity
from dcmmm.model.mmm import ModelSpec, Statics, predict_panel


class Incremental(NamedTuple):
    direct: np.ndarray  # [R, C] KPI units, summed over the chosen weeks
    total: np.ndarray  # [R, C]

    @property
    def mediated(self):
        return self.total - self.direct


def counterfactual_activity(x, w, fraction=1.0, propagate=True):
    """x[R, T, C] -> [C, R, T, C]: activity with each channel's own activity
    scaled down by `fraction` (1 = switched off), never below zero."""
    n_ch = x.shape[-1]

    def one(c):
        per_region = jax.vmap(lambda xr: remove_own_activity(xr, w, c, fraction, propagate))
        return jnp.maximum(per_region(x), 0.0)

    return jnp.stack([one(c) for c in range(n_ch)])


def incremental_effects(spec: ModelSpec, params: dict, x, z, statics: Statics, w,
                        kpi_mean, weeks=None) -> Incremental:
    """Direct and total incremental KPI per (region, channel).

    x: [R, T, C] scaled activity; w: [C, C] the thresholded graph; kpi_mean:
    [R] KPI scale per region; weeks: boolean [T] (default all): the channel
    is switched off in these weeks and the change is summed over them
    (carry-over past the last week of data is not counted).
    """
    w = jnp.asarray(w, jnp.float32)
    n_weeks = x.shape[1]
    weeks = np.ones(n_weeks, bool) if weeks is None else np.asarray(weeks, bool)
    base = predict_panel(spec, params, x, z, statics).y

    @jax.jit
    def effect(x_cf):
        return jnp.sum((base - predict_panel(spec, params, x_cf, z, statics).y) * weeks, axis=1)

    out = {}
    for name, propagate in (("direct", False), ("total", True)):
        cf = counterfactual_activity(x, w, 1.0, propagate)
        cf = jnp.where(jnp.asarray(weeks)[None, None, :, None], cf, x[None])
        eff = jnp.stack([effect(cf[c]) for c in range(x.shape[-1])], axis=1)  # [R, C]
        out[name] = np.asarray(eff) * np.asarray(kpi_mean)[:, None]
    return Incremental(out["direct"], out["total"])
