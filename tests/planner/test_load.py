"""The bounded load test (scripts.planner_load) on the tiny run: 5 concurrent
sessions moving sliders over Streamlit's own protocol, every move answered
within 1 s, no error on any page or in the server's log."""

import pytest

from scripts.planner_load import load_test

# one worker trains the tiny run (conftest) for all of tests/planner under -n 2
pytestmark = pytest.mark.xdist_group("planner")


@pytest.mark.slow
def test_five_sessions_each_answered_within_a_second(run_dir):
    out = load_test(run_dir, sessions=5, moves=6, limit=1.0)
    assert out["answered"] == 30
    assert not out["errors"] and not out["server_failed"]
    assert out["max_s"] <= 1.0, out
