"""What `plan.py` runs: a planning config in, a plan directory out.

The finished run is read back (`dcmmm.load_run`), never written: the plan's
files go to their own directory, which may not be the run directory or lie
inside it, and a directory that holds a finished plan is never written again.
"""

import logging
from pathlib import Path

from dcmmm import rundir
from dcmmm.config import check_plan_config, plan_spec
from dcmmm.config_keys import read
from dcmmm.errors import ConfigError
from dcmmm.loaded import load_run
from dcmmm.planning.report import write_plan_report
from dcmmm.planning.tables import Plan, plan

PLAN = "plan.csv"
PLAN_WEEKLY = "plan_weekly.csv"
PLAN_SUMMARY = "plan_summary.json"  # written last: it marks a finished plan
FRONTIER = "frontier.csv"
PLAN_DATA = "plan_data.csv"
PLAN_REPORT = "plan.html"

logger = logging.getLogger(__name__)


def main(cfg: dict, out_dir: str | Path) -> dict:
    """Plan with the run `cfg["run"]` as the `plan` group says, into `out_dir`;
    returns plan_summary.json's content."""
    check_plan_config(cfg)
    run_dir, out_dir = Path(read(cfg, "run")), Path(out_dir)
    inside = out_dir.resolve() == run_dir.resolve() or run_dir.resolve() in out_dir.resolve().parents
    if inside:
        raise ConfigError(f"the plan's directory '{out_dir}' is inside the run directory "
                          f"'{run_dir}': choose another hydra.run.dir (a plan never writes there)")
    if (out_dir / PLAN_SUMMARY).exists():
        raise ConfigError(f"'{out_dir}' already holds a plan; choose another hydra.run.dir")
    check_spend(run_dir)
    pspec, path = plan_spec(cfg)
    fitted = load_run(run_dir)
    logger.info("run %s: %d regions x %d weeks to %s, %d channels", run_dir,
                fitted.panel.n_regions, fitted.panel.n_weeks, fitted.panel.period_labels()[-1],
                fitted.panel.n_channels)
    result = plan(fitted, path, pspec)
    result.summary["run"] = str(run_dir)
    write_plan(out_dir, result, f"dcmmm plan: {run_dir.name}, {pspec.scenario}")
    s = result.summary
    logger.info("plan %s, %d weeks from %s: spend %.6g (given %.6g), incremental KPI %.6g "
                "(given %.6g), written to %s", pspec.scenario, s["plan_weeks"], s["first_week"],
                s["spend_planned"], s["spend_given"], s["incremental_kpi_planned"],
                s["incremental_kpi_given"], out_dir)
    return s


def check_spend(run_dir: Path) -> None:
    """ConfigError, before anything is loaded, for a run fitted without spend columns."""
    cfg = rundir.read_json(run_dir / rundir.CONFIG)
    if cfg is None:
        return  # load_run names what is missing
    data = cfg.get("data", {})
    synthetic = data.get("source", "file") != "file"
    if (synthetic and not data.get("with_spend", True)) or (not synthetic and not data.get("spend")):
        raise ConfigError(f"planning needs spend columns: the run '{run_dir}' was fitted without "
                          "data.spend")


def write_plan(out_dir: Path, result: Plan, title: str) -> None:
    """plan.csv, plan_weekly.csv, plan_data.csv, frontier.csv (when computed),
    plan.html and, last, plan_summary.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out_dir / PLAN, index=False, na_rep="")
    result.weekly.to_csv(out_dir / PLAN_WEEKLY, index=False)
    result.data.to_csv(out_dir / PLAN_DATA, index=False)
    if result.frontier is not None:
        result.frontier.to_csv(out_dir / FRONTIER, index=False, na_rep="")
    write_plan_report(out_dir / PLAN_REPORT, result.table, result.summary, result.frontier, title)
    rundir.write_json(out_dir / PLAN_SUMMARY, rundir.clean(result.summary))
