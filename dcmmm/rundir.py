"""The run directory: its file names, provenance, and the files that are not tables.

A run directory holds the resolved config, the data of a synthetic run, the
scalers, checkpoints, an ensemble's members and zero tests, the output tables
(`dcmmm.tables` builds them, `dcmmm.outputs` writes them), run_info.json and,
written last, metrics.json: a directory with metrics.json holds a finished run
and is never written into again.
"""

import dataclasses
import hashlib
import json
import logging
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pandas as pd

from dcmmm.analysis.summary import RunTables
from dcmmm.config import data_spec, lift_tests_path, priors_path
from dcmmm.data import synthetic
from dcmmm.data.calibration import LiftTests, load_lift_tests
from dcmmm.data.panel import Panel, load_panel
from dcmmm.data.priors import RoiPriors, load_priors
from dcmmm.errors import ConfigError
from dcmmm.specs import RunSpec
from dcmmm.train.inputs import Split

CONFIG = "config.json"  # the resolved config, read back by load_run
RUN_INFO = "run_info.json"
METRICS = "metrics.json"
SCALERS = "scalers.json"
CHECKPOINTS = "checkpoints"
MEMBERS = "ensemble"  # an ensemble's members' parameters (orbax)
ZERO_TESTS = "zero_tests.json"
EVIDENCE = "evidence.json"  # the profile of the fit over each channel's effect size
GRAPH_STABILITY = "graph_stability.json"  # each candidate edge's share of the graph's refits
DATA = "data"  # a synthetic run's generated CSV and truth.json
TRUTH = "truth.json"
PREDICTIONS = "predictions.csv"
DECOMPOSITION = "decomposition.csv"
CHANNELS = "channels.csv"
CHANNELS_WINDOW = "channels_window.csv"
DAG = "dag.csv"
CURVES = "response_curves.csv"
CURVES_HILL = "response_curves_hill.csv"
BUDGET = "budget.csv"
BUDGET_SUMMARY = "budget_summary.json"
CALIBRATION = "calibration.csv"
PRIORS = "priors.csv"
REFRESH = "refresh.csv"
REFRESH_EDGES = "refresh_edges.csv"
BACKTEST = "backtest.csv"
REPORT = "report.html"

logger = logging.getLogger(__name__)
PACKAGES = ("dcmmm", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "hydra-core",
            "orbax-checkpoint")


def open_run_dir(run_dir: str | Path) -> tuple[Path, Path]:
    """(the directory this process writes, the checkpoint directory), created.

    Process 0 of a multi-host job writes `run_dir`, the others the same files
    under `run_dir/.process<i>/`; the checkpoints are shared. A directory that
    holds a finished run raises ConfigError.
    """
    checkpoint_dir = Path(run_dir) / CHECKPOINTS
    run_dir = process_dir(run_dir)
    if (run_dir / METRICS).exists():
        raise ConfigError(
            f"run directory '{run_dir}' already holds a finished run; choose another "
            "hydra.run.dir (or delete that directory to start over)")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, checkpoint_dir


def process_dir(run_dir: str | Path) -> Path:
    """The directory this process writes: `run_dir` for process 0 (and a
    single-process run), `run_dir/.process<i>` for process i of a multi-host job."""
    run_dir = Path(run_dir)
    return run_dir if jax.process_index() == 0 else run_dir / f".process{jax.process_index()}"


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False, default=float) + "\n")


def read_json(path: Path) -> dict | None:
    """The JSON file at `path`, or None where there is none."""
    return json.loads(path.read_text()) if path.exists() else None


def clean(obj):
    """Replace NaN/inf by None (and numpy scalars by floats), so JSON outputs never hold NaN."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


def load_data(cfg: dict, run_dir: Path, generate: bool = True
              ) -> tuple[Panel, Path | None, dict | None]:
    """The panel, the data file it came from, and the generator's truth (synthetic data).

    Synthetic data is generated into `run_dir/data/` (or, with `generate=False`,
    read back from there).
    """
    val_weeks = int(cfg["train"]["val_weeks"])
    if cfg["data"].get("source", "file") == "file":
        spec = data_spec(cfg, val_weeks)
        return load_panel(spec), Path(spec.path), None
    scenario = synthetic.scenario(cfg["data"]["scenario"])
    overrides = {k: cfg["data"][k] for k in ("n_regions", "n_weeks") if cfg["data"].get(k)}
    if overrides:
        scenario = dataclasses.replace(scenario, **overrides)
    data_dir = run_dir / DATA
    path = data_dir / f"{scenario.name}.csv"
    if generate:
        frame, truth, _ = synthetic.simulate(scenario, seed=int(cfg["data"]["synthetic_seed"]))
        data_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        (data_dir / TRUTH).write_text(json.dumps(truth, indent=2))
    else:
        truth = json.loads((data_dir / TRUTH).read_text())
    keys = dict(synthetic.data_keys(scenario), path=str(path))
    if not cfg["data"].get("with_spend", True):  # activity only, as many real panels
        keys["spend"] = None
    return load_panel(data_spec(cfg, val_weeks, keys)), path, truth


def lift_tests_of(cfg: dict, panel: Panel) -> LiftTests | None:
    """The lift tests of `calibration.path`, validated against the panel, or None."""
    path = lift_tests_path(cfg)
    if path is None:
        return None
    tests = load_lift_tests(path, panel)
    logger.info("calibration: %d lift test(s) from %s", len(tests.lift), path)
    return tests


def priors_of(cfg: dict, panel: Panel) -> RoiPriors | None:
    """The ROI priors of `priors.path`, validated against the panel, or None."""
    path = priors_path(cfg)
    if path is None:
        return None
    priors = load_priors(path, panel)
    logger.info("priors: ROI priors on %s from %s",
                [panel.channels[c] for c in priors.channel], path)
    return priors


def sha256(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_info(spec: RunSpec, panel: Panel, split: Split, data_path: Path | None,
             continuation: dict, wall_seconds: float) -> dict:
    """run_info.json: seed, package versions, devices, data file and its sha256,
    git commit, the panel's size, missing cells and outages, the level's
    continuation (`fitting.continuation_record`) and the split's sizes."""
    return {
        "seed": spec.seed,
        "versions": versions(),
        "devices": [str(d) for d in jax.devices()],
        "mesh": spec.mesh.name, "processes": jax.process_count(),
        "data_file": str(data_path) if data_path else None,
        "data_sha256": sha256(data_path),
        "git_commit": git_commit(),
        "regions": panel.n_regions, "weeks": panel.n_weeks, "channels": list(panel.channels),
        "missing_cells": {str(k): int(v) for k, v in panel.missing_cells.items()},
        "missing_cells_total": int(sum(panel.missing_cells.values())),
        "outages": [list(o) for o in panel.outages],
        **continuation,
        "split": {"fit_weeks": split.n_fit, "validation_weeks": split.n_train - split.n_fit,
                  "holdout_weeks": panel.n_weeks - split.n_train},
        "wall_seconds": wall_seconds,
    }


def save_members(run_dir: Path, member_params: dict) -> None:
    """The ensemble members' parameters [E, ...] (orbax) in `<run dir>/ensemble`."""
    with ocp.StandardCheckpointer() as saver:
        saver.save((run_dir / MEMBERS).absolute(), member_params, force=True)


def load_members(run_dir: Path, params: dict, size: int) -> dict | None:
    """The members' parameters [E, ...] saved by `save_members` (structure of
    `params`, E = `size`), or None without an ensemble."""
    path = (run_dir / MEMBERS).absolute()
    if not path.exists():
        return None
    template = jax.tree.map(lambda a: jnp.zeros((size, *a.shape), a.dtype), params)
    with ocp.StandardCheckpointer() as loader:
        return loader.restore(path, template)


def read_backtest(run_dir: Path) -> pd.DataFrame | None:
    """backtest.csv of a backtest run, or None."""
    path = run_dir / BACKTEST
    return pd.read_csv(path, dtype={"fold": str, "origin": str}) if path.exists() else None


def read_refresh(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """refresh.csv and refresh_edges.csv of a refreshed run, or None."""
    if not (run_dir / REFRESH).exists():
        return None
    return pd.read_csv(run_dir / REFRESH), pd.read_csv(run_dir / REFRESH_EDGES)


def read_tables(run_dir: str | Path) -> RunTables | None:
    """The tables a run's summary reads (`dcmmm.analysis.summary`): metrics.json,
    channels.csv, dag.csv, budget.csv, budget_summary.json, backtest.csv and
    where report.html is; None for a directory without a finished run."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / METRICS)
    if metrics is None:
        return None

    def table(name: str) -> pd.DataFrame | None:
        return pd.read_csv(run_dir / name) if (run_dir / name).exists() else None

    report = run_dir / REPORT
    return RunTables(metrics=metrics, channels=table(CHANNELS), dag=table(DAG),
                     budget=table(BUDGET), budget_summary=read_json(run_dir / BUDGET_SUMMARY),
                     backtest=read_backtest(run_dir),
                     report=str(report) if report.exists() else None)


def write_graph_stability(run_dir: Path, channels, resamples: int, stability: np.ndarray) -> None:
    write_json(run_dir / GRAPH_STABILITY, {"channels": list(channels), "resamples": resamples,
                                           "stability": np.asarray(stability).tolist()})


def read_graph_stability(run_dir: Path) -> np.ndarray | None:
    """The [C, C] stability of a run's graph edges, or None when it was not measured."""
    saved = read_json(run_dir / GRAPH_STABILITY)
    return None if saved is None else np.asarray(saved["stability"], np.float64)
