"""A tiny finished run with spend and a 3-member ensemble (the page's intervals),
trained once per session, and an AppTest of the planner page on it."""

import json

import pytest
from omegaconf import OmegaConf

from dcmmm.planner.session import ENV
from dcmmm.run import main as run_main
from tests.test_run import ROOT, TINY, _compose

APP = ROOT / "dcmmm" / "planner" / "app.py"
MEMBERS = 3


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("planner_run") / "run"
    overrides = [*TINY, "model.graph.resamples=0", f"model.ensemble_size={MEMBERS}"]
    run_main(OmegaConf.to_container(_compose(overrides), resolve=True), run_dir)
    return run_dir


@pytest.fixture
def app(run_dir, monkeypatch):
    """The page on the tiny run, run once (its first view)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ENV, json.dumps({"run": str(run_dir), "plan": {"weeks": 8}}))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at
