"""A tiny fitted model for the decision analyses: distinct channel effects,
one graph edge (channel 0 drives channel 2) and spend = activity × a
per-channel price."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.effects import incremental_effects
from dcmmm.fitted import Fitted
from dcmmm.model.mmm import inverse_softplus
from tests.fixtures import fitted_of, tiny_problem

PRICES = (2.0, 5.0, 1.0)


def make_problem(n_channels=3, betas=(0.3, 0.15, 0.2), edge=0.4, n_weeks=40) -> Fitted:
    spec, params, batch, statics = tiny_problem(n_channels=n_channels, n_weeks=n_weeks)
    shared = dict(params["shared"])
    shared["beta"] = jnp.asarray([inverse_softplus(b) for b in betas[:n_channels]], jnp.float32)
    params = {"shared": shared, "region": params["region"]}
    w = np.zeros((n_channels, n_channels))
    if edge and n_channels > 2:
        w[0, 2] = edge
    kpi_mean = np.array([100.0, 250.0, 60.0])[: batch.x.shape[0]]
    spend = np.asarray(batch.x, np.float64) * np.asarray(PRICES[:n_channels])
    names = ["tv", "radio", "search"][:n_channels]
    return fitted_of(spec, params, batch, statics, w, kpi_mean, spend, names)


def with_betas(fitted: Fitted, betas) -> Fitted:
    """The same model with other channel effects β (same shapes: compiled code is reused)."""
    shared = dict(fitted.params["shared"])
    shared["beta"] = jnp.asarray([inverse_softplus(b) for b in betas], jnp.float32)
    return dataclasses.replace(fitted, params={"shared": shared, "region": fitted.params["region"]})


def with_spend(fitted: Fitted, spend) -> Fitted:
    """The same model with other spend [R, T, C] (money), or none."""
    names = fitted.panel.channel_columns
    panel = dataclasses.replace(fitted.panel, spend=spend, spend_columns=None if spend is None
                                else tuple(f"{n}_spend" for n in names))
    return dataclasses.replace(fitted, panel=panel)


def arrays(fitted: Fitted) -> tuple:
    """(model spec, params, x, z, statics, graph, kpi_mean): the array-level
    arguments of `dcmmm.analysis.plans` and the budget objective, the oracles."""
    return (fitted.model, fitted.params, fitted.batch.x, fitted.batch.z, fitted.statics,
            fitted.graph, fitted.kpi_mean)


@pytest.fixture(scope="session")
def problem() -> Fitted:
    return make_problem()


@pytest.fixture(scope="session")
def effects(problem):
    """`incremental_effects` of the problem, over all weeks."""
    return incremental_effects(problem)
