"""The planner page's words: plain language for someone who has never seen a
marketing mix model, and the table as the page shows it."""

import math

import pandas as pd

# where the sliders' plan came from, after Optimise with each scenario
ORIGINS = {
    "as_is": "the given plan",
    "fixed": "the best split of the total budget (found by Optimise)",
    "target_roi": "the most spend that keeps the target ROI (found by Optimise)",
    "target_mroi": "each channel's spend at the target marginal ROI (found by Optimise)",
}
SCENARIOS = {
    "as_is": "As is: back to the given plan",
    "fixed": "Fixed budget: the best split of a total",
    "target_roi": "Target ROI: the most spend that keeps a return per unit of money",
    "target_mroi": "Target marginal ROI: spend on each channel until the next unit of money "
                   "returns this much",
}

# plan.csv's columns as the page names them ({kpi}: the run's KPI)
COLUMNS = {
    "channel": "Channel",
    "spend_given": "Spend (given plan)",
    "spend_planned": "Spend (this plan)",
    "incremental_kpi_given": "Extra {kpi} (given plan)",
    "incremental_kpi_planned": "Extra {kpi} (this plan)",
    "roi": "ROI",
    "mroi": "Marginal ROI",
}
RANGES = {"incremental_kpi_planned": "Extra {kpi}: range", "roi": "ROI: range",
          "mroi": "Marginal ROI: range"}
HELP = {
    "spend_given": "Money spent on the channel over the plan weeks, all regions shown.",
    "incremental_kpi_given": "The {kpi} the channel's spend brings that would not happen "
                             "without it, over the plan weeks and the weeks after.",
    "incremental_kpi_planned": "The {kpi} the channel's spend brings that would not happen "
                               "without it, over the plan weeks and the weeks after.",
    "roi": "Extra {kpi} per unit of money spent on the channel in this plan.",
    "mroi": "Extra {kpi} that one more unit of money on the channel would bring. Move money "
            "towards channels where it is high.",
}
MONEY_LIKE = ("spend_given", "spend_planned", "incremental_kpi_given", "incremental_kpi_planned")

GLOSSARY = """\
- **Given plan**: the spend the page starts from: the same weeks a year earlier
  (or the plan file you uploaded). The sliders scale each channel's spend in
  every week and region by the same percentage, so its timing is kept.
- **Extra {kpi} (incremental)**: the {kpi} that a channel's spend brings that
  would not happen without it. It counts the plan weeks and the weeks after
  them, while the effect of the advertising fades.
- **ROI**: extra {kpi} per unit of money spent on the channel.
- **Marginal ROI**: what the *next* unit of money on a channel would bring.
  Moving money from a channel with a low marginal ROI to one with a high
  marginal ROI raises the total; at the best split the marginal ROIs of the
  channels that are free to move are equal.
- **Baseline**: the {kpi} the model expects without any advertising (season,
  trend, prices and other factors).
- **Range**: when the model was fitted several times on resampled data, the
  span of its answers: a wide range means the data cannot pin the number down.
- The numbers are a model's estimates from past data, not guarantees.
"""


def fmt(x) -> str:
    """A number for people: thousands separated, 3 significant digits when small."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"


def money(x) -> str:
    return f"{x:,.0f}"


def range_text(lo, hi, whole: bool = False) -> str:
    """"lo to hi"; `whole`: in whole units (KPI, money)."""
    if whole:
        return f"{lo:,.0f} to {hi:,.0f}"
    return f"{fmt(lo)} to {fmt(hi)}"


def intro(run, planner) -> str:
    """The page's opening paragraph."""
    future, kpi = planner.future, run.fitted.panel.kpi_name
    labels = future.period_labels()
    panel = run.fitted.panel
    source = ("the same weeks a year earlier" if future.source == "last year"
              else f"the plan file '{future.source}'")
    return (
        f"This page estimates what a media plan for the **{future.n_weeks} weeks from "
        f"{labels[0]} to {labels[-1]}** would bring in **{kpi}**, using a model fitted to "
        f"{panel.n_weeks} weeks of past {kpi} and media spend in {panel.n_regions} "
        f"region{'s' if panel.n_regions > 1 else ''} (run `{run.name}`). The given plan is "
        f"{source}. Move a slider to spend more or less on a channel; the numbers and "
        "charts below follow at once.")


def table_for_page(table: pd.DataFrame, kpi: str) -> pd.DataFrame:
    """plan.csv's rows with the page's column names, each range (as text) right
    after its number."""
    out = {}
    for col, name in COLUMNS.items():
        out[name.format(kpi=kpi)] = table[col]
        if col in RANGES and f"{col}_lo" in table:
            out[RANGES[col].format(kpi=kpi)] = [
                range_text(lo, hi, whole=col in MONEY_LIKE)
                for lo, hi in zip(table[f"{col}_lo"], table[f"{col}_hi"])]
    return pd.DataFrame(out)


def column_help(kpi: str) -> dict:
    """{page column: (printf format, tooltip)} of the table's numbers."""
    return {COLUMNS[col].format(kpi=kpi): ("%,.0f" if col in MONEY_LIKE else "%.2f",
                                           HELP.get(col, HELP.get(col.replace("planned", "given"),
                                                                  "")).format(kpi=kpi))
            for col in COLUMNS if col != "channel"}
