"""One self-contained HTML report of a run (`report.html`; the README's "Outputs").

Figures are drawn with matplotlib's object API (`matplotlib.figure.Figure`,
no global backend) and embedded as base64 PNGs; styles are inline. The page
loads no external resource, so it can be mailed or archived as one file.
"""

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dcmmm.analysis import summary as facts
from dcmmm.analysis.page import CSS, PALETTE, html_page  # noqa: F401 (html_page: plan.html's too)
from dcmmm.analysis.page import fmt as _fmt  # noqa: F401
from dcmmm.analysis.page import note as _note
from dcmmm.analysis.page import paragraph as _p
from dcmmm.analysis.page import png as _png
from dcmmm.analysis.page import table as _table
from dcmmm.analysis.page import time_axis as _time_axis
from dcmmm.analysis.report_graph import graph_section

METRIC_COLUMNS = ("r2", "rmse", "mape", "scaled_rmse", "median_region_r2")
MAX_REGIONS = 6
def fit_paragraph(metrics: dict, backtest: pd.DataFrame | None) -> str:
    """How good the fit is, in words: the holdout error against the naive forecasts'."""
    fit = facts.holdout(metrics)
    if fit.score is None:
        return _p("This run has no holdout score.")
    text = (f"On the last weeks of data, which the model never saw while fitting (the holdout), "
            f"its forecast is off by {facts.percent(fit.score)} of a region's typical week "
            f"(scaled RMSE {fit.score:.3f}).")
    rules = {"last_value": "repeating the last week", "region_mean": "each region's average",
             "seasonal_naive": "the same week a year earlier"}
    naive = [f"{rules.get(n, n)} {facts.percent(v)}" for n, v in fit.naive.items()]
    if naive:
        text += " Simple rules are off by: " + ", ".join(naive) + "."
    cls = "good" if not fit.not_beaten else ("bad" if not fit.usable else "warn")
    out = _p(text) + _p(facts.verdict(fit), cls)
    if (line := facts.backtest_line(backtest)) is not None:
        out += _p(line + " (Backtest: the same comparison on earlier cut-offs.)")
    return out


def channels_paragraph(channels: pd.DataFrame) -> str:
    """What each channel brought, in words and a small table."""
    order = channels.sort_values("share", ascending=False)
    total = channels["incremental_total"].sum()
    top = order.iloc[0]
    text = (f"Media brought {facts.number(total)} of the KPI over all weeks and regions: what "
            f"would be lost if each channel had been off. {top['channel']} brought the most, "
            f"{facts.percent(top['share'])} of it.")
    if facts.has_spend(channels):
        best = channels.loc[channels["roi"].idxmax()]
        text += (f" Per unit of spend, {best['channel']} returned the most KPI (ROI "
                 f"{facts.number(best['roi'])}). mROI is what one more unit of spend returns: "
                 "below the ROI where a channel saturates.")
    else:
        text += " The data has no spend columns, so there is no ROI and no budget plan."
    return _p(text) + _table(facts.channel_rows(channels))


def plan_paragraph(budget: pd.DataFrame | None, summary: dict | None) -> str:
    """What the budget plan changes and gains, in words."""
    if budget is None or not summary:
        return _p("No budget plan: the optimiser needs spend columns (data.spend).")
    text = (f"Keeping the total of {facts.number(summary.get('total_budget'))} over the last "
            f"{summary.get('window_weeks')} weeks, the plan moves the spend of "
            f"{facts.moves_text(budget)}, and the KPI gains {facts.lift_text(summary)} over those "
            "weeks and their carry-over.")
    if summary.get("lift_members"):
        text += (f" Under each refit of the ensemble the gain is "
                 f"{facts.number(summary.get('lift_lo'))} to {facts.number(summary.get('lift_hi'))};"
                 f" it is a gain under {facts.percent(summary.get('members_positive'))} of them.")
    return _p(text + " A bound is the limit set by budget.lower / budget.upper.")


def trust_list(metrics: dict, channels: pd.DataFrame, dag: pd.DataFrame) -> str:
    """How much to trust each number: the fit, the intervals, channels that may be 0, the graph."""
    items = []
    fit = facts.holdout(metrics)
    said = facts.verdict(fit) if fit.score is not None else "No holdout score."
    items.append(f"The fit, on the holdout: {said[0].lower()}{said[1:]}")
    if metrics.get("ensemble"):
        ens = metrics["ensemble"]
        items.append(f"Brackets: an interval that holds a new refit of the model with "
                     f"{facts.percent(ens.get('interval_achieved'))} probability ({ens.get('size')}"
                     " refits on resampled data). A wide interval means the data cannot pin the "
                     f"number down.{facts.left_out_sentence(ens)}")
        zero = [str(r["channel"]) for _, r in channels.iterrows() if facts.may_be_zero(r)]
        items.append(("May have brought nothing (interval reaches 0): " + ", ".join(zero) + "."
                      ) if zero else "Every channel's interval stays above 0.")
    else:
        items.append("This run is one fit, so its numbers carry no interval: "
                     "model.ensemble_size=9 refits it on resampled data and gives each an 80% "
                     "interval.")
    if (basis := facts.basis_line(channels)) is not None:
        items.append(basis)  # which channels' ROI the data measured and which they cannot tell
    items.append(facts.graph_line(dag, channels))
    items.append("Channel effects are the model's counterfactuals (each channel switched off), "
                 "learned from how the KPI followed media; lift tests (calibration.path) check "
                 "them against experiments.")
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def summary_section(metrics: dict, channels: pd.DataFrame, dag: pd.DataFrame,
                    budget: pd.DataFrame | None, budget_summary: dict | None,
                    backtest: pd.DataFrame | None = None) -> str:
    """The report's opening, in plain words for a reader new to MMM: how good the
    fit is, what each channel brought, what the budget plan changes, how much
    to trust each number (`dcmmm.analysis.summary` facts; the detail follows)."""
    parts = [("How good is the fit?", fit_paragraph(metrics, backtest)),
             ("What each channel brought", channels_paragraph(channels)),
             ("What the budget plan changes", plan_paragraph(budget, budget_summary)),
             ("How much to trust these numbers", trust_list(metrics, channels, dag))]
    return ('<div class="answer">' + "".join(f"<h3>{html.escape(t)}</h3>{c}" for t, c in parts)
            + "</div>")


def metrics_section(metrics: dict) -> str:
    """Metrics table: train / validation / holdout and the naive holdout baselines."""
    rows = []
    for split in ("train", "validation", "holdout"):
        if isinstance(metrics.get(split), dict):
            rows.append({"split": split, **{k: metrics[split].get(k) for k in METRIC_COLUMNS}})
    for name, vals in (metrics.get("naive_holdout") or {}).items():
        if isinstance(vals, dict):
            rows.append({"split": f"holdout, naive {name.replace('_', ' ')}",
                         **{k: vals.get(k) for k in METRIC_COLUMNS}})
    out = _table(pd.DataFrame(rows, columns=["split", *METRIC_COLUMNS])) if rows else _note(
        "no metrics")
    extra = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    if extra:
        out += _table(pd.DataFrame([extra]))
    out += _note("r2 pooled over cells in KPI units; scaled_rmse on KPI / region training mean; "
                 "a good model beats the naive forecasts on the holdout.")
    return out


def backtest_section(backtest: pd.DataFrame) -> str:
    """backtest.csv as a table per fold and model, with the fold means first."""
    cols = ["fold", "origin", "model", *METRIC_COLUMNS]
    frame = backtest[cols].copy()
    frame["origin"] = frame["origin"].fillna("")
    means = frame[frame["fold"].astype(str) == "mean"]
    folds = frame[frame["fold"].astype(str) != "mean"]
    return (_table(means.drop(columns=["origin"])) + _table(folds) + _note(
        "Rolling-origin backtest: each fold is fitted on the weeks before its origin only and "
        "scored on the weeks from it; the last fold is the holdout split above. Naive "
        "forecasts use the same weeks. A mean is empty unless the model is defined in every "
        "fold."))


def refresh_section(channels: pd.DataFrame, edges: pd.DataFrame) -> str:
    """refresh.csv and refresh_edges.csv: how ROI and the graph moved."""
    cols = ["channel", "roi_before", "roi_after", "roi_change_pct", "roi_all_weeks"]
    return (_table(channels[cols]) + (_table(edges) if len(edges) else _note("no edges before or after"))
            + _note("This run continues a finished run on data with new weeks. ROI before is the "
                    "finished run's; ROI after is this run's over the same weeks (like with like); "
                    "ROI all weeks includes the new ones. Edges: the thresholded graph before and "
                    "after."))


def fit_figure(predictions: pd.DataFrame) -> str:
    """Actual vs predicted for the largest regions and the sum over regions."""
    p = predictions.copy()
    totals = p.groupby("region", sort=False)["actual"].sum().sort_values(ascending=False)
    regions = list(totals.index[:MAX_REGIONS]) if len(totals) > 1 else []
    # the sum compares like with like: predictions of the observed cells only
    p["predicted_observed"] = p["predicted"].where(p["actual"].notna())
    summed = p.groupby("date", sort=False).agg(
        actual=("actual", lambda s: s.sum(min_count=1)),
        predicted=("predicted_observed", lambda s: s.sum(min_count=1)),
        split=("split", "first")).reset_index()
    panels = [("All regions (sum)", summed)] + [
        (f"Region {r}", p[p["region"] == r]) for r in regions]
    n_cols = 2 if len(panels) > 1 else 1
    n_rows = math.ceil(len(panels) / n_cols)
    fig = Figure(figsize=(7 * n_cols, 2.8 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (name, frame) in zip(axes, panels):
        t = _time_axis(frame["date"])
        hold = (frame["split"] == "holdout").to_numpy()
        if hold.any():
            ax.axvspan(t[hold].min(), t[hold].max(), color="#eee", label="holdout")
        ax.plot(t, frame["actual"].to_numpy(dtype=float), color="#222", lw=1, label="actual")
        ax.plot(t, frame["predicted"].to_numpy(dtype=float), color=PALETTE[0], lw=1.2,
                label="predicted")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _png(fig)


def decomposition_figure(decomposition: pd.DataFrame) -> str:
    """Stacked areas over time, summed over regions: baseline, then each channel."""
    cols = [c for c in decomposition.columns if c not in ("region", "date")]
    summed = decomposition.groupby("date", sort=False)[cols].sum()
    channels = [c for c in cols if c.startswith("channel:")]
    base_cols = [c for c in cols if c not in channels and c != "predicted"]
    baseline = summed[base_cols].sum(axis=1).to_numpy()
    t = _time_axis(pd.Series(summed.index))
    fig = Figure(figsize=(12, 4))
    ax = fig.subplots()
    layers = [baseline] + [summed[c].to_numpy() for c in channels]
    labels = ["baseline (intercept, trend, seasonality, controls)"] + [
        c.split(":", 1)[1] for c in channels]
    colors = ["#d0d0d0"] + [PALETTE[i % len(PALETTE)] for i in range(len(channels))]
    ax.stackplot(t, *layers, labels=labels, colors=colors, alpha=0.9)
    if "predicted" in summed:
        ax.plot(t, summed["predicted"].to_numpy(), color="#222", lw=1, label="predicted")
    ax.set_ylabel("KPI")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _png(fig)


def effects_figure(channels: pd.DataFrame) -> str:
    """Incremental KPI (direct + mediated) and ROI per channel."""
    names = channels["channel"].astype(str).to_numpy()
    has_roi = "roi" in channels and channels["roi"].notna().any()
    fig = Figure(figsize=(12 if has_roi else 7, 3.6))
    axes = fig.subplots(1, 2 if has_roi else 1, squeeze=False).ravel()
    pos = np.arange(len(names))
    direct = channels["incremental_direct"].to_numpy(dtype=float)
    mediated = channels["incremental_mediated"].to_numpy(dtype=float)
    axes[0].bar(pos, direct, color=PALETTE[0], label="direct")
    axes[0].bar(pos, mediated, bottom=direct, color=PALETTE[1], label="mediated (via graph)")
    _error_bars(axes[0], pos, channels, "incremental_total")
    axes[0].set_title("Incremental KPI", fontsize=10)
    axes[0].legend(fontsize=8)
    if has_roi:
        axes[1].bar(pos, channels["roi"].to_numpy(dtype=float), color=PALETTE[2], label="ROI")
        _error_bars(axes[1], pos, channels, "roi")
        if "mroi" in channels and channels["mroi"].notna().any():
            axes[1].scatter(pos, channels["mroi"].to_numpy(dtype=float), color="#222", zorder=3,
                            label="marginal ROI")
        axes[1].set_title("ROI (KPI per unit of spend)", fontsize=10)
        axes[1].legend(fontsize=8)
    for ax in axes:
        ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="#888", lw=0.6)
    fig.tight_layout()
    return _png(fig)


def basis_note(channels: pd.DataFrame) -> str:
    """One plain sentence on how the ROI of each channel is known
    (`roi_basis`), naming the channels whose ROI is an extrapolation."""
    if "roi_basis" not in channels:
        return ""
    guessed, tested = facts.extrapolated(channels)
    if not guessed and not tested:
        return _note("Every channel's effect is pinned by the data, lift tests or priors "
                     "(roi_basis: measured, calibrated or prior).")
    what = "ROI" if facts.has_spend(channels) else "effect"
    said = []
    if guessed:
        said.append(f"The {what} of {', '.join(guessed)} is an extrapolation: the data cannot "
                    f"tell {facts.it_or_them(guessed)} within the tolerance (roi_basis = "
                    "extrapolated; the profile columns show what fits equally well). A lift test "
                    "can: python design.py run=<this run directory>.")
    if tested:
        said.append(f"The {what} of {', '.join(tested)} is an extrapolation although tested: "
                    f"the lift tests given (calibration.csv) are too imprecise to pin "
                    f"{facts.it_or_them(tested)} within the tolerance. A larger or longer test "
                    "can: python design.py run=<this run directory> design.channel=<channel>.")
    return '<p class="summary">' + html.escape(" ".join(said)) + "</p>"


def _error_bars(ax, pos, frame: pd.DataFrame, col: str) -> None:
    """The ensemble interval [col_lo, col_hi] as error bars, when the frame has it."""
    if f"{col}_lo" not in frame:
        return
    mid = frame[col].to_numpy(dtype=float)
    lo, hi = frame[f"{col}_lo"].to_numpy(dtype=float), frame[f"{col}_hi"].to_numpy(dtype=float)
    ax.errorbar(pos, mid, yerr=[np.maximum(mid - lo, 0), np.maximum(hi - mid, 0)], fmt="none",
                ecolor="#222", capsize=3, lw=1, label="ensemble interval")


def curves_figure(curves: pd.DataFrame) -> str:
    """Incremental KPI against spend (or the multiplier without spend), one line each."""
    use_spend = curves["spend"].notna().all()
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    for i, (name, curve) in enumerate(curves.groupby("channel", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        xs = curve["spend" if use_spend else "multiplier"].to_numpy(dtype=float)
        ax.plot(xs, curve["incremental_total"].to_numpy(dtype=float), color=color, label=str(name))
        if "incremental_total_lo" in curve:
            ax.fill_between(xs, curve["incremental_total_lo"].to_numpy(dtype=float),
                            curve["incremental_total_hi"].to_numpy(dtype=float), color=color,
                            alpha=0.15, lw=0)
        now = curve[np.isclose(curve["multiplier"], 1.0)]
        if len(now):
            ax.scatter(now["spend" if use_spend else "multiplier"], now["incremental_total"],
                       color=color, zorder=3)
    ax.set_xlabel("spend" if use_spend else "spend multiplier (1 = actual)")
    ax.set_ylabel("incremental KPI")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _png(fig)


def budget_figure(budget: pd.DataFrame) -> str:
    """Current vs optimal window spend per channel."""
    names = budget["channel"].astype(str).to_numpy()
    pos = np.arange(len(names))
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    ax.bar(pos - 0.2, budget["current_spend"], width=0.4, color="#aaa", label="current")
    ax.bar(pos + 0.2, budget["optimal_spend"], width=0.4, color=PALETTE[0], label="optimal")
    ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("spend over the planning window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def budget_section(budget: pd.DataFrame | None, summary: dict | None) -> str:
    if budget is None:
        return _note("The budget optimiser needs spend columns (data.spend); this run has none.")
    out = ""
    if summary:
        out += ('<p class="summary">' + html.escape(
            f"Predicted KPI over the planning window ({summary.get('window_weeks')} weeks, "
            f"with carry-over): current {_fmt(summary.get('current_kpi'))}, optimal "
            f"{_fmt(summary.get('optimal_kpi'))}, lift {_fmt(summary.get('lift'))} "
            f"({_fmt(summary.get('lift_pct'))}%) at a budget of "
            f"{_fmt(summary.get('total_budget'))}.") + "</p>")
        if summary.get("lift_members"):
            out += ('<p class="summary">' + html.escape(
                f"Robustness: under the {len(summary['lift_members'])} ensemble members the plan's "
                f"lift ranges {_fmt(summary.get('lift_lo'))} to {_fmt(summary.get('lift_hi'))} "
                f"(central interval); it raises the KPI under "
                f"{_fmt(100 * summary.get('members_positive'))}% of them.") + "</p>")
    return out + budget_figure(budget) + _table(budget)


def write_report(path, *, metrics: dict, predictions: pd.DataFrame,
                 decomposition: pd.DataFrame, channels: pd.DataFrame,
                 curves: pd.DataFrame | None, dag: pd.DataFrame, budget: pd.DataFrame | None,
                 budget_summary: dict | None, title: str,
                 backtest: pd.DataFrame | None = None,
                 refresh: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Path:
    """Write the report as one self-contained HTML file at `path`; returns the path.

    Frames as the run directory writes them (`dcmmm.tables`): predictions
    (region, date, split, actual, predicted), decomposition (region, date,
    components..., predicted), channels (channel, spend, incremental_*, roi,
    ...), curves (`response_curves` or None), dag (parent, child, weight,
    stability, kpi_mediated),
    budget (`optimise_budget` table or None without spend) and its summary;
    backtest (backtest.csv, or None when the run was not a backtest);
    refresh (refresh.csv and refresh_edges.csv, or None when it was not a refresh).
    """
    sections = [
        ("Summary", summary_section(metrics, channels, dag, budget, budget_summary, backtest)),
        ("Metrics", metrics_section(metrics)),
        *([("Backtest", backtest_section(backtest))] if backtest is not None else []),
        *([("Refresh", refresh_section(*refresh))] if refresh is not None else []),
        ("Fit per region", fit_figure(predictions) + _note(
            "Actual and predicted KPI; the shaded weeks are the holdout (never fitted).")),
        ("Decomposition over time", decomposition_figure(decomposition) + _note(
            "Predicted KPI split into baseline and channel contributions, summed over regions.")),
        ("Incremental effect and ROI per channel", basis_note(channels) + effects_figure(channels)
         + _table(channels)),
        ("Response curves", curves_figure(curves) + _note(
            "Incremental KPI as each channel's spend is scaled (dot: actual spend).")
         if curves is not None and len(curves) else _note("no response curves in this run")),
        ("Channel graph", graph_section(dag, channels)),
        ("Budget shift", budget_section(budget, budget_summary)),
    ]
    body = "".join(f"<h2>{html.escape(name)}</h2>\n{content}\n" for name, content in sections)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
