"""The suite's JAX compilation cache, set up by tests/conftest.py.

A program many tests share (the tiny panel's training step, its analyses)
compiles once instead of once per process: the pytest process and the
train.py / plan.py / design.py subprocesses its tests start inherit the
variables below. A tiny run compiles about 380 programs of 0.08 s each on
average (32 of its 57 s) and reads them back far faster (the same run: 63.6 s
with an empty cache, 24.8 s with a full one; 2026-12-08, 2 CPU cores), so
every program is kept however quick it was to compile.

JAX keys an entry by the program, the jax/jaxlib versions and XLA_FLAGS: a
hit is the executable a fresh compile gives. Its unbounded cache writes an
entry in place, without a lock, so two processes that compile the same
program at once could read one half written (JAX then warns and compiles
again). Each xdist worker therefore has its own directory, and processes a
test runs side by side, or kills mid-run, get `without()`. The directories
live in .pytest_cache (git-ignored; `make clean` removes them).
"""

import os
from pathlib import Path

VAR = "JAX_COMPILATION_CACHE_DIR"
ROOT = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"


def enable() -> None:
    """This process's cache (one directory per xdist worker), unless the
    environment names another one; before JAX is imported. The workers
    inherit the controller's environment, so its directory is replaced."""
    current = os.environ.get(VAR)
    if current is None or Path(current).parent == ROOT:
        os.environ[VAR] = str(ROOT / os.environ.get("PYTEST_XDIST_WORKER", "main"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def without(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) without the cache, for
    processes that run side by side with the same programs or are killed."""
    return {k: v for k, v in (os.environ if env is None else env).items() if k != VAR}
