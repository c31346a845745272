"""plan.py end to end on a tiny finished run: its files, the run directory left
alone, the Python API equal to the CLI, a plan file, a budget sweep, and bad
input as one line with exit code 2."""

import dataclasses
import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import dcmmm
from dcmmm.data import synthetic as syn
from dcmmm.run import main as run_main
from tests.test_run import ROOT, TINY, _compose

WEEKLY = ["date", "region", "channel", "spend", "activity"]
PLAN_COLUMNS = ["channel", "spend_given", "spend_planned", "multiplier", "at_bound",
                "incremental_kpi_given", "incremental_kpi_planned", "roi", "mroi"]


def _train(run_dir, *overrides):
    overrides = [*TINY, "model.graph.resamples=0", *overrides]
    run_main(OmegaConf.to_container(_compose(overrides), resolve=True), run_dir)
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def plan_file(run_dir, tmp_path_factory):
    """The 8 weeks after the tiny run's panel, from the generator's future mode."""
    config = dataclasses.replace(syn.scenario("geo"), n_regions=4, n_weeks=60)
    _, _, world = syn.simulate(config, 0)
    path = tmp_path_factory.mktemp("plan_file") / "next_weeks.csv"
    syn.future_frame(world, 8).to_csv(path, index=False)
    return path


def _plan(args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "plan.py"), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def _leaves(node, prefix=""):
    """{path: value} of a JSON document's leaves."""
    if isinstance(node, dict):
        return {k: v for key, child in node.items() for k, v in _leaves(child, f"{prefix}{key}.").items()}
    if isinstance(node, list):
        return {k: v for i, child in enumerate(node) for k, v in _leaves(child, f"{prefix}{i}.").items()}
    return {prefix: node}


def _fingerprint(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_plan_py_writes_its_files_and_the_api_gives_the_same(run_dir, tmp_path):
    before = _fingerprint(run_dir)
    out = tmp_path / "plan"
    proc = _plan([f"run={run_dir}", f"hydra.run.dir={out}", "plan.weeks=10", "plan.upper=2.0"],
                 tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _fingerprint(run_dir) == before  # the run directory is never written
    # it ends with its summary: the plan's totals and a line for every channel
    assert "dcmmm: the plan" in proc.stdout and "plan.html" in proc.stdout
    table = pd.read_csv(out / "plan.csv")
    weekly = pd.read_csv(out / "plan_weekly.csv")
    frontier = pd.read_csv(out / "frontier.csv")
    summary = json.loads((out / "plan_summary.json").read_text())
    assert list(table.columns) == PLAN_COLUMNS and list(weekly.columns) == WEEKLY
    closing = proc.stdout[proc.stdout.index("dcmmm: the plan"):].splitlines()
    for channel in table["channel"]:
        assert any(line.split()[:1] == [channel] for line in closing), channel
    assert len(weekly) == 10 * 4 * 5 and len(frontier) == 16
    assert summary["plan_weeks"] == 10 and summary["scenario"] == "fixed"
    assert weekly["spend"].sum() == pytest.approx(summary["spend_planned"], rel=1e-9)
    assert summary["spend_planned"] == pytest.approx(summary["spend_given"], rel=1e-5)
    page = (out / "plan.html").read_text()
    assert page.count("<img") == 4 and "http" not in page.replace("http-equiv", "")

    result = dcmmm.plan(dcmmm.load_run(run_dir), weeks=10, upper=2.0)
    data = pd.read_csv(out / "plan_data.csv")
    for cli, api in ((table, result.table), (weekly, result.weekly), (frontier, result.frontier),
                     (data, result.data)):
        pd.testing.assert_frame_equal(cli, api, check_exact=False, rtol=1e-6, check_dtype=False)
    api = json.loads(json.dumps(dcmmm.rundir.clean(result.summary)))
    cli = _leaves({k: v for k, v in summary.items() if k != "run"})
    assert cli.keys() == _leaves(api).keys()
    for key, value in _leaves(api).items():
        assert cli[key] == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value)
    again = _plan([f"run={run_dir}", f"hydra.run.dir={out}"], tmp_path)
    assert again.returncode == 2 and "already holds a plan" in again.stderr
    # the planned weeks as a plan file: evaluated as they are, they bring what the plan said
    as_is = dcmmm.plan(dcmmm.load_run(run_dir), out / "plan_data.csv", scenario="as_is",
                       frontier=False)
    assert as_is.summary["spend_given"] == pytest.approx(summary["spend_planned"], rel=1e-9)
    assert as_is.summary["incremental_kpi_given"] == pytest.approx(
        summary["incremental_kpi_planned"], rel=1e-4)


def test_a_plan_file_and_a_budget_sweep(run_dir, plan_file, tmp_path):
    sweep = tmp_path / "sweep"
    proc = _plan(["-m", f"run={run_dir}", f"plan.path={plan_file}", "plan.by_region=true",
                  "plan.total=25000,40000", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(": fixed, spend ") == 2  # one line per job
    given = pd.read_csv(plan_file)
    spend = given[[c for c in given.columns if c.endswith("_spend")]].to_numpy().sum()
    for job, total in (("0", 25000.0), ("1", 40000.0)):
        summary = json.loads((sweep / job / "plan_summary.json").read_text())
        table = pd.read_csv(sweep / job / "plan.csv")
        assert summary["spend_given"] == pytest.approx(spend)
        assert summary["spend_planned"] == pytest.approx(total, rel=1e-5)
        assert list(table.columns[:2]) == ["region", "channel"] and len(table) == 4 * 5
        assert summary["first_week"] == given["date"].min()


def test_bad_input_is_one_line_and_exit_2(run_dir, plan_file, tmp_path):
    overlap = pd.read_csv(plan_file)
    overlap["date"] = (pd.to_datetime(overlap["date"]) - pd.Timedelta(weeks=3)).dt.strftime(
        "%Y-%m-%d")
    overlap.to_csv(tmp_path / "overlap.csv", index=False)
    negative = pd.read_csv(plan_file)
    negative.loc[7, "search_spend"] = -5.0
    negative.to_csv(tmp_path / "negative.csv", index=False)
    no_spend = tmp_path / "no_spend"  # what a run without spend says of itself
    no_spend.mkdir()
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["with_spend"] = False
    (no_spend / "config.json").write_text(json.dumps(config))
    cases = [
        ([f"run={no_spend}"], "planning needs spend columns"),
        ([f"plan.path={tmp_path / 'overlap.csv'}"], "the plan overlaps the data"),
        (["plan.hold=[tv,tvv]"], "plan.hold names unknown channel(s) ['tvv']"),
        ([f"plan.path={tmp_path / 'negative.csv'}"], "column 'search_spend' has negative value -5.0"),
        ([f"plan.path={plan_file}", "plan.total=1e9"],
         "plan.total = 1e+09 cannot be met within the bounds"),
        (["plan.scenario=target_roi"], "plan.scenario=target_roi needs plan.target_roi"),
        ([f"hydra.run.dir={run_dir / 'plans'}"], "is inside the run directory"),
    ]
    for i, (args, words) in enumerate(cases):
        if not args[0].startswith("run="):
            args = [f"run={run_dir}", *args]
        if not any(a.startswith("hydra.run.dir=") for a in args):
            args = [*args, f"hydra.run.dir={tmp_path / str(i)}"]
        proc = _plan(args, tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        assert lines[-1].startswith("dcmmm: error: ") and words in lines[-1], (args, lines[-1])
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / str(i) / "plan_summary.json").exists()
    assert np.isfinite(pd.read_csv(plan_file)["tv_spend"]).all()
