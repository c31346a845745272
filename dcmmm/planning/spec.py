"""The settings of a plan (`conf/plan.yaml`, group `plan`) and its bounds.

A plan is a spend multiplier μ on the given plan's spend: per channel
(μ [C], the same in every region) or, with `by_region`, per (region,
channel) (μ [R, C]). Each multiplier lies within its bounds; channels held
fixed, and cells without spend in the given plan, stay at 1.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dcmmm.analysis.budget import named_bounds
from dcmmm.errors import ConfigError

SCENARIOS = ("as_is", "fixed", "target_roi", "target_mroi")


@dataclass(frozen=True)
class PlanSpec:
    """How to plan (defaults are conf/plan.yaml's).

    scenario: `as_is` (evaluate the given plan), `fixed` (the most incremental
    KPI at `total`), `target_roi` (the most incremental KPI with the plan's
    ROI at least `target_roi`, spend at most `max_total`), `target_mroi`
    (each channel moved until its marginal ROI is `target_mroi`).
    weeks: weeks to plan when the given plan is copied from a year earlier.
    total: the budget over the plan weeks (money); None = the given plan's
        spend. A copy from a year earlier is scaled to it.
    lower / upper: multiplier bounds on the given spend, a number or
        {channel: bound, "default": bound}.
    hold: channels held at their given spend (multiplier 1).
    by_region: one multiplier per (region, channel) instead of per channel.
    region_lower / region_upper: with `by_region`, {region: bound} applying
        to all of a region's channels besides `lower` / `upper`; None = none.
    cost_per_unit: multiplier on today's cost per unit of activity, a number
        or {channel: multiplier, "default": multiplier}.
    kpi_value: money per KPI unit; ROI and marginal ROI are then money per
        money; None: KPI per unit of money.
    steps: projected gradient steps of the optimiser.
    """

    scenario: str = "fixed"
    weeks: int = 13
    total: float | None = None
    target_roi: float | None = None
    target_mroi: float | None = None
    max_total: float | None = None
    lower: float | dict = 0.5
    upper: float | dict = 1.5
    hold: tuple[str, ...] = ()
    by_region: bool = False
    region_lower: dict | None = None
    region_upper: dict | None = None
    cost_per_unit: float | dict = 1.0
    kpi_value: float | None = None
    steps: int = 300

    def __post_init__(self) -> None:
        object.__setattr__(self, "hold", tuple(self.hold or ()))
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"plan.scenario must be one of {list(SCENARIOS)}, "
                              f"got {self.scenario!r}")
        for scenario in ("target_roi", "target_mroi"):
            if self.scenario == scenario and getattr(self, scenario) is None:
                raise ConfigError(f"plan.scenario={scenario} needs plan.{scenario}")
        if not self.by_region and (self.region_lower is not None or self.region_upper is not None):
            raise ConfigError("plan.region_lower and plan.region_upper need plan.by_region=true")

    @property
    def value(self) -> float:
        """Money per KPI unit of ROI figures (1 without `kpi_value`)."""
        return 1.0 if self.kpi_value is None else float(self.kpi_value)

    @property
    def roi_unit(self) -> str:
        return "KPI per unit of money" if self.kpi_value is None else "money per unit of money"


def cost_multipliers(pspec: PlanSpec, channels) -> np.ndarray:
    """[C] multipliers on today's cost per unit of activity."""
    return named_bounds(pspec.cost_per_unit, channels, "plan.cost_per_unit", 1.0)


class Bounds(NamedTuple):
    """Multiplier bounds of a plan's free variables: [C] per channel, or [R·C]
    (regions first) with `by_region`. fixed: the multiplier stays 1 (a held
    channel, or no spend in the given plan), and there lower = upper = 1;
    held: the held channels' entries."""

    lower: np.ndarray
    upper: np.ndarray
    fixed: np.ndarray
    held: np.ndarray


def plan_bounds(pspec: PlanSpec, channels, regions, spend_rc: np.ndarray) -> Bounds:
    """The bounds of a plan whose given spend is `spend_rc` [R, C] (money).

    Raises ConfigError for unknown channels or regions, and for lower > upper.
    """
    unknown = sorted(set(pspec.hold) - set(channels))
    if unknown:
        raise ConfigError(f"plan.hold names unknown channel(s) {unknown}; channels are "
                          f"{list(channels)}")
    lower = named_bounds(pspec.lower, channels, "plan.lower", PlanSpec.lower)[None, :]
    upper = named_bounds(pspec.upper, channels, "plan.upper", PlanSpec.upper)[None, :]
    held = np.isin(np.asarray(channels), pspec.hold)[None, :]
    spend = spend_rc.sum(axis=0, keepdims=True)
    if pspec.by_region:
        lower = np.broadcast_to(lower, spend_rc.shape)
        upper = np.broadcast_to(upper, spend_rc.shape)
        held = np.broadcast_to(held, spend_rc.shape)
        spend = spend_rc
        if pspec.region_lower is not None:
            region = named_bounds(pspec.region_lower, regions, "plan.region_lower", 0.0, "region")
            lower = np.maximum(lower, region[:, None])
        if pspec.region_upper is not None:
            region = named_bounds(pspec.region_upper, regions, "plan.region_upper", np.inf,
                                    "region")
            upper = np.minimum(upper, region[:, None])
    fixed = held | (spend <= 0)
    bad = (lower > upper) & ~fixed
    if bad.any():
        r, c = np.argwhere(bad)[0]
        where = f" in region '{regions[r]}'" if pspec.by_region else ""
        raise ConfigError(f"plan bounds of '{channels[c]}'{where} are empty: lower "
                          f"{lower[r, c]:g} > upper {upper[r, c]:g}")
    return Bounds(np.where(fixed, 1.0, lower).ravel(), np.where(fixed, 1.0, upper).ravel(),
                  fixed.ravel(), np.asarray(held).ravel())
