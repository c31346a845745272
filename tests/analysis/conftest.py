"""A tiny fitted-looking problem for the decision analyses: distinct channel
effects, one graph edge (channel 0 drives channel 2) and spend = activity ×
a per-channel price."""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.analysis.effects import incremental_effects
from dcmmm.model.mmm import inverse_softplus
from tests.fixtures import tiny_problem

PRICES = (2.0, 5.0, 1.0)


class Problem(NamedTuple):
    spec: object
    params: dict
    x: jnp.ndarray  # [R, T, C] scaled activity
    z: jnp.ndarray  # [R, T, K]
    statics: object
    w: np.ndarray  # [C, C]
    kpi_mean: np.ndarray  # [R]
    spend: np.ndarray  # [R, T, C] money
    names: list

    @property
    def model_args(self):
        """(spec, params, x, z, statics, w, kpi_mean): the leading arguments of the analyses."""
        return self.spec, self.params, self.x, self.z, self.statics, self.w, self.kpi_mean


def make_problem(n_channels=3, betas=(0.3, 0.15, 0.2), edge=0.4, n_weeks=40) -> Problem:
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
    return Problem(spec, params, batch.x, batch.z, statics, w, kpi_mean, spend, names)


def with_betas(problem: Problem, betas) -> Problem:
    """The same problem with other channel effects β (same shapes: compiled code is reused)."""
    shared = dict(problem.params["shared"])
    shared["beta"] = jnp.asarray([inverse_softplus(b) for b in betas], jnp.float32)
    return problem._replace(params={"shared": shared, "region": problem.params["region"]})


@pytest.fixture(scope="session")
def problem() -> Problem:
    return make_problem()


@pytest.fixture(scope="session")
def effects(problem):
    """`incremental_effects` of the problem, over all weeks."""
    return incremental_effects(*problem.model_args)
