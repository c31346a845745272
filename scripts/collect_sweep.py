"""One table of a Hydra multirun sweep: one row per job, its overrides and metrics.

    .venv/bin/python -m scripts.collect_sweep multirun/select_1 [--out sweep.csv] [--sort]

The table (`dcmmm.sweep.collect`, whose docstring lists its columns) has one
row per job: its path, status, overrides, selection score and metrics. Every
sweep of `train.py -m` writes it to `<sweep dir>/sweep.csv` when it ends; this
script rebuilds it, for instance for a sweep still running or several sweeps
under one folder.

Rows are sorted by `selection_score` (lowest first) when the sweep has backtest
jobs, or with --sort; otherwise they keep job order. CSV to stdout, or to
--out; the chosen configuration (the best selection score) goes to stderr,
and where jobs override `seed`, the mean score of each configuration over
its seeds as well (one seed's score can move by more than the differences
between configurations).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from dcmmm.sweep import MODELS, collect, selection_folds

__all__ = ["by_config", "chosen", "collect", "describe", "main", "selection_folds"]


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
