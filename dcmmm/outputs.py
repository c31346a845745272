"""Writing a fitted model's tables and its report into the run directory.

The tables come from `dcmmm.tables` (pure); this module only writes them,
under the names of `dcmmm.rundir`.
"""

import logging
from pathlib import Path

import pandas as pd

from dcmmm import rundir
from dcmmm.analysis.budget import BudgetSpec
from dcmmm.analysis.report import write_report
from dcmmm.fitted import Fitted
from dcmmm.tables import Analyses, analyses, decomposition_table, predictions_table

logger = logging.getLogger(__name__)


def write_table(run_dir: Path, name: str, table: pd.DataFrame) -> None:
    """One table as CSV (missing values as empty cells)."""
    table.to_csv(run_dir / name, index=False, na_rep="")


def write_analyses(run_dir: Path, tables: Analyses) -> None:
    """dag.csv, channels.csv, channels_window.csv, response_curves*.csv, and
    where they apply budget.csv + budget_summary.json (removed without spend),
    calibration.csv, priors.csv, refresh.csv + refresh_edges.csv."""
    write_table(run_dir, rundir.DAG, tables.dag)
    write_table(run_dir, rundir.CHANNELS, tables.channels)
    if tables.refresh is not None:
        write_table(run_dir, rundir.REFRESH, tables.refresh[0])
        write_table(run_dir, rundir.REFRESH_EDGES, tables.refresh[1])
    write_table(run_dir, rundir.CHANNELS_WINDOW, tables.channels_window)
    write_table(run_dir, rundir.CURVES, tables.curves)
    write_table(run_dir, rundir.CURVES_HILL, tables.curves_hill)
    if tables.budget is not None:
        write_table(run_dir, rundir.BUDGET, tables.budget)
        rundir.write_json(run_dir / rundir.BUDGET_SUMMARY, rundir.clean(tables.budget_summary))
    else:
        for name in (rundir.BUDGET, rundir.BUDGET_SUMMARY):
            (run_dir / name).unlink(missing_ok=True)
        logger.info("no spend columns (data.spend): the budget optimiser needs spend; skipped")
    if tables.calibration is not None:
        write_table(run_dir, rundir.CALIBRATION, tables.calibration)
    if tables.priors is not None:
        write_table(run_dir, rundir.PRIORS, tables.priors)


def write_run_report(run_dir: Path, tables: Analyses, metrics: dict, predictions: pd.DataFrame,
                     decomposition: pd.DataFrame, backtest: pd.DataFrame | None = None,
                     refresh: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Path:
    """report.html of the run (`dcmmm.analysis.report`)."""
    return write_report(run_dir / rundir.REPORT, metrics=metrics, backtest=backtest,
                        refresh=refresh, predictions=predictions, decomposition=decomposition,
                        channels=tables.channels, curves=tables.curves, dag=tables.dag,
                        budget=tables.budget, budget_summary=tables.budget_summary,
                        title=f"dcmmm report: {run_dir.name}")


def analyse(fitted: Fitted, run_dir: str | Path, bspec: BudgetSpec) -> Analyses:
    """Rewrite the analyses of a finished run (`dcmmm.load_run`) in its
    directory, for instance with another budget: the tables of
    `write_analyses` and the report. The fit's files (predictions,
    decomposition, metrics, checkpoints) stay as they are."""
    run_dir = Path(run_dir)
    tables = analyses(fitted, bspec)
    write_analyses(run_dir, tables)
    write_run_report(run_dir, tables, rundir.read_json(run_dir / rundir.METRICS),
                     predictions_table(fitted), decomposition_table(fitted),
                     rundir.read_backtest(run_dir), rundir.read_refresh(run_dir))
    return tables
