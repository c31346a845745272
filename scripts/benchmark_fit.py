"""Time a whole dcmmm run on a large synthetic panel (default 1,000 regions x 156 weeks x 10 channels).

    python -m scripts.benchmark_fit                      # the scale target: < 10 min on 2 CPU cores
    python -m scripts.benchmark_fit --regions 20 --weeks 80 --channels 3 --set train.max_steps=50

Simulates the panel with `dcmmm.data.synthetic` (scenario `geo` with the
regions, weeks and channel list replaced; the channels beyond geo's five get
the generator's default adstock and spend share), writes it as a CSV, and
runs `dcmmm.run.main` on it with the default config (`data=csv`), exactly
as `python train.py data=csv data.path=...` would: loading and validation,
both training phases (early stopping, refit), the analyses and report.

Prints and appends one row to `<out>/benchmark_fit.csv`: wall time of the
whole run (`run_seconds`), of the fit alone (`fit_seconds`, compilation
included), the CPU seconds of the run (user + system, all threads: on a
loaded machine wall time grows, CPU time much less), the steps, the holdout
metrics, and the machine load before/after.
"""

import argparse
import dataclasses
import json
import logging
import os
import resource
import shutil
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parents[1]

import dcmmm  # noqa: E402, F401  (XLA flag of the jaxlib CPU fusion bug, before any computation)

CHANNELS = ("tv", "radio", "social", "search", "null_ch", "display", "video", "print", "ooh",
            "podcast", "email", "affiliate")


def compose_cfg(overrides):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # one fit unless the overrides ask for an ensemble (the default run is one of 9)
        cfg = compose(config_name="config", overrides=["model.ensemble_size=1", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--channels", type=int, default=10, choices=range(1, len(CHANNELS) + 1),
                        metavar=f"1..{len(CHANNELS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], help="extra Hydra overrides")
    parser.add_argument("--out", default="outputs/benchmark")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.ERROR)

    import jax
    import pandas as pd

    from dcmmm.data import synthetic
    from dcmmm.run import main as run_main

    out = ROOT / args.out
    name = f"fit_{args.regions}x{args.weeks}x{args.channels}"
    run_dir = out / name
    if run_dir.exists():
        shutil.rmtree(run_dir)  # this script's own scratch run is re-made each time
    run_dir.mkdir(parents=True)
    world = dataclasses.replace(synthetic.scenario("geo"), name=name, n_regions=args.regions,
                                n_weeks=args.weeks, channels=CHANNELS[:args.channels])
    t0 = time.perf_counter()
    frame, _, _ = synthetic.simulate(world, seed=args.seed)
    path = run_dir / "panel.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    simulate_s = time.perf_counter() - t0
    del frame

    cfg = compose_cfg([f"seed={args.seed}", "data=csv", "train.progress=false", *args.set])
    cfg["data"].update(synthetic.data_keys(world), path=str(path))
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    metrics = run_main(cfg, run_dir / "run")
    run_s = time.perf_counter() - t0
    load_after = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_SELF)

    row = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "regions": args.regions, "weeks": args.weeks, "channels": args.channels,
        "simulate_s": round(simulate_s, 1), "run_seconds": round(run_s, 1),
        "fit_seconds": round(metrics["fit_seconds"], 1),
        "run_cpu_seconds": round(usage.ru_utime + usage.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
        "steps": metrics["steps"],
        "best_step": metrics["best_step"],
        "holdout_scaled_rmse": metrics["holdout"]["scaled_rmse"],
        "holdout_r2": metrics["holdout"]["r2"],
        "naive_last_value_scaled_rmse": metrics["naive_holdout"]["last_value"]["scaled_rmse"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load1_before": load_before[0], "load1_after": load_after[0],
        "load5_after": load_after[1], "cpus": os.cpu_count(), "jax": jax.__version__,
        "overrides": " ".join(args.set),
    }
    csv = out / "benchmark_fit.csv"
    pd.DataFrame([row]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
    print(json.dumps(row))
    print(f"appended to {csv}; run directory {run_dir / 'run'}")
    return row


if __name__ == "__main__":
    main()
