"""One run: load -> fit -> analyse -> write the files of DESIGN section 7.

This is the only module that knows about files on disk and Hydra's config.
"""

import dataclasses
import hashlib
import json
import logging
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pandas as pd

from dcmmm.analysis.budget import (
    BudgetSpec,
    marginal_roi,
    optimise_budget,
    plan_lift,
    window_start,
)
from dcmmm.analysis.curves import fit_hill_curves, response_curves
from dcmmm.analysis.effects import incremental_effects, total_effect
from dcmmm.analysis.metrics import fit_metrics, naive_holdout_metrics
from dcmmm.analysis.report import write_report
from dcmmm.backtest import fit_folds, fold_origins, prepare_folds, score_folds
from dcmmm.config import RunSpec, ValidateSpec, mesh_spec, refit_train_spec, run_spec, validate_spec
from dcmmm.data import synthetic
from dcmmm.data.calibration import LiftTests, load_lift_tests
from dcmmm.data.panel import DataSpec, Panel, load_panel
from dcmmm.data.scaling import Scalers, fit_scalers
from dcmmm.ensemble import achieved_level, fit_ensemble, interval, zero_tests
from dcmmm.errors import ConfigError, DataError, TrainingError
from dcmmm.model.adstock import mean_lag
from dcmmm.model.baseline import knot_positions
from dcmmm.model.graph import threshold_graph
from dcmmm.model.mmm import adstock_kernel, graph_weights, init_params, predict_panel
from dcmmm.model.saturation import hill_k, hill_s
from dcmmm.refresh import (
    Continuation,
    Previous,
    compare,
    continuation_of,
    load_previous,
    refresh_settings,
)
from dcmmm.train.checkpoint import Checkpointer
from dcmmm.train.graph_stability import edge_stability
from dcmmm.train.inputs import make_batch, make_split, make_statics, national_without_spend
from dcmmm.train.loop import (
    FitResult,
    Progress,
    fit,
    init_state,
    make_optimizer,
    static_part,
)
from dcmmm.train.loss import model_lifts
from dcmmm.train.replicas import replica
from dcmmm.train.sharding import RegionLayout, initialize_distributed, region_layout

logger = logging.getLogger(__name__)
PACKAGES = ("dcmmm", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "hydra-core",
            "orbax-checkpoint")


def data_spec(cfg: dict, val_weeks: int, keys: dict | None = None) -> DataSpec:
    """DataSpec from the `data` group (or the generator's column keys)."""
    d = dict(cfg["data"])
    if keys is not None:
        d.update(keys)
    for key in ("kpi", "channels"):
        if d.get(key) in (None, "???"):
            raise ConfigError(f"data.{key} is required")
    tup = lambda v: None if v is None else tuple(v)  # noqa: E731
    if isinstance(d["channels"], str):
        raise ConfigError("data.channels must be a list of column names")
    return DataSpec(
        kpi=d["kpi"], channels=tuple(d["channels"]), path=d.get("path"), date=d.get("date", "date"),
        region=d.get("region"), spend=tup(d.get("spend")), names=tup(d.get("names")),
        controls=tuple(d.get("controls") or ()), holdout_weeks=int(d["holdout_weeks"]),
        val_weeks=val_weeks, zero_runs=d.get("zero_runs", "mask"),
    )


def load_data(cfg: dict, run_dir: Path, val_weeks: int, generate: bool = True
              ) -> tuple[Panel, Path | None, dict | None]:
    """The panel, the data file it came from, and the generator's truth (synthetic data).

    Synthetic data is generated into `run_dir/data/` (or, with `generate=False`,
    read back from there).
    """
    source = cfg["data"].get("source", "file")
    if source == "synthetic":
        scenario = synthetic.scenario(cfg["data"]["scenario"])
        overrides = {k: cfg["data"][k] for k in ("n_regions", "n_weeks") if cfg["data"].get(k)}
        if overrides:
            scenario = dataclasses.replace(scenario, **overrides)
        data_dir = run_dir / "data"
        path = data_dir / f"{scenario.name}.csv"
        if generate:
            frame, truth, _ = synthetic.simulate(scenario, seed=int(cfg["data"]["synthetic_seed"]))
            data_dir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=False)
            (data_dir / "truth.json").write_text(json.dumps(truth, indent=2))
        else:
            truth = json.loads((data_dir / "truth.json").read_text())
        keys = dict(synthetic.data_keys(scenario), path=str(path))
        if not cfg["data"].get("with_spend", True):  # activity only, as many real panels
            keys["spend"] = None
        return load_panel(data_spec(cfg, val_weeks, keys)), path, truth
    if source != "file":
        raise ConfigError(f"data.source must be 'synthetic' or 'file', got {source!r}")
    spec = data_spec(cfg, val_weeks)
    return load_panel(spec), Path(spec.path), None


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


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False, default=float) + "\n")


def clean(obj):
    """Replace NaN/inf by None so JSON outputs never hold NaN."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


def split_labels(panel: Panel, n_fit: int, n_train: int) -> np.ndarray:
    week = np.arange(panel.n_weeks)
    return np.where(week < n_fit, "train", np.where(week < n_train, "validation", "holdout"))


def lift_tests_of(cfg: dict, panel: Panel) -> LiftTests | None:
    """The validated lift tests of `calibration.path`, or None."""
    path = (cfg.get("calibration") or {}).get("path")
    if not path:
        return None
    tests = load_lift_tests(path, panel)
    logger.info("calibration: %d lift test(s) from %s", len(tests.lift), path)
    return tests


def prepare(panel: Panel, scalers: Scalers, spec: RunSpec, lift_tests: LiftTests | None = None,
            continuation: Continuation | None = None, previous: Previous | None = None):
    """Split, calendar statics, scaled batch and initial parameters of a panel.

    `continuation`: level knots and trend origin of a refreshed run (default
    those of a fresh run); `previous`: the finished run a refresh starts from
    (its parameters are the initial ones, and the batch carries the pull).
    """
    split = make_split(panel, spec.val_weeks)
    if previous is not None:
        continuation = previous.continuation
    knots, origin = continuation if continuation is not None else (None, None)
    statics = make_statics(panel, split, spec.model.n_fourier, spec.knot_weeks, spec.graph.mode,
                           spec.graph.forbid, spec.graph.require, level_weeks=split.n_train,
                           knots=knots, trend_origin=origin)
    batch = make_batch(panel, scalers, split, lift_tests=lift_tests,
                       deviations=spec.model.graph_plan)
    params = init_params(spec.model, jax.random.key(spec.seed), batch.x, batch.y,
                         np.asarray(batch.fit_w), statics)
    if previous is not None:
        params, anchor = previous.start(params)
        batch = batch._replace(anchor=anchor)
    return split, statics, batch, params


def continuation_record(panel: Panel, spec: RunSpec, previous: Previous | None) -> dict:
    """run_info.json's level knots and trend origin (what a later refresh continues)."""
    if previous is not None:
        knots, origin = previous.continuation
    else:
        knots, origin = knot_positions(panel.n_train, spec.knot_weeks), panel.n_train - 1
    return {"level_knots": [int(k) for k in knots], "trend_origin": int(origin)}


def fit_panel(panel: Panel, scalers: Scalers, spec: RunSpec, checkpoint_dir: Path | None = None,
              checkpoint_every: int = 0, lift_tests: LiftTests | None = None,
              previous: Previous | None = None):
    """Build inputs, initialise and fit. Returns (params, batch, statics, split, result).

    Phase 1 fits the weeks before the validation window and keeps the
    parameters with the best validation score (early stopping). Phase 2
    (`train.refit_steps` > 0) continues from them on all training weeks at a
    lower learning rate, so the local level reaches the last training week.
    The holdout is never used. With `checkpoint_dir`, progress is saved every
    `checkpoint_every` steps and at the end, and a fit found there is resumed.
    `lift_tests` add their likelihood to the loss (calibration); `previous`
    makes the fit a refresh of that finished run (dcmmm.refresh).
    Fitting runs in the layout of `spec.mesh` (dcmmm.train.sharding); what
    comes back, and every checkpoint, holds the real regions on one device.
    """
    split, statics, batch, params = prepare(panel, scalers, spec, lift_tests, previous=previous)
    layout = region_layout(spec.mesh, panel.n_regions)
    ckpt = Checkpointer(checkpoint_dir, checkpoint_every) if checkpoint_dir else None
    saved = None
    if ckpt is not None:
        template = init_state(params, make_optimizer(static_part(spec.train)), spec.train, spec.seed)
        saved = ckpt.restore_latest(Progress(template, np.inf, params, 0, False))
    try:
        result = _two_phases(params, layout.batch_to_mesh(batch), layout.to_mesh(statics), spec,
                             ckpt, saved, layout)
    except FloatingPointError as err:
        last = ckpt.latest_step() if ckpt is not None else None
        where = f"last good checkpoint: {ckpt.path(last)}" if last is not None else "no checkpoint yet"
        raise TrainingError(f"training stopped: {err} ({where}); nothing was written. Lower "
                            "optim.learning_rate or check the data's scale.") from None
    finally:
        if ckpt is not None:
            ckpt.close()
    return result.params, batch, statics, split, result


def _start(params, tspec, seed: int, layout: RegionLayout) -> Progress:
    """A fresh fit's progress, placed in `layout` (what `fit` makes with resume=None)."""
    params = jax.tree.map(jnp.copy, layout.to_mesh(params))
    state = init_state(params, make_optimizer(static_part(tspec)), tspec, seed)
    return Progress(layout.to_mesh(state), np.inf, None, 0, False)


def _two_phases(params, batch, statics, spec: RunSpec, ckpt, saved, layout: RegionLayout
                ) -> FitResult:
    """Phase 1 (early stopping) then phase 2 (refit), resuming from `saved`.

    `batch` and `statics` are in `layout`; `params`, `saved` and the result are not.
    """
    has_val = float(jnp.sum(batch.val_w)) > 0
    refit = has_val and spec.refit_steps > 0
    if saved is not None and saved.final:
        p = saved.progress
        return FitResult(p.best_params, p.state, int(saved.phase1["best_step"]) if refit else
                         p.best_step, saved.step, [], 0.0)

    def saver(phase, offset, phase1=None):
        if ckpt is None:
            return None

        def save(prog):
            step = offset + int(prog.state.step)
            if ckpt.due(step):
                ckpt.save(step, layout.to_host(prog), phase, phase1)

        return save

    if saved is None or saved.phase == 1:
        resume = layout.to_mesh(saved.progress) if saved is not None else _start(
            params, spec.train, spec.seed, layout)
        first = fit(params, batch, statics, spec.model, spec.loss, spec.train, seed=spec.seed,
                    on_call=saver(1, 0), resume=resume)
        phase1 = {"steps": first.steps, "best_step": first.best_step, "seconds": first.fit_seconds}
        result, start_params = first, first.params
    else:
        phase1, start_params = saved.phase1, params
    if refit:
        refit_spec = refit_train_spec(spec)
        all_train = batch._replace(fit_w=batch.fit_w + batch.val_w, val_w=jnp.zeros_like(batch.val_w))
        resume = (layout.to_mesh(saved.progress) if saved is not None and saved.phase == 2
                  else _start(start_params, refit_spec, spec.seed + 1, layout))
        second = fit(start_params, all_train, statics, spec.model, spec.loss, refit_spec,
                     seed=spec.seed + 1, on_call=saver(2, int(phase1["steps"]), phase1),
                     resume=resume)
        result = second._replace(best_step=int(phase1["best_step"]),
                                 steps=int(phase1["steps"]) + second.steps,
                                 fit_seconds=phase1["seconds"] + second.fit_seconds)
    result = result._replace(params=layout.to_host(result.params),
                             state=layout.to_host(result.state))
    if ckpt is not None:
        final = Progress(result.state, 0.0, result.params, result.best_step, True)
        ckpt.save(result.steps, final, 2 if refit else 1, phase1, force=True, final=True)
    return result


def save_final(run_dir: Path, result: FitResult, refit: bool, phase1: dict) -> None:
    """The final checkpoint of a fit done without checkpoints along the way
    (backtest, ensemble): what `load_run` reads."""
    ckpt = Checkpointer(run_dir / "checkpoints", 0)
    ckpt.save(result.steps, Progress(result.state, 0.0, result.params, result.best_step, True),
              2 if refit else 1, phase1, force=True, final=True)
    ckpt.close()


MEMBERS_DIR = "ensemble"
ZERO_TESTS = "zero_tests.json"  # dcmmm.ensemble.zero_tests of an ensemble run


def fit_members(run_dir: Path, panel: Panel, scalers: Scalers, spec: RunSpec,
                lift_tests: LiftTests | None):
    """An ensemble fit (dcmmm.ensemble): returns what `fit_panel` returns for
    member 0, all members' parameters [E, ...], saved (orbax) in
    `<run dir>/ensemble` next to member 0's final checkpoint, and the zero
    tests (saved as zero_tests.json; None when they are off). Not
    checkpointed along the way: an interrupted ensemble starts again."""
    split, statics, batch, params = prepare(panel, scalers, spec, lift_tests)
    logger.info("ensemble: %d members in one vmapped program", spec.ensemble.size)
    achieved = achieved_level(spec.ensemble.size, spec.ensemble.interval)
    if achieved < spec.ensemble.interval - 1e-9:
        logger.warning("model.ensemble_interval=%g with %d members: the widest interval (their "
                       "range) holds a new member with probability %.0f%%; %d members reach %g",
                       spec.ensemble.interval, spec.ensemble.size, 100 * achieved,
                       members_for(spec.ensemble.interval), spec.ensemble.interval)
    try:
        res, phase1 = fit_ensemble(params, batch, statics, spec)
    except FloatingPointError as err:
        raise TrainingError(f"training stopped: {err}; nothing was written. Lower "
                            "optim.learning_rate or check the data's scale.") from None
    result = FitResult(replica(res.params, 0), replica(res.state, 0), int(res.best_step[0]),
                       int(res.steps[0]), [], res.fit_seconds)
    save_final(run_dir, result, phase1["refit"],
               {"steps": int(phase1["steps"][0]), "best_step": int(phase1["best_step"][0]),
                "seconds": phase1["seconds"]})
    with ocp.StandardCheckpointer() as saver:
        saver.save((run_dir / MEMBERS_DIR).absolute(), res.params, force=True)
    zero = None
    if spec.ensemble.zero_tests and float(jnp.sum(batch.val_w)) > 0:
        zero = clean({"channels": list(panel.channels), **zero_tests(
            replica(phase1["params"], 0), batch, statics, spec,
            region_layout(spec.mesh, panel.n_regions))})
        write_json(run_dir / ZERO_TESTS, zero)
        logger.info("zero tests: zero is plausible for %s",
                    [c for c, ok in zip(panel.channels, zero["plausible"]) if ok] or "no channel")
    return result.params, batch, statics, split, result, res.params, zero


def load_zero_tests(run_dir: Path) -> dict | None:
    """zero_tests.json of an ensemble run, or None."""
    path = run_dir / ZERO_TESTS
    return json.loads(path.read_text()) if path.exists() else None


def members_for(level: float) -> int:
    """The fewest members whose range is a `level` interval."""
    return int(np.ceil(2.0 / (1.0 - level) - 1.0 - 1e-9))


def load_members(run_dir: Path, params: dict, size: int) -> dict | None:
    """The ensemble members' parameters [E, ...] saved by `fit_members`, or None."""
    path = (run_dir / MEMBERS_DIR).absolute()
    if not path.exists():
        return None
    template = jax.tree.map(lambda a: jnp.zeros((size, *a.shape), a.dtype), params)
    with ocp.StandardCheckpointer() as loader:
        return loader.restore(path, template)


def fit_backtest(run_dir: Path, panel: Panel, spec: RunSpec, vspec: ValidateSpec):
    """Rolling-origin backtest (dcmmm.backtest): all folds as one vmapped fit.

    Returns what `fit_panel` returns for the last fold (the usual holdout
    split, saved as the final checkpoint so `load_run` works), then
    backtest.csv's table and a summary for metrics.json. A backtest is not
    checkpointed along the way: an interrupted one starts again.
    """
    origins = fold_origins(panel.n_weeks, panel.holdout_weeks, spec.val_weeks, vspec)
    folds = prepare_folds(panel, origins, spec)
    logger.info("backtest: %d folds, origins at weeks %s", len(folds), list(origins))
    try:
        fitted = fit_folds(folds, spec)
    except FloatingPointError as err:
        raise TrainingError(f"training stopped: {err}; nothing was written. Lower "
                            "optim.learning_rate or check the data's scale.") from None
    res = fitted.result
    table = score_folds(folds, res.params, spec, vspec.horizon_weeks)
    last = folds[-1]
    params, state = replica(res.params, -1), replica(res.state, -1)
    result = FitResult(params, state, int(res.best_step[-1]), int(res.steps[-1]), [],
                       res.fit_seconds)
    phase1 = {"steps": int(fitted.phase1["steps"][-1]),
              "best_step": int(fitted.phase1["best_step"][-1]),
              "seconds": fitted.phase1["seconds"]}
    save_final(run_dir, result, fitted.refit, phase1)
    summary = {"folds": len(folds), "origins": [panel.period_labels()[o] for o in origins],
               "horizon_weeks": vspec.horizon_weeks,
               "best_step": [int(s) for s in res.best_step],
               "steps": [int(s) for s in res.steps]}
    return params, last.batch, last.statics, last.split, result, table, summary


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedRun:
    """A finished run read back from its directory, ready for new analyses."""

    run_dir: Path
    config: dict
    panel: Panel
    scalers: Scalers
    spec: RunSpec
    params: dict
    batch: object
    statics: object
    split: object
    metrics: dict | None = None
    members: dict | None = None  # ensemble members' parameters [E, ...] (member 0 = params)
    zero_tests: dict | None = None  # zero_tests.json of an ensemble run
    graph_stability: np.ndarray | None = None  # [C, C] share of refits with each edge (None: not measured)

    def predict(self):
        """Prediction in KPI units [R, T] and its components (scaled units)."""
        pred = predict_panel(self.spec.model, self.params, self.batch.x, self.batch.z, self.statics)
        return np.asarray(pred.y, np.float64) * self.scalers.kpi_mean[:, None], pred



def budget_spec(cfg: dict) -> BudgetSpec:
    b = cfg.get("budget") or {}
    return BudgetSpec(window_weeks=int(b.get("window_weeks", 52)), total=b.get("total"),
                      lower=b.get("lower", 0.5), upper=b.get("upper", 1.5))


def channel_table(run: LoadedRun, w_used, weeks=None) -> pd.DataFrame:
    """channels.csv rows over `weeks` (boolean [T], None = all weeks)."""
    panel, spec = run.panel, run.spec
    mask = np.ones(panel.n_weeks, bool) if weeks is None else np.asarray(weeks, bool)
    inc = incremental_effects(spec.model, run.params, run.batch.x, run.batch.z, run.statics,
                              w_used, run.scalers.kpi_mean, weeks=mask)
    spend = (panel.spend[:, mask].sum(axis=(0, 1)) if panel.spend is not None
             else np.full(panel.n_channels, np.nan))
    table = pd.DataFrame({
        "channel": panel.channels,
        "spend": spend,
        "activity": panel.media[:, mask].sum(axis=(0, 1)),
        "incremental_direct": inc.direct.sum(axis=0),
        "incremental_mediated": inc.mediated.sum(axis=0),
        "incremental_total": inc.total.sum(axis=0),
    })
    total = table["incremental_total"].sum()
    table["share"] = table["incremental_total"] / total if total > 0 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        table["mediated_share"] = np.where(table["incremental_total"] > 0,
                                           table["incremental_mediated"]
                                           / table["incremental_total"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["roi_direct"] = np.where(spend > 0, table["incremental_direct"] / spend, np.nan)
        table["roi"] = np.where(spend > 0, table["incremental_total"] / spend, np.nan)
    table["mroi"] = marginal_roi(spec.model, run.params, run.batch.x, run.batch.z, run.statics,
                                 w_used, run.scalers.kpi_mean, panel.spend, weeks=mask)
    shared = run.params["shared"]
    kernel = adstock_kernel(spec.model, shared)
    table["adstock_family"] = spec.model.adstock_family if spec.model.adstock_enabled else "none"
    table["mean_lag_weeks"] = np.asarray(mean_lag(kernel))
    table["hill_k"] = np.asarray(hill_k(shared["hill"]["raw_k"]))
    table["hill_s"] = np.asarray(hill_s(shared["hill"]["raw_s"]))
    return table


def lift_table(run: LoadedRun, w_used) -> pd.DataFrame:
    """calibration.csv: each lift test beside the fitted model's lift for it."""
    pred = predict_panel(run.spec.model, run.params, run.batch.x, run.batch.z, run.statics)
    fitted = np.asarray(model_lifts(run.params, run.batch, run.statics, run.spec.model, pred.y,
                                    w=jnp.asarray(w_used, jnp.float32)), np.float64)
    lifts = run.batch.lifts
    measured, se = np.asarray(lifts.lift, np.float64), np.asarray(lifts.lift_se, np.float64)
    labels = run.panel.period_labels()
    regions, weeks = np.asarray(lifts.region_w) > 0, np.asarray(lifts.week_w) > 0
    measured_weeks = np.asarray(lifts.measure_w) > 0
    return pd.DataFrame({
        "channel": [run.panel.channels[c] for c in np.argmax(np.asarray(lifts.off), axis=1)],
        "region": ["" if r.all() else " ".join(np.asarray(run.panel.regions)[r]) for r in regions],
        "start": [labels[np.flatnonzero(w)[0]] for w in weeks],
        "end": [labels[np.flatnonzero(w)[-1]] for w in weeks],
        "measure_end": [labels[np.flatnonzero(w)[-1]] for w in measured_weeks],
        "lift": measured, "lift_se": se, "model_lift": fitted, "z": (fitted - measured) / se})


ZERO_COLUMNS = ("incremental_direct", "incremental_mediated", "incremental_total", "share",
                "roi_direct", "roi", "mroi")  # what is 0 when a channel brought nothing


def with_zero(table: pd.DataFrame, zero: dict | None, columns, flags: bool = True
              ) -> pd.DataFrame:
    """Where a channel's zero test says "zero is plausible", the lower ends of its
    `columns`' intervals go down to 0; with `flags` (channel tables) the table
    also gets `zero_t` and `zero_plausible`. Unchanged without zero tests or intervals."""
    if zero is None or not any(f"{c}_lo" in table for c in columns):
        return table
    out = table.copy()
    plausible = dict(zip(zero["channels"], zero["plausible"]))
    rows = out["channel"].map(plausible).fillna(False).astype(bool)
    for col in columns:
        if f"{col}_lo" in out:
            out.loc[rows, f"{col}_lo"] = np.minimum(out.loc[rows, f"{col}_lo"], 0.0)
    if flags:
        t = dict(zip(zero["channels"], zero["t"]))
        out["zero_t"] = out["channel"].map(t)
        out["zero_plausible"] = rows
    return out


INTERVAL_COLUMNS = ("incremental_direct", "incremental_mediated", "incremental_total", "share",
                    "mediated_share", "roi_direct", "roi", "mroi", "mean_lag_weeks", "hill_k",
                    "hill_s")


def member_runs(run: LoadedRun) -> list:
    """The ensemble's members as runs (member 0 first), or [] without an ensemble."""
    if run.members is None:
        return []
    size = jax.tree.leaves(run.members)[0].shape[0]
    return [dataclasses.replace(run, params=replica(run.members, i), members=None)
            for i in range(size)]


def with_intervals(table: pd.DataFrame, member_tables: list, columns, level: float
                   ) -> pd.DataFrame:
    """`table` plus `<col>_lo` / `<col>_hi`: the `level` interval
    (dcmmm.ensemble.interval) of `col` over the members' tables (same rows); unchanged without members."""
    if not member_tables:
        return table
    out = table.copy()
    for col in columns:
        values = np.stack([t[col].to_numpy(dtype=float) for t in member_tables])
        out[f"{col}_lo"], out[f"{col}_hi"] = interval(values, level)
    return out


def plan_robustness(members: list, budget: pd.DataFrame, bspec: BudgetSpec, level: float) -> dict:
    """The optimal plan's KPI lift under each ensemble member (budget_summary.json)."""
    lifts = []
    for m in members:
        w = jnp.asarray(thresholded_graph(m), jnp.float32)
        lifts.append(plan_lift(m.spec.model, m.params, m.batch.x, m.batch.z, m.statics, w,
                               m.scalers.kpi_mean, budget["multiplier"].to_numpy(),
                               bspec.window_weeks))
    lifts = np.asarray(lifts)
    lo, hi = interval(lifts, level)
    return {"lift_members": lifts.tolist(), "lift_lo": float(lo), "lift_hi": float(hi),
            "members_positive": float(np.mean(lifts > 0))}


def thresholded_graph(run: LoadedRun) -> np.ndarray:
    """The graph every output uses: the learned W thresholded, its edges kept only
    where stable enough (`model.graph.stability`), made acyclic."""
    stable = None
    if run.graph_stability is not None:
        stable = run.graph_stability >= run.spec.graph.stability
    return threshold_graph(np.asarray(graph_weights(run.params, run.statics)),
                           run.spec.graph.threshold, run.spec.graph.require, stable)


GRAPH_STABILITY = "graph_stability.json"


def measure_stability(run: LoadedRun) -> np.ndarray | None:
    """Each edge's stability (dcmmm.train.graph_stability) when the run asks for
    resamples and its thresholded graph has an edge to judge; else None."""
    spec = run.spec
    if spec.graph.resamples == 0 or spec.model.graph_mode == "none":
        return None
    if not thresholded_graph(run).any():
        return None
    started = time.time()
    stability = edge_stability(run.params, run.batch, run.statics, spec, spec.seed)
    logger.info("graph stability: %d bootstrap refits in %.1f s", spec.graph.resamples,
                time.time() - started)
    write_json(run.run_dir / GRAPH_STABILITY, {
        "channels": list(run.panel.channels), "resamples": spec.graph.resamples,
        "stability": stability.tolist()})
    return stability


def load_graph_stability(run_dir: Path) -> np.ndarray | None:
    path = run_dir / GRAPH_STABILITY
    return np.asarray(json.loads(path.read_text())["stability"]) if path.exists() else None


def dag_table(run: LoadedRun, graph: np.ndarray) -> pd.DataFrame:
    """dag.csv: each kept edge's `weight`, its `stability` (empty when not
    measured) and `kpi_mediated`, the parent's total incremental KPI (all
    weeks, all regions) that goes through this edge: its total effect minus
    its total effect with the edge cut."""
    names = run.panel.channels
    rows = []
    for i, j in zip(*np.nonzero(graph)):
        cut = graph.copy()
        cut[i, j] = 0.0
        through = (channel_total(run, graph, i) - channel_total(run, cut, i))
        rows.append({"parent": names[i], "child": names[j], "weight": graph[i, j],
                     "stability": (np.nan if run.graph_stability is None
                                   else run.graph_stability[i, j]),
                     "kpi_mediated": through})
    return pd.DataFrame(rows, columns=["parent", "child", "weight", "stability", "kpi_mediated"])


def channel_total(run: LoadedRun, graph: np.ndarray, channel: int) -> float:
    """Total incremental KPI of one channel under `graph` (all weeks and regions)."""
    return float(total_effect(run.spec.model, run.params, run.batch.x, run.batch.z, run.statics,
                              graph, run.scalers.kpi_mean, channel).sum())


def analyse(run: LoadedRun, run_dir: Path, bspec: BudgetSpec, previous: Previous | None = None
            ) -> None:
    """Decisions from a fitted model: dag.csv, channels.csv, channels_window.csv,
    response_curves.csv (+ response_curves_hill.csv), budget.csv and
    budget_summary.json (with spend), and report.html. With `previous` (a
    refresh), also refresh.csv and refresh_edges.csv, and `run.metrics["refresh"]`."""
    panel, spec = run.panel, run.spec
    w_used = thresholded_graph(run)
    dag = dag_table(run, w_used)
    dag.to_csv(run_dir / "dag.csv", index=False, na_rep="")

    members = member_runs(run)
    level = spec.ensemble.interval
    window = np.arange(panel.n_weeks) >= window_start(panel.n_weeks, bspec.window_weeks)

    def curves_of(r, w):
        return response_curves(spec.model, r.params, r.batch.x, r.batch.z, r.statics, w,
                               r.scalers.kpi_mean, spend_rc=panel.spend, activity_rc=panel.media,
                               channel_names=list(panel.channels))

    def with_member_intervals(make, columns):
        """make(run, graph) for the run, plus intervals over the members; member 0
        is the run itself, so its table is computed once."""
        if not members:
            return make(run, w_used)
        tables = [make(m, w_used if i == 0 else thresholded_graph(m))
                  for i, m in enumerate(members)]
        return with_intervals(tables[0], tables, columns, level)

    zero = run.zero_tests if members else None
    channels = with_zero(with_member_intervals(channel_table, INTERVAL_COLUMNS), zero, ZERO_COLUMNS)
    channels.to_csv(run_dir / "channels.csv", index=False, na_rep="")
    refresh = refresh_outputs(run, previous, run_dir, w_used, channels, dag) if previous else None
    with_zero(with_member_intervals(lambda r, w: channel_table(r, w, window), INTERVAL_COLUMNS),
              zero, ZERO_COLUMNS).to_csv(run_dir / "channels_window.csv", index=False, na_rep="")
    curves = with_zero(with_member_intervals(curves_of, ("incremental_direct", "incremental_total")),
                       zero, ZERO_COLUMNS, flags=False)
    curves.to_csv(run_dir / "response_curves.csv", index=False, na_rep="")
    fit_hill_curves(curves).to_csv(run_dir / "response_curves_hill.csv", index=False, na_rep="")

    budget, summary = None, None
    if panel.spend is not None:
        budget, summary = optimise_budget(spec.model, run.params, run.batch.x, run.batch.z,
                                          run.statics, w_used, run.scalers.kpi_mean, panel.spend,
                                          list(panel.channels), bspec)
        if members:
            summary.update(plan_robustness(members, budget, bspec, level))
        budget.to_csv(run_dir / "budget.csv", index=False, na_rep="")
        write_json(run_dir / "budget_summary.json", clean(summary))
    else:
        for name in ("budget.csv", "budget_summary.json"):
            (run_dir / name).unlink(missing_ok=True)
        logger.info("no spend columns (data.spend): the budget optimiser needs spend; skipped")

    if run.batch.lifts is not None:
        lift_table(run, w_used).to_csv(run_dir / "calibration.csv", index=False)

    metrics = json.loads((run_dir / "metrics.json").read_text()) if (
        run_dir / "metrics.json").exists() else run.metrics
    backtest = (pd.read_csv(run_dir / "backtest.csv", dtype={"fold": str, "origin": str})
                if (run_dir / "backtest.csv").exists() else None)
    if refresh is None and (run_dir / "refresh.csv").exists():  # re-analysing a refreshed run
        refresh = (pd.read_csv(run_dir / "refresh.csv"), pd.read_csv(run_dir / "refresh_edges.csv"))
    write_report(run_dir / "report.html", metrics=metrics, backtest=backtest, refresh=refresh,
                 predictions=pd.read_csv(run_dir / "predictions.csv"),
                 decomposition=pd.read_csv(run_dir / "decomposition.csv"),
                 channels=channels, curves=curves, dag=dag, budget=budget,
                 budget_summary=summary, title=f"dcmmm report: {run_dir.name}")


def refresh_outputs(run: LoadedRun, previous: Previous, run_dir: Path, w_used,
                    channels: pd.DataFrame, dag: pd.DataFrame) -> tuple:
    """refresh.csv and refresh_edges.csv (dcmmm.refresh.compare) from the run's
    channels.csv and dag.csv tables; the summary goes into `run.metrics`."""
    old_weeks = np.arange(run.panel.n_weeks) < previous.n_weeks
    table, edges, summary = compare(previous, channel_table(run, w_used, old_weeks), channels, dag)
    table.to_csv(run_dir / "refresh.csv", index=False, na_rep="")
    edges.to_csv(run_dir / "refresh_edges.csv", index=False, na_rep="")
    summary["new_weeks"] = run.panel.n_weeks - previous.n_weeks
    run.metrics["refresh"] = clean(summary)
    return table, edges


def main(cfg: dict, run_dir: str | Path) -> dict:
    """Run one experiment into `run_dir`; returns metrics.json's content.

    metrics.json is written last: it marks a finished run.
    """
    initialize_distributed(mesh_spec(cfg))  # before any computation (multi-host jobs)
    run_dir = Path(run_dir)
    checkpoint_dir = run_dir / "checkpoints"  # shared by all processes of a multi-host job
    if jax.process_index() > 0:  # the same outputs; only process 0 writes the run directory
        run_dir = run_dir / f".process{jax.process_index()}"
    if (run_dir / "metrics.json").exists():
        raise ConfigError(
            f"run directory '{run_dir}' already holds a finished run; choose another "
            "hydra.run.dir (or delete that directory to start over)")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", cfg)  # the resolved config, read back by load_run
    started = time.time()
    val_weeks = int(cfg["train"]["val_weeks"])
    panel, data_path, truth = load_data(cfg, run_dir, val_weeks)
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, panel.spend is not None)
    bspec = budget_spec(cfg)
    refresh_from, refresh_scale = refresh_settings(cfg)
    previous = None
    if refresh_from is not None:  # continue a finished run: its scalers, its parameters
        previous = load_previous(refresh_from, refresh_scale, cfg, panel)
        logger.info("refresh of %s: %d old weeks, %d new", refresh_from, previous.n_weeks,
                    panel.n_weeks - previous.n_weeks)
    scalers = previous.scalers if previous is not None else fit_scalers(panel)
    scalers.save(run_dir / "scalers.json")
    logger.info("panel: %d regions x %d weeks, %d channels, %d controls", panel.n_regions,
                panel.n_weeks, panel.n_channels, panel.n_controls)

    vspec = validate_spec(cfg)
    lift_tests = lift_tests_of(cfg, panel)
    backtest, members, zero = None, None, None
    if previous is not None and (vspec.mode == "backtest" or spec.ensemble.size > 1):
        raise ConfigError("refresh.from continues one fit: set model.ensemble_size=1 and "
                          "validate=holdout (ensembles and backtests of a refresh are not built yet)")
    if vspec.mode == "backtest":
        if spec.ensemble.size > 1:
            raise ConfigError("validate=backtest fits one model per fold: set "
                              "model.ensemble_size=1 (or use validate=holdout)")
        if lift_tests is not None:
            raise ConfigError("validate=backtest does not take lift tests (calibration.path) "
                              "yet: backtest without them, or use validate=holdout")
        params, batch, statics, split, result, backtest, bt_summary = fit_backtest(
            run_dir, panel, spec, vspec)
    elif spec.ensemble.size > 1:
        params, batch, statics, split, result, members, zero = fit_members(
            run_dir, panel, scalers, spec, lift_tests)
    else:
        params, batch, statics, split, result = fit_panel(
            panel, scalers, spec, checkpoint_dir, int(cfg["train"]["checkpoint_every"]),
            lift_tests, previous)
    logger.info("fit: %d steps in %.1f s (best validation at step %d)", result.steps,
                result.fit_seconds, result.best_step)

    pred = predict_panel(spec.model, params, batch.x, batch.z, statics)
    kpi_mean = scalers.kpi_mean
    yhat = np.asarray(pred.y, np.float64) * kpi_mean[:, None]
    week = np.arange(panel.n_weeks)[None, :]
    masks = {
        "train": panel.mask & (week < split.n_fit),
        "validation": panel.mask & (week >= split.n_fit) & (week < split.n_train),
        "holdout": panel.mask & (week >= split.n_train),
    }
    metrics = {name: fit_metrics(panel.y, yhat, m, kpi_mean) for name, m in masks.items()}
    metrics["naive_holdout"] = naive_holdout_metrics(
        panel.y, panel.train_mask, masks["holdout"], split.n_train, kpi_mean)
    metrics.update(fit_seconds=result.fit_seconds, steps=result.steps, best_step=result.best_step)
    if members is not None:
        metrics["ensemble"] = {"size": spec.ensemble.size, "interval": spec.ensemble.interval,
                               "interval_achieved": achieved_level(spec.ensemble.size,
                                                                   spec.ensemble.interval)}
    if backtest is not None:
        metrics["backtest"] = bt_summary
        backtest.to_csv(run_dir / "backtest.csv", index=False, na_rep="")
    metrics = clean(metrics)

    labels = panel.period_labels()
    regions = np.repeat(np.array(panel.regions, dtype=object), panel.n_weeks)
    dates = np.tile(np.array(labels, dtype=object), panel.n_regions)
    actual = np.where(panel.mask, panel.y, np.nan).ravel()
    pd.DataFrame({
        "region": regions, "date": dates,
        "split": np.tile(split_labels(panel, split.n_fit, split.n_train), panel.n_regions),
        "actual": actual, "predicted": yhat.ravel(),
    }).to_csv(run_dir / "predictions.csv", index=False, na_rep="")

    scale = kpi_mean[:, None]
    decomposition = {"region": regions, "date": dates,
                     "intercept": (np.asarray(pred.intercept) * scale).ravel(),
                     "trend": (np.asarray(pred.level) * scale).ravel(),
                     "seasonality": (np.asarray(pred.seasonality) * scale).ravel()}
    for k, name in enumerate(panel.controls):
        decomposition[f"control:{name}"] = (np.asarray(pred.controls[..., k]) * scale).ravel()
    for c, name in enumerate(panel.channels):
        decomposition[f"channel:{name}"] = (np.asarray(pred.media[..., c]) * scale).ravel()
    decomp = pd.DataFrame(decomposition)
    decomp["predicted"] = decomp.drop(columns=["region", "date"]).sum(axis=1)
    decomp.to_csv(run_dir / "decomposition.csv", index=False)

    run = LoadedRun(run_dir, cfg, panel, scalers, spec, params, batch, statics, split, metrics,
                    members, zero)
    if national_without_spend(panel) and spec.model.graph_mode != "none":
        logger.warning("national data without spend columns: a shared media plan and one channel "
                       "driving another look the same here, so no channel edges are learned "
                       "(model.graph.require adds edges you know)")
    run = dataclasses.replace(run, graph_stability=measure_stability(run))
    analyse(run, run_dir, bspec, previous)

    info = {
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
        **continuation_record(panel, spec, previous),
        "split": {"fit_weeks": split.n_fit, "validation_weeks": split.n_train - split.n_fit,
                  "holdout_weeks": panel.n_weeks - split.n_train},
        "wall_seconds": time.time() - started,
    }
    write_json(run_dir / "run_info.json", clean(info))
    write_json(run_dir / "metrics.json", metrics)
    if truth is not None:
        logger.info("synthetic truth written to %s", run_dir / "data" / "truth.json")
    return metrics


def load_run(run_dir: str | Path) -> LoadedRun:
    """Load a finished run (config, data, scalers, final parameters) without retraining.

    The data file must be unchanged since the run (its sha256 is checked).
    """
    run_dir = Path(run_dir)
    for name in ("config.json", "run_info.json", "scalers.json", "checkpoints"):
        if not (run_dir / name).exists():
            raise ConfigError(f"'{run_dir}' is not a finished dcmmm run: {name} is missing")
    cfg = json.loads((run_dir / "config.json").read_text())
    info = json.loads((run_dir / "run_info.json").read_text())
    panel, data_path, _ = load_data(cfg, run_dir, int(cfg["train"]["val_weeks"]), generate=False)
    if info.get("data_sha256") and sha256(data_path) != info["data_sha256"]:
        raise DataError(f"data file '{data_path}' changed since the run (sha256 differs)")
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, panel.spend is not None)
    scalers = Scalers.load(run_dir / "scalers.json")
    split, statics, batch, params = prepare(panel, scalers, spec, lift_tests_of(cfg, panel),
                                            continuation_of(info))
    ckpt = Checkpointer(run_dir / "checkpoints", 0)
    template = init_state(params, make_optimizer(static_part(spec.train)), spec.train, spec.seed)
    saved = ckpt.restore_latest(Progress(template, np.inf, params, 0, False))
    ckpt.close()
    if saved is None or not saved.final:
        raise ConfigError(f"'{run_dir}' has no final checkpoint: the run did not finish")
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    best = saved.progress.best_params
    return LoadedRun(run_dir, cfg, panel, scalers, spec, best, batch, statics, split, metrics,
                     load_members(run_dir, best, spec.ensemble.size), load_zero_tests(run_dir),
                     load_graph_stability(run_dir))


__all__ = ["main", "fit_panel", "data_spec", "load_run", "LoadedRun"]
