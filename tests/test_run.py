"""Config composition, a tiny end-to-end run, and bad input through train.py."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcmmm.errors import ConfigError
from dcmmm.run import main as run_main

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
GROUPS = ["data", "model", "optim", "train", "mesh", "budget", "calibration", "priors", "evidence",
          "refresh", "validate"]
TINY = ["data.n_regions=4", "data.n_weeks=60", "train.max_steps=2", "train.steps_per_call=1",
        "model.dynamics.hidden=2", "train.progress=false", "train.refit_steps=1",
        "evidence.steps=0",  # the ROI profile is tested in tests/test_evidence.py
        "model.ensemble_size=1"]  # one fit (the default is an ensemble): tests/test_ensemble.py


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_composes(group):
    for option in _options(group):
        overrides = [f"{group}={option}"]
        if group == "data" and option == "csv":
            overrides += ["data.path=x.csv", "data.kpi=y", "data.channels=[a]"]
        cfg = _compose(overrides)
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = _compose([f"+experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_two_step_end_to_end(tmp_path):
    cfg = OmegaConf.to_container(_compose(TINY), resolve=True)
    metrics = run_main(cfg, tmp_path)
    for name in ["metrics.json", "predictions.csv", "decomposition.csv", "run_info.json",
                 "scalers.json", "channels.csv", "dag.csv"]:
        assert (tmp_path / name).exists(), name
    assert metrics["steps"] == 3  # 2 steps, then 1 refit step on all training weeks
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for split in ("train", "validation", "holdout"):
        assert set(saved[split]) == {"r2", "rmse", "mape", "scaled_rmse", "median_region_r2"}
    assert set(saved["naive_holdout"]) == {"last_value", "region_mean", "seasonal_naive"}
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert list(pred.columns) == ["region", "date", "split", "actual", "predicted"]
    assert len(pred) == 4 * 60 and pred["predicted"].notna().all()
    assert set(pred["split"]) == {"train", "validation", "holdout"}
    decomp = pd.read_csv(tmp_path / "decomposition.csv")
    parts = decomp.drop(columns=["region", "date", "predicted"]).sum(axis=1)
    np.testing.assert_allclose(parts, decomp["predicted"], rtol=1e-9)
    np.testing.assert_allclose(decomp["predicted"], pred["predicted"], rtol=1e-5)
    import orbax.checkpoint as ocp

    with ocp.CheckpointManager(tmp_path / "checkpoints") as manager:
        assert manager.latest_step() == 3
        saved_state = manager.restore(3)
    assert int(saved_state["state"]["step"]) == 1  # the refit phase's own step counter
    assert bool(saved_state["final"]) and int(saved_state["phase"]) == 2
    assert set(saved_state["state"]) >= {"params", "opt_state", "alpha", "rho", "key", "schedule"}
    info = json.loads((tmp_path / "run_info.json").read_text())
    with pytest.raises(ConfigError, match="already holds a finished run"):
        run_main(cfg, tmp_path)  # a finished run is never silently overwritten
    assert info["seed"] == 0 and len(info["data_sha256"]) == 64 and info["versions"]["jax"]


def test_calibrated_run_writes_its_lift_tests(tmp_path):
    lifts = pd.DataFrame({"channel": ["tv", "search"], "region": ["", "r001"],
                          "start": ["2022-03-07", "2022-04-04"], "end": ["2022-04-25", "2022-05-02"],
                          "lift": [5000.0, 300.0], "lift_se": [500.0, 100.0]})
    lifts.to_csv(tmp_path / "lifts.csv", index=False)
    cfg = OmegaConf.to_container(_compose([*TINY, f"calibration.path={tmp_path / 'lifts.csv'}"]),
                                 resolve=True)
    run_main(cfg, tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "calibration.csv", keep_default_na=False)
    assert list(table.columns) == ["channel", "region", "start", "end", "measure_end", "lift",
                                   "lift_se", "model_lift", "z"]
    assert list(table["region"]) == ["", "r001"] and list(table["end"]) == ["2022-04-25", "2022-05-02"]
    assert list(table["measure_end"]) == list(table["end"])  # no cool-down given
    assert np.isfinite(table["model_lift"].astype(float)).all()
    bad = lifts.assign(channel=["tv", "radioo"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    proc = _train([*TINY, f"calibration.path={tmp_path / 'bad.csv'}",
                   f"hydra.run.dir={tmp_path / 'bad_run'}"], tmp_path)
    assert proc.returncode == 2 and "radioo" in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_with_roi_priors_writes_them_beside_the_fitted_roi(tmp_path):
    pd.DataFrame({"channel": ["tv", "search"], "roi": [2.0, 0.5], "roi_sd": [0.2, 0.1]}).to_csv(
        tmp_path / "priors.csv", index=False)
    cfg = OmegaConf.to_container(_compose([*TINY, f"priors.path={tmp_path / 'priors.csv'}"]),
                                 resolve=True)
    run_main(cfg, tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "priors.csv")
    assert list(table.columns) == ["channel", "prior_roi", "prior_sd", "roi", "z"]
    assert list(table["channel"]) == ["tv", "search"]
    np.testing.assert_allclose(table["prior_roi"], [2.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(table["prior_sd"], [0.2, 0.1], rtol=1e-6)
    channels = pd.read_csv(tmp_path / "run" / "channels.csv").set_index("channel")
    np.testing.assert_allclose(table["roi"], channels.loc[["tv", "search"], "roi"])
    np.testing.assert_allclose(table["z"], (table["roi"] - 2.0 * np.array([1, 0.25])) /
                               table["prior_sd"])


@pytest.mark.parametrize("rows, words", [
    ({"channel": ["tv", "radioo"], "roi": [1.0, 1.0], "roi_sd": [0.1, 0.1]}, "radioo"),
    ({"channel": ["tv"], "roi": [1.0], "roi_sd": [-0.5]}, "roi_sd must be > 0, got -0.5"),
    ({"channel": ["tv"], "mean": [1.0]}, "needs the columns channel and either roi, roi_sd"),
])
def test_bad_priors_through_train_py_are_one_line_and_exit_2(tmp_path, rows, words):
    pd.DataFrame(rows).to_csv(tmp_path / "bad.csv", index=False)
    proc = _train([*TINY, f"priors.path={tmp_path / 'bad.csv'}",
                   f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("dcmmm: error: prior file") and words in lines[0], lines[0]


def _train(args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_bad_input_one_line_exit_2(tmp_path):
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=60, freq="W-MON"),
                          "sales": 100.0, "tv": 1.0})
    frame.loc[3, "tv"] = -3.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    proc = _train(["data=csv", f"data.path={tmp_path / 'bad.csv'}", "data.kpi=sales",
                   "data.channels=[tv]", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("dcmmm: error:") and "tv" in lines[-1] and "-3" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_missing_required_key_exit_2(tmp_path):
    proc = _train(["data=csv", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "data.path" in proc.stderr
