"""Runs whose numeric outputs are pinned (tests/test_pinned_outputs.py).

The values in tests/pinned/<run>/ were recorded at commit 3d873b5, before the
layout of issue 22 was refactored, with `python -m tests.pinned_runs`.
Refactors must leave every number equal to 1e-6 (relative to each column's
largest magnitude). Provenance (times, commits, paths) is not pinned.

Equal to 1e-6 holds on one kind of CPU only: XLA compiles for the host's
vector instructions, so the float32 sums of a fit round differently on
another CPU, and over a few dozen optimiser steps the outputs drift apart by
1e-5 to 5e-3 of a column's scale (measured 2026-12-07 between the machine
that recorded tests/pinned/ and an AMD EPYC without AVX-512). A CPU kind
with a set of its own under tests/pinned/machines/<machine_kind()>/ is
compared with that set; any other with tests/pinned/. The set for
x86_64-noavx512 was recorded at commit 44fae2b, whose outputs equalled
tests/pinned/ to 1e-6 on the recording kind (its suite passed there), with
`python -m tests.pinned_runs --machine`.
"""

import json
import platform
import sys
from pathlib import Path

import pandas as pd

PINNED_ROOT = Path(__file__).resolve().parent / "pinned"


def machine_kind() -> str:
    """The CPU kind pinned values depend on: the architecture and, on x86,
    whether the CPU has AVX-512 (XLA vectorises to the widest it has)."""
    arch = platform.machine()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    if arch in ("x86_64", "AMD64"):
        return f"{arch}-{'avx512' if ' avx512f' in flags else 'noavx512'}"
    return arch


def machine_dir() -> Path:
    """Where this CPU kind's own set lives (recorded or not): tests/pinned/machines/<kind>/."""
    return PINNED_ROOT / "machines" / machine_kind()


def pinned_dir() -> Path:
    """This CPU kind's own recorded values where they exist, else tests/pinned/."""
    own = machine_dir()
    return own if own.is_dir() else PINNED_ROOT


PINNED = pinned_dir()

# The channel-graph defaults of issue 17 changed the learned graph on purpose;
# these keys restore the graph learning the pinned values were recorded with.
GRAPH_BEFORE = ["model.graph.sign=any", "model.graph.shared_plan=keep", "model.graph.floor=0",
                "model.graph.resamples=0", "model.graph.l1=0.01",
                # issue 20's profile of each channel's effect only adds columns; not pinned
                "evidence.steps=0"]

# name -> Hydra overrides of one run
RUNS = {
    "smoke": ["+experiment=smoke", "train.progress=false", *GRAPH_BEFORE],
    "geo_ensemble": ["data.n_regions=6", "data.n_weeks=80", "model.dynamics.hidden=4",
                     "train.max_steps=40", "train.steps_per_call=10", "train.patience=40",
                     "train.refit_steps=10", "train.progress=false", "model.ensemble_size=3",
                     *GRAPH_BEFORE],
    # the channel graph has edges, and every output passes through it
    "graph": ["data.scenario=graph", "data.n_regions=6", "data.n_weeks=80",
              "model.dynamics.hidden=4", "train.max_steps=60", "train.steps_per_call=10",
              "train.patience=60", "train.refit_steps=10", "train.progress=false",
              "model.ensemble_size=1",  # one fit, as recorded (the default became an ensemble)
              *GRAPH_BEFORE],
}

TABLES = ("predictions.csv", "decomposition.csv", "channels.csv", "channels_window.csv",
          "dag.csv", "response_curves.csv", "response_curves_hill.csv", "budget.csv")
JSONS = ("metrics.json", "budget_summary.json", "zero_tests.json")
NOT_PINNED = {"fit_seconds"}  # provenance: wall-clock time


def flat_numbers(obj, prefix="") -> dict:
    """{dotted key: float} of every number in a JSON object (bools and strings skipped)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in NOT_PINNED:
                out.update(flat_numbers(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flat_numbers(v, f"{prefix}{i}."))
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out[prefix.rstrip(".")] = float(obj)
    elif obj is None:
        out[prefix.rstrip(".")] = float("nan")
    return out


def numeric_outputs(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Every pinned output of a finished run as a table (JSON files as key, value rows)."""
    out = {}
    for name in TABLES:
        if (run_dir / name).exists():
            out[name] = pd.read_csv(run_dir / name)
    for name in JSONS:
        if (run_dir / name).exists():
            flat = flat_numbers(json.loads((run_dir / name).read_text()))
            out[name] = pd.DataFrame({"key": list(flat), "value": list(flat.values())})
    return out


def run(name: str, run_dir: Path) -> dict[str, pd.DataFrame]:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from dcmmm.run import main

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=RUNS[name])
    main(OmegaConf.to_container(cfg, resolve=True), run_dir)
    return numeric_outputs(run_dir)


def record(names, root: Path = PINNED_ROOT) -> None:
    import tempfile

    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            tables = run(name, Path(tmp) / name)
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for file, table in tables.items():
            table.to_csv(folder / f"{file}.gz", index=False, float_format="%.9g")
        print(f"{name}: {sorted(tables)}")


if __name__ == "__main__":
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import dcmmm  # noqa: F401  (the XLA flag first)

    args = sys.argv[1:]
    # --machine: record this CPU kind's own set (tests/pinned/machines/<kind>/)
    root = machine_dir() if "--machine" in args else PINNED_ROOT
    record([a for a in args if a != "--machine"] or list(RUNS), root)
