"""`Planner`: a fitted model and a plan's weeks, ready to evaluate and
optimise plans (`dcmmm.planning.tables.plan`, the Python API of `plan.py`,
builds one).

A Planner runs the model over the future once (`dcmmm.planning.horizon`,
for every ensemble member too); after that an evaluation is one jitted call
of a few milliseconds and an optimisation one jitted program, compiled once
per shape (the planner page re-uses one Planner for every slider move):

    import dcmmm
    run = dcmmm.load_run("outputs/...")
    result = dcmmm.plan(run, scenario="fixed", total=2e6)   # tables of plan.py
    planner = dcmmm.Planner.of(run, dcmmm.PlanSpec(total=2e6))
    planner.evaluate(planner.channel_multipliers({"tv": 1.2}))   # what-if
"""

import dataclasses
import os
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.data.future import FutureWeeks, last_year, read_future
from dcmmm.errors import ConfigError
from dcmmm.fitted import Fitted
from dcmmm.planning import horizon as hz
from dcmmm.planning.optimise import (
    FRONTIER,
    ascend,
    ascend_budgets,
    check_budget,
    first_step,
    multipliers,
)
from dcmmm.planning.spec import Bounds, PlanSpec, cost_multipliers, plan_bounds


class Optimum(NamedTuple):
    """A scenario's plan: multipliers [R, C] on the given spend, the
    optimised budget (money), the budget's or target's marginal ROI α (NaN
    for as_is), whether a target was met (None without a target)."""

    multipliers: np.ndarray
    budget: float
    alpha: float
    target_met: bool | None


class Planner:
    """A fitted model and the weeks of a plan (`FutureWeeks`).

    horizon: the model over the plan's window (`dcmmm.planning.horizon`);
    members: the ensemble members' horizons stacked [E, ...], or None;
    spend_rc: [R, C] the given plan's spend over the plan weeks (money).
    """

    def __init__(self, fitted: Fitted, future: FutureWeeks):
        if fitted.panel.spend is None:
            raise ConfigError("planning needs spend columns: the run was fitted without "
                              "data.spend")
        self.fitted, self.future = fitted, future
        self.horizon = hz.horizon(fitted, future)
        members = fitted.members()
        self.members = hz.stack([hz.horizon(m, future) for m in members]) if members else None
        self.spend_rc = future.spend.sum(axis=1)

    @classmethod
    def of(cls, fitted: Fitted, pspec: PlanSpec,
           table: pd.DataFrame | str | os.PathLike | None = None) -> "Planner":
        """The planner of a plan table or file in the run's data format, or
        (None) of the weeks a year earlier (`pspec.weeks`, scaled to `pspec.total`)."""
        cost = cost_multipliers(pspec, fitted.channels)
        if table is None:
            future = last_year(fitted.panel, pspec.weeks, pspec.total, cost)
        else:
            future = read_future(fitted.panel, table, cost)
        return cls(fitted, future)

    @property
    def n_regions(self) -> int:
        return self.spend_rc.shape[0]

    def channel_multipliers(self, values: dict) -> np.ndarray:
        """[R, C] multipliers from {channel: multiplier} (others 1)."""
        names = list(self.fitted.channels)
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(f"unknown channel(s) {unknown}; channels are {names}")
        row = np.array([float(values.get(n, 1.0)) for n in names])
        return np.broadcast_to(row, self.spend_rc.shape).copy()

    def evaluate(self, mult) -> hz.Evaluation:
        """What the plan `mult` [R, C] brings under the fitted model (numpy)."""
        out = hz.evaluate_jit(self.horizon, jnp.asarray(mult, jnp.float32))
        return hz.Evaluation(*(np.asarray(a, np.float64) for a in out))

    def evaluate_members(self, mult) -> hz.Evaluation | None:
        """`evaluate` under each ensemble member ([E, ...]), or None without an ensemble."""
        if self.members is None:
            return None
        out = hz.evaluate_members(self.members, jnp.asarray(mult, jnp.float32))
        return hz.Evaluation(*(np.asarray(a, np.float64) for a in out))

    def optimum_of(self, mult) -> Optimum:
        """A plan set by hand (a what-if, the given plan): the multipliers
        [R, C] as an Optimum for the tables, without an optimised marginal
        ROI or a target."""
        mult = np.asarray(mult, np.float64)
        return Optimum(mult, float((mult * self.spend_rc).sum()), np.nan, None)

    def variables(self, pspec: PlanSpec) -> tuple[np.ndarray, Bounds]:
        """The optimiser's variables: their given spend [n] (money) and bounds."""
        bounds = plan_bounds(pspec, self.fitted.channels, self.fitted.panel.regions,
                             self.spend_rc)
        spend = self.spend_rc.ravel() if pspec.by_region else self.spend_rc.sum(axis=0)
        return spend, bounds

    def optimise(self, pspec: PlanSpec) -> Optimum:
        """The plan of `pspec.scenario` (module `dcmmm.planning.optimise`)."""
        spend, bounds = self.variables(pspec)
        given = float(spend.sum())
        if pspec.scenario == "as_is":
            return self.optimum_of(np.ones_like(self.spend_rc))
        if given <= 0:
            raise ConfigError("the given plan has no spend to allocate: give a plan with spend, "
                              "or plan.scenario=as_is")
        args = self._arrays(spend, bounds)
        lr0 = first_step(bounds.lower, bounds.upper, ~bounds.fixed)
        if pspec.scenario not in ("fixed", "target_mroi"):
            return self._target_roi(pspec, spend, bounds, lr0)
        start = self._start(pspec)
        if pspec.scenario == "fixed":
            budget = given if pspec.total is None else float(pspec.total)
            check_budget(budget, spend, bounds.lower, bounds.upper)
            theta, _, alpha, _ = ascend(self.horizon, *args, budget, 0.0, pspec.value, lr0, start,
                                        by_region=pspec.by_region, budgeted=True,
                                        steps=pspec.steps)
        else:
            theta, _, alpha, _ = ascend(self.horizon, *args, 0.0, pspec.target_mroi, pspec.value,
                                        lr0, start, by_region=pspec.by_region, budgeted=False,
                                        steps=pspec.steps)
        return self._optimum(theta, spend, alpha, None, pspec)

    def _start(self, pspec: PlanSpec):
        """Where the optimiser starts: the given plan (1) for one multiplier per
        channel; with `by_region`, the per-channel optimum of the same
        scenario in every region, so regions refine the channel plan (the
        best iterate is kept: never worse under the model than it) rather
        than search from the given plan for another local optimum
        (docs/design.md, "Forward planning")."""
        if not pspec.by_region:
            return 1.0
        channel = self.optimise(dataclasses.replace(pspec, by_region=False, region_lower=None,
                                                          region_upper=None))
        return jnp.asarray(np.tile(channel.multipliers[0], self.n_regions), jnp.float32)

    def _arrays(self, spend: np.ndarray, bounds: Bounds) -> tuple:
        return tuple(jnp.asarray(a, jnp.float32) for a in (spend, bounds.lower, bounds.upper))

    def _optimum(self, theta, spend, alpha, met, pspec: PlanSpec) -> Optimum:
        theta = np.asarray(theta, np.float64)
        mult = np.asarray(multipliers(theta, self.n_regions, pspec.by_region), np.float64)
        return Optimum(mult, float(spend @ theta), float(alpha), met)

    def _target_roi(self, pspec: PlanSpec, spend, bounds: Bounds, lr0: float) -> Optimum:
        """The largest budget whose best plan keeps ROI ≥ target: the 16
        budgets from the least to the most the bounds (and `max_total`)
        allow, then 16 between the last that meets the target and the next."""
        low, high = float(spend @ bounds.lower), float(spend @ bounds.upper)
        if pspec.max_total is not None:
            if pspec.max_total < low:
                raise ConfigError(f"plan.max_total = {pspec.max_total:g} is below the least the "
                                  f"bounds allow ({low:g})")
            high = min(high, float(pspec.max_total))
        grid = np.linspace(low, high, len(FRONTIER))
        for _ in range(2):
            thetas, values, alphas = self._budgets(pspec, spend, bounds, grid, lr0)[:3]
            with np.errstate(divide="ignore", invalid="ignore"):
                meets = values / grid >= pspec.target_roi
            if not meets.any():
                best = np.nanmax(np.where(grid > 0, values / grid, np.nan))
                raise ConfigError(f"plan.target_roi = {pspec.target_roi:g} cannot be reached "
                                  f"within the bounds: the best plans return at most {best:.4g} "
                                  f"({pspec.roi_unit})")
            i = int(np.flatnonzero(meets)[-1])
            if i == len(grid) - 1:
                break
            grid = np.linspace(grid[i], grid[i + 1], len(FRONTIER))
        return self._optimum(thetas[i], spend, alphas[i], True, pspec)

    def _budgets(self, pspec: PlanSpec, spend, bounds: Bounds, budgets, lr0, scale=None):
        """`ascend_budgets` for `budgets` [N] (money), bounds scaled by `scale` [N]
        (the free variables' bounds times it; None: as given)."""
        n = len(budgets)
        scale = np.ones(n) if scale is None else np.asarray(scale, np.float64)
        free = ~bounds.fixed
        lower = np.where(free, scale[:, None] * bounds.lower[None], 1.0)
        upper = np.where(free, scale[:, None] * bounds.upper[None], 1.0)
        out = ascend_budgets(self.horizon, jnp.asarray(spend, jnp.float32),
                             jnp.asarray(lower, jnp.float32), jnp.asarray(upper, jnp.float32),
                             jnp.asarray(budgets, jnp.float32), jnp.float32(pspec.value),
                             jnp.asarray(lr0 * scale, jnp.float32),
                             jnp.asarray(scale, jnp.float32), by_region=pspec.by_region,
                             steps=pspec.steps)
        return tuple(np.asarray(a, np.float64) for a in out)

    def frontier(self, pspec: PlanSpec) -> pd.DataFrame:
        """frontier.csv: the best plan at 16 budgets from 0.25× to 2× the given
        plan's spend, one vmapped program. At each budget the free variables'
        bounds scale with their share of it (k × plan.lower to k × plan.upper,
        k = the free variables' budget / their given spend); held channels
        keep their spend. Columns: multiple (of the given spend), budget,
        incremental_kpi (optimal), roi, mroi (the budget's marginal ROI at the
        optimum), incremental_kpi_scaled and roi_scaled (the given plan scaled
        to the budget). NaN where held spend alone exceeds the budget."""
        spend, bounds = self.variables(pspec)
        given = float(spend.sum())
        if given <= 0:
            raise ConfigError("the given plan has no spend: there is no frontier to draw")
        held = float(spend[bounds.fixed].sum())
        budgets = FRONTIER * given
        feasible = budgets > held
        scale = np.where(feasible, (budgets - held) / max(given - held, 1e-30), 1.0)
        lr0 = first_step(bounds.lower, bounds.upper, ~bounds.fixed)
        _, values, alphas, scaled = self._budgets(pspec, spend, bounds,
                                                  np.where(feasible, budgets, given), lr0, scale)
        nan = lambda a: np.where(feasible, a, np.nan)  # noqa: E731
        return pd.DataFrame({
            "multiple": FRONTIER, "budget": budgets,
            "incremental_kpi": nan(values / pspec.value), "roi": nan(values / budgets),
            "mroi": nan(alphas), "incremental_kpi_scaled": nan(scaled / pspec.value),
            "roi_scaled": nan(scaled / budgets)})
