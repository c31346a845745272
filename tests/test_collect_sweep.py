"""scripts/collect_sweep.py on a fake multirun directory (no fitting): backtest
jobs are ranked on the folds before the holdout only, metrics.json-only jobs
and unfinished jobs still get a row."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from scripts import collect_sweep
from tests.test_run import ROOT

MODELS = ["dcmmm", "last_value", "region_mean", "seasonal_naive"]


def _job(root, name, overrides, config=None):
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if config is not None:
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return job


def _backtest(job, scores, origins=("70", "83", "96")):
    """backtest.csv with scaled_rmse scores[fold][model] (and its mean rows)."""
    rows = [{"fold": str(k), "origin": origins[k], "model": m, "r2": 0.9, "rmse": 1.0,
             "mape": 0.1, "scaled_rmse": s[m], "median_region_r2": -1.0}
            for k, s in enumerate(scores) for m in MODELS]
    frame = pd.DataFrame(rows)
    mean = frame.groupby("model", sort=False)[["r2", "rmse", "mape", "scaled_rmse",
                                                "median_region_r2"]].mean().reset_index()
    mean.insert(0, "origin", "")
    mean.insert(0, "fold", "mean")
    pd.concat([frame, mean])[frame.columns].to_csv(job / "backtest.csv", index=False)
    holdout = scores[-1]
    (job / "metrics.json").write_text(json.dumps({
        "validation": {"scaled_rmse": 0.05, "r2": 0.99},
        "holdout": {"scaled_rmse": holdout["dcmmm"], "r2": 0.98},
        "naive_holdout": {m: {"scaled_rmse": holdout[m]} for m in MODELS[1:]},
        "fit_seconds": 12.5, "backtest": {"folds": len(scores)}}))


def _s(dcmmm, last=0.15, mean=0.2, seasonal=0.2):
    return {"dcmmm": dcmmm, "last_value": last, "region_mean": mean, "seasonal_naive": seasonal}


BT = ["+experiment=dma_panel", "validate=backtest"]
CONFIG = {"validate": {"mode": "backtest", "n_folds": 3, "step_weeks": 13, "horizon_weeks": 13}}


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "multirun" / "select"
    # job a/0: best on the holdout fold, worst on the selection folds
    _backtest(_job(root, "a/0", [*BT, "model.baseline.knot_weeks=2"], CONFIG),
              [_s(0.19), _s(0.18), _s(0.10)])
    # job a/1: best on the selection folds (the chosen one)
    _backtest(_job(root, "a/1", [*BT, "model.baseline.knot_weeks=8"], CONFIG),
              [_s(0.13), _s(0.16), _s(0.17)])
    _backtest(_job(root, "b/0", [*BT, "model.dynamics.enabled=false"], CONFIG),
              [_s(0.16), _s(0.17), _s(0.16)])
    _job(root, "b/1", [*BT, "model.dynamics.hidden=16"], CONFIG)  # unfinished
    return root


def test_backtest_jobs_ranked_on_folds_before_the_holdout(sweep):
    table = collect_sweep.collect(sweep)
    assert list(table["job"]) == ["a/1", "b/0", "a/0", "b/1"]
    assert list(table["status"]) == ["done", "done", "done", "unfinished"]
    best = table.iloc[0]
    assert best["model.baseline.knot_weeks"] == "8" and best["experiment"] == "dma_panel"
    assert best["selection_folds"] == "0,1"
    assert best["selection_score"] == pytest.approx(0.145)
    assert best["holdout_fold.dcmmm.scaled_rmse"] == pytest.approx(0.17)
    assert best["select.last_value.scaled_rmse"] == pytest.approx(0.15)
    assert best["holdout_fold.seasonal_naive.scaled_rmse"] == pytest.approx(0.2)
    assert best["fold1.dcmmm.scaled_rmse"] == pytest.approx(0.16)
    assert best["mean.dcmmm.scaled_rmse"] == pytest.approx((0.13 + 0.16 + 0.17) / 3)
    assert bool(best["target_selection"]) and not bool(best["target_all"])  # 0.153 > 0.15
    assert not bool(table.iloc[1]["target_selection"])  # b/0: 0.165 vs last value 0.15
    assert best["holdout.scaled_rmse"] == pytest.approx(0.17)  # metrics.json, flattened
    assert best["fit_seconds"] == 12.5
    assert pd.isna(table.iloc[-1]["selection_score"])
    assert collect_sweep.chosen(table)["job"] == "a/1"


def test_selection_folds_follow_the_fold_spacing():
    assert collect_sweep.selection_folds(3, 13, 13) == [0, 1]
    assert collect_sweep.selection_folds(3, 8, 13) == [0]   # fold 1 overlaps the holdout
    assert collect_sweep.selection_folds(4, 13, 13) == [0, 1, 2]
    assert collect_sweep.selection_folds(1, 13, 13) == []


def collect_cli(sweep_dir, out):
    """scripts/collect_sweep.py on `sweep_dir` twice: with `--out` (returns the table
    and stderr) and to stdout (checks it is the same CSV)."""
    script = [sys.executable, "-m", "scripts.collect_sweep", str(sweep_dir)]
    proc = subprocess.run([*script, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    stdout = subprocess.run(script, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert stdout.splitlines()[0] == ",".join(table.columns)
    return table, proc.stderr


def test_cli_writes_sorted_csv_and_prints_the_choice(sweep, tmp_path):
    table, stderr = collect_cli(sweep, tmp_path / "table.csv")
    assert list(table["job"]) == ["a/1", "b/0", "a/0", "b/1"]
    assert "chosen: job a/1" in stderr and "model.baseline.knot_weeks=8" in stderr


def test_metrics_only_jobs_keep_job_order_and_score_on_validation(tmp_path):
    root = tmp_path / "sweep"
    for num, (seed, val) in enumerate([(0, 0.07), (1, 0.05), (2, 0.06)]):
        job = _job(root, str(num), [f"seed={seed}"])
        (job / "metrics.json").write_text(json.dumps({
            "validation": {"scaled_rmse": val, "r2": 0.9}, "holdout": {"scaled_rmse": 0.2},
            "fit_seconds": 3.0}))
    table = collect_sweep.collect(root)
    assert list(table["job"]) == ["0", "1", "2"] and list(table["seed"]) == ["0", "1", "2"]
    assert list(table["selection_score"]) == [0.07, 0.05, 0.06]
    assert table.columns[:4].tolist() == ["job", "status", "seed", "selection_score"]
    assert "holdout.scaled_rmse" in table.columns and "holdout_fold.dcmmm.scaled_rmse" \
        not in table.columns
    assert collect_sweep.chosen(table)["job"] == "1"
    assert list(collect_sweep.collect(root, sort=True)["job"]) == ["1", "2", "0"]


def test_unfinished_only_and_empty_dirs(tmp_path):
    _job(tmp_path / "sweep", "0", ["seed=3"])
    table = collect_sweep.collect(tmp_path / "sweep")
    assert table.to_dict("records") == [{"job": "0", "status": "unfinished", "seed": "3"}]
    assert collect_sweep.chosen(table) is None
    assert collect_sweep.main([str(tmp_path / "nothing")]) == 2


def test_mean_over_seeds_per_configuration(tmp_path):
    root = tmp_path / "sweep"
    for name, (kw, seed, dcmmm) in {"0": ("2", 0, 0.17), "1": ("2", 1, 0.18),
                                     "2": ("4", 0, 0.16), "3": ("4", 1, 0.20),
                                     "4": ("8", 0, 0.10)}.items():
        config = {**CONFIG, "seed": seed, "model": {"baseline": {"knot_weeks": int(kw)}}}
        _backtest(_job(root, name, [*BT, f"model.baseline.knot_weeks={kw}", f"seed={seed}"],
                       config), [_s(dcmmm), _s(dcmmm), _s(0.15)])
    table = collect_sweep.collect(root)
    assert table.iloc[0]["job"] == "4"  # the best single job
    grouped = collect_sweep.by_config(table, table.attrs["overrides"])
    assert grouped["config"].str.contains("knot_weeks=2").iloc[0]  # 2 seeds, mean 0.175
    assert grouped["seeds"].tolist() == [2, 2, 1]
    assert grouped["selection_score"].tolist() == pytest.approx([0.175, 0.18, 0.10])
    assert collect_sweep.by_config(collect_sweep.collect(root / "0"), []) is None


def test_same_composed_config_is_one_configuration(tmp_path):
    root = tmp_path / "sweep"
    for name, overrides, seed, dcmmm in [("0", ["model.x=4"], 0, 0.17), ("1", [], 1, 0.19)]:
        config = {**CONFIG, "seed": seed, "model": {"x": 4}, "train": {"progress": False}}
        _backtest(_job(root, name, [*BT, *overrides, f"seed={seed}"], config),
                  [_s(dcmmm), _s(dcmmm), _s(0.15)])
    table = collect_sweep.collect(root)
    grouped = collect_sweep.by_config(table, table.attrs["overrides"])
    assert grouped["seeds"].tolist() == [2]
    assert grouped["selection_score"].tolist() == pytest.approx([0.18])
