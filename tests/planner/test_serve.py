"""The page's server command: private and offline by default, the run and its
settings checked before it starts, bad input one line with exit code 2."""

import json
import subprocess
import sys

import pytest

from dcmmm.errors import ConfigError
from dcmmm.planner.serve import command
from dcmmm.planner.session import ENV, page_config
from tests.test_run import ROOT

# one worker trains the tiny run (conftest) for all of tests/planner under -n 2
pytestmark = pytest.mark.xdist_group("planner")


def _option(argv, name):
    return argv[argv.index(name) + 1]


def test_the_server_is_private_and_offline(run_dir):
    argv, env = command({"run": str(run_dir)})
    assert _option(argv, "--server.address") == "127.0.0.1"
    assert _option(argv, "--server.port") == "8501"
    assert _option(argv, "--server.headless") == "true"
    assert _option(argv, "--browser.gatherUsageStats") == "false"
    assert _option(argv, "--client.showErrorDetails") == "none"
    assert _option(argv, "--server.maxUploadSize") == "5"
    assert _option(argv, "--server.fileWatcherType") == "none"
    cfg = page_config(env)
    assert cfg["run"] == str(run_dir.resolve())  # fixed at start, absolute
    argv, env = command({"run": str(run_dir), "page": {"host": "0.0.0.0", "port": 8600,
                                                       "max_upload_mb": 2}})
    assert _option(argv, "--server.address") == "0.0.0.0" and _option(argv, "--server.port") \
        == "8600" and _option(argv, "--server.maxUploadSize") == "2"
    assert json.loads(env[ENV])["page"]["max_upload_mb"] == 2


@pytest.mark.parametrize("cfg, words", [
    ({"run": "/no/such/run"}, "is not a directory"),
    ({"run": ".", "page": {"port": 0}}, "page.port must be an integer in [1, 65535]"),
    ({"run": ".", "plan": {"scenario": "best"}}, "plan.scenario must be one of"),
])
def test_bad_settings_are_refused_before_starting(cfg, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        command(cfg)


def test_plan_py_serve_with_a_bad_run_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "plan.py"), f"run={tmp_path / 'nowhere'}",
                           "serve=true", f"hydra.run.dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("dcmmm: error: run ")
    assert "Traceback" not in proc.stderr
