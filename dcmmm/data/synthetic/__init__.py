"""Ground-truth generator: weekly MMM panels simulated from a known model.

This package is the truth oracle for the recovery tests, so it is written
independently of ``dcmmm.model`` (numpy/pandas only) and on purpose uses a
model the fitted one does not assume exactly:

- **Spend**: per (region r, week t, channel c), log-normal around a level that
  scales with the region size, driven by a shared market factor (national AR(1)
  plus a regional AR(1)), mild seasonality and channel noise; TV-like channels
  are flighted (on/off Markov bursts, mostly following a national schedule),
  search-like channels are always on. Own activity = spend / cost per unit
  (a per-channel cost with 3% noise per cell), so activity is proportional to
  spend within a channel.
- **Channel graph**: ``x_child = u_child + Σ_parents w_pc · (M_child / M_parent) · x_parent``
  in the same week, with ``u`` own (spend-driven) activity, ``x`` observed
  (total) activity and ``M`` a region's mean total activity over the panel
  weeks, so that in scaled units (activity / its mean) the equation is exactly
  ``x̃_child = ũ_child + Σ w_pc · x̃_parent`` (the fitted model's ``x = u + x W``).
  Driven activity is free: a child's spend is its own spend only.
- **Adstock**: normalised kernels over lags ``l = 0 … L-1`` (``L = 13``):
  delayed ``w_l ∝ decay^((l - delay)^2)`` (Jin et al. 2017, "Bayesian Methods
  for Media Mix Modeling with Carryover and Shape Effects"), Weibull pdf
  ``w_l ∝ pdf(l + 1; shape, scale)`` and geometric ``w_l ∝ decay^l``.
  A 52-week burn-in with the same spend process precedes the panel and is
  discarded, so carry-over at the first week is realistic.
- **Saturation**: Hill ``h(a) = a^s / (a^s + k^s)`` (Jin et al. 2017) of the
  adstocked activity divided by that (region, channel)'s mean total activity
  over the panel weeks, so ``k`` is in units of mean activity.
- **KPI**: ``y[r, t] = S · size_r · (base_r(t) + Σ_c β_rc · eff_c(t) · h_rc(t)) + ε``
  with ``S`` = ``kpi_scale`` (weekly KPI of a size-1 region),
  ``base_r(t) = i_r · (1 + trend · (t - t̄) / 52 + season_r(t)) + control_r(t)``,
  ``control_r(t) = i_r · (-elasticity · (price_rt / p0_r - 1) + lift · promo_rt)``,
  ``ε ~ N(0, (noise_sd · mean_t E[y_r])^2)``, and ``β_rc = β_c · exp(δ_rc)``
  (±15% lognormal, geometric mean 1 over regions). ``eff_c(t) = 1`` except for
  the channels listed in ``ScenarioConfig.drift`` (linear from start to end).

Axis letters: ``R`` regions, ``T`` panel weeks, ``B`` burn-in weeks, ``C``
channels, ``L`` lags. Arrays with a ``B + T`` time axis include the burn-in.

Scenarios: ``geo``, ``national``, ``graph``, ``collinear``, ``drift``
(see :func:`scenario`). :func:`simulate` returns the long data frame, the truth
dictionary (incremental KPI and ROI per channel from counterfactual
re-simulation) and the :class:`World` that can answer further counterfactuals.

**Future mode**: the spend processes, costs and controls run on for
``future_weeks`` (52) weeks after the panel, from a random stream of their
own (the panel does not change). :func:`future_frame` writes those weeks as a
plan file (the table without its KPI), and ``World.future_kpi`` gives the true
KPI of any weekly spend in them, carry-over included, so a plan can be judged
by the truth.

Modules: ``scenarios`` (``ScenarioConfig``, the registry of named scenarios,
the table's columns), ``blocks`` (adstock, Hill, Fourier in numpy), ``world``
(``World``: the true model of one seed and its counterfactuals),
``simulation`` (drawing a world and its observed table) and ``truth`` (the
ground truth, simulated lift tests and designed tests run in the true world).
"""

from dcmmm.data.synthetic.blocks import adstock_kernel, apply_adstock, hill
from dcmmm.data.synthetic.scenarios import (
    CONTROL_COLUMNS,
    DATE_COLUMN,
    KPI_COLUMN,
    REGION_COLUMN,
    SCENARIOS,
    ScenarioConfig,
    data_keys,
    scenario,
)
from dcmmm.data.synthetic.simulation import future_frame, simulate
from dcmmm.data.synthetic.truth import designed_lift_tests, lift_tests, truth
from dcmmm.data.synthetic.world import Future, World

__all__ = [
    "CONTROL_COLUMNS",
    "DATE_COLUMN",
    "Future",
    "KPI_COLUMN",
    "REGION_COLUMN",
    "SCENARIOS",
    "ScenarioConfig",
    "World",
    "adstock_kernel",
    "apply_adstock",
    "data_keys",
    "designed_lift_tests",
    "future_frame",
    "hill",
    "lift_tests",
    "scenario",
    "simulate",
    "truth",
]
