"""Throughput, compile time and memory of dcmmm's jitted fused training call.

    python -m scripts.benchmark                                   # default grid (~10 min on 2 cores)
    python -m scripts.benchmark --regions 10 100 --weeks 104 --hidden 8   # a small grid
    python -m scripts.benchmark --regions 4 --weeks 60 --hidden 4 --steps 2 --calls 1  # seconds

For every (regions R, weeks T, GRU hidden H) of the grid, a synthetic panel
(`dcmmm.data.synthetic`, scenario `geo` with R and T replaced, 5 channels,
2 controls) goes through the real code path: `load_panel`, `fit_scalers`,
`dcmmm.fitting.prepare`, `dcmmm.train.loop.make_train_call` (the jitted call that
fuses `--steps` training steps with `lax.scan`). Each grid point runs in its own
process, so compile caches and peak memory do not leak between points.

Measured per point:

- compile_s: `jit(...).lower(...).compile()` of the fused call (tracing included);
- steps_per_s, region_weeks_per_s: `--calls` steady-state calls after one
  warm-up call, each timed to `block_until_ready` (median call time);
  call_cpu_s: the median CPU seconds (all threads) of those calls, which a
  loaded machine inflates much less than the wall time;
- xla_*_mb: XLA's buffer assignment of the compiled call (arguments, outputs,
  temporaries): the memory the training call itself needs;
- rss_data_mb: process RSS after the data are prepared, before compiling;
  peak_rss_mb: the process's peak RSS (`resource.getrusage`), data generation
  included.

Writes `<out>/benchmark.csv` and `<out>/benchmark.png` (steps/s, region-weeks/s,
compile time and memory against regions) and prints the table; the machine load
(`os.getloadavg`) is recorded next to every point.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLUMNS = ["regions", "weeks", "channels", "hidden", "steps_per_call", "calls", "compile_s",
           "call_s", "call_cpu_s", "steps_per_s", "region_weeks_per_s", "xla_args_mb", "xla_out_mb",
           "xla_temp_mb", "rss_data_mb", "peak_rss_mb", "data_s", "load1_before", "load1_after",
           "jax", "cpus"]


def compose_cfg(overrides):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # one fit unless the overrides ask for an ensemble (the default run is one of 9)
        cfg = compose(config_name="config", overrides=["model.ensemble_size=1", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # peak instead of current
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_point(regions: int, weeks: int, hidden: int, steps: int, calls: int,
                  seed: int = 0) -> dict:
    """One grid point in this process (see the module docstring)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import dataclasses

    import jax

    import dcmmm  # noqa: F401  (XLA flag of the jaxlib CPU fusion bug, before any computation)
    from dcmmm.config import data_spec, run_spec
    from dcmmm.data import synthetic
    from dcmmm.data.scaling import fit_scalers
    from dcmmm.fitting import prepare
    from dcmmm.train.loop import init_state, make_optimizer, make_train_call, static_part

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    cfg = compose_cfg([f"model.dynamics.hidden={hidden}", f"train.steps_per_call={steps}",
                       "train.progress=false", f"seed={seed}"])
    world = dataclasses.replace(synthetic.scenario("geo"), n_regions=regions, n_weeks=weeks)
    frame, _, _ = synthetic.simulate(world, seed=seed)
    from dcmmm.data.panel import load_panel

    panel = load_panel(data_spec(cfg, int(cfg["train"]["val_weeks"]), synthetic.data_keys(world)),
                       frame)
    del frame
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels,
                    panel.spend is not None)
    scalers = fit_scalers(panel)
    _, statics, batch, params = prepare(panel, scalers, spec)
    static = static_part(spec.train)
    state = init_state(params, make_optimizer(static), spec.train, spec.seed)
    jax.block_until_ready((state, batch, statics))
    data_s = time.perf_counter() - t0
    rss_data = rss_mb()

    train_call = make_train_call(spec.model, spec.loss, static)
    t0 = time.perf_counter()
    compiled = train_call.lower(state, batch, statics).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    mb = lambda name: getattr(mem, name, float("nan")) / 2**20 if mem is not None else float("nan")  # noqa: E731

    state, metrics = compiled(state, batch, statics)  # warm-up
    jax.block_until_ready((state, metrics))
    times, cpu = [], []
    for _ in range(calls):
        t0, c0 = time.perf_counter(), time.process_time()
        state, metrics = compiled(state, batch, statics)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if not all(map(lambda v: bool(jax.numpy.isfinite(v)), jax.tree.leaves(metrics))):
        raise FloatingPointError("non-finite metrics in the benchmark's training call")
    call_s = statistics.median(times)
    steps_per_s = steps / call_s
    return {
        "regions": regions, "weeks": weeks, "channels": panel.n_channels, "hidden": hidden,
        "steps_per_call": steps, "calls": calls, "compile_s": compile_s, "call_s": call_s,
        "call_cpu_s": statistics.median(cpu),
        "steps_per_s": steps_per_s, "region_weeks_per_s": steps_per_s * regions * weeks,
        "xla_args_mb": mb("argument_size_in_bytes"), "xla_out_mb": mb("output_size_in_bytes"),
        "xla_temp_mb": mb("temp_size_in_bytes"), "rss_data_mb": rss_data,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "data_s": data_s, "load1_before": load_before, "load1_after": os.getloadavg()[0],
        "jax": jax.__version__, "cpus": os.cpu_count(),
    }


def run_point(regions, weeks, hidden, steps, calls, timeout) -> dict | None:
    """`measure_point` in a fresh process; None (with the error printed) on failure."""
    cmd = [sys.executable, "-m", "scripts.benchmark", "--one", str(regions), str(weeks), str(hidden),
           "--steps", str(steps), "--calls", str(calls)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        print(f"R={regions} T={weeks} H={hidden}: timed out after {timeout} s", file=sys.stderr)
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"R={regions} T={weeks} H={hidden}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def plot(frame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("steps_per_s", "training steps / s"), ("region_weeks_per_s", "region-weeks / s"),
              ("compile_s", "compile time (s)"), ("xla_temp_mb", "XLA memory of the call (MB)"),
              ("peak_rss_mb", "peak process RSS (MB)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (col, label) in zip(axes, panels):
        for (weeks, hidden), g in frame.groupby(["weeks", "hidden"]):
            g = g.sort_values("regions")
            if col == "xla_temp_mb":
                y = g["xla_args_mb"] + g["xla_out_mb"] + g["xla_temp_mb"]
            else:
                y = g[col]
            ax.plot(g["regions"], y, marker="o", label=f"T={weeks}, H={hidden}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("regions R")
        ax.set_title(label, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"dcmmm fused training call, {frame['channels'].iloc[0]} channels, "
                 f"{frame['steps_per_call'].iloc[0]} steps per call; "
                 f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--weeks", type=int, nargs="+", default=[104, 156])
    parser.add_argument("--hidden", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=50,
                        help="training steps fused into one jitted call (train.steps_per_call)")
    parser.add_argument("--calls", type=int, default=2, help="timed calls after the warm-up call")
    parser.add_argument("--out", default="outputs/benchmark", help="folder for the CSV and PNG")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per grid point")
    parser.add_argument("--one", type=int, nargs=3, metavar=("R", "T", "H"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_point(*args.one, steps=args.steps, calls=args.calls)))
        return None

    import pandas as pd

    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for hidden in args.hidden:
        for weeks in args.weeks:
            for regions in args.regions:
                row = run_point(regions, weeks, hidden, args.steps, args.calls, args.timeout)
                if row is None:
                    continue
                rows.append(row)
                print(f"R={regions:>5} T={weeks} H={hidden:>2}: {row['steps_per_s']:8.2f} steps/s "
                      f"{row['region_weeks_per_s']:10.3g} region-weeks/s, compile "
                      f"{row['compile_s']:5.1f} s, XLA {row['xla_temp_mb']:7.1f} MB temp, "
                      f"peak RSS {row['peak_rss_mb']:7.0f} MB (load {row['load1_before']:.2f})",
                      flush=True)
    if not rows:
        raise SystemExit("benchmark: no grid point finished")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.to_csv(out / "benchmark.csv", index=False, float_format="%.6g")
    plot(frame, out / "benchmark.png")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out / 'benchmark.csv'} and {out / 'benchmark.png'}")
    return frame


if __name__ == "__main__":
    main()
