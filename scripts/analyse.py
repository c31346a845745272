"""Re-run the analyses of a finished run without retraining.

    python -m scripts.analyse outputs/2026-11-29/10-00-00 [--total 2e6] [--lower 0.7] [--upper 1.3] [--window-weeks 26]

Loads the run (`dcmmm.load_run`: its fitted model) and
rewrites dag.csv, channels.csv, channels_window.csv, response_curves*.csv,
budget.csv, budget_summary.json and report.html in that directory, and ends
with the run's summary as `train.py` does. Budget options default to the
run's `budget` config.
"""

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import dcmmm
from dcmmm.analysis.summary import run_summary
from dcmmm.config import budget_spec
from dcmmm.errors import ConfigError, DataError
from dcmmm.logs import quiet_libraries
from dcmmm.rundir import CONFIG, read_json, read_tables


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--total", type=float, default=None, help="budget over the window (money)")
    parser.add_argument("--lower", type=float, default=None, help="lowest multiplier per channel")
    parser.add_argument("--upper", type=float, default=None, help="highest multiplier per channel")
    parser.add_argument("--window-weeks", type=int, default=None, help="planning window (weeks)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with quiet_libraries():
            fitted = dcmmm.load_run(args.run_dir)
            bspec = budget_spec(read_json(Path(args.run_dir) / CONFIG))
            changes = {k: v for k, v in {"total": args.total, "lower": args.lower,
                                         "upper": args.upper,
                                         "window_weeks": args.window_weeks}.items()
                       if v is not None}
            dcmmm.analyse(fitted, args.run_dir, dataclasses.replace(bspec, **changes))
    except (ConfigError, DataError) as err:
        print(f"dcmmm: error: {err}", file=sys.stderr)
        return 2
    print(f"analyses rewritten in {args.run_dir}")
    print(run_summary(read_tables(args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
