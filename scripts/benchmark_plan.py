"""How long planning takes on a finished run, after loading it.

    python -m scripts.benchmark_plan RUN_DIR [--weeks 13] [--repeat 3]

Each case runs in a fresh process (nothing compiled yet), as one plan.py
run would: `dcmmm.load_run`, then the planner (the model over the future
weeks) and the case itself, its tables included: `fixed` (the fixed-budget
plan per channel), `by_region` (per region and channel) and `frontier` (16
budgets, one vmapped program). `after_loading_seconds` is the planner plus
the case's first call (compilation included); `again_seconds` the median of
`--repeat` more calls (compiled: what a planner page pays per change), and
`evaluate_ms` one evaluation of a plan (what a slider moves). Prints one JSON
line per case with the run's size and the machine's CPU count and load.
"""

import argparse
import json
import os
import subprocess
import sys
import time

CASES = ("fixed", "by_region", "frontier")


def _case(run_dir: str, case: str, weeks: int, repeat: int) -> dict:
    import jax
    import numpy as np

    import dcmmm
    from dcmmm.planning.planner import Planner
    from dcmmm.planning.tables import plan_table, summary, weekly_table

    def seconds(fn) -> float:
        started = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - started

    started = time.perf_counter()
    run = dcmmm.load_run(run_dir)
    out = {"case": case, "run": run_dir, "regions": run.panel.n_regions,
           "weeks": run.panel.n_weeks, "channels": run.panel.n_channels, "plan_weeks": weeks,
           "load_seconds": time.perf_counter() - started}
    pspec = dcmmm.PlanSpec(weeks=weeks, by_region=case == "by_region")
    started = time.perf_counter()
    planner = Planner.of(run, pspec)
    out["planner_seconds"] = time.perf_counter() - started

    def plan():
        if case == "frontier":
            return planner.frontier(pspec)
        optimum = planner.optimise(pspec)
        return (plan_table(planner, optimum, pspec), weekly_table(planner, optimum),
                summary(planner, optimum, pspec))

    out["first_seconds"] = seconds(plan)
    out["after_loading_seconds"] = out["planner_seconds"] + out["first_seconds"]
    out["again_seconds"] = float(np.median([seconds(plan) for _ in range(repeat)]))
    mult = np.full(planner.spend_rc.shape, 1.1)
    planner.evaluate(mult)
    out["evaluate_ms"] = 1e3 * float(np.median([seconds(lambda: planner.evaluate(mult))
                                                for _ in range(20)]))
    out.update(cpus=os.cpu_count(), load_average=[round(v, 2) for v in os.getloadavg()])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls after the first")
    parser.add_argument("--case", choices=CASES, help="one case in this process")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(args.run_dir, args.case, args.weeks, args.repeat)))
        return
    for case in CASES:
        subprocess.run([sys.executable, "-m", "scripts.benchmark_plan", args.run_dir,
                        "--weeks", str(args.weeks), "--repeat", str(args.repeat), "--case", case],
                       check=True)


if __name__ == "__main__":
    main()
