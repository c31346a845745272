"""Which regions a geo lift test puts in treatment, balanced on the pre-period KPI.

The treatment regions of a test are drawn by stratified rerandomisation
(Morgan & Rubin 2012, "Rerandomization to improve covariate balance"): the
eligible regions are sorted by their mean pre-period KPI and cut into as
many strata as the test has treatment regions; one region is drawn from
each stratum, and of `draws` such draws the best balanced is kept. Balance
of a treatment group against its control group:

- `smd`: the standardised difference of the groups' mean pre-period KPI per
  region (difference over the pooled sd of the regions' means);
- `corr`: the correlation of the two groups' weekly pre-period KPI (their sums,
  each over its own mean), i.e. whether they move alike over the year.

The score of a draw is |smd| + (1 − corr).
"""

import numpy as np


def balance(y_pre: np.ndarray, treatment, control) -> dict:
    """Balance of `treatment` against `control` (region indices) on the
    pre-period KPI y_pre [R, W] (KPI units, NaN where unobserved): per-region
    means of each group, `smd` and `corr` (module docstring)."""
    means = np.nanmean(y_pre, axis=1)
    treatment, control = np.asarray(treatment, int), np.asarray(control, int)
    out = {"mean_treatment": float(means[treatment].mean()) if treatment.size else float("nan"),
           "mean_control": float(means[control].mean()) if control.size else float("nan")}
    if treatment.size == 0 or control.size == 0:
        return {**out, "smd": float("nan"), "corr": float("nan")}
    pooled = float(np.std(means, ddof=1)) if means.size > 1 else 0.0
    diff = out["mean_treatment"] - out["mean_control"]
    out["smd"] = diff / pooled if pooled > 0 else 0.0
    weekly_t = np.nansum(y_pre[treatment], axis=0)
    weekly_c = np.nansum(y_pre[control], axis=0)
    if weekly_t.size > 2 and weekly_t.std() > 0 and weekly_c.std() > 0:
        out["corr"] = float(np.corrcoef(weekly_t / weekly_t.mean(), weekly_c / weekly_c.mean())[0, 1])
    else:
        out["corr"] = 1.0
    return out


def score(stats: dict) -> float:
    """A draw's imbalance: |smd| + (1 − corr) (0 = the groups look alike)."""
    return abs(stats["smd"]) + (1.0 - stats["corr"])


def assign(y_pre: np.ndarray, pool, n_treatment: int, rng: np.random.Generator, draws: int
           ) -> np.ndarray:
    """`n_treatment` treatment regions (sorted indices) from `pool`, the rest
    of the pool their control: the best balanced of `draws` stratified draws
    (module docstring). All of the pool when it holds no more regions than asked."""
    pool = np.asarray(pool, int)
    if n_treatment >= pool.size:
        return np.sort(pool)
    means = np.nanmean(y_pre[pool], axis=1)
    strata = np.array_split(pool[np.argsort(means)], n_treatment)
    best, best_score = None, np.inf
    for _ in range(max(draws, 1)):
        pick = np.sort([rng.choice(stratum) for stratum in strata])
        rest = np.setdiff1d(pool, pick)
        value = score(balance(y_pre, pick, rest))
        if value < best_score:
            best, best_score = pick, value
    return best
