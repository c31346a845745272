"""Refresh: a finished run continued on data with new weeks (dcmmm.refresh)."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from dcmmm.config import data_spec, run_spec
from dcmmm.data import synthetic
from dcmmm.data.panel import load_panel
from dcmmm.errors import ConfigError, DataError
from dcmmm.fitting import prepare
from dcmmm.loaded import load_run
from dcmmm.model.mmm import predict_panel
from dcmmm.refresh import load_previous, map_level
from dcmmm.run import main
from tests.test_run import _compose

OLD_WEEKS, NEW_WEEKS = 60, 70


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One simulated panel as two files: its first 60 weeks, and all 70."""
    tmp = tmp_path_factory.mktemp("refresh")
    scen = dataclasses.replace(synthetic.scenario("geo"), n_regions=4, n_weeks=NEW_WEEKS)
    frame, _, _ = synthetic.simulate(scen, seed=0)
    keys = synthetic.data_keys(scen)
    dates = sorted(frame[keys["date"]].unique())
    frame[frame[keys["date"]].isin(dates[:OLD_WEEKS])].to_csv(tmp / "old.csv", index=False)
    frame.to_csv(tmp / "new.csv", index=False)
    frame[frame[keys["date"]] != dates[0]].to_csv(tmp / "shifted.csv", index=False)
    return tmp, keys


def _cfg(files, name, *extra):
    tmp, keys = files
    lst = lambda xs: "[" + ",".join(xs) + "]"  # noqa: E731
    return OmegaConf.to_container(_compose([
        "data=csv", f"data.path={tmp / name}", f"data.date={keys['date']}",
        f"data.region={keys['region']}", f"data.kpi={keys['kpi']}",
        f"data.channels={lst(keys['channels'])}", f"data.spend={lst(keys['spend'])}",
        f"data.controls={lst(keys['controls'])}", "model.dynamics.hidden=4",
        "model.baseline.knot_weeks=6", "train.max_steps=100", "train.steps_per_call=25",
        "train.patience=100", "train.refit_steps=25", "train.progress=false",
        "evidence.steps=0", "model.ensemble_size=1", *extra]),
        resolve=True)


@pytest.fixture(scope="module")
def old_run(files):
    run_dir = files[0] / "old_run"
    main(_cfg(files, "old.csv"), run_dir)
    return run_dir


def test_map_level_keeps_the_piecewise_linear_level():
    old_knots, new_knots = np.array([0.0, 4, 8, 11]), np.array([0.0, 4, 8, 11, 12, 18])
    inc = np.array([[0.5, -0.2, 0.3], [0.0, 1.0, -1.0]])
    mapped = map_level(inc, old_knots, new_knots)
    t = np.arange(20.0)
    for old_row, new_row in zip(inc, mapped):
        old_level = np.interp(t, old_knots, np.concatenate([[0], np.cumsum(old_row)]))
        new_level = np.interp(t, new_knots, np.concatenate([[0], np.cumsum(new_row)]))
        np.testing.assert_allclose(new_level, old_level, atol=1e-12)  # flat after week 11


def test_the_finished_runs_parameters_predict_its_weeks_on_the_longer_panel(files, old_run):
    """Oracle: the finished run's own predictions.csv. Its scalers, knots and trend
    origin carried over, its parameters predict the same on the old weeks."""
    cfg = _cfg(files, "new.csv", f"refresh.from={old_run}")
    panel = load_panel(data_spec(cfg, int(cfg["train"]["val_weeks"])))
    previous = load_previous(old_run, 0.1, cfg, panel)
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, True)
    _, statics, batch, params = prepare(panel, previous.scalers, spec, previous=previous)
    yhat = np.asarray(predict_panel(spec.model, params, batch.x, batch.z, statics).y)
    yhat = yhat * previous.scalers.kpi_mean[:, None]
    old = pd.read_csv(old_run / "predictions.csv")["predicted"].to_numpy()
    np.testing.assert_allclose(yhat[:, :OLD_WEEKS].ravel(), old, rtol=1e-4)
    # the pull: every old parameter, but not the level of the new weeks
    weight = np.asarray(batch.anchor.weight["region"]["level"])
    knots = previous.continuation.knots
    assert knots[-1] == panel.n_train - 1 and set(previous.old_knots) <= set(knots)
    np.testing.assert_array_equal(weight[0], knots[1:] <= previous.old_knots[-1])
    assert 0 < weight.mean() < 1


def _roi_moves(refresh_dir):
    table = pd.read_csv(refresh_dir / "refresh.csv")
    return np.abs(table["roi_change_pct"].to_numpy()), table


def test_refresh_writes_how_roi_and_edges_moved_and_the_pull_holds(files, old_run):
    pulled, free = files[0] / "pulled", files[0] / "free"
    metrics = main(_cfg(files, "new.csv", f"refresh.from={old_run}", "refresh.scale=1e-4"), pulled)
    main(_cfg(files, "new.csv", f"refresh.from={old_run}", "refresh.scale=null"), free)
    moved_pulled, table = _roi_moves(pulled)
    moved_free, _ = _roi_moves(free)
    before = pd.read_csv(old_run / "channels.csv")
    np.testing.assert_allclose(table["roi_before"], before["roi"])
    after = pd.read_csv(pulled / "channels.csv")
    np.testing.assert_allclose(table["roi_all_weeks"], after["roi"])
    # a prior of sd 1e-4 around the old parameters keeps them (and ROI) in place;
    # a warm start alone lets them move with the new weeks
    assert moved_pulled.max() < 2.0, moved_pulled
    assert moved_free.sum() > 2 * moved_pulled.sum(), (moved_free, moved_pulled)
    assert metrics["refresh"]["old_weeks"] == OLD_WEEKS
    assert metrics["refresh"]["new_weeks"] == NEW_WEEKS - OLD_WEEKS
    assert json.loads((pulled / "metrics.json").read_text())["refresh"]["scale"] == 1e-4
    edges = pd.read_csv(pulled / "refresh_edges.csv")
    assert set(edges["status"]) <= {"kept", "added", "dropped"}
    assert "<h2>Refresh</h2>" in (pulled / "report.html").read_text()
    # a refreshed run reloads with its own knots and trend origin, and is refreshed again
    run = load_run(pulled)
    yhat, _ = run.predict()
    np.testing.assert_allclose(yhat.ravel(), pd.read_csv(pulled / "predictions.csv")["predicted"],
                               rtol=1e-4)
    cfg = _cfg(files, "new.csv", f"refresh.from={pulled}")
    panel = load_panel(data_spec(cfg, int(cfg["train"]["val_weeks"])))
    np.testing.assert_array_equal(load_previous(pulled, 0.1, cfg, panel).continuation.knots,
                                  run_info_knots(pulled))


def run_info_knots(run_dir):
    return np.asarray(json.loads((run_dir / "run_info.json").read_text())["level_knots"], float)


@pytest.mark.parametrize("change, error, words", [
    (("data.channels=[tv,radio,social,search]",  # the finished run also had null_ch
      "data.spend=[tv_spend,radio_spend,social_spend,search_spend]"), DataError, "channels"),
    (("model.dynamics.hidden=5",), ConfigError, r"model.dynamics.hidden \(4 there, 5 here\)"),
    (("model.ensemble_size=2",), ConfigError, "ensemble_size=1"),
    (("refresh.scale=-1",), ConfigError, "refresh.scale"),
])
def test_a_refresh_that_cannot_continue_the_run_says_why(files, old_run, tmp_path, change, error,
                                                          words):
    cfg = _cfg(files, "new.csv", f"refresh.from={old_run}", *change)
    with pytest.raises(error, match=words):
        main(cfg, tmp_path / "run")


def test_a_refresh_needs_a_finished_run_and_its_weeks_first(files, old_run, tmp_path):
    with pytest.raises(ConfigError, match="not a finished dcmmm run"):
        main(_cfg(files, "new.csv", f"refresh.from={tmp_path}"), tmp_path / "run")
    with pytest.raises(DataError, match="must begin with the finished run's 60 weeks"):
        main(_cfg(files, "shifted.csv", f"refresh.from={old_run}"), tmp_path / "run2")


def test_a_default_refresh_of_an_ensemble_run_continues_one_fit(files, tmp_path):
    # the default run is an ensemble; refreshing it (model.ensemble_size left at its default,
    # null) continues member 0, the run's point estimates, as one fit
    ensemble = tmp_path / "ensemble"
    main(_cfg(files, "old.csv", "model.ensemble_size=2", "train.max_steps=25"), ensemble)
    cfg = _cfg(files, "new.csv", f"refresh.from={ensemble}", "model.ensemble_size=null",
               "train.max_steps=25")
    metrics = main(cfg, tmp_path / "refresh")
    assert "ensemble" not in metrics and "refresh" in metrics
    assert not (tmp_path / "refresh" / "ensemble").exists()
