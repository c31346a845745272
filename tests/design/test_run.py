"""design.py end to end on a tiny run: the files, the calibration format, bad input."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcmmm.analysis.summary import percent
from dcmmm.data import synthetic
from dcmmm.data.calibration import lift_tests_from_frame
from dcmmm.design.run import main as design_main
from dcmmm.design.summary import design_summary
from dcmmm.loaded import load_run
from dcmmm.run import main as run_main
from tests.test_run import CONF, ROOT, TINY, _compose

TINY_RUN = [*TINY, "data.n_regions=8", "train.max_steps=40", "train.steps_per_call=20"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("design") / "run"
    run_main(OmegaConf.to_container(_compose(TINY_RUN), resolve=True), run_dir)
    return run_dir


def design_cfg(run_dir, overrides=()):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="design", overrides=[f"run={run_dir}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def test_a_design_is_a_calibration_file_waiting_for_its_lift(tiny_run, tmp_path):
    design = design_main(design_cfg(tiny_run, ["design.channel=social",
                                               "design.retrospective=true"]), tmp_path)
    table = pd.read_csv(tmp_path / "design.csv", keep_default_na=False)
    assert list(table.columns) == ["channel", "region", "start", "end", "measure_end", "lift",
                                   "lift_se"]
    assert list(table["channel"]) == ["social"] and list(table["lift"]) == [""]
    test = design["tests"][0]
    assert table["region"][0].split(";") == test["treatment"]
    assert set(test["treatment"]).isdisjoint(design["control"])
    assert float(table["lift_se"][0]) == pytest.approx(test["lift_se"]) and test["lift_se"] > 0
    assert 0.0 <= test["power"] <= 1.0 and test["cooldown_weeks"] >= 1
    assert test["roi_is"] == "roi"  # the tiny run has spend: roi is its ROI
    saved = json.loads((tmp_path / "design.json").read_text())
    assert saved["tests"][0]["treatment"] == test["treatment"]
    assert "Switch social off" in (tmp_path / "design.html").read_text()
    # filled in, it is a lift-test file of the run's panel
    fitted = load_run(tiny_run)
    tests = lift_tests_from_frame(table.assign(lift=1000.0), fitted.panel)
    regions = [fitted.panel.regions[r] for r in np.flatnonzero(tests.region_w[0])]
    assert regions == test["treatment"]
    assert int(tests.measure_w[0].sum()) == test["weeks"] + test["cooldown_weeks"]
    # the generator runs it in the true world, at the precision the design states
    _, _, world = synthetic.simulate(synthetic.scenario("geo"), seed=0)
    assert world.regions[:8] != ()  # the tiny run's data are the first 8 regions' own draw
    with pytest.raises(Exception, match="not regions of the world|not all weeks"):
        synthetic.designed_lift_tests(world, table.assign(region="nowhere"))


def test_without_a_channel_the_least_known_are_designed_in_disjoint_regions(tiny_run, tmp_path):
    design = design_main(design_cfg(tiny_run, ["design.max_tests=2"]), tmp_path)
    tests = design["tests"]
    assert 1 <= len(tests) <= 2
    groups = [set(t["treatment"]) for t in tests] + [set(design["control"])]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # disjoint
    # the test starts the week after the data by default
    fitted = load_run(tiny_run)
    last = pd.Timestamp(fitted.panel.period_labels()[-1])
    assert all(pd.Timestamp(t["start"]) == last + pd.Timedelta(weeks=1) for t in tests)


def _design(args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "design.py"), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("args, words", [
    (["design.channel=nope"], "design.channel 'nope' is not a channel"),
    (["design.power=1.5"], "design.power must be a finite number in (0, 1), got 1.5"),
    (["design.weeks=0"], "design.weeks must be an integer >= 1, got 0"),
    (["design.level=nan"], "design.level must be a finite number"),
    (["design.min_power=1.5"], "design.min_power must be a finite number in [0, 1), got 1.5"),
    (["design.baseline_weeks=0"], "design.baseline_weeks must be an integer >= 1, got 0"),
    (["+design.wekks=3"], "unknown config key 'design.wekks'"),
    (["design.weeks=60"], "need more than the"),
    (["design.max_weeks=0"], "design.max_weeks must be an integer >= 1, got 0"),
])
def test_bad_design_input_is_one_line_and_exit_2(tiny_run, tmp_path, args, words):
    proc = _design([f"run={tiny_run}", f"hydra.run.dir={tmp_path / 'out'}", *args], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("dcmmm: error: ") and words in lines[0], lines[0]


def test_a_directory_that_is_not_a_run_or_no_run_is_one_line_and_exit_2(tmp_path):
    proc = _design([f"run={tmp_path}", f"hydra.run.dir={tmp_path / 'out'}"], tmp_path)
    assert proc.returncode == 2 and "is not a finished dcmmm run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _design([f"hydra.run.dir={tmp_path / 'out2'}"], tmp_path)
    assert proc.returncode == 2 and "missing required config value: run" in proc.stderr, proc.stderr


def test_design_py_ends_with_a_summary_of_its_tests(tiny_run, tmp_path):
    proc = _design([f"run={tiny_run}", f"hydra.run.dir={tmp_path / 'out'}",
                    "design.channel=social"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "out" / "design.json").read_text())
    test = record["tests"][0]
    out = proc.stdout
    assert "dcmmm: the experiments this run needs" in out and "Channels chosen: named" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("social"))
    assert f"{test['start']}..{test['end']} +{test['cooldown_weeks']}" in row
    assert percent(test["power"]) in row.split() and str(len(test["treatment"])) in row.split()
    # paths as short as the working directory (tmp_path) allows
    assert out.rstrip().endswith("Design: out/design.csv\nPage: out/design.html"), out


def test_the_design_takes_the_fewest_regions_that_reach_the_precision(tiny_run, tmp_path):
    loose = design_main(design_cfg(tiny_run, ["design.channel=social", "design.precision=1000",
                                              "design.power=0.01"]), tmp_path / "loose")
    strict = design_main(design_cfg(tiny_run, ["design.channel=social", "design.precision=1e-6"]),
                         tmp_path / "strict")
    assert len(loose["tests"][0]["treatment"]) == 1  # one region already reaches it
    assert loose["tests"][0]["weeks"] == 4  # in the shortest test tried
    test = strict["tests"][0]  # unreachable: the whole share (half of the 8 regions)
    assert len(test["treatment"]) == 4 and test["relative_se"] > 1e-6
    assert test["weeks"] == 16  # and the longest test (design.max_weeks)
    assert test["weeks_why"].startswith("the longest") and "shortest" in loose["tests"][0][
        "weeks_why"]
    assert f"for 16 weeks ({test['weeks_why']})" in (tmp_path / "strict" / "design.html").read_text()
    short = design_main(design_cfg(tiny_run, ["design.channel=social", "design.precision=1e-6",
                                              "design.weeks=4"]), tmp_path / "short")["tests"][0]
    assert short["weeks"] == 4 and short["relative_se"] > test["relative_se"]  # less precise
    assert test["relative_se"] == pytest.approx(test["lift_se"] / abs(test["expected_lift"]))
    assert "Below the precision or power asked for" in design_summary(
        json.loads((tmp_path / "strict" / "design.json").read_text()))


def test_a_channel_whose_test_cannot_tell_it_from_zero_is_not_proposed(tiny_run, tmp_path):
    free = design_main(design_cfg(tiny_run, ["design.min_power=0"]), tmp_path / "free")
    assert free["not_proposed"] == [] and free["tests"]
    # a bar no test reaches: the channels are listed with their tests' power,
    # and the design keeps the single test that comes closest, saying so
    design = design_main(design_cfg(tiny_run, ["design.min_power=0.9999999999"]),
                         tmp_path / "strict")
    skipped, (test,) = design["not_proposed"], design["tests"]
    assert "no test reaches power" in design["why"] and test["channel"] in design["why"]
    assert skipped and all(s["power"] < 0.9999999999 for s in skipped)
    assert test["channel"] not in {s["channel"] for s in skipped}
    record = json.loads((tmp_path / "strict" / "design.json").read_text())
    assert [s["channel"] for s in record["not_proposed"]] == [s["channel"] for s in skipped]
    summary = design_summary(record)
    assert "Not proposed" in summary and all(s["channel"] in summary for s in skipped)
    assert "Not proposed" in (tmp_path / "strict" / "design.html").read_text()
    # a named channel is designed whatever its power
    named = design_main(design_cfg(tiny_run, ["design.min_power=0.9999999999",
                                              f"design.channel={skipped[0]['channel']}"]),
                        tmp_path / "named")
    assert [t["channel"] for t in named["tests"]] == [skipped[0]["channel"]]
    assert named["not_proposed"] == []
