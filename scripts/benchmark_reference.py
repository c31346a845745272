"""dcmmm against the reference PyTorch DeepCausalMMM on the DMA panel, same split, same metrics.

    python -m scripts.benchmark_reference                  # both models (the reference takes minutes)
    python -m scripts.benchmark_reference --only dcmmm     # or --only reference

1. Makes the git-ignored virtualenv `benchmark-venv/` (once) with
   `pip install torch==2.13.0` first (the CPU wheel on disk) and then
   `pip install deepcausalmmm` (stopping if that would replace torch).
2. Reads `data/dma_panel.csv.gz` with dcmmm's loader (`conf/experiment/dma_panel.yaml`:
   190 regions x 109 weeks, 13 channels, 7 controls), and hands the raw arrays
   (media [R, T, C], controls [R, T, K], KPI [R, T]) to the reference in that venv.
   The reference runs at its defaults (`get_default_config()`, version 1.0.21:
   1,500 epochs after a 50-epoch warm start, GRU hidden 280, seed 42 set with
   `torch.manual_seed`), with `holdout_ratio` set so that its split is dcmmm's:
   the last 13 weeks are the holdout. Its fit (`ModelTrainer.train`) is timed.
   Note: the reference's own training loop evaluates the holdout every 10
   epochs and uses it for its learning-rate schedule and early stopping
   (passed as `ModelTrainer.train`'s holdout arguments, as in its README);
   dcmmm never sees the holdout.
3. Runs `python train.py +experiment=dma_panel` (dcmmm's defaults) and times it.
4. Scores both with `dcmmm.analysis.metrics.fit_metrics` on the same cells
   (dcmmm's holdout mask, the regions' training-week KPI means): pooled R²,
   RMSE, scaled RMSE, MAPE, median region R². Writes
   `<out>/benchmark_reference.csv` (one row per model, appended per run) and
   `<out>/reference_predictions.npz`.

The `--worker` mode runs inside `benchmark-venv/` and imports neither dcmmm nor JAX.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "benchmark-venv"
VPY = VENV / "bin" / "python"
TORCH = "torch==2.13.0"  # this exact spelling takes the CPU wheel on disk
HOLDOUT_WEEKS = 13


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_venv() -> None:
    """benchmark-venv/ with the CPU torch and deepcausalmmm (never another torch)."""
    if VPY.exists() and subprocess.run([str(VPY), "-c", "import deepcausalmmm, torch"],
                                       capture_output=True).returncode == 0:
        return
    if not VPY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VPY), "-m", "pip", "install"]
    subprocess.run([*pip, TORCH], check=True)
    plan = subprocess.run([*pip, "--dry-run", "deepcausalmmm"], capture_output=True, text=True,
                          check=True).stdout
    if any(line.startswith("Would install") and " torch-" in line for line in plan.splitlines()):
        raise SystemExit("deepcausalmmm would replace torch; install it with --no-deps and its "
                         "other dependencies explicitly")
    subprocess.run([*pip, "deepcausalmmm"], check=True)


def worker(npz: Path, out: Path, epochs: int | None = None, snapshot_s: float = 300) -> None:
    """Fit the reference at its defaults (runs in benchmark-venv); `epochs` only to test the plumbing."""
    from importlib.metadata import version

    import numpy as np
    import torch
    from deepcausalmmm.core import get_default_config
    from deepcausalmmm.core.data import UnifiedDataPipeline
    from deepcausalmmm.core.trainer import ModelTrainer

    data = np.load(npz)
    media, controls, y = data["media"], data["controls"], data["y"]
    n_weeks = y.shape[1]
    config = get_default_config()
    torch.manual_seed(config["random_seed"])
    np.random.seed(config["random_seed"])
    # int(n_weeks * ratio) holdout weeks: 13 of 109 (the default 0.12 gives 13 here too)
    config["holdout_ratio"] = (HOLDOUT_WEEKS + 0.5) / n_weeks
    if epochs is not None:
        config.update(n_epochs=epochs, warm_start_epochs=min(epochs, config["warm_start_epochs"]))
    t_all = time.perf_counter()
    pipeline = UnifiedDataPipeline(config)
    train_data, holdout_data = pipeline.temporal_split(media, controls, y)
    assert holdout_data["y"].shape[1] == HOLDOUT_WEEKS, holdout_data["y"].shape
    train_t = pipeline.fit_and_transform_training(train_data)
    hold_t = pipeline.transform_holdout(holdout_data)
    trainer = ModelTrainer(config)
    trainer.create_model(n_media=train_t["X_media"].shape[2], n_control=train_t["X_control"].shape[2],
                         n_regions=train_t["X_media"].shape[0])
    trainer.create_optimizer_and_scheduler()
    burn = pipeline.padding_weeks
    scaler = pipeline.get_scaler()

    def predict():
        """KPI-unit predictions [R, T] of the current model (train weeks, then holdout)."""
        with torch.no_grad():
            preds = []
            for t in (train_t, hold_t):
                p, _, _, _ = trainer.model(t["X_media"], t["X_control"], t["R"])
                preds.append(scaler.inverse_transform_target(p[:, burn:]).cpu().numpy())
        return np.concatenate(preds, axis=1)

    # Progress snapshots (epochs done, seconds, predictions) every `snapshot_s`
    # seconds, taken right after the reference's own holdout evaluation (model
    # in eval mode), so a fit that cannot finish before a deadline still says
    # how far it got; the snapshot's time is not counted in the fit time.
    epochs_done, overhead, last = [0], [0.0], [time.perf_counter()]
    train_epoch, evaluate = trainer.train_epoch, trainer.evaluate_holdout

    def counted_epoch(*a):
        epochs_done[0] += 1
        return train_epoch(*a)

    def evaluate_and_snapshot(*a):
        res = evaluate(*a)
        now = time.perf_counter()
        if now - last[0] >= snapshot_s:
            np.savez(out.with_suffix(".progress.npz"), yhat=predict(), epochs=epochs_done[0],
                     seconds=now - t_fit - overhead[0], n_epochs=config["n_epochs"])
            last[0] = time.perf_counter()
            overhead[0] += last[0] - now
        return res

    trainer.train_epoch, trainer.evaluate_holdout = counted_epoch, evaluate_and_snapshot
    t_fit = time.perf_counter()
    results = trainer.train(train_t["X_media"], train_t["X_control"], train_t["R"], train_t["y"],
                            hold_t["X_media"], hold_t["X_control"], hold_t["R"], hold_t["y"],
                            pipeline=pipeline, verbose=True)
    fit_s = time.perf_counter() - t_fit - overhead[0]
    trainer.model.eval()
    yhat = predict()
    assert yhat.shape == y.shape, (yhat.shape, y.shape)
    np.savez(out, yhat=yhat, fit_seconds=fit_s, total_seconds=time.perf_counter() - t_all,
             epochs=len(results["train_losses"]), warm_start_epochs=config["warm_start_epochs"],
             own_holdout_r2=results.get("final_holdout_r2", np.nan),
             own_train_r2=results.get("final_train_r2", np.nan),
             torch_version=torch.__version__, version=version("deepcausalmmm"),
             threads=torch.get_num_threads())


def load_dma():
    """The DMA panel through dcmmm's loader and scalers (the definitions of the metrics)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import dcmmm  # noqa: F401
    from dcmmm.config import data_spec
    from dcmmm.data.panel import load_panel
    from dcmmm.data.scaling import fit_scalers

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config",
                                             overrides=["+experiment=dma_panel"]), resolve=True)
    cfg["data"]["path"] = str(ROOT / cfg["data"]["path"])
    assert int(cfg["data"]["holdout_weeks"]) == HOLDOUT_WEEKS
    panel = load_panel(data_spec(cfg, int(cfg["train"]["val_weeks"])))
    return panel, fit_scalers(panel)


def score(panel, scalers, yhat) -> dict:
    """Holdout and training metrics of KPI-unit predictions [R, T] (dcmmm's definitions)."""
    import numpy as np

    from dcmmm.analysis.metrics import fit_metrics

    week = np.arange(panel.n_weeks)[None, :]
    n_train = panel.n_weeks - HOLDOUT_WEEKS
    hold = fit_metrics(panel.y, yhat, panel.mask & (week >= n_train), scalers.kpi_mean)
    train = fit_metrics(panel.y, yhat, panel.mask & (week < n_train), scalers.kpi_mean)
    return {**{f"holdout_{k}": v for k, v in hold.items()},
            **{f"train_{k}": v for k, v in train.items()}}


def run_reference(out: Path, panel, scalers, log, epochs=None) -> dict:
    import numpy as np

    ensure_venv()
    npz = out / "dma_arrays.npz"
    y = np.where(np.isnan(panel.y), 0.0, panel.y)  # the reference takes no mask; outage weeks are 0
    np.savez(npz, media=panel.media.astype(np.float32), controls=panel.z.astype(np.float32),
             y=y.astype(np.float32))
    result = out / "reference_predictions.npz"
    load, cpu0 = os.getloadavg()[0], children_cpu_s()
    t0 = time.perf_counter()
    with open(log, "w") as f:
        extra = ["--epochs", str(epochs)] if epochs is not None else []
        subprocess.run([str(VPY), __file__, "--worker", str(npz), str(result), *extra], check=True,
                       stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                       env=dict(os.environ, PYTHONUNBUFFERED="1"))
    wall = time.perf_counter() - t0
    r = np.load(result)
    return {"model": f"DeepCausalMMM {r['version']} (torch {r['torch_version']}, "
                     f"{int(r['threads'])} threads)",
            "fit_seconds": float(r["fit_seconds"]), "wall_seconds": wall,
            "cpu_seconds": children_cpu_s() - cpu0,
            "steps": int(r["epochs"]) + int(r["warm_start_epochs"]),
            "own_holdout_r2": float(r["own_holdout_r2"]), "load1_before": load,
            **score(panel, scalers, r["yhat"])}


def collect_partial(out: Path, panel, scalers) -> dict:
    """Score the reference's latest progress snapshot (a fit still running or stopped)."""
    import numpy as np

    r = np.load(out / "reference_predictions.progress.npz")
    return {"model": f"DeepCausalMMM, snapshot after {int(r['epochs'])} of {int(r['n_epochs'])} "
                     "epochs (fit not finished)",
            "fit_seconds": float(r["seconds"]), "wall_seconds": float("nan"),
            "cpu_seconds": float("nan"),
            "steps": int(r["epochs"]), "own_holdout_r2": float("nan"),
            "load1_before": float("nan"), **score(panel, scalers, r["yhat"])}


def run_dcmmm(out: Path, panel, scalers, log, epochs=None) -> dict:
    import numpy as np
    import pandas as pd

    run_dir = out / "dma_dcmmm"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # this script's own scratch run is re-made each time
    load, cpu0 = os.getloadavg()[0], children_cpu_s()
    t0 = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "train.py", "+experiment=dma_panel",
                        "train.progress=false", f"hydra.run.dir={run_dir}"], check=True,
                       stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    wall = time.perf_counter() - t0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"region": str})
    yhat = pred["predicted"].to_numpy().reshape(panel.n_regions, panel.n_weeks)
    assert list(pred["region"].iloc[::panel.n_weeks]) == list(panel.regions)
    row = {"model": "dcmmm (train.py +experiment=dma_panel)", "fit_seconds": metrics["fit_seconds"],
           "wall_seconds": wall, "cpu_seconds": children_cpu_s() - cpu0, "steps": metrics["steps"], "own_holdout_r2": metrics["holdout"]["r2"],
           "load1_before": load, **score(panel, scalers, yhat)}
    assert np.isclose(row["holdout_scaled_rmse"], metrics["holdout"]["scaled_rmse"], rtol=1e-3)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["dcmmm", "reference"], default=None)
    parser.add_argument("--out", default="outputs/benchmark")
    parser.add_argument("--epochs", type=int, default=None,
                        help="reference epochs (only to test the plumbing; default: its own)")
    parser.add_argument("--collect", action="store_true",
                        help="score the reference's latest progress snapshot instead of fitting")
    parser.add_argument("--worker", nargs=2, metavar=("NPZ", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(Path(args.worker[0]), Path(args.worker[1]), args.epochs)

    import pandas as pd

    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    panel, scalers = load_dma()
    rows = []
    if args.collect:
        rows.append(dict(collect_partial(out, panel, scalers), reference_epochs="default",
                         date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                         load1_after=os.getloadavg()[0], cpus=os.cpu_count()))
        print(json.dumps(rows[0]), flush=True)
        args.only = "none"
    for name, run in (("reference", run_reference), ("dcmmm", run_dcmmm)):
        if args.only in (None, name):
            row = run(out, panel, scalers, out / f"benchmark_reference_{name}.log", args.epochs)
            row.update(reference_epochs=args.epochs or "default",
                       date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       load1_after=os.getloadavg()[0], cpus=os.cpu_count())
            rows.append(row)
            print(json.dumps(row), flush=True)
    frame = pd.DataFrame(rows)
    csv = out / "benchmark_reference.csv"
    frame.to_csv(csv, mode="a", header=not csv.exists(), index=False, float_format="%.6g")
    cols = ["model", "fit_seconds", "wall_seconds", "cpu_seconds", "steps", "holdout_scaled_rmse", "holdout_r2",
            "train_scaled_rmse", "load1_before", "load1_after"]
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(rows) == 2:
        print(f"fit time ratio reference / dcmmm: {rows[0]['fit_seconds'] / rows[1]['fit_seconds']:.1f}x")
    print(f"appended to {csv}")


if __name__ == "__main__":
    main()
