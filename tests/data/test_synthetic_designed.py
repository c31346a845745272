"""The generator runs a designed test (design.py's design.csv) in the true world."""

import numpy as np
import pandas as pd
import pytest

from dcmmm.data import synthetic
from dcmmm.errors import ConfigError


@pytest.fixture(scope="module")
def world():
    return synthetic.simulate(synthetic.scenario("geo"), seed=0)[2]


def row(world, channel, regions, start, weeks, post, se):
    dates = [d.strftime("%Y-%m-%d") for d in world.dates]
    return {"channel": channel, "region": ";".join(regions), "start": dates[start],
            "end": dates[start + weeks - 1], "measure_end": dates[start + weeks + post - 1],
            "lift": np.nan, "lift_se": se}


def test_a_designed_test_loses_what_the_true_world_loses_in_its_regions(world):
    regions = list(world.regions[:3])
    design = pd.DataFrame([row(world, "social", regions, 40, 8, 4, 0.0),
                           row(world, "tv", [], 60, 6, 0, 0.0)])
    done = synthetic.designed_lift_tests(world, design)
    # the same interventions through the generator's own lift tests, region by region
    per_region = synthetic.lift_tests(world, ["social"], 40, 8, rel_se=0.0, post_weeks=4,
                                      regions=regions)
    assert done["true_lift"][0] == pytest.approx(per_region["true_lift"].sum(), rel=1e-9)
    everywhere = synthetic.lift_tests(world, ["tv"], 60, 6, rel_se=0.0)
    assert done["true_lift"][1] == pytest.approx(everywhere["true_lift"][0], rel=1e-9)
    assert done["true_lift"][0] > 0 and (done["lift"] == done["true_lift"]).all()  # se 0
    assert list(done.columns[:7]) == list(design.columns)


def test_the_measurement_noise_is_the_designs_standard_error(world):
    design = pd.DataFrame([row(world, "search", list(world.regions[:2]), 30, 4, 0, 500.0)] * 400)
    done = synthetic.designed_lift_tests(world, design, seed=3)
    noise = done["lift"] - done["true_lift"]
    assert noise.std() == pytest.approx(500.0, rel=0.1)
    assert abs(noise.mean()) < 4 * 500.0 / np.sqrt(400)


def test_each_draw_is_the_same_tests_with_fresh_noise(world):
    design = pd.DataFrame([row(world, "search", list(world.regions[:2]), 30, 4, 0, 500.0)] * 200)
    first = synthetic.designed_lift_tests(world, design, seed=3)
    again = synthetic.designed_lift_tests(world, design, seed=3, draw=0)
    other = synthetic.designed_lift_tests(world, design, seed=3, draw=1)
    assert (first["lift"] == again["lift"]).all()  # draw 0 is the seed's own stream
    assert (other["true_lift"] == first["true_lift"]).all()
    a, b = first["lift"] - first["true_lift"], other["lift"] - other["true_lift"]
    assert b.std() == pytest.approx(500.0, rel=0.15)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.25  # independent draws, not the same one


def test_a_design_outside_the_world_is_one_clear_error(world):
    late = row(world, "tv", [], 60, 6, 0, 1.0) | {"start": "2030-01-07"}
    with pytest.raises(ConfigError, match="not all weeks of the world"):
        synthetic.designed_lift_tests(world, pd.DataFrame([late]))
    with pytest.raises(ConfigError, match="'radioo' is not one of"):
        synthetic.designed_lift_tests(world, pd.DataFrame([row(world, "radioo", [], 6, 2, 0, 1)]))
