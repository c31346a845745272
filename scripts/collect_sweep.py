"""One table of a Hydra multirun sweep: one row per job, its overrides and metrics.

    .venv/bin/python -m scripts.collect_sweep multirun/select_1 [--out sweep.csv] [--sort]

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
jobs, or with --sort; otherwise they keep job order. CSV to stdout, or to
--out; the chosen configuration (the best selection score) goes to stderr,
and where jobs override `seed`, the mean score of each configuration over
its seeds as well (one seed's score can move by more than the differences
between configurations).
"""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

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
    """The job's composed config (.hydra/config.yaml) without `seed` and the
    progress bar, as one string: jobs that ran the same model compare equal
    however their overrides were spelled."""
    config = job / ".hydra" / "config.yaml"
    if not config.exists():
        return None
    tree = yaml.safe_load(config.read_text()) or {}
    tree.pop("seed", None)
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


def chosen(table: pd.DataFrame) -> dict | None:
    """The row with the best (lowest) selection score, or None."""
    if "selection_score" not in table.columns or table["selection_score"].isna().all():
        return None
    return table.loc[table["selection_score"].idxmin()].to_dict()


def describe(table: pd.DataFrame, override_keys: list[str]) -> str:
    best = chosen(table)
    if best is None:
        return "no finished job with a selection score"
    overrides = " ".join(f"{k}={best[k]}" for k in override_keys
                         if isinstance(best.get(k), str) and best[k] != "")
    lines = [f"chosen: job {best['job']}: {overrides or '(no overrides)'}",
             f"  selection score {best['selection_score']:.4f}"]
    if "holdout_fold.dcmmm.scaled_rmse" in best:
        lines[-1] += f" (dcmmm, mean of folds {best['selection_folds']})"
        for m in MODELS[1:]:
            if f"select.{m}.scaled_rmse" in best:
                lines.append(f"  {m}: selection {best[f'select.{m}.scaled_rmse']:.4f}, "
                             f"holdout fold {best[f'holdout_fold.{m}.scaled_rmse']:.4f}")
        lines.append(f"  holdout fold (reported, not used to choose): dcmmm "
                     f"{best['holdout_fold.dcmmm.scaled_rmse']:.4f}")
    else:
        lines[-1] += " (validation.scaled_rmse)"
    return "\n".join(lines)


def by_config(table: pd.DataFrame, override_keys: list[str]) -> pd.DataFrame | None:
    """Mean selection score per configuration over its seeds (None without a seed key).

    A configuration is a job's composed config without `seed` (jobs without
    .hydra/config.yaml: their overrides other than `seed`); it is labelled by
    the overrides, other than `seed`, of its first job. Rows: `config`,
    `seeds` (how many finished jobs), `selection_score` (their mean),
    `holdout_fold` (mean dcmmm scaled RMSE of the last fold, where there is
    a backtest), sorted by seeds (most first) and then by score.
    """
    if "seed" not in override_keys or "selection_score" not in table.columns:
        return None
    keys = [k for k in override_keys if k != "seed"]
    done = table[table["selection_score"].notna()].copy()
    labels = [" ".join(f"{k}={r[k]}" for k in keys if isinstance(r.get(k), str) and r[k] != "")
              for _, r in done.iterrows()]
    configs = table.attrs.get("configs", {})
    ids = [configs.get(job) or label for job, label in zip(done["job"], labels)]
    first = dict(zip(reversed(ids), reversed(labels)))
    done["config"] = [first[i] or "(defaults)" for i in ids]
    agg = {"seeds": ("selection_score", "size"), "selection_score": ("selection_score", "mean")}
    if "holdout_fold.dcmmm.scaled_rmse" in done.columns:
        agg["holdout_fold"] = ("holdout_fold.dcmmm.scaled_rmse", "mean")
    grouped = done.groupby("config").agg(**agg).reset_index()
    return grouped.sort_values(["seeds", "selection_score"], ascending=[False, True],
                               kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (hydra.sweep.dir)")
    parser.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    parser.add_argument("--sort", action="store_true",
                        help="sort by selection_score also when no job has a backtest")
    args = parser.parse_args(argv)
    try:
        table = collect(args.sweep_dir, sort=True if args.sort else None)
    except ValueError as err:
        print(f"collect_sweep: error: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(args.out, index=False)
        print(f"{len(table)} jobs -> {args.out}", file=sys.stderr)
    keys = table.attrs.get("overrides", [])
    print(describe(table, keys), file=sys.stderr)
    grouped = by_config(table, keys)
    if grouped is not None:
        print("mean over seeds (a config run with more seeds ranks first):", file=sys.stderr)
        print(grouped.to_string(index=False, float_format="%.4f"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
