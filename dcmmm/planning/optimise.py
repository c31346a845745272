"""The optimiser of a plan: projected, preconditioned gradient ascent.

The variables θ are spend multipliers: one per channel (θ [C], the same in
every region) or one per (region, channel) (θ [R·C], regions first). With
S_i the given plan's spend of variable i (money), `value` money per KPI unit
and K the plan's incremental KPI (`dcmmm.planning.horizon.incremental`), the
marginal ROI of variable i is mroi_i = value · ∂K/∂θ_i / S_i. Two problems:

- a fixed budget B: max value·K(θ) s.t. Σ_i S_i θ_i = B, lower ≤ θ ≤ upper.
  At the optimum the free variables have equal marginal ROI α (the marginal
  ROI of the budget); those at a bound have a lower (at lower) or higher (at
  upper) one.
- a marginal ROI target τ: max value·K(θ) − τ·Σ_i S_i θ_i s.t. lower ≤ θ ≤
  upper. At the optimum every free variable has mroi_i = τ.

Each step moves the free variables by their marginal ROI gap (mroi_i − α,
α the spend-weighted mean over the variables that can move, or mroi_i − τ):
the gradient in the metric diag(S), so a small region or channel moves as
fast as a large one; the budget stays on Σ S θ = B along this direction. The
step is normalised to a largest move of lr, which decays geometrically from
10% of the widest bound range to a thousandth of it, and the result is
projected onto the constraints (`dcmmm.analysis.budget.project_budget`, or
optax's box projection). The best iterate is kept. The objective is not
concave in general (S-shaped Hill curves): the result is a local optimum
reached from the given plan.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from optax.projections import projection_box

from dcmmm.analysis.budget import project_budget
from dcmmm.errors import ConfigError
from dcmmm.planning.horizon import Horizon, incremental

AT_BOUND = 1e-3  # a multiplier within this share of its bound range of a bound is at it
FRONTIER = np.linspace(0.25, 2.0, 16)  # frontier budgets, multiples of the given plan's spend


def at_bounds(theta, lower, upper):
    """(at the lower bound, at the upper bound) [n]: within AT_BOUND of the
    bound range (the steps end a thousandth of it apart)."""
    tol = AT_BOUND * (upper - lower)
    return theta <= lower + tol, theta >= upper - tol


def multipliers(theta, n_regions: int, by_region: bool):
    """μ [R, C] of the variables θ ([C], or [R·C] with `by_region`)."""
    if by_region:
        return theta.reshape(n_regions, -1)
    return jnp.broadcast_to(theta[None, :], (n_regions, theta.shape[0]))


def marginal_roi(h: Horizon, theta, spend, value, by_region: bool):
    """mroi [n] = value · ∂K/∂θ_i / S_i (0 where S_i = 0), and K."""
    n_regions = h.x.shape[0]
    k, grad = jax.value_and_grad(lambda t: incremental(h, multipliers(t, n_regions, by_region)))(
        theta)
    return value * grad / jnp.where(spend > 0, spend, 1.0) * (spend > 0), k


def _gap(theta, mroi, lower, upper, free, spend, target, budgeted: bool):
    """(ascent direction [n], α, movable [n]): each movable variable's
    marginal ROI gap; a free variable at a bound that its gap pushes against
    does not move.

    With a budget, α is the spend-weighted mean marginal ROI of the movable
    variables (found in a few passes), so Σ S·gap = 0; without, α = target.
    """
    at_lower, at_upper = at_bounds(theta, lower, upper)
    alpha = target
    if budgeted:
        use = free
        for _ in range(4):
            weight = jnp.where(use, spend, 0.0)
            alpha = jnp.sum(weight * mroi) / jnp.maximum(jnp.sum(weight), 1e-30)
            use = free & ~((at_lower & (mroi < alpha)) | (at_upper & (mroi > alpha)))
    gap = mroi - alpha
    movable = free & ~((at_lower & (gap < 0)) | (at_upper & (gap > 0)))
    return jnp.where(movable, gap, 0.0), alpha, movable


@partial(jax.jit, static_argnames=("by_region", "budgeted", "steps"))
def ascend(h: Horizon, spend, lower, upper, budget, target, value, lr0, scale, *,
           by_region: bool, budgeted: bool, steps: int):
    """The best multipliers θ [n] from the given plan scaled by `scale`.

    spend: [n] the given plan's spend per variable (money); lower, upper:
    [n] bounds (1 and 1 for fixed variables); budget: money (`budgeted`);
    target: the marginal ROI target (not `budgeted`); value: money per KPI
    unit; lr0: the first step (multiplier units); scale: the free variables'
    multiplier to start from, projected on the constraints. Returns (θ,
    value·K(θ), α at θ: the budget's marginal ROI, or the target; value·K of
    the start).
    """
    free = (spend > 0) & (upper > lower)
    shares = spend / jnp.sum(spend)
    relative = budget / jnp.sum(spend)
    decay = 1e-3 ** (1.0 / max(steps - 1, 1))

    def objective(theta, k):
        return value * k - (0.0 if budgeted else target * jnp.sum(spend * theta))

    def project(theta, low, high):
        if budgeted:
            return project_budget(theta, shares, relative, low, high)
        return projection_box(theta, low, high)

    def step(carry, k):
        theta, best, best_val = carry
        mroi, kpi = marginal_roi(h, theta, spend, value, by_region)
        val = objective(theta, kpi)
        better = val > best_val
        best, best_val = jnp.where(better, theta, best), jnp.where(better, val, best_val)
        gap, _, movable = _gap(theta, mroi, lower, upper, free, spend, target, budgeted)
        size = jnp.max(jnp.abs(gap))
        move = jnp.where(size > 0, gap / jnp.where(size > 0, size, 1.0), 0.0)
        # what crosses a bound is clipped, and only the movable variables make up the budget
        low, high = jnp.where(movable, lower, theta), jnp.where(movable, upper, theta)
        return (project(theta + lr0 * decay**k * move, low, high), best, best_val), None

    theta0 = project(jnp.where(free, scale, 1.0).astype(spend.dtype), lower, upper)
    _, kpi0 = marginal_roi(h, theta0, spend, value, by_region)
    init = (theta0, theta0, jnp.array(-jnp.inf, spend.dtype))
    (theta, best, best_val), _ = jax.lax.scan(step, init, jnp.arange(steps, dtype=spend.dtype))
    mroi, kpi = marginal_roi(h, theta, spend, value, by_region)
    best = jnp.where(objective(theta, kpi) > best_val, theta, best)
    mroi, kpi = marginal_roi(h, best, spend, value, by_region)
    _, alpha, _ = _gap(best, mroi, lower, upper, free, spend, target, budgeted)
    return best, value * kpi, alpha, value * kpi0


@partial(jax.jit, static_argnames=("by_region", "steps"))
def ascend_budgets(h: Horizon, spend, lower, upper, budgets, value, lr0, scale, *,
                   by_region: bool, steps: int):
    """`ascend` with a budget for each row of lower, upper [N, n] and
    budgets, lr0, scale [N], in one vmapped program: (θ [N, n], value·K [N],
    α [N], value·K of the starts [N])."""
    def one(low, high, budget, lr, k):
        return ascend(h, spend, low, high, budget, 0.0, value, lr, k, by_region=by_region,
                      budgeted=True, steps=steps)

    return jax.vmap(one)(lower, upper, budgets, lr0, scale)


def first_step(lower, upper, free) -> float:
    """lr0: a tenth of the widest bound range of the free variables."""
    widths = np.where(free, np.asarray(upper) - np.asarray(lower), 0.0)
    return 0.1 * max(float(np.max(widths, initial=0.0)), 1e-3)


def check_budget(budget: float, spend: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 key: str = "plan.total") -> None:
    """ConfigError when the bounds cannot meet `budget` (money)."""
    low, high = float(spend @ lower), float(spend @ upper)
    if not low * (1 - 1e-6) <= budget <= high * (1 + 1e-6):
        raise ConfigError(f"{key} = {budget:g} cannot be met within the bounds: the plan allows "
                          f"{low:g} to {high:g} (plan.lower and plan.upper times the given "
                          "spend, held channels at theirs)")
