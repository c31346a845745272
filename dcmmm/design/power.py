"""A geo lift test's estimator, its standard error from the residual noise, and its power.

The experiment: the channel goes dark in the treatment regions for the test
weeks; the KPI is measured over those weeks and a cool-down after them (the
measured weeks M). The estimator is a difference in differences of the KPI
adjusted by the fitted model: a[r, t] = the KPI minus what the model says the
seasonality, the controls and the *other* channels brought (decomposition.csv:
actual − seasonality − control:* − channel:<other>), so only the intercept,
the local level, the tested channel and the noise are left:

    A_T(t) = Σ_{r ∈ treatment} a[r, t],   A_C(t) = Σ_{r ∈ control} a[r, t]
    d(t) = A_T(t) − β · A_C(t),   β = Σ_pre A_T / Σ_pre A_C  (0 without control regions)
    lift = −(Σ_{t ∈ M} d(t) − |M| · mean of d over the `baseline` weeks before the test)

The control regions remove the shocks the regions share (a national demand
week), the baseline weeks what the groups' levels drifted apart by. Its
standard error is the larger of two estimates:

- placebo tests: the root mean square of the same estimator over every
  window of |M| weeks of the pre-period, where nothing was tested, so the
  noise's autocorrelation and the model's misfit count;
- white noise at the out-of-sample noise level σ_r² of each region:
  √((|M| + |M|²/B) · (Σ_T σ_r² + β² Σ_C σ_r²)), B the baseline weeks.

The first alone is too optimistic: the adjusted KPI comes from a fit of the
same weeks, and a flexible fit absorbs part of the noise of multi-week sums
(on the generator's `geo` seed 0 the placebo estimate was 1.3–1.45× below
the one from the true adjustment, for groups of 2 to 13 regions).

Power to exclude zero at two-sided level 1 − α: Φ(|L| / se − z) +
Φ(−|L| / se − z), z the 1 − α/2 normal quantile.
"""

import numpy as np
from scipy import stats


def group_series(adjusted: np.ndarray, treatment, control) -> tuple[np.ndarray, np.ndarray]:
    """(A_T, A_C) [T]: the treatment and control regions' summed adjusted KPI
    (adjusted [R, T], NaN where unobserved, counted as 0)."""
    a = np.nan_to_num(np.asarray(adjusted, np.float64))
    treatment, control = np.asarray(treatment, int), np.asarray(control, int)
    return a[treatment].sum(axis=0), (a[control].sum(axis=0) if control.size
                                      else np.zeros(a.shape[1]))


def control_ratio(adjusted: np.ndarray, treatment, control, pre: np.ndarray) -> float:
    """β = Σ_pre A_T / Σ_pre A_C over the weeks `pre` (boolean [T]); 0 without
    control regions."""
    a_t, a_c = group_series(adjusted, treatment, control)
    pre = np.asarray(pre, bool)
    denom = float(a_c[pre].sum())
    return float(a_t[pre].sum()) / denom if denom != 0 else 0.0


def differences(adjusted: np.ndarray, treatment, control, pre: np.ndarray) -> np.ndarray:
    """d(t) [T] = A_T(t) − β A_C(t), β = `control_ratio` over the weeks `pre`."""
    a_t, a_c = group_series(adjusted, treatment, control)
    return a_t - control_ratio(adjusted, treatment, control, pre) * a_c


def lift_from_differences(d: np.ndarray, start: int, n_measured: int, baseline: int) -> float:
    """−(Σ d over weeks [start, start + n_measured) − n_measured · mean of d
    over the `baseline` weeks before `start`)."""
    before = d[max(start - baseline, 0):start]
    level = float(before.mean()) if before.size else 0.0
    return float(-(d[start:start + n_measured].sum() - n_measured * level))


def estimate_lift(adjusted: np.ndarray, treatment, control, start: int, n_measured: int,
                  baseline: int) -> float:
    """The KPI the treatment regions lost over the `n_measured` weeks from
    week `start` (module docstring); β from every week before `start`."""
    pre = np.arange(np.shape(adjusted)[1]) < start
    return lift_from_differences(differences(adjusted, treatment, control, pre), start,
                                 n_measured, baseline)


def placebo_se(adjusted: np.ndarray, treatment, control, n_measured: int, n_pre: int,
               baseline: int) -> float:
    """Standard error of `estimate_lift` for a test measured over `n_measured`
    weeks: the root mean square of the estimator over every window of the
    first `n_pre` weeks (the pre-period, where no test ran) that has
    `baseline` weeks before it; β from the whole pre-period."""
    pre = np.arange(np.shape(adjusted)[1]) < n_pre
    d = differences(adjusted, treatment, control, pre)
    starts = range(baseline, n_pre - n_measured + 1)
    if not starts:
        raise ValueError(f"{n_pre} pre-period weeks cannot hold a {baseline}-week baseline and "
                         f"a {n_measured}-week test")
    placebos = np.array([lift_from_differences(d, s, n_measured, baseline) for s in starts])
    return float(np.sqrt(np.mean(placebos**2)))


def white_noise_se(sigma2: np.ndarray, treatment, control, beta: float, n_measured: int,
                   baseline: int) -> float:
    """Standard error of `estimate_lift` for independent noise of variance
    sigma2 [R] per region and week: √((n + n²/B) · (Σ_T σ² + β² Σ_C σ²))."""
    sigma2 = np.asarray(sigma2, np.float64)
    treatment, control = np.asarray(treatment, int), np.asarray(control, int)
    per_week = sigma2[treatment].sum() + beta**2 * (sigma2[control].sum() if control.size else 0.0)
    return float(np.sqrt((n_measured + n_measured**2 / baseline) * per_week))


def standard_error(adjusted: np.ndarray, sigma2: np.ndarray, treatment, control, n_measured: int,
            n_pre: int, baseline: int) -> dict:
    """{"se": the larger of "placebo" (`placebo_se`) and "white"
    (`white_noise_se` at noise variances sigma2 [R])} of a test of the groups."""
    pre = np.arange(np.shape(adjusted)[1]) < n_pre
    beta = control_ratio(adjusted, treatment, control, pre)
    placebo = placebo_se(adjusted, treatment, control, n_measured, n_pre, baseline)
    white = white_noise_se(sigma2, treatment, control, beta, n_measured, baseline)
    return {"se": max(placebo, white), "placebo": placebo, "white": white, "beta": beta}


def power(lift: float, se: float, level: float = 0.95) -> float:
    """Probability that a test with expected lift `lift` and standard error `se`
    excludes zero at two-sided `level`."""
    if not se > 0:
        return 1.0 if lift != 0 else 0.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    ratio = abs(lift) / se
    return float(stats.norm.cdf(ratio - z) + stats.norm.cdf(-ratio - z))


def interval_shrinkage(roi: float, roi_sd: float, lift: float, se: float) -> tuple[float, float]:
    """(the ROI's sd after the test, 1 − sd_after / sd_now): the test measures
    the lift with standard error `se`, and the ROI moves in proportion to the
    lift (the same curve scaled), so it measures the ROI with sd
    se · |roi / lift|, combined with the current sd `roi_sd` as two Gaussian
    measurements."""
    if not (np.isfinite(roi_sd) and roi_sd > 0 and lift != 0 and np.isfinite(roi)):
        return float("nan"), float("nan")
    test_sd = se * abs(roi / lift)
    after = 1.0 / np.sqrt(1.0 / roi_sd**2 + 1.0 / test_sd**2) if test_sd > 0 else 0.0
    return float(after), float(1.0 - after / roi_sd)
