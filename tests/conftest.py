"""Shared test set-up: CPU, float32 by default, slow tests opt-in."""

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# One JAX compilation cache for the whole suite: this process, its xdist
# workers and the train.py/plan.py/design.py subprocesses the tests start
# inherit these variables, so a program many tests share (the smoke panel's
# training step, its analyses) compiles once instead of once per process.
# JAX keys each entry by the program, jax/jaxlib versions and XLA_FLAGS, so a
# hit is the executable a fresh compile would give; a bounded size turns on
# JAX's file lock (the `filelock` package, a dev dependency), so two workers
# never read an entry half written. Lives in .pytest_cache (git-ignored).
_JAX_CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_JAX_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 * 1024**3))

import pytest  # noqa: E402

import dcmmm  # noqa: E402, F401  (sets the XLA flag of the jaxlib CPU fusion bug first)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow recovery tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
