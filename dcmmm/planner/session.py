"""The planner page's run and actions, without Streamlit (docs/design.md,
"Planner page"): the run opened once per server from the config that
`plan.py serve=true` hands over, an uploaded plan file read through the same
code as `plan.py plan.path=`, the optimise button, and the two downloads.

The run directory is fixed when the server starts (the `DCMMM_PLANNER`
environment variable); nothing on the page names a path. An upload is bytes:
it is written to a private temporary file only so that `read_future` reads
it exactly as it reads `plan.path`.
"""

import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from dcmmm.config import check_plan_config, plan_spec
from dcmmm.data.reading import SUFFIXES
from dcmmm.errors import ConfigError, DataError
from dcmmm.fitted import Fitted
from dcmmm.loaded import load_run
from dcmmm.planner.view import page_spec
from dcmmm.planning.planner import Planner
from dcmmm.planning.report import write_plan_report
from dcmmm.planning.run import check_spend
from dcmmm.planning.spec import PlanSpec
from dcmmm.planning.tables import data_table, plan_table, summary

ENV = "DCMMM_PLANNER"  # the page's config (conf/plan.yaml's, as JSON), set by `serve`
DEFAULT_UPLOAD_MB = 5
TIMING = "DCMMM_PLANNER_TIMING"  # set: the page prints each run's server time (scripts.planner_load)


@dataclasses.dataclass(frozen=True, eq=False)
class PageRun:
    """A finished run as the page serves it: the fitted model, the channel-level
    plan settings (conf/plan.yaml's `plan` group), the given plan's Planner
    (plan.path, or the weeks a year earlier) and the upload limit (MB)."""

    run_dir: Path
    fitted: Fitted
    pspec: PlanSpec
    given: Planner
    max_upload_mb: int

    @property
    def name(self) -> str:
        return self.run_dir.name


def page_config(environ=os.environ) -> dict:
    """The config `serve` put in the environment; ConfigError without it."""
    text = environ.get(ENV)
    if not text:
        raise ConfigError("the planner page starts with `python plan.py run=RUN_DIR serve=true`")
    return json.loads(text)


def open_run(cfg: dict) -> PageRun:
    """Check the config, read the run and build the given plan's Planner (the
    model over the plan weeks, once)."""
    check_plan_config(cfg)
    run_dir = Path(cfg["run"])
    check_spend(run_dir)
    pspec, path = plan_spec(cfg)
    pspec = page_spec(pspec)
    fitted = load_run(run_dir)
    return PageRun(run_dir, fitted, pspec, Planner.of(fitted, pspec, path),
                   int(cfg.get("page", {}).get("max_upload_mb", DEFAULT_UPLOAD_MB)))


def safe_name(name: str | None) -> str:
    """An uploaded file's name as the page shows it: its last part, with letters,
    digits and ._- only (nothing a browser or Markdown would interpret)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name or "plan").name)
    return name or "plan"


def read_upload(run: PageRun, name: str, data: bytes) -> Planner:
    """The Planner of an uploaded plan file (`name` only gives its type and the
    name in messages). Raises DataError for a file that is too large, of
    another type or not a valid plan (the message of `plan.py plan.path=`,
    with the file's name), ConfigError for settings that cannot apply."""
    name = safe_name(name)
    if len(data) > run.max_upload_mb * 2**20:
        raise DataError(f"the file '{name}' is {len(data) / 2**20:.1f} MB; the page takes plan "
                        f"files up to {run.max_upload_mb} MB")
    suffix = next((s for s in SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        raise DataError(f"the file '{name}' is not a plan file: use one of {', '.join(SUFFIXES)}")
    with tempfile.TemporaryDirectory(prefix="dcmmm-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            planner = Planner.of(run.fitted, run.pspec, path)
        except (DataError, ConfigError) as err:
            raise type(err)(str(err).replace(str(path), name)) from None
    planner.future = dataclasses.replace(planner.future, source=name)
    return planner


def optimise(planner: Planner, pspec: PlanSpec, scenario: str, total: float | None = None,
             target: float | None = None) -> np.ndarray:
    """[C] channel multipliers of `scenario` (as_is: the given plan): `total` is
    the budget of `fixed` and the most `target_roi` may spend; `target` the
    target ROI or marginal ROI. ConfigError when it cannot be met."""
    settings = {"scenario": scenario, "total": None, "max_total": None,
                "target_roi": None, "target_mroi": None}
    if scenario == "fixed":
        settings["total"] = total
    elif scenario == "target_roi":
        settings.update(target_roi=target, max_total=total)
    elif scenario == "target_mroi":
        settings["target_mroi"] = target
    spec = dataclasses.replace(page_spec(pspec), **settings)
    return planner.optimise(spec).multipliers[0].copy()


def plan_csv(planner: Planner, mult_c) -> bytes:
    """plan_data.csv of the plan: the run's data format, what `plan.path` reads."""
    mult = np.broadcast_to(np.asarray(mult_c, np.float64), planner.spend_rc.shape)
    return data_table(planner, planner.optimum_of(mult)).to_csv(index=False).encode()


def plan_html(planner: Planner, pspec: PlanSpec, mult_c, title: str) -> bytes:
    """plan.html of the plan (as `plan.py` writes it, its frontier included): a
    plan set on the page, so its scenario reads "as is"."""
    pspec = dataclasses.replace(page_spec(pspec), scenario="as_is", total=None, max_total=None,
                                target_roi=None, target_mroi=None)
    mult = np.broadcast_to(np.asarray(mult_c, np.float64), planner.spend_rc.shape)
    optimum = planner.optimum_of(mult)
    frontier = planner.frontier(pspec) if planner.spend_rc.sum() > 0 else None
    with tempfile.TemporaryDirectory(prefix="dcmmm-page-") as tmp:
        path = write_plan_report(Path(tmp) / "plan.html", plan_table(planner, optimum, pspec),
                                 summary(planner, optimum, pspec), frontier, title)
        return path.read_bytes()
