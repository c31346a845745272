"""design.py's main: a finished run directory in, a design of lift tests out.

Writes into the output directory:

- `design.csv`: one row per test in the calibration file's format
  (`channel, region, start, end, measure_end, lift, lift_se`; the treatment
  regions joined by `;`, `lift` empty for the experiment to fill);
- `design.json`: everything the design computed per test (treatment and
  control regions, weeks, expected lift with the ensemble's interval, its
  standard error, power, ROI sd now and after, balance), why these
  channels, and `not_proposed`: the extrapolated channels skipped because
  their best test would have less than design.min_power (with that power);
- `design.html`: the same in words, with the treatment and control groups'
  pre-period KPI.
"""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dcmmm import rundir
from dcmmm.config import check_keys, group_spec
from dcmmm.config_keys import read
from dcmmm.design.page import write_design_page
from dcmmm.design.propose import DesignSpec, propose
from dcmmm.errors import ConfigError
from dcmmm.evidence import evidence_table
from dcmmm.fitted import Fitted
from dcmmm.loaded import load_run

logger = logging.getLogger(__name__)
DESIGN_CSV, DESIGN_JSON, DESIGN_HTML = "design.csv", "design.json", "design.html"


def design_spec(cfg: dict) -> DesignSpec:
    """The `design` group (absent keys: DesignSpec's defaults)."""
    return group_spec(cfg, DesignSpec, "design.")


def check_design_config(cfg: dict) -> None:
    """Check a design config (conf/design.yaml): every key, the run directory
    given, and the design's settings (`DesignSpec`)."""
    check_keys(cfg)
    read(cfg, "run")
    design_spec(cfg)


def run_channels(fitted: Fitted, run_dir: Path) -> pd.DataFrame:
    """The run's channels.csv, with the evidence columns computed when the run
    predates them."""
    path = run_dir / rundir.CHANNELS
    if not path.exists():
        raise ConfigError(f"'{run_dir}' has no {rundir.CHANNELS}: the run did not finish")
    channels = pd.read_csv(path)
    if "roi_basis" not in channels:
        channels = channels.merge(evidence_table(fitted), on="channel")
    return channels


def main(cfg: dict, out_dir: str | Path) -> dict:
    """Design lift tests for the run `cfg["run"]` into `out_dir`; returns the
    design (`dcmmm.design.propose.propose`)."""
    check_design_config(cfg)
    dspec = design_spec(cfg)
    run_dir = Path(read(cfg, "run"))
    fitted = load_run(run_dir)
    channels = run_channels(fitted, run_dir)
    design = propose(fitted, channels, dspec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    design["table"].to_csv(out_dir / DESIGN_CSV, index=False, na_rep="")
    record = {"run": str(run_dir), "why": design["why"], "control": design["control"],
              "settings": dataclasses.asdict(dspec), "tests": design["tests"],
              "not_proposed": design["not_proposed"]}
    rundir.write_json(out_dir / DESIGN_JSON, rundir.clean(_plain(record)))
    write_design_page(out_dir / DESIGN_HTML, design, fitted, dspec)
    for test in design["tests"]:
        logger.info("design: %s dark in %d regions %s..%s (measured to %s): expected lift %.4g "
                    "(se %.4g, power %.0f%%)", test["channel"], len(test["treatment"]),
                    test["start"], test["end"], test["measure_end"], test["expected_lift"],
                    test["lift_se"], 100 * test["power"])
    return design


def _plain(obj):
    """numpy values as JSON's."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
