"""Counterfactual effects of channels (docs/design.md, "Decisions").

Incremental effect of channel c = prediction with the actual plan minus the
prediction with c's spend switched off, i.e. its own activity u_c removed
(u = x (I − W), `dcmmm.analysis.plans`). The activity c's parents drive
stays. `total` propagates the removal through the thresholded graph W to the
channels c drives; `direct` does not; `mediated = total − direct`. KPI units.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.analysis.plans import plan_prediction
from dcmmm.fitted import Fitted


class Incremental(NamedTuple):
    direct: np.ndarray  # [R, C] KPI units, summed over the chosen weeks
    total: np.ndarray  # [R, C]

    @property
    def mediated(self):
        return self.total - self.direct


def incremental_effects(fitted: Fitted, weeks=None) -> Incremental:
    """Direct and total incremental KPI per (region, channel) of a fitted model.

    weeks: boolean [T] (default all): the channel is switched off in these
    weeks and the change is summed over them (carry-over past the last week of
    data is not counted). Uses the model's thresholded graph and scaled inputs;
    KPI units.
    """
    mspec, params, statics, w = fitted.model, fitted.params, fitted.statics, fitted.graph
    x, z, kpi_mean = fitted.batch.x, fitted.batch.z, fitted.kpi_mean
    n_weeks, n_ch = x.shape[1], x.shape[2]
    weeks = np.ones(n_weeks, bool) if weeks is None else np.asarray(weeks, bool)
    mask = jnp.asarray(weeks, jnp.float32)
    w = jnp.asarray(w, jnp.float32)
    ones = jnp.ones(n_ch, jnp.float32)
    base = plan_prediction(mspec, params, x, z, statics, w, ones)

    @jax.jit
    def effect(multipliers, propagate_flag):
        def one(propagate):
            y = plan_prediction(mspec, params, x, z, statics, w, multipliers, mask, propagate)
            return jnp.sum((base - y) * mask, axis=1)  # [R]

        return jax.lax.cond(propagate_flag, lambda: one(True), lambda: one(False))

    out = {}
    for name, flag in (("direct", False), ("total", True)):
        eff = jnp.stack([effect(ones.at[c].set(0.0), flag) for c in range(n_ch)], axis=1)
        out[name] = np.asarray(eff) * np.asarray(kpi_mean)[:, None]
    return Incremental(out["direct"], out["total"])


def total_effect(fitted: Fitted, channel: int, graph=None) -> np.ndarray:
    """[R] total incremental KPI of one channel over all weeks (KPI units): its
    own activity removed and the change propagated through `graph` (default
    the model's thresholded graph)."""
    mspec, params, statics = fitted.model, fitted.params, fitted.statics
    x, z = fitted.batch.x, fitted.batch.z
    w = jnp.asarray(fitted.graph if graph is None else graph, jnp.float32)
    ones = jnp.ones(x.shape[2], jnp.float32)
    base = plan_prediction(mspec, params, x, z, statics, w, ones)
    off = plan_prediction(mspec, params, x, z, statics, w, ones.at[channel].set(0.0))
    return np.asarray(jnp.sum(base - off, axis=1)) * np.asarray(fitted.kpi_mean)
