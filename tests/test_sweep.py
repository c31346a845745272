"""Hydra multirun sweeps through the joblib and submitit_local launchers, and
scripts/collect_sweep.py on their output."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests import compile_cache
from tests.test_collect_sweep import collect_cli
from tests.test_run import ROOT, TINY

SWEEP = ["+experiment=smoke", *TINY, "seed=0,1"]


def _multirun(args, sweep_dir):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *SWEEP, *args,
                           f"hydra.sweep.dir={sweep_dir}"], capture_output=True, text=True,
                          cwd=sweep_dir.parent, timeout=900,
                          env=compile_cache.without())  # the jobs run side by side
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def joblib_run(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("joblib") / "sweep"
    return sweep_dir, _multirun(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], sweep_dir)


@pytest.fixture(scope="module")
def joblib_sweep(joblib_run):
    return joblib_run[0]


def _assert_two_finished_jobs(sweep_dir):
    for job, seed in (("0", 0), ("1", 1)):
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
        assert metrics["steps"] == 3 and metrics["holdout"]["scaled_rmse"] > 0
        overrides = yaml.safe_load((sweep_dir / job / ".hydra" / "overrides.yaml").read_text())
        assert f"seed={seed}" in overrides
    assert not (sweep_dir / "2").exists()


def test_joblib_sweep_runs_every_job(joblib_sweep):
    _assert_two_finished_jobs(joblib_sweep)


def _assert_one_line_per_job(sweep_dir, stdout):
    """The sweep's closing summary: one line per job (its seed, holdout and
    report) and the collected table, written to <sweep dir>/sweep.csv."""
    lines = stdout[stdout.index("dcmmm: 2 jobs"):].splitlines()
    assert "dcmmm: what this run found" not in stdout  # no single-run summary per job
    for job, seed in (("0", 0), ("1", 1)):
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
        line, = [x for x in lines if x.startswith(f"job {job} (seed={seed}): ")]
        assert f"holdout {metrics['holdout']['scaled_rmse']:.3f}" in line
        assert line.endswith(str(sweep_dir / job / "report.html"))
    assert lines[-1].startswith(f"Collected table: {sweep_dir / 'sweep.csv'}")
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert list(table["seed"]) == [0, 1] and set(table["status"]) == {"done"}


def test_joblib_sweep_ends_with_one_line_per_job(joblib_run):
    sweep_dir, proc = joblib_run
    _assert_one_line_per_job(sweep_dir, proc.stdout)


def test_submitit_local_sweep_runs_every_job(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = _multirun(["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=15"],
                     sweep_dir)
    _assert_two_finished_jobs(sweep_dir)
    assert (sweep_dir / ".submitit").is_dir()  # submitit's own job logs
    _assert_one_line_per_job(sweep_dir, proc.stdout)


def test_collect_sweep_one_row_per_job(joblib_sweep, tmp_path):
    table, _ = collect_cli(joblib_sweep, tmp_path / "sweep.csv")
    assert list(table["job"]) == [0, 1] and list(table["seed"]) == [0, 1]
    assert set(table["status"]) == {"done"} and (table["experiment"] == "smoke").all()
    for col in ("holdout.scaled_rmse", "holdout.r2", "validation.scaled_rmse", "validation.r2",
                "naive_holdout.seasonal_naive.scaled_rmse", "fit_seconds"):
        assert col in table.columns, col
    for _, row in table.iterrows():
        metrics = json.loads((joblib_sweep / str(row["job"]) / "metrics.json").read_text())
        assert row["holdout.scaled_rmse"] == pytest.approx(metrics["holdout"]["scaled_rmse"])
        assert row["validation.r2"] == pytest.approx(metrics["validation"]["r2"])


def test_collect_sweep_marks_unfinished_jobs_and_rejects_empty_dirs(tmp_path):
    job = tmp_path / "sweep" / "0" / ".hydra"
    job.mkdir(parents=True)
    (job / "overrides.yaml").write_text("- seed=3\n")
    from scripts import collect_sweep

    table = collect_sweep.collect(tmp_path / "sweep")
    assert table.to_dict("records") == [{"job": "0", "status": "unfinished", "seed": "3"}]
    assert collect_sweep.main([str(tmp_path / "nothing")]) == 2


def test_slurm_launcher_config_composes():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.timeout_min == 60 and launcher.tasks_per_node == 1
