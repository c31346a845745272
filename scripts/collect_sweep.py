"""One table of a Hydra multirun sweep: one row per job, its overrides and metrics.

    .venv/bin/python scripts/collect_sweep.py multirun/2026-01-01/12-00-00 [--out sweep.csv]

A job is a directory with `.hydra/overrides.yaml` (any depth under the sweep
directory). Columns: `job` (its path relative to the sweep), `status`
(`done` when metrics.json exists, else `unfinished`), one column per
overridden key (its value as given on the command line), then every number of
metrics.json flattened with dots: `holdout.scaled_rmse`, `validation.r2`,
`naive_holdout.seasonal_naive.scaled_rmse`, `fit_seconds`, ... (units as in
metrics.json: r2 and scaled_rmse unitless, rmse in KPI units, mape a fraction).
CSV to stdout, or to --out.
"""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

FIRST = ["holdout.scaled_rmse", "holdout.r2", "validation.scaled_rmse", "validation.r2"]


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


def collect(sweep_dir: Path) -> pd.DataFrame:
    """The table of every job under `sweep_dir` (ValueError when there is none)."""
    jobs = sorted((p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")),
                  key=lambda p: _job_order(p.relative_to(sweep_dir)))
    if not jobs:
        raise ValueError(f"no Hydra job (*/.hydra/overrides.yaml) under '{sweep_dir}'")
    rows, override_keys = [], []
    for job in jobs:
        overrides = parse_overrides(yaml.safe_load((job / ".hydra" / "overrides.yaml")
                                                   .read_text()) or [])
        override_keys += [k for k in overrides if k not in override_keys]
        metrics_path = job / "metrics.json"
        metrics = flatten(json.loads(metrics_path.read_text())) if metrics_path.exists() else {}
        status = "done" if metrics_path.exists() else "unfinished"
        rows.append({"job": str(job.relative_to(sweep_dir)), "status": status, **overrides,
                     **metrics})
    table = pd.DataFrame(rows)
    metric_cols = [c for c in table.columns if c not in ["job", "status", *override_keys]]
    ordered = [c for c in FIRST if c in metric_cols] + [c for c in metric_cols if c not in FIRST]
    return table[["job", "status", *override_keys, *ordered]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (hydra.sweep.dir)")
    parser.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        table = collect(args.sweep_dir)
    except ValueError as err:
        print(f"collect_sweep: error: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(args.out, index=False)
        print(f"{len(table)} jobs -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
