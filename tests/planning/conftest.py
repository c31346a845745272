"""A tiny fitted model with spend and one graph edge (tests/analysis/conftest.py),
60 weeks long so that a plan can copy the weeks a year earlier, and its planner."""

import numpy as np
import pytest

from dcmmm.data.future import last_year
from dcmmm.planning.planner import Planner
from tests.analysis.conftest import make_problem

WEEKS = 6  # plan weeks


@pytest.fixture(scope="session")
def fitted():
    return make_problem(n_weeks=60)


@pytest.fixture(scope="session")
def future(fitted):
    return last_year(fitted.panel, WEEKS, None, np.ones(fitted.panel.n_channels))


@pytest.fixture(scope="session")
def planner(fitted, future):
    return Planner(fitted, future)
