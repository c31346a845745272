"""Rolling-origin backtest: folds never see their future, vmapped folds equal
separate fits, configuration errors, and the end-to-end run."""

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import dcmmm
from dcmmm.backtest import fit_folds, fold_origins, prepare_folds, score_folds
from dcmmm.config import data_spec, run_spec, validate_spec
from dcmmm.data import synthetic
from dcmmm.data.panel import load_panel
from dcmmm.errors import ConfigError
from dcmmm.fitting import fit_panel
from dcmmm.run import main as run_main
from dcmmm.specs import ValidateSpec
from dcmmm.train.loop import fit
from dcmmm.train.replicas import fit_replicas, replica, replica_groups, stack
from tests.test_run import TINY, _compose

N_WEEKS = 72
OVERRIDES = [*TINY, f"data.n_weeks={N_WEEKS}", "train.max_steps=4", "train.steps_per_call=2",
             "train.refit_steps=2", "validate=backtest", "validate.step_weeks=6"]
VSPEC = ValidateSpec("backtest", 3, 6, 13)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def setting():
    cfg = OmegaConf.to_container(_compose(OVERRIDES), resolve=True)
    scen = dataclasses.replace(synthetic.scenario("geo"), n_regions=3, n_weeks=N_WEEKS)
    frame, _, _ = synthetic.simulate(scen, seed=0)
    dspec = data_spec(cfg, int(cfg["train"]["val_weeks"]), synthetic.data_keys(scen))
    panel = load_panel(dspec, frame)
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, True)
    origins = fold_origins(panel.n_weeks, panel.holdout_weeks, spec.val_weeks, VSPEC)
    return frame, dspec, spec, origins


def _folds(frame, dspec, spec, origins):
    return prepare_folds(load_panel(dspec, frame), origins, spec)


def test_origins_step_back_from_the_holdout(setting):
    *_, origins = setting
    assert origins == (N_WEEKS - 13 - 12, N_WEEKS - 13 - 6, N_WEEKS - 13)


def test_folds_never_see_their_future(setting):
    frame, dspec, spec, origins = setting
    base = fit_folds(_folds(frame, dspec, spec, origins), spec).result.params
    dates = np.sort(frame[dspec.date].unique())
    later = frame[dspec.date] >= dates[origins[0]]
    perturbed = frame.copy()
    perturbed.loc[later, dspec.kpi] *= 1.5  # the KPI from the first fold's origin on
    folds = _folds(perturbed, dspec, spec, origins)
    moved = fit_folds(folds, spec).result.params
    for a, b in zip(_leaves(replica(base, 0)), _leaves(replica(moved, 0))):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    diff = max(np.max(np.abs(a - b)) for a, b in zip(_leaves(replica(base, 2)),
                                                       _leaves(replica(moved, 2))))
    assert diff > 1e-3  # the last fold trains on the perturbed weeks


@pytest.mark.parametrize("threads", [1, 3])  # one program of 3 replicas; 3 concurrent programs of 1
def test_vmapped_replicas_equal_separate_fits(setting, threads):
    frame, dspec, spec, origins = setting
    folds = _folds(frame, dspec, spec, origins)
    tspec = dataclasses.replace(spec.train, max_steps=12, steps_per_call=2, patience=2,
                                replica_threads=threads)
    together = fit_replicas(stack([f.params for f in folds]), stack([f.batch for f in folds]),
                            stack([f.statics for f in folds]), spec.model, spec.loss, tspec,
                            [spec.seed] * len(folds))
    for k, fold in enumerate(folds):
        alone = fit(fold.params, fold.batch, fold.statics, spec.model, spec.loss, tspec,
                    seed=spec.seed)
        assert together.best_step[k] == alone.best_step
        assert together.steps[k] == alone.steps
        for a, b in zip(_leaves(replica(together.params, k)), _leaves(alone.params)):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_replica_groups_are_the_largest_divisor_within_the_threads():
    assert [replica_groups(8, t) for t in (1, 2, 3, 4, 7, 8, 16)] == [1, 2, 2, 4, 4, 8, 8]
    assert replica_groups(7, 2) == 1 and replica_groups(9, 4) == 3 and replica_groups(1, 4) == 1
    assert 1 <= replica_groups(8, 0) <= 8  # 0: the cores this process may use


def test_last_fold_is_the_holdout_run(setting):
    frame, dspec, spec, origins = setting
    folds = _folds(frame, dspec, spec, origins)
    fitted = fit_folds(folds, spec)
    from dcmmm.data.scaling import fit_scalers

    panel = folds[-1].panel
    result = fit_panel(panel, fit_scalers(panel), spec).result
    assert int(fitted.result.steps[-1]) == result.steps
    for a, b in zip(_leaves(replica(fitted.result.params, -1)), _leaves(result.params)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    # the earlier folds' level bases were padded to the last fold's width
    widths = [np.asarray(f.statics.level_basis).shape[1] for f in folds]
    assert len(set(widths)) == 1
    table = score_folds(folds, fitted.result.params, spec, 13)
    assert table.loc[table["fold"] == "2", "origin"].iloc[0] == panel.period_labels()[origins[-1]]


def test_bad_validate_config():
    with pytest.raises(ConfigError, match="validate.mode"):
        validate_spec({"validate": {"mode": "kfold"}})
    with pytest.raises(ConfigError, match="validate.n_folds"):
        validate_spec({"validate": {"mode": "backtest", "n_folds": 0, "step_weeks": 13,
                                    "horizon_weeks": 13}})
    assert validate_spec({}) == ValidateSpec()
    with pytest.raises(ConfigError, match="validate.n_folds or validate.step_weeks"):
        fold_origins(72, 13, 8, ValidateSpec("backtest", 3, 13, 13))  # first origin week 33
    with pytest.raises(ConfigError, match="horizon_weeks"):
        fold_origins(109, 13, 8, ValidateSpec("backtest", 3, 13, 14))


def test_backtest_end_to_end(tmp_path):
    cfg = OmegaConf.to_container(_compose([*TINY, "validate=backtest", "validate.step_weeks=6"]),
                                 resolve=True)
    metrics = run_main(cfg, tmp_path)
    table = pd.read_csv(tmp_path / "backtest.csv", dtype={"fold": str, "origin": str})
    assert list(table.columns) == ["fold", "origin", "model", "r2", "rmse", "mape",
                                   "scaled_rmse", "median_region_r2"]
    assert list(table["fold"].unique()) == ["0", "1", "2", "mean"]
    assert set(table["model"]) == {"dcmmm", "last_value", "region_mean", "seasonal_naive"}
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["backtest"]["folds"] == 3 and len(saved["backtest"]["best_step"]) == 3
    # the last fold is the usual split: its scores are the holdout metrics
    last = table[table["fold"] == "2"].set_index("model")
    for key, value in saved["holdout"].items():
        assert last.loc["dcmmm", key] == pytest.approx(value, rel=1e-9)
    for name, vals in saved["naive_holdout"].items():
        if vals is not None:
            assert last.loc[name, "rmse"] == pytest.approx(vals["rmse"], rel=1e-9)
    assert metrics["steps"] == 3
    assert "Backtest" in (tmp_path / "report.html").read_text()
    loaded = dcmmm.load_run(tmp_path)  # the final checkpoint is the last fold's
    yhat, _ = loaded.predict()
    pred = pd.read_csv(tmp_path / "predictions.csv")
    np.testing.assert_allclose(yhat.ravel(), pred["predicted"].to_numpy(), rtol=1e-12)
