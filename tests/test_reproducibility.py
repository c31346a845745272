"""Resume after kill -9, determinism, load_run, and the non-finite guard."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import dcmmm
from dcmmm.errors import TrainingError
from dcmmm.run import main as run_main
from tests import compile_cache
from tests.test_run import ROOT, TINY, _compose

LONG = ["data.n_regions=4", "data.n_weeks=60", "model.dynamics.hidden=2", "train.progress=false",
        "train.max_steps=1000", "train.patience=1000", "train.steps_per_call=10",
        "train.refit_steps=100", "train.checkpoint_every=100", "evidence.steps=0",
        "model.ensemble_size=1"]


def _run(tmp_path, name, overrides):
    cfg = OmegaConf.to_container(_compose(overrides), resolve=True)
    run_main(cfg, tmp_path / name)
    return pd.read_csv(tmp_path / name / "predictions.csv")


def test_same_seed_identical_other_seed_differs(tmp_path):
    a = _run(tmp_path, "a", TINY)
    b = _run(tmp_path, "b", TINY)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = _run(tmp_path, "c", [*TINY, "seed=1"])
    assert not np.allclose(a["predicted"], c["predicted"])


def test_load_run_reproduces_predictions_and_the_readme_examples_run(tmp_path):
    saved = _run(tmp_path, "run", TINY)
    loaded = dcmmm.load_run(tmp_path / "run")
    yhat, _ = loaded.predict()
    np.testing.assert_allclose(yhat.ravel(), saved["predicted"].to_numpy(), rtol=1e-12)
    assert loaded.panel.n_regions == 4
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 3 and "dcmmm.what_if(run," in blocks[0] and "dcmmm.plan(" in blocks[1]
    for block in blocks:
        code = textwrap.dedent(re.sub(r'"outputs/[^"]*"', repr(str(tmp_path / "run")), block))
        namespace = {}
        exec(code, namespace)  # noqa: S102  (the README's own examples)
        assert isinstance(namespace["run"], dcmmm.Fitted)


def test_non_finite_loss_stops_with_checkpoint_message(tmp_path):
    overrides = [*TINY, "train.max_steps=40", "train.steps_per_call=5", "train.checkpoint_every=5",
                 "optim.learning_rate=1e30", "optim.warmup_steps=0", "optim.clip_norm=1e30"]
    cfg = OmegaConf.to_container(_compose(overrides), resolve=True)
    with pytest.raises(TrainingError, match="checkpoint"):
        run_main(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "predictions.csv").exists()


def test_kill_9_then_resume_equals_uninterrupted(tmp_path):
    reference = _run(tmp_path, "reference", LONG)
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "train.py"), *LONG, f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=compile_cache.without())  # killed mid-run
    ckpt = run_dir / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and any(p.name.isdigit() for p in ckpt.iterdir()):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "metrics.json").exists(), "the run finished before it could be killed"
    assert any(p.name.isdigit() for p in ckpt.iterdir())
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from checkpoint" in (run_dir / "train.log").read_text()  # not a restart
    resumed = pd.read_csv(run_dir / "predictions.csv")
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)


def test_analyses_rerun_on_a_finished_run_without_retraining(tmp_path, capsys):
    import json

    from dcmmm.analysis.summary import number
    from scripts import analyse

    _run(tmp_path, "run", TINY)
    run_dir = tmp_path / "run"
    before = json.loads((run_dir / "budget_summary.json").read_text())
    predictions = (run_dir / "predictions.csv").read_bytes()
    assert analyse.main([str(run_dir), "--total", str(0.9 * before["total_budget"]),
                         "--upper", "1.2"]) == 0
    after = json.loads((run_dir / "budget_summary.json").read_text())
    assert after["total_budget"] == pytest.approx(0.9 * before["total_budget"], rel=1e-4)
    plan = pd.read_csv(run_dir / "budget.csv")
    assert (plan["multiplier"] <= 1.2 + 1e-4).all()
    assert (run_dir / "predictions.csv").read_bytes() == predictions  # the fit is untouched
    assert (run_dir / "report.html").exists()
    printed = " ".join(capsys.readouterr().out.split())  # ends with the new plan's summary
    assert f"at the same total, {number(after['total_budget'])} over the last" in printed
    assert analyse.main([str(tmp_path / "nothing")]) == 2
