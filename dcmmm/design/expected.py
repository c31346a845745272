"""What the fitted model expects a go-dark test to show, per region and per member.

Regions do not interact in the model (each region's prediction depends on
its own activity), so the KPI a set of regions loses when the channel goes
dark there is the sum of each region's loss when it goes dark everywhere:
one counterfactual per (channel, window, member) gives every group's lift.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from dcmmm.analysis.plans import plan_prediction
from dcmmm.fitted import Fitted
from dcmmm.model.mmm import adstock_kernel

CARRY_SHARE = 0.95  # a cool-down measures the carry-over until this share of the kernel's weight


def cooldown_weeks(fitted: Fitted, channel: int) -> int:
    """Weeks after the spend comes back until the fitted adstock kernel of
    `channel` has delivered CARRY_SHARE of its weight (at least 1)."""
    kernel = np.asarray(adstock_kernel(fitted.model, fitted.params["shared"]))[channel]
    reached = np.cumsum(kernel) / kernel.sum()
    return max(int(np.argmax(reached >= CARRY_SHARE - 1e-9)), 1)


def region_lifts(fitted: Fitted, channel: int, off: np.ndarray, measured: np.ndarray
                 ) -> np.ndarray:
    """[R] KPI each region loses over the `measured` weeks (boolean [T]) when
    `channel`'s own activity is switched off in the `off` weeks (boolean [T]),
    the change flowing through the thresholded graph (KPI units)."""
    x, z, statics = fitted.batch.x, fitted.batch.z, fitted.statics
    w = jnp.asarray(fitted.graph, jnp.float32)
    dark = jnp.ones(x.shape[2], jnp.float32).at[channel].set(0.0)
    lost = np.asarray(_lost(fitted.model, fitted.params, x, z, statics, w, dark,
                            jnp.asarray(off, jnp.float32)), np.float64) * fitted.kpi_mean[:, None]
    return lost[:, np.asarray(measured, bool)].sum(axis=1)


@partial(jax.jit, static_argnames="mspec")
def _lost(mspec, params, x, z, statics, w, multipliers, off):
    """[R, T] scaled prediction as fitted minus with `multipliers` in the `off` weeks
    (one compiled program: `best_window` evaluates it for every candidate window)."""
    base = plan_prediction(mspec, params, x, z, statics, w, jnp.ones_like(multipliers))
    return base - plan_prediction(mspec, params, x, z, statics, w, multipliers, off)


def member_region_lifts(fitted: Fitted, channel: int, off: np.ndarray, measured: np.ndarray
                        ) -> np.ndarray:
    """[E, R] `region_lifts` under each ensemble member (member 0 = the fit;
    E = 1 without an ensemble)."""
    members = fitted.members() or [fitted]
    return np.stack([region_lifts(m, channel, off, measured) for m in members])


def windows(n_weeks: int, n_off: int, n_measured: int, recent: int) -> list[int]:
    """First weeks of the candidate test windows among the last `recent`
    weeks: the test's `n_measured` weeks must end inside the data."""
    last = n_weeks - n_measured
    if last < 0:
        return []
    return list(range(max(0, n_weeks - recent - n_measured + 1), last + 1))


def week_masks(n_weeks: int, start: int, n_off: int, n_measured: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """(off weeks, measured weeks) boolean [T] of a test starting at `start`."""
    week = np.arange(n_weeks)
    return ((week >= start) & (week < start + n_off),
            (week >= start) & (week < start + n_measured))


def best_window(fitted: Fitted, channel: int, n_off: int, n_measured: int, recent: int = 52
                ) -> int:
    """The first week of the candidate window (`windows`) in which the fitted
    model expects switching `channel` off to lose the most KPI over all
    regions: where the channel is on air at its usual level."""
    candidates = windows(fitted.panel.n_weeks, n_off, n_measured, recent)
    if not candidates:
        raise ValueError(f"a test of {n_measured} measured weeks does not fit in the "
                         f"{fitted.panel.n_weeks} weeks of data")
    lifts = [region_lifts(fitted, channel, *week_masks(fitted.panel.n_weeks, s, n_off,
                                                       n_measured)).sum() for s in candidates]
    return candidates[int(np.argmax(lifts))]
