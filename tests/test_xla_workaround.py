"""The jaxlib CPU workarounds importing dcmmm sets (dcmmm/__init__.py): the
fusion bug (jax-ml/jax#39103) and the concurrency-optimised scheduler's deadlock."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dcmmm  # noqa: F401


def test_flag_set_and_large_fused_reduction_is_right():
    assert "--xla_cpu_experimental_ynn_fusion_type=" in os.environ.get("XLA_FLAGS", "")
    f = jax.jit(lambda m, a, x, z: a[None, :, None]
                + (jnp.tanh(z)[None] * (x[None] * m[:, None, None, None])).sum(-1))
    m = jnp.linspace(0, 3, 31)
    a = jnp.arange(30.0)
    x = jax.random.normal(jax.random.key(0), (30, 40, 3))
    z = jax.random.normal(jax.random.key(1), (30, 40, 3))
    ref = np.stack([np.asarray(a[:, None] + (jnp.tanh(z) * (x * v)).sum(-1)) for v in m])
    np.testing.assert_allclose(np.asarray(f(m, a, x, z)), ref, rtol=1e-5, atol=1e-4)


ROOT = Path(__file__).resolve().parents[1]
SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _xla_flags_after_import(flags: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags is not None:
        env["XLA_FLAGS"] = flags
    out = subprocess.run([sys.executable, "-c",
                          "import os, dcmmm; print(os.environ['XLA_FLAGS'])"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_dcmmm_turns_the_scheduler_off_unless_the_user_set_it():
    assert f"{SCHEDULER}=false" in _xla_flags_after_import(None).split()
    mine = _xla_flags_after_import(f"{SCHEDULER}=true").split()
    assert f"{SCHEDULER}=true" in mine and f"{SCHEDULER}=false" not in mine


@pytest.mark.slow
def test_a_run_with_lift_tests_finishes_its_effect_profile(tmp_path):
    """The program that deadlocked with XLA's concurrency-optimised scheduler
    (dcmmm/__init__.py): the effect profile of a calibrated run. Run in its
    own process with a time limit, so a regression fails instead of hanging
    (with `XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=true` this
    command waited forever, CPU idle, on jaxlib 0.10.2)."""
    from dcmmm.data import synthetic

    _, _, world = synthetic.simulate(synthetic.scenario("collinear"), seed=0)
    synthetic.lift_tests(world, ["tv", "radio"], [20, 60, 100], 8, seed=0).to_csv(
        tmp_path / "lift_tests.csv", index=False)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    run = subprocess.run(
        [sys.executable, "train.py", "data.scenario=collinear", "seed=0",
         "model.ensemble_size=1", "train.progress=false", "train.max_steps=100",
         "train.refit_steps=50", "evidence.steps=20",
         f"calibration.path={tmp_path / 'lift_tests.csv'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "run" / "channels.csv").exists()
    assert "effect profile of 5 channels" in run.stderr + run.stdout


@pytest.mark.slow
def test_an_ensemble_with_lift_tests_and_its_profile_finish_on_several_cpu_devices(tmp_path):
    """jaxlib's batched LAPACK solve waits inside XLA's thread pool, so with
    several CPU devices the channel graph's solve under vmap (ensemble members
    fitting lift tests, the effect profile's lanes) hung every run of
    `mesh=regions` with `--xla_force_host_platform_device_count` (README's
    demo command included); `dcmmm.model.graph.solve` avoids LAPACK there. Own
    process, time limit: a regression fails instead of hanging."""
    from dcmmm.data import synthetic

    _, _, world = synthetic.simulate(synthetic.scenario("geo"), seed=0)
    synthetic.lift_tests(world, ["social"], [60], 8, seed=0).to_csv(
        tmp_path / "lift_tests.csv", index=False)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    run = subprocess.run(
        [sys.executable, "train.py", "mesh=regions", "seed=0", "model.ensemble_size=3",
         "train.progress=false", "train.max_steps=40", "train.refit_steps=10",
         "evidence.steps=10", f"calibration.path={tmp_path / 'lift_tests.csv'}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "effect profile of 5 channels" in run.stderr + run.stdout
    assert (tmp_path / "run" / "channels.csv").exists()
