"""A Hydra multirun sweep: its table (one row per job, its overrides and
metrics) and the summary that closes it (`SweepSummary`, a Hydra callback).

A job is a directory with `.hydra/overrides.yaml` (any depth under the sweep
directory, so several sweeps can sit under one folder). Columns: `job` (its
path relative to the sweep), `status` (`done` when metrics.json or
backtest.csv exists, else `unfinished`), one column per overridden key (its
value as given on the command line; empty where a job did not override it),
then, for finished jobs:

- `selection_score`: what the sweep is chosen on, never the final holdout.
  For a backtest job (`validate=backtest`, backtest.csv) it is the mean dcmmm
  scaled RMSE over the selection folds: the folds whose scored weeks all lie
  before the last (holdout) fold's origin, i.e. fold k of n with
  (n − 1 − k) · step_weeks ≥ horizon_weeks (folds 0 and 1 of the default 3).
  For a plain job (metrics.json only) it is `validation.scaled_rmse`, the
  early-stopping window of the one split.
- backtest jobs: `selection_folds`, `select.<model>.scaled_rmse` (mean over
  the selection folds, for dcmmm and the naive models), `holdout_fold.<model>
  .scaled_rmse` (the last fold: reported, never used to choose),
  `fold<k>.<model>.scaled_rmse`, and `target_selection` / `target_all`: whether
  dcmmm beats region_mean and seasonal_naive in every fold and last_value on
  the mean, over the selection folds / over all folds;
- every number of metrics.json flattened with dots: `holdout.scaled_rmse`,
  `validation.r2`, `naive_holdout.seasonal_naive.scaled_rmse`, `fit_seconds`,
  ... (units as in metrics.json: r2 and scaled_rmse unitless, rmse in KPI
  units, mape a fraction).

Rows are sorted by `selection_score` (lowest first) when the sweep has backtest
jobs (`collect`'s `sort`); otherwise they keep job order.
"""

import json
from pathlib import Path

import pandas as pd
import yaml
from hydra.experimental.callback import Callback

from dcmmm.analysis.summary import job_line
from dcmmm.rundir import read_tables

FIRST = ["holdout.scaled_rmse", "holdout.r2", "validation.scaled_rmse", "validation.r2"]
MODELS = ["dcmmm", "last_value", "region_mean", "seasonal_naive"]


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def parse_overrides(lines: list[str]) -> dict:
    """`["+experiment=smoke", "seed=1"]` -> {"experiment": "smoke", "seed": "1"}."""
    out = {}
    for line in lines:
        key, _, value = str(line).partition("=")
        out[key.lstrip("+~")] = value
    return out


def _job_order(path: Path):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.parts]


def _fold_spacing(job: Path) -> tuple[int, int]:
    """(step_weeks, horizon_weeks) of a job's backtest, from .hydra/config.yaml."""
    step, horizon = 13, 13
    config = job / ".hydra" / "config.yaml"
    if config.exists():
        validate = (yaml.safe_load(config.read_text()) or {}).get("validate") or {}
        step = int(validate.get("step_weeks", step))
        horizon = int(validate.get("horizon_weeks", horizon))
    return step, horizon


def _config_without_seed(job: Path) -> str | None:
    """The job's composed config (.hydra/config.yaml) without `seed`, the
    progress bar and the log level, as one string: jobs that ran the same model compare equal
    however their overrides were spelled."""
    config = job / ".hydra" / "config.yaml"
    if not config.exists():
        return None
    tree = yaml.safe_load(config.read_text()) or {}
    tree.pop("seed", None)
    tree.pop("log_level", None)
    (tree.get("train") or {}).pop("progress", None)
    return json.dumps(tree, sort_keys=True, default=str)


def selection_folds(n_folds: int, step_weeks: int, horizon_weeks: int) -> list[int]:
    """Folds whose scored weeks all end before the last fold's origin."""
    return [k for k in range(n_folds - 1) if (n_folds - 1 - k) * step_weeks >= horizon_weeks]


def backtest_columns(backtest: pd.DataFrame, step_weeks: int, horizon_weeks: int) -> dict:
    """One row's backtest columns from backtest.csv (fold, model, scaled_rmse, ...)."""
    folds = backtest[backtest["fold"].astype(str) != "mean"].copy()
    folds["fold"] = folds["fold"].astype(int)
    score = folds.pivot_table(index="fold", columns="model", values="scaled_rmse")
    n = len(score)
    chosen = selection_folds(n, step_weeks, horizon_weeks)
    out = {"selection_score": score.loc[chosen, "dcmmm"].mean() if chosen else float("nan"),
           "selection_folds": ",".join(str(k) for k in chosen)}
    models = [m for m in MODELS if m in score.columns]
    models += [m for m in score.columns if m not in models]
    for m in models:
        out[f"select.{m}.scaled_rmse"] = score.loc[chosen, m].mean() if chosen else float("nan")
    for m in models:
        out[f"holdout_fold.{m}.scaled_rmse"] = score.loc[n - 1, m]
    for m in models:
        out[f"mean.{m}.scaled_rmse"] = score[m].mean()
    for k in score.index:
        for m in models:
            out[f"fold{k}.{m}.scaled_rmse"] = score.loc[k, m]

    def target(rows) -> bool | None:
        if not rows or not {"last_value", "region_mean", "seasonal_naive"} <= set(score.columns):
            return None
        s = score.loc[rows]
        return bool((s["dcmmm"] < s["region_mean"]).all()
                    and (s["dcmmm"] < s["seasonal_naive"]).all()
                    and s["dcmmm"].mean() < s["last_value"].mean())

    out["target_selection"] = target(chosen)
    out["target_all"] = target(list(score.index))
    return out


def collect(sweep_dir: Path, sort: bool | None = None) -> pd.DataFrame:
    """The table of every job under `sweep_dir` (ValueError when there is none).

    `sort`: order rows by selection_score; None = only when there are backtest jobs.
    """
    jobs = sorted((p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")),
                  key=lambda p: _job_order(p.relative_to(sweep_dir)))
    if not jobs:
        raise ValueError(f"no Hydra job (*/.hydra/overrides.yaml) under '{sweep_dir}'")
    rows, override_keys, has_backtest, configs = [], [], False, {}
    for job in jobs:
        configs[str(job.relative_to(sweep_dir))] = _config_without_seed(job)
        overrides = parse_overrides(yaml.safe_load((job / ".hydra" / "overrides.yaml")
                                                   .read_text()) or [])
        override_keys += [k for k in overrides if k not in override_keys]
        metrics_path, backtest_path = job / "metrics.json", job / "backtest.csv"
        metrics = flatten(json.loads(metrics_path.read_text())) if metrics_path.exists() else {}
        scores = {}
        if backtest_path.exists():
            has_backtest = True
            scores = backtest_columns(pd.read_csv(backtest_path, dtype={"fold": str}),
                                      *_fold_spacing(job))
        elif "validation.scaled_rmse" in metrics:
            scores = {"selection_score": metrics["validation.scaled_rmse"]}
        status = "done" if metrics_path.exists() or backtest_path.exists() else "unfinished"
        rows.append({"job": str(job.relative_to(sweep_dir)), "status": status, **overrides,
                     **scores, **metrics})
    table = pd.DataFrame(rows)
    rest = [c for c in table.columns if c not in ["job", "status", *override_keys]]
    score_cols = [c for c in rest if c not in metrics_keys(rest)]
    metric_cols = [c for c in rest if c not in score_cols]
    ordered = [c for c in FIRST if c in metric_cols] + [c for c in metric_cols if c not in FIRST]
    table = table[["job", "status", *override_keys, *score_cols, *ordered]]
    if (has_backtest if sort is None else sort) and "selection_score" in table.columns:
        table = table.sort_values("selection_score", kind="stable", na_position="last")
        table = table.reset_index(drop=True)
    table.attrs["overrides"] = override_keys
    table.attrs["configs"] = configs
    return table


def metrics_keys(columns: list[str]) -> list[str]:
    """The columns that come from metrics.json (not the backtest/selection ones)."""
    ours = ("selection_", "select.", "holdout_fold.", "mean.", "fold", "target_")
    return [c for c in columns if not c.startswith(ours)]


TABLE = "sweep.csv"  # the collected table, written at the end of a sweep


def sweep_summary(sweep_dir: Path) -> str:
    """Collect the sweep under `sweep_dir` into `<sweep_dir>/sweep.csv` and return
    its summary: one line per job in job order (its swept overrides, holdout
    against the best naive forecast, largest channels, plan gain, report;
    `dcmmm.analysis.summary.job_line`) and where the table is."""
    sweep_dir = Path(sweep_dir)
    try:
        table = collect(sweep_dir)
    except ValueError as err:
        return f"dcmmm: sweep summary: {err}"
    table.to_csv(sweep_dir / TABLE, index=False)
    swept = [k for k in table.attrs["overrides"] if table[k].nunique(dropna=False) > 1]
    lines = ["", f"dcmmm: {len(table)} jobs"]
    for job in sorted(table["job"], key=lambda j: _job_order(Path(j))):
        row = table.loc[table["job"] == job].iloc[0]
        label = " ".join(f"{k}={row[k]}" for k in swept if isinstance(row[k], str))
        lines.append(job_line(f"job {job}" + (f" ({label})" if label else ""),
                              read_tables(sweep_dir / job)))
    lines.append(f"Collected table: {sweep_dir / TABLE} (one row per job; "
                 f"python -m scripts.collect_sweep {sweep_dir} also names the best one)")
    return "\n".join(lines)


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, `hydra.callbacks`): at the end of a
    multirun, prints `sweep_summary` of its sweep directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        print(sweep_summary(Path(config.hydra.sweep.dir)), flush=True)
