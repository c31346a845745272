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
    (module docstring), all scored at once (`draw_scores`). All of the pool
    when it holds no more regions than asked."""
    pool = np.asarray(pool, int)
    if n_treatment >= pool.size:
        return np.sort(pool)
    means = np.nanmean(y_pre[pool], axis=1)
    strata = np.array_split(pool[np.argsort(means)], n_treatment)
    sizes = np.array([s.size for s in strata])
    # draw by draw, one region per stratum (the stream of rng.choice on each stratum in turn)
    index = rng.integers(0, sizes, size=(max(draws, 1), n_treatment))
    picks = np.sort(np.stack([s[index[:, j]] for j, s in enumerate(strata)], axis=1), axis=1)
    return picks[int(np.argmin(draw_scores(y_pre, pool, picks)))]


def draw_scores(y_pre: np.ndarray, pool: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """`score(balance(y_pre, pick, pool − pick))` of every row of `picks`
    [draws, n] (region indices from `pool`), computed together."""
    means = np.nanmean(y_pre, axis=1)
    pooled = float(np.std(means, ddof=1)) if means.size > 1 else 0.0
    n_c = pool.size - picks.shape[1]
    mean_t = means[picks].mean(axis=1)
    mean_c = (means[pool].sum() - means[picks].sum(axis=1)) / n_c
    smd = (mean_t - mean_c) / pooled if pooled > 0 else np.zeros(len(picks))
    weekly = np.nan_to_num(y_pre)
    weekly_t = weekly[picks].sum(axis=1)  # [draws, W]
    weekly_c = weekly[pool].sum(axis=0)[None] - weekly_t
    corr = np.ones(len(picks))
    if weekly.shape[1] > 2:
        a = weekly_t / weekly_t.mean(axis=1, keepdims=True)
        b = weekly_c / weekly_c.mean(axis=1, keepdims=True)
        a_c, b_c = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
        sa, sb = np.sqrt((a_c**2).sum(axis=1)), np.sqrt((b_c**2).sum(axis=1))
        ok = (weekly_t.std(axis=1) > 0) & (weekly_c.std(axis=1) > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(ok, (a_c * b_c).sum(axis=1) / (sa * sb), 1.0)
    return np.abs(smd) + (1.0 - corr)
