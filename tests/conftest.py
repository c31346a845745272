"""Shared test set-up: CPU, float32 by default, slow tests opt-in."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from tests import compile_cache  # noqa: E402

compile_cache.enable()  # before JAX is imported: tests/compile_cache.py

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
