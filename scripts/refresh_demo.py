"""Refresh on the generator: fit the first weeks, refresh on all, compare with a fresh fit.

    python -m scripts.refresh_demo                       # geo, seed 0, 13 new weeks
    python -m scripts.refresh_demo --scenario drift --seeds 0 1 --new-weeks 26

For each seed: simulates the scenario, writes its first T − new_weeks weeks
and all T weeks as two CSV files, fits the first (the "finished run"), then on
all weeks (a) refreshes it (`refresh.from`, default `refresh.scale`) and (b)
fits from scratch. Prints per channel the true ROI over all weeks (the
generator's), each fit's ROI and error, and how far ROI moved from the
finished run; then fit steps and seconds. Runs go to `outputs/refresh_demo/`.
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcmmm.data import synthetic
from dcmmm.run import main as run_main

ROOT = Path(__file__).resolve().parents[1]


def compose_cfg(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # one fit, as a refresh continues one (the default run is an ensemble of 9)
        return OmegaConf.to_container(compose(config_name="config",
                                              overrides=["model.ensemble_size=1", *overrides]),
                                      resolve=True)


def data_overrides(path: Path, keys: dict) -> list:
    lst = lambda xs: "[" + ",".join(xs) + "]"  # noqa: E731
    return ["data=csv", f"data.path={path}", f"data.date={keys['date']}",
            f"data.region={keys['region'] or 'null'}", f"data.kpi={keys['kpi']}",
            f"data.channels={lst(keys['channels'])}", f"data.spend={lst(keys['spend'])}",
            f"data.controls={lst(keys['controls'])}", "train.progress=false"]


def one_seed(scenario: str, seed: int, new_weeks: int, out: Path, extra: list) -> pd.DataFrame:
    scen = synthetic.scenario(scenario)
    frame, truth, _ = synthetic.simulate(scen, seed=seed)
    keys = synthetic.data_keys(scen)
    dates = sorted(frame[keys["date"]].unique())
    base = out / f"{scenario}_{seed}"
    if base.exists():
        shutil.rmtree(base)  # this script's own scratch runs are re-made each time
    base.mkdir(parents=True)
    frame[frame[keys["date"]].isin(dates[:-new_weeks])].to_csv(base / "old.csv", index=False)
    frame.to_csv(base / "new.csv", index=False)
    common = [f"seed={seed}", *extra]
    runs = {"finished": run_main(compose_cfg([*data_overrides(base / "old.csv", keys), *common]),
                                 base / "finished")}
    runs["refresh"] = run_main(compose_cfg([*data_overrides(base / "new.csv", keys), *common,
                                            f"refresh.from={base / 'finished'}"]), base / "refresh")
    runs["fresh"] = run_main(compose_cfg([*data_overrides(base / "new.csv", keys), *common]),
                             base / "fresh")
    roi = {name: pd.read_csv(base / name / "channels.csv").set_index("channel")["roi"]
           for name in runs}
    table = pd.DataFrame({"true_roi": {c: t["roi"] for c, t in truth["channels"].items()}})
    for name in runs:
        table[f"roi_{name}"] = roi[name]
    for name in ("refresh", "fresh"):
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"err_{name}"] = np.where(table["true_roi"] != 0,
                                            table[f"roi_{name}"] / table["true_roi"] - 1, np.nan)
        table[f"moved_{name}"] = table[f"roi_{name}"] / table["roi_finished"] - 1
    print(f"\n{scenario} seed {seed}: {len(dates) - new_weeks} weeks, then {new_weeks} new "
          "(errors against the true ROI over all weeks; 'moved' against the finished run)")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    real = table[table["true_roi"] != 0]
    summary = {name: {"median_abs_err": float(np.median(np.abs(real[f"err_{name}"]))),
                      "median_abs_moved": float(np.median(np.abs(table[f"moved_{name}"]))),
                      "steps": runs[name]["steps"], "fit_seconds": round(runs[name]["fit_seconds"], 1),
                      "holdout_scaled_rmse": runs[name]["holdout"]["scaled_rmse"]}
               for name in ("refresh", "fresh")}
    summary["finished"] = {"steps": runs["finished"]["steps"],
                           "fit_seconds": round(runs["finished"]["fit_seconds"], 1)}
    print(json.dumps(summary))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="geo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--new-weeks", type=int, default=13)
    parser.add_argument("--out", default="outputs/refresh_demo")
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides for all fits")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for seed in args.seeds:
        one_seed(args.scenario, seed, args.new_weeks, ROOT / args.out, args.set)


if __name__ == "__main__":
    main()
