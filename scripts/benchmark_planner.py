"""Server time of a slider change on the planner page (issue 19: at most 300 ms
on the 40-region geo run on 2 cores).

    python -m scripts.benchmark_planner RUN_DIR [--repeat 20]

In one process: the page's run opened (`open_run`: load plus the model over
the plan weeks), then the page itself under Streamlit's AppTest, which runs
the script in this process exactly as the server does for a browser session
(widgets, numbers, charts, the messages sent to the browser; only the
network is missing). Each change moves the first channel's slider by 1% (up
and down in turn) and reruns the script; `rerun_ms` is the wall time of that
rerun, `view_ms` the numbers alone (`dcmmm.planner.view.view`: plan.csv's
table, the curves, the weekly KPI), `region_rerun_ms` the rerun with one
region picked. Prints one JSON line with medians and maxima, the machine's
CPU count and load.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "dcmmm" / "planner" / "app.py"


def _stats(ms: list[float]) -> dict:
    return {"median": statistics.median(ms), "max": max(ms), "n": len(ms)}


def benchmark(run_dir: str, repeat: int) -> dict:
    import numpy as np
    from streamlit.testing.v1 import AppTest

    from dcmmm.planner import session
    from dcmmm.planner.view import view

    cfg = {"run": str(run_dir)}
    os.environ[session.ENV] = json.dumps(cfg, sort_keys=True)
    started = time.perf_counter()
    run = session.open_run(cfg)
    out = {"run": str(run_dir), "regions": run.fitted.panel.n_regions,
           "channels": run.fitted.panel.n_channels, "plan_weeks": run.given.future.n_weeks,
           "members": 0 if run.given.members is None else int(run.given.members.kpi_mean.shape[0]),
           "open_run_s": time.perf_counter() - started}
    view_ms = []
    for k in range(repeat):
        mult = np.ones(run.fitted.panel.n_channels)
        mult[0] = 1.0 + 0.01 * (k % 2 + 1)
        started = time.perf_counter()
        view(run.given, run.pspec, mult)
        view_ms.append(1e3 * (time.perf_counter() - started))
    at = AppTest.from_file(str(APP), default_timeout=600)
    started = time.perf_counter()
    at.run()
    out["first_run_s"] = time.perf_counter() - started  # the run loaded and compiled (cached)
    if at.exception:
        raise RuntimeError(at.exception[0].message)

    def changes(n: int) -> list[float]:
        ms = []
        for k in range(n):
            started = time.perf_counter()
            at.slider[0].set_value(101.0 if k % 2 == 0 else 100.0).run()
            ms.append(1e3 * (time.perf_counter() - started))
            assert not at.exception and not at.error
        return ms

    changes(2)  # the second session-side shapes compile once
    out["view_ms"] = _stats(view_ms[2:])
    out["rerun_ms"] = _stats(changes(repeat))
    at.selectbox(key="region").set_value(run.fitted.panel.regions[0]).run()
    changes(2)
    out["region_rerun_ms"] = _stats(changes(repeat))
    out.update(cpus=os.cpu_count(), load_average=os.getloadavg()[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(benchmark(args.run_dir, args.repeat)))
    sys.exit(0)


if __name__ == "__main__":
    main()
