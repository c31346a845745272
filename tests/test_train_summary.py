"""What a newcomer sees: `train.py +experiment=smoke` ends its console output
with the run's summary (every channel, the holdout against the naive
forecasts, the plan's gain, the report), keeps library chatter out of the
console and train.log, and writes a report that fits a 1300 px page.

One real train.py run serves every test here (a smaller panel and 3 steps:
the same console as `+experiment=smoke`, in a fraction of its time); the tests
share an xdist group so that it runs once.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from dcmmm.analysis.summary import lift_text, number, percent
from tests.analysis.test_summary import summary_rows
from tests.browser import measure, needs_chromium, past_the_page
from tests.test_run import ROOT, TINY

pytestmark = pytest.mark.xdist_group("smoke_console")
CHATTER = ("Unable to initialize backend", "[absl]", "[jax.", "[orbax", "[matplotlib")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "+experiment=smoke", *TINY,
                           f"hydra.run.dir={run_dir}"], capture_output=True, text=True,
                          cwd=run_dir.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, run_dir


def test_console_ends_with_the_summary_of_every_channel(smoke):
    proc, run_dir = smoke
    assert "dcmmm: what this run found" in proc.stdout
    summary = proc.stdout[proc.stdout.index("dcmmm: what this run found"):]
    flat = " ".join(summary.split())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['holdout']['scaled_rmse']:.3f} for dcmmm" in flat
    for name, naive in (("last value", "last_value"), ("region mean", "region_mean")):
        assert f"{metrics['naive_holdout'][naive]['scaled_rmse']:.3f} ({name})" in flat
    rows = summary_rows(summary)
    channels = pd.read_csv(run_dir / "channels.csv")
    assert len(channels) == 5
    for row in channels.itertuples():
        assert rows[row.channel] == [row.channel, percent(row.share),
                                     number(row.incremental_total), number(row.spend),
                                     number(row.roi), number(row.mroi)]
    budget = json.loads((run_dir / "budget_summary.json").read_text())
    assert f"gains {lift_text(budget)}" in flat
    last = summary.rstrip().splitlines()[-1]
    assert last == "Report: run/report.html"  # relative to the working directory
    assert (run_dir.parent / last.removeprefix("Report: ")).samefile(run_dir / "report.html")


def test_no_library_chatter_on_the_console_or_in_the_log(smoke):
    proc, run_dir = smoke
    log = (run_dir / "train.log").read_text()
    for text in (proc.stdout, proc.stderr, log):
        assert not [c for c in CHATTER if c in text], text[:2000]
    assert "[dcmmm.run][INFO] - fit: 3 steps" in log  # dcmmm's own progress stays


@needs_chromium
def test_report_fits_a_1300px_page(smoke):
    _, run_dir = smoke
    layout, = measure([run_dir / "report.html"])
    assert layout["page"] == 1300 and layout["scroll_width"] <= 1300
    assert len(layout["tables"]) >= 5 and past_the_page(layout) == []
