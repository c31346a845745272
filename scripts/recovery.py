"""Fit dcmmm on synthetic scenarios and compare with the generator's truth.

    python -m scripts.recovery --scenario geo --seeds 0 1 [--set key=value ...]

Writes each run under outputs/recovery/<scenario>_<seed><tag>/ (replacing an
earlier one) and prints, per channel, the fitted and true direct/total
incremental KPI and their relative errors, then a one-line JSON summary.
With --lift-tests it also prints, per tested channel, the fitted / true media
KPI inside the tests' weeks and in the other weeks (a fit that matches its
tests can still be off between them).
"""

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcmmm.analysis.recovery import (
    edge_scores,
    lift_window_table,
    recovery_table,
    window_roi_table,
)
from dcmmm.run import main as run_main

ROOT = Path(__file__).resolve().parents[1]


def compose_cfg(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # one fit unless the overrides ask for an ensemble (the default run is one of 9)
        cfg = compose(config_name="config", overrides=["model.ensemble_size=1", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def compare(run_dir: Path) -> pd.DataFrame:
    """Per channel: fitted vs true incremental (direct, total) and ROI errors."""
    truth = json.loads((run_dir / "data" / "truth.json").read_text())
    table = recovery_table(pd.read_csv(run_dir / "channels.csv"), truth)
    window = window_roi_table(pd.read_csv(run_dir / "channels_window.csv"), truth)
    return table.merge(window, on="channel")


def budget_check(run_dir: Path, world, n_plans: int = 400, seed: int = 0) -> dict:
    """The fitted budget plan judged by the generator's true model.

    True KPI over the planning window (carry-over inside the data counted) for
    the current plan, dcmmm's plan (budget.csv), and the best of `n_plans`
    random feasible plans (a brute-force search under the same budget and
    bounds). Returns the true lifts and dcmmm's share of the brute-force lift.
    """
    import jax.numpy as jnp

    from dcmmm.analysis.budget import project_budget

    plan = pd.read_csv(run_dir / "budget.csv")
    summary = json.loads((run_dir / "budget_summary.json").read_text())
    start = int(summary["window_start"])
    weeks = slice(start, world.spend.shape[1])
    true_kpi = lambda m: float(world.expected_kpi(spend_multiplier=np.asarray(m), weeks=weeks)[:, start:].sum())  # noqa: E731
    order = [list(plan["channel"]).index(c) for c in world.channels]
    ours = plan["multiplier"].to_numpy()[order]
    shares = plan["current_spend"].to_numpy()[order]
    lower, upper = plan["lower"].to_numpy()[order], plan["upper"].to_numpy()[order]
    budget = float(summary["total_budget"])
    base = true_kpi(np.ones(len(ours)))
    rng = np.random.default_rng(seed)
    best = base
    for _ in range(n_plans):
        v = rng.uniform(lower, upper)
        m = np.asarray(project_budget(jnp.asarray(v), jnp.asarray(shares), budget,
                                      jnp.asarray(lower), jnp.asarray(upper)))
        best = max(best, true_kpi(m))
    lift = true_kpi(ours) - base
    return {"true_lift": lift, "brute_force_lift": best - base,
            "share_of_brute_force": lift / (best - base) if best > base else float("nan")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="geo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="extra Hydra overrides")
    parser.add_argument("--out", default="outputs/recovery")
    parser.add_argument("--tag", default="")
    parser.add_argument("--lift-tests", nargs="*", default=[], metavar="CHANNEL",
                        help="calibrate with simulated lift tests of these channels (all regions)")
    parser.add_argument("--lift-start", type=int, nargs="+", default=[60],
                        help="first week of the lift tests (several: one test per window)")
    parser.add_argument("--lift-weeks", type=int, default=8, help="weeks each lift test lasts")
    parser.add_argument("--lift-post", type=int, default=0,
                        help="weeks each lift test keeps measuring after the spend is back on "
                             "(a cool-down that counts the carry-over; 0 = the window only)")
    parser.add_argument("--lift-exact", action="store_true",
                        help="report each simulated test's true lift (its stated standard error "
                             "kept): what calibration does when the experiments are right")
    parser.add_argument("--lift-se", type=float, default=0.1,
                        help="relative measurement error of a lift test (plus KPI noise)")
    parser.add_argument("--no-spend", action="store_true",
                        help="fit without the spend columns (activity only; errors of the "
                             "incremental KPI stand for ROI errors, the spend being the same)")
    parser.add_argument("--budget", action="store_true",
                        help="judge the budget plan with the true model (brute-force comparison)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    summaries = []
    for seed in args.seeds:
        run_dir = ROOT / args.out / f"{args.scenario}_{seed}{args.tag}"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # this script's own scratch runs are re-made each time
        overrides = [f"data.scenario={args.scenario}", f"seed={seed}", "train.progress=false"]
        if args.no_spend:
            overrides.append("data.with_spend=false")
        if args.lift_tests:
            from dcmmm.data import synthetic

            _, _, world = synthetic.simulate(synthetic.scenario(args.scenario), seed=seed)
            tests = synthetic.lift_tests(world, args.lift_tests, args.lift_start, args.lift_weeks,
                                         rel_se=args.lift_se, seed=seed,
                                         post_weeks=args.lift_post)
            if args.lift_exact:
                tests["lift"] = tests["true_lift"]
            run_dir.mkdir(parents=True)
            tests.to_csv(run_dir / "lift_tests.csv", index=False)
            overrides.append(f"calibration.path={run_dir / 'lift_tests.csv'}")
        cfg = compose_cfg([*overrides, *args.set])
        print(f"{args.scenario} seed {seed}: fitting into {run_dir} ...", file=sys.stderr,
              flush=True)  # a seed takes minutes; its tables follow on stdout when it ends
        metrics = run_main(cfg, run_dir)
        table = compare(run_dir)
        truth = json.loads((run_dir / "data" / "truth.json").read_text())
        real = table[~table["null"]]
        # without spend the fitted ROI is empty; fitted / true ROI = fitted / true total effect
        roi_err = (real["err_total"] if args.no_spend
                   else (real["fit_roi"] - real["true_roi"]) / real["true_roi"])
        summary = {"seed": seed, "holdout_scaled_rmse": metrics["holdout"]["scaled_rmse"],
                   "median_abs_err_roi": float(np.median(np.abs(roi_err))),
                   "noise": truth["noise_sd"],
                   "median_abs_err_direct": float(np.median(np.abs(real["err_direct"]))),
                   "median_abs_err_total": float(np.median(np.abs(real["err_total"]))),
                   "null_err": float(table.loc[table["null"], "err_total"].abs().max()) if table["null"].any() else float("nan"),
                   "fit_seconds": metrics["fit_seconds"], "steps": metrics["steps"],
                   **edge_scores(pd.read_csv(run_dir / "dag.csv"), truth["edges"]),
                   "min_incremental_total": float(table["fit_total"].min())}
        channels = pd.read_csv(run_dir / "channels.csv")
        if "roi_lo" in channels:  # an ensemble: does the interval cover the true ROI?
            bounds = channels.set_index("channel")[["roi_lo", "roi_hi"]]
            true = {c: t["roi"] for c, t in truth["channels"].items()}
            covered = {c: bool(bounds.loc[c, "roi_lo"] <= true[c] <= bounds.loc[c, "roi_hi"])
                       for c in true}
            summary.update(roi_interval={c: [float(bounds.loc[c, "roi_lo"]),
                                             float(bounds.loc[c, "roi_hi"])] for c in true},
                           covered=covered, coverage=float(np.mean(list(covered.values()))))
        if args.lift_tests:  # does the fit match its tests only inside their weeks?
            windows = lift_window_table(pd.read_csv(run_dir / "decomposition.csv"),
                                        world.contributions(), world.regions, world.dates,
                                        world.channels, tests)
            print(windows.to_string(float_format=lambda v: f"{v:.3g}"))
            summary["fit_over_true_media_kpi"] = {
                row.channel: {"tested_weeks": row.fit_over_true_tested,
                              "other_weeks": row.fit_over_true_other}
                for row in windows.itertuples()}
        if args.budget and (run_dir / "budget.csv").exists():
            from dcmmm.data import synthetic

            _, _, world = synthetic.simulate(synthetic.scenario(args.scenario), seed=seed)
            summary.update(budget_check(run_dir, world))
        summaries.append(summary)
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
        print(json.dumps(summary))
        jax.clear_caches()
    return summaries


if __name__ == "__main__":
    main()
