"""What a run found, in a few lines: the closing summary of `train.py`, one
line per job of a sweep, and the facts that open report.html.

Pure functions of a run's tables as `dcmmm.tables` builds them and the run
directory holds them (metrics.json, channels.csv, dag.csv, budget.csv,
budget_summary.json, backtest.csv): no number is computed here that the
files do not hold; they are only compared and rounded for reading. Units:
incremental KPI in KPI units, spend in money, ROI and mROI in KPI per unit of
money, shares of the incremental KPI of all channels.
"""

import math
import textwrap
from typing import NamedTuple

import numpy as np
import pandas as pd

NAIVE = {"last_value": "last value", "region_mean": "region mean",
         "seasonal_naive": "seasonal naive"}
# the forecast a model must beat before its numbers are used (README, "How to read them")
MUST_BEAT = "region_mean"
MAX_EDGES = 3  # edges named in the graph line; the rest are counted
MAX_MOVES = 4  # budget moves named in the plan line
MIN_MOVE = 0.05  # a plan's spend change (fraction) worth naming
WIDTH = 88  # console summary's line width (characters)


class RunTables(NamedTuple):
    """A run's tables, as the run directory holds them (None where a run has none)."""

    metrics: dict
    channels: pd.DataFrame | None  # None: a run directory without channels.csv
    dag: pd.DataFrame | None = None
    budget: pd.DataFrame | None = None
    budget_summary: dict | None = None
    backtest: pd.DataFrame | None = None
    report: str | None = None  # where report.html is


class Holdout(NamedTuple):
    """dcmmm's holdout scaled RMSE against each naive forecast's (lower is better)."""

    score: float | None
    naive: dict  # {naive name: scaled RMSE}, forecasts that the data allows only
    not_beaten: list  # naive names with a score at or below dcmmm's

    @property
    def usable(self) -> bool:
        """Whether the model beats the forecast a model must beat (region mean)."""
        return self.score is not None and MUST_BEAT not in self.not_beaten


def _finite(value) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value)


def number(value) -> str:
    """A number to read: thousands separated from 1,000 on, else 3 significant digits;
    '-' for a missing one."""
    if not _finite(value):
        return "-"
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:#.3g}"  # keeps trailing zeros: a column of ROIs lines up
    return text.rstrip(".") if "e" not in text else text


def percent(fraction, signed: bool = False) -> str:
    """A fraction as a percentage: whole percents from 10% on, one decimal below."""
    if not _finite(fraction):
        return "-"
    pct = 100 * float(fraction)
    if pct == 0:
        return "0%"
    text = f"{pct:+.1f}" if signed else f"{pct:.1f}"
    if round(abs(pct), 1) >= 10:  # 9.99 is "10%", not "10.0%"
        text = f"{pct:+.0f}" if signed else f"{pct:.0f}"
    return text + "%"


def holdout(metrics: dict) -> Holdout:
    """metrics.json's holdout scaled RMSE of dcmmm and of each naive forecast."""
    score = (metrics.get("holdout") or {}).get("scaled_rmse")
    naive = {name: vals["scaled_rmse"] for name, vals in (metrics.get("naive_holdout") or {}).items()
             if isinstance(vals, dict) and _finite(vals.get("scaled_rmse"))}
    if not _finite(score):
        return Holdout(None, naive, list(naive))
    return Holdout(float(score), naive, [n for n, s in naive.items() if s <= score])


def holdout_line(metrics: dict) -> str:
    """The holdout scaled RMSE of dcmmm and of the naive forecasts, and the verdict."""
    fit = holdout(metrics)
    if fit.score is None:
        return "Fit: no holdout score in metrics.json."
    line = (f"Fit on the holdout (weeks never fitted), scaled RMSE (lower is better): "
            f"{fit.score:.3f} for dcmmm")
    if fit.naive:
        naive = ", ".join(f"{s:.3f} ({NAIVE.get(n, n)})" for n, s in fit.naive.items())
        line += f"; naive forecasts {naive}"
    return f"{line}. {verdict(fit)}"


def verdict(fit: Holdout) -> str:
    """Whether to use the numbers, in words, from the holdout comparison."""
    if not fit.naive:
        return "No naive forecast to compare with."
    if not fit.not_beaten:
        return "It beats every naive forecast."
    if len(fit.not_beaten) == len(fit.naive):
        names = "any naive forecast"
    else:
        names = " or ".join(NAIVE.get(n, n) for n in fit.not_beaten)  # one or two of three
    if not fit.usable:
        return f"It does not beat {names}, so do not use its numbers for decisions."
    return f"It does not beat {names}, so read its numbers with care."


def backtest_line(backtest: pd.DataFrame | None) -> str | None:
    """The backtest's mean scaled RMSE per model (backtest.csv's `mean` rows), or None."""
    if backtest is None:
        return None
    means = backtest[backtest["fold"].astype(str) == "mean"]
    folds = backtest.loc[backtest["fold"].astype(str) != "mean", "fold"].nunique()
    scores = [f"{NAIVE.get(m, m)} {s:.3f}"
              for m, s in zip(means["model"], means["scaled_rmse"]) if _finite(s)]
    return f"Backtest ({folds} folds), mean scaled RMSE: {', '.join(scores) or '-'}."


def has_spend(channels: pd.DataFrame) -> bool:
    return "roi" in channels and channels["roi"].notna().any()


def _interval(row, col: str) -> tuple[float, float] | None:
    lo, hi = row.get(f"{col}_lo"), row.get(f"{col}_hi")
    return (float(lo), float(hi)) if _finite(lo) and _finite(hi) else None


def with_interval(row, col: str, fmt=number) -> str:
    """`row[col]` formatted, with its ensemble interval `[lo, hi]` where the table has one."""
    text = fmt(row.get(col))
    bounds = _interval(row, col)
    return text if bounds is None else f"{text} [{fmt(bounds[0])}, {fmt(bounds[1])}]"


def may_be_zero(row) -> bool:
    """Whether a channel's interval reaches 0: its zero test finds it plausible that it
    brought nothing, or the lower end of its incremental KPI is at or below 0."""
    flag = row.get("zero_plausible")
    if isinstance(flag, bool | np.bool_) and flag:
        return True
    bounds = _interval(row, "incremental_total")
    return bounds is not None and bounds[0] <= 0


def channel_rows(channels: pd.DataFrame) -> pd.DataFrame:
    """channels.csv as text to read, one row per channel in its order: share of
    the incremental KPI, incremental KPI, and with spend, spend, ROI and mROI;
    intervals in brackets in an ensemble; `note` where the interval reaches 0."""
    spend = has_spend(channels)
    rows = []
    for _, row in channels.iterrows():
        out = {"channel": str(row["channel"]), "share": with_interval(row, "share", percent),
               "incremental KPI": with_interval(row, "incremental_total")}
        if spend:
            out.update({"spend": number(row.get("spend")), "ROI": with_interval(row, "roi"),
                        "mROI": number(row.get("mroi"))})
        if may_be_zero(row):
            out["note"] = "may be 0"
        rows.append(out)
    table = pd.DataFrame(rows)
    if "note" in table:
        table["note"] = table["note"].fillna("")
    return table


NOISY_PROFILE = 2.0  # nats of profile refit noise (evidence.nats' default) worth a sentence


def basis_line(channels: pd.DataFrame) -> str | None:
    """Which channels' ROI is an extrapolation (channels.csv's `roi_basis`),
    or None where the table has no basis."""
    if "roi_basis" not in channels:
        return None
    guessed, tested = extrapolated(channels)
    if not guessed and not tested:
        return "How each ROI is known: the data, tests or priors pin every channel's (roi_basis)."
    what = "ROI" if has_spend(channels) else "Effect (incremental KPI; no spend, so no ROI)"
    said = []
    if guessed:
        said.append(f"{what} extrapolated, not measured (roi_basis): {', '.join(guessed)}: the "
                    f"data cannot tell {it_or_them(guessed)}. python design.py run=<this run> "
                    "designs the lift test that can.")
        noise = channels.get("profile_noise_nats")
        if noise is not None and float(noise.max()) > NOISY_PROFILE:
            said.append(f"The profile's refits from starts 0.1% apart end {float(noise.max()):.0f} "
                        "nats apart (profile_noise_nats): a hold counts against an effect only "
                        "beyond that noise.")
    if tested:
        said.append(f"{what} extrapolated although tested: {', '.join(tested)}: "
                    f"{'its' if len(tested) == 1 else 'their'} lift tests (calibration.csv) are "
                    f"too imprecise to pin {it_or_them(tested)}; python design.py run=<this run> "
                    "design.channel=<channel> designs a larger or longer one.")
    return " ".join(said)


def it_or_them(names: list) -> str:
    """The pronoun for the channels `names`: "it" for one, else "them"."""
    return "it" if len(names) == 1 else "them"


def extrapolated(channels: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(untested, tested): the channels whose `roi_basis` is extrapolated,
    without lift tests and with some (`lift_tests` > 0; none where the table
    predates the column)."""
    table = channels.assign(lift_tests=channels.get("lift_tests", 0))
    out = ([], [])
    for name, basis, n in zip(table["channel"], table["roi_basis"], table["lift_tests"]):
        if basis == "extrapolated":
            out[int(np.nan_to_num(n) > 0)].append(str(name))
    return out


def graph_line(dag: pd.DataFrame | None, channels: pd.DataFrame) -> str:
    """The channel graph in one line: its kept edges (the largest by mediated KPI),
    with the share of the parent's effect each carries and its stability."""
    if dag is None or len(dag) == 0:
        return "Channel graph: no channel drives another (every effect is the channel's own)."
    total = channels.set_index(channels["channel"].astype(str))["incremental_total"]
    edges = dag.assign(order=pd.to_numeric(dag["kpi_mediated"], errors="coerce").abs())
    edges = edges.sort_values("order", ascending=False, na_position="last")
    named = []
    for row in edges.head(MAX_EDGES).itertuples(index=False):
        parts = []
        parent_total = total.get(str(row.parent), np.nan)
        if _finite(row.kpi_mediated) and _finite(parent_total) and parent_total > 0:
            parts.append(f"{percent(row.kpi_mediated / parent_total)} of {row.parent}'s effect")
        if _finite(row.stability):
            parts.append(f"in {percent(row.stability)} of refits")
        named.append(f"{row.parent} -> {row.child}" + (f" ({', '.join(parts)})" if parts else ""))
    more = f" and {len(dag) - MAX_EDGES} more" if len(dag) > MAX_EDGES else ""
    edge_word = "edge" if len(dag) == 1 else "edges"
    return f"Channel graph: {len(dag)} {edge_word} kept: {'; '.join(named)}{more}."


def plan_moves(budget: pd.DataFrame | None) -> list[str]:
    """The plan's largest spend changes, e.g. 'social -50% (lower bound)'."""
    if budget is None or "multiplier" not in budget:
        return []
    change = budget["multiplier"].astype(float) - 1.0
    order = change.abs().sort_values(ascending=False, kind="stable").index
    moves = []
    for i in order[:MAX_MOVES]:
        if abs(change[i]) < MIN_MOVE:
            break
        bound = str(budget.at[i, "bound"]) if "bound" in budget else "none"
        moves.append(f"{budget.at[i, 'channel']} {percent(change[i], signed=True)}"
                     + (f" ({bound} bound)" if bound in ("lower", "upper") else ""))
    return moves


def moves_text(budget: pd.DataFrame | None) -> str:
    """`plan_moves` as one phrase: 'a, b and c'."""
    moves = plan_moves(budget)
    if not moves:
        return "no channel by 5% or more"
    return moves[0] if len(moves) == 1 else ", ".join(moves[:-1]) + " and " + moves[-1]


def plan_line(budget: pd.DataFrame | None, summary: dict | None) -> str:
    """The budget plan in one line: what it moves and what it gains (budget_summary.json)."""
    if not summary:
        return "Budget plan: none (the optimiser needs spend columns, data.spend)."
    line = (f"Budget plan (budget.csv): at the same total, {number(summary.get('total_budget'))} "
            f"over the last {summary.get('window_weeks')} weeks, it moves {moves_text(budget)}, "
            f"and the KPI gains {lift_text(summary)} over them and their carry-over")
    if _finite(summary.get("lift_lo")) and _finite(summary.get("lift_hi")):
        line += (f"; under the ensemble's members {number(summary['lift_lo'])} to "
                 f"{number(summary['lift_hi'])}, a gain under "
                 f"{percent(summary.get('members_positive'))} of them")
    return line + "."


def lift_percent(summary: dict) -> str:
    """The plan's gain as a signed percentage (budget_summary.json's lift_pct)."""
    pct = summary.get("lift_pct")
    return percent(float(pct) / 100 if _finite(pct) else None, signed=True)


def lift_text(summary: dict) -> str:
    """The plan's gain, e.g. '205,774 (+0.9%)' (budget_summary.json's lift in KPI units, lift_pct)."""
    return f"{number(summary.get('lift'))} ({lift_percent(summary)})"


def refresh_line(metrics: dict) -> str | None:
    """A refresh's new weeks and how far the channels' ROI moved (metrics.json's
    `refresh`), or None for a run that is not a refresh."""
    refresh = metrics.get("refresh")
    if not refresh:
        return None
    moved = refresh.get("max_abs_roi_change_pct")
    return (f"Refresh: {refresh.get('new_weeks')} new weeks; the largest change of a channel's "
            f"ROI over the old weeks is {percent(moved / 100 if _finite(moved) else None)} "
            "(refresh.csv).")


def ensemble_line(metrics: dict) -> str:
    """How the intervals were made, or that there are none."""
    ens = metrics.get("ensemble")
    if not ens:
        return ("Intervals: none (one fit); model.ensemble_size=9 gives every number an 80% "
                "interval.")
    return (f"Intervals: [lo, hi] over {ens.get('size')} refits of the model, "
            f"{percent(ens.get('interval_achieved'))} intervals; 'may be 0': "
            f"the channel may have brought nothing.{left_out_sentence(ens)}")


def left_out_sentence(ens: dict) -> str:
    """' N of the M refits left out: ...', or '' when none was
    (metrics.json's `ensemble.left_out`, `dcmmm.fitting.kept_members`)."""
    out = ens.get("left_out") or []
    if not out:
        return ""
    return (f" {len(out)} of the {ens.get('fitted')} refits left out: their fits contradict "
            "the lift tests and priors the run was given (metrics.json, ensemble.left_out).")


def text_table(frame: pd.DataFrame, indent: str = "  ") -> str:
    """A table of strings as aligned plain text: the first column left-aligned,
    the others right-aligned."""
    cols = list(frame.columns)
    cells = [[str(c) for c in cols]] + [[str(v) for v in row]
                                        for row in frame.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    lines = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(r[1:], widths[1:])]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


def run_summary(tables: RunTables) -> str:
    """The closing summary of a run: the holdout against the naive forecasts
    (and the backtest, the refresh where the run has one), what each channel
    brought, the channel graph, the budget plan, where the report is."""
    channels = tables.channels
    key = ("share: of the KPI that all channels brought; incremental KPI in KPI units"
           + ("; ROI: KPI per unit of spend; mROI: KPI per unit of extra spend." if has_spend(channels)
              else "; no spend columns, so no ROI."))
    lines = ["", "dcmmm: what this run found", "", _wrap(holdout_line(tables.metrics))]
    for line in (backtest_line(tables.backtest), refresh_line(tables.metrics)):
        if line is not None:
            lines.append(_wrap(line))
    lines += ["", "What each channel brought, over all weeks and regions:",
              text_table(channel_rows(channels)), _wrap(key), _wrap(ensemble_line(tables.metrics))]
    if (line := basis_line(channels)) is not None:
        lines.append(_wrap(line))
    lines += ["",
              _wrap(graph_line(tables.dag, channels))]
    if has_spend(channels) or tables.budget_summary:
        lines.append(_wrap(plan_line(tables.budget, tables.budget_summary)))
    if tables.report:
        lines.append(f"Report: {tables.report}")
    return "\n".join(lines)


def _wrap(text: str) -> str:
    """A paragraph of the console summary, wrapped at WIDTH with its later lines indented."""
    return textwrap.fill(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def job_line(job: str, tables: RunTables | None) -> str:
    """One line for a sweep's job: its holdout against the best naive forecast,
    its largest channels by share, the plan's gain and where its report is;
    `tables` None: an unfinished job."""
    if tables is None:
        return f"{job}: unfinished (no metrics.json)"
    fit = holdout(tables.metrics)
    parts = ["holdout -" if fit.score is None else f"holdout {fit.score:.3f}"]
    if fit.naive:
        best = min(fit.naive, key=fit.naive.get)
        parts[0] += f" (best naive {fit.naive[best]:.3f}, {NAIVE.get(best, best)})"
    if tables.channels is not None:
        top = tables.channels.sort_values("share", ascending=False).head(3)
        parts.append(", ".join(f"{c} {percent(s)}" for c, s in zip(top["channel"], top["share"])))
    if tables.budget_summary:
        parts.append(f"plan {lift_percent(tables.budget_summary)}")
    if tables.report:
        parts.append(tables.report)
    return f"{job}: " + " | ".join(parts)
