"""Compare fitted channel effects with the synthetic generator's truth."""

import numpy as np
import pandas as pd


def window_roi_table(channels_window: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Per channel: fitted vs true ROI over the planning window and the relative error."""
    fitted = channels_window.set_index("channel")
    rows = []
    for name, t in truth["channels"].items():
        true_roi = t["window"]["roi"]
        fit_roi = fitted.loc[name, "roi"]
        err = (fit_roi - true_roi) / true_roi if true_roi else float("nan")
        rows.append({"channel": name, "true_roi_window": true_roi, "fit_roi_window": fit_roi,
                     "err_roi_window": err})
    return pd.DataFrame(rows)


def recovery_table(channels: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Per channel: fitted vs true incremental KPI (direct, total), ROI, and errors.

    channels: the run's channels.csv; truth: the generator's truth dict.
    Errors are relative to the true value; for a null channel (true effect 0)
    they are relative to the mean true total effect of the other channels.
    """
    fitted = channels.set_index("channel")
    real = [t["incremental_total"] for t in truth["channels"].values() if not t["is_null"]]
    mean_true = float(np.mean(real)) if real else 1.0
    rows = []
    for name, t in truth["channels"].items():
        f = fitted.loc[name]
        row = {"channel": name, "null": bool(t["is_null"]),
               "true_direct": t["incremental_direct"], "fit_direct": f["incremental_direct"],
               "true_total": t["incremental_total"], "fit_total": f["incremental_total"],
               "true_roi": t["roi"], "fit_roi": f["roi"]}
        for key in ("direct", "total"):
            denom = mean_true if t["is_null"] else t[f"incremental_{key}"]
            row[f"err_{key}"] = (f[f"incremental_{key}"] - t[f"incremental_{key}"]) / denom
        rows.append(row)
    return pd.DataFrame(rows)


def median_abs_error(table: pd.DataFrame, key: str = "direct") -> float:
    """Median |relative error| over the channels with a true effect."""
    return float(np.median(np.abs(table.loc[~table["null"], f"err_{key}"])))


def lift_window_table(decomposition: pd.DataFrame, true_contrib: np.ndarray, regions, dates,
                       channels, tests: pd.DataFrame) -> pd.DataFrame:
    """Per tested channel: fitted / true media KPI inside and outside its lift tests' weeks.

    decomposition: the run's decomposition.csv (``region, date, channel:<c>``);
    true_contrib: [R, T, C] the generator's per-cell media KPI
    (``World.contributions``), on ``regions`` × ``dates`` × ``channels``;
    tests: lift tests (``channel, start, measure_end``, ISO dates) of all regions.
    A fit can match its tests (the KPI lost inside their weeks) and still be
    off elsewhere, where the curve's shape, the carry-over or the
    effectiveness differ from the truth: the two ratios tell which.
    """
    if "region" in tests and tests["region"].notna().any():
        raise ValueError("lift_window_table compares tests of all regions only; "
                         f"got tests of {sorted(tests['region'].dropna().unique())}")
    dates = pd.DatetimeIndex(pd.to_datetime(dates))
    rows = []
    for c in sorted(set(tests["channel"])):
        fitted = (decomposition.pivot(index="region", columns="date", values=f"channel:{c}")
                  .reindex(index=list(regions), columns=dates.strftime("%Y-%m-%d")).to_numpy())
        true = true_contrib[..., list(channels).index(c)]
        tested = np.zeros(len(dates), bool)
        for _, t in tests[tests["channel"] == c].iterrows():
            tested |= (dates >= pd.Timestamp(t["start"])) & (dates <= pd.Timestamp(t["measure_end"]))
        rows.append({"channel": c, "tested_weeks": int(tested.sum()),
                     "fit_over_true_tested": float(fitted[:, tested].sum() / true[:, tested].sum()),
                     "fit_over_true_other": float(fitted[:, ~tested].sum() / true[:, ~tested].sum())})
    return pd.DataFrame(rows)


def edge_scores(dag: pd.DataFrame, true_edges) -> dict:
    """The kept edges (dag.csv) against the generator's true (parent, child, weight)
    edges: `edges` found, `false_edges`, `missed_edges`, precision, recall and F1
    (F1 = 1 when there is no true edge and none is found)."""
    found = {(p, c) for p, c in zip(dag["parent"], dag["child"])}
    true = {(p, c) for p, c, *_ in true_edges}
    hits = len(found & true)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"edges": sorted(f"{p}->{c}" for p, c in found),
            "false_edges": len(found - true), "missed_edges": len(true - found),
            "edge_precision": precision, "edge_recall": recall, "edge_f1": f1}
