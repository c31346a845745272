"""Channel graph: structural equations between channels' activity (NOTEARS).

x = u + x W, where W[i, j] is how much channel i's activity drives channel j's
and u is each channel's own (spend-driven) activity. W is learned from the
activity series by least squares with an L1 penalty under the NOTEARS
acyclicity constraint (Zheng et al. 2018, "DAGs with NO TEARS")

    h(W) = tr(exp(W ∘ W)) − C = 0,

enforced with an augmented Lagrangian (`α·h + ρ/2·h²`, duals in the train
state). After training, small edges are cut and remaining cycles are broken
(`threshold_graph`); that graph is the one every output uses.

Channels bought in the same plan move together without driving each other,
so an edge has to rest on what a shared plan cannot explain (README, "The
channel graph"):

- with `sign="positive"` (the default) W ≥ 0 through a softplus: a parent
  only adds activity to its child;
- `excess_driven` penalises weeks in which the parents would drive more
  activity than the child has (own activity u = x − xW cannot be negative);
- without spend columns the structural equations are fitted on each region's
  deviation from the week's national pattern, with the channels' on-air
  weeks as the plan's part of own activity (`dcmmm.train.inputs`);
- an edge is kept only when it is found in at least a stated share of
  bootstrap refits (`stable_edges`).
"""

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np
from flax import nnx

MODES = ("notears", "triangular", "none")
SIGNS = ("positive", "any")
PLANS = ("remove", "keep")  # model.graph.shared_plan
POSITIVE_INIT = 0.01  # initial W of a positive graph (softplus never reaches 0)


def acyclicity(w):
    """h(W) = tr(exp(W ∘ W)) − C for W[C, C]; 0 iff the weighted graph is acyclic."""
    return jnp.trace(jax.scipy.linalg.expm(w * w)) - w.shape[0]


def allowed_edges(mode: str, n_channels: int, forbid=(), require=(), learn: bool = True
                  ) -> np.ndarray:
    """Boolean mask [C, C] of edges the model may learn (no self loops).

    `forbid` / `require` are lists of (parent, child) index pairs; required
    edges are always allowed. `learn=False` allows the required edges only.
    """
    if mode not in MODES:
        raise ValueError(f"unknown graph mode {mode!r}; use one of {MODES}")
    if mode == "none":
        mask = np.zeros((n_channels, n_channels), bool)
    elif mode == "triangular":
        mask = np.triu(np.ones((n_channels, n_channels), bool), k=1)
    else:
        mask = ~np.eye(n_channels, dtype=bool)
    if not learn:
        mask[:] = False
    for i, j in forbid:
        mask[i, j] = False
    for i, j in require:
        mask[i, j] = True
    return mask


def masked_graph(raw_w, allowed):
    """W[C, C] = raw weights with disallowed edges (and the diagonal) zeroed."""
    return raw_w * allowed


def graph_matrix(graph_params: dict, allowed):
    """W[C, C] from the graph's parameters: `raw_w` as is (any sign) or
    softplus(`raw_positive_w`) (W ≥ 0), disallowed edges zeroed."""
    if "raw_positive_w" in graph_params:
        return masked_graph(jax.nn.softplus(graph_params["raw_positive_w"]), allowed)
    return masked_graph(graph_params["raw_w"], allowed)


def excess_driven(w, x, weight):
    """½·Σ weight·relu(x W − x)² / Σ weight: activity the parents would drive
    beyond what the child has (own activity x − xW below 0).

    x: [N, C] scaled activity (not centred), weight: [N]. A shared plan makes
    channels co-move but does not keep a child above w·parent in every week,
    so this bounds an edge by the smallest ratio child / parent it has to
    explain: a spike of one channel that the other does not follow, or a
    child off air while the parent is on, rules the edge out.
    """
    excess = jax.nn.relu(x @ w - x)
    return 0.5 * jnp.sum(weight[:, None] * excess**2) / jnp.maximum(jnp.sum(weight), 1.0)


def sem_loss(w, xc, weight, own=None):
    """Least-squares structural-equation loss ½·Σ weight·‖xc − xc W − own‖² / Σ weight.

    xc: [N, C] activity, weight: [N], own: [N, C] or None.

    With spend, `own` is the spend-driven activity (a learned share of scaled
    spend) and xc the activity itself: an edge must explain activity that the
    channel's own spend does not, so channels planned together (correlated
    spend) do not become parent and child. Without spend, xc is centred per
    channel and edges explain co-movement, not shared levels.
    """
    resid = xc - xc @ w - (0.0 if own is None else own)
    return 0.5 * jnp.sum(weight[:, None] * resid**2) / jnp.maximum(jnp.sum(weight), 1.0)


def own_activity(x, w):
    """Own activity u = x (I − W), kept within [0, x], x[T, C] -> [T, C].

    The bounds keep a counterfactual physical: removing a channel's own
    activity never leaves it negative nor raises it above what was observed,
    even where the graph explains a week poorly.
    """
    return jnp.clip(x - x @ w, 0.0, x)


def solve(a, b):
    """a⁻¹ b for the channel graph's small square a [C, C] and b [C, K]:
    `jnp.linalg.solve`, except on several CPU devices, where it is
    `gauss_jordan`. There jaxlib's batched LAPACK solve (the solve under
    vmap: ensemble members, the effect profile's lanes) splits its batch over
    XLA's thread pool and waits inside it, so every pool thread waits and the
    run hangs (`mesh=regions` under `--xla_force_host_platform_device_count`,
    jaxlib 0.10; README, "Scale"). Elsewhere LAPACK is kept: the jnp loop
    made the default command 10% slower on one CPU device.
    """
    if jax.default_backend() == "cpu" and jax.local_device_count() > 1:
        return gauss_jordan(a, b)
    return jnp.linalg.solve(a, b)


def gauss_jordan(a, b):
    """a⁻¹ b by Gauss-Jordan elimination with partial pivoting in plain jnp
    ops (C steps of a `fori_loop`; no LAPACK call)."""
    n = a.shape[0]
    m = jnp.concatenate([a, b], axis=1)
    rows = jnp.arange(n)

    def step(k, m):
        p = jnp.argmax(jnp.where(rows >= k, jnp.abs(m[:, k]), -1.0))
        m = m.at[jnp.stack([k, p])].set(m[jnp.stack([p, k])])
        pivot_row = m[k] / m[k, k]
        factor = jnp.where(rows == k, 0.0, m[:, k])
        return (m - factor[:, None] * pivot_row[None, :]).at[k].set(pivot_row)

    return jax.lax.fori_loop(0, n, step, m)[:, n:]


def propagate(u, w):
    """Activity implied by own activity u[T, C] through the graph: x = u (I − W)^-1."""
    eye = jnp.eye(w.shape[0], dtype=w.dtype)
    return solve((eye - w).T, u.T).T


def planned_activity(x, w, multipliers, week_mask):
    """Activity [..., T, C] after scaling each channel's own activity by `multipliers`.

    x: [..., T, C] scaled activity (leading region axes broadcast); w: [C, C];
    multipliers: [C] (1 = the actual plan); week_mask: [T] float, where the
    multipliers act. With u = own_activity(x, W) and
    Δu = (1 − m_c) · u · week_mask, the change flows through the graph to the
    channels c drives: x' = max(x − Δu (I − W)^-1, 0). Multipliers of 1
    return x exactly.
    """
    x = jnp.asarray(x)
    w = jnp.asarray(w, x.dtype)
    delta_u = (1.0 - jnp.asarray(multipliers, x.dtype)) * own_activity(x, w) * week_mask[:, None]
    delta_x = propagate(delta_u.reshape(-1, w.shape[0]), w).reshape(x.shape)
    return jnp.maximum(x - delta_x, 0.0)


def remove_own_activity(x, w, channel: int, fraction=1.0, propagate_to_children=True):
    """Activity after removing `fraction` of channel c's own activity, x[T, C] -> [T, C].

    The activity c's parents drive stays. With `propagate_to_children`, the
    change flows through W to the channels c drives (total effect); without,
    only column c changes (direct effect).
    """
    u = own_activity(x, w)
    delta_u = jnp.zeros_like(x).at[:, channel].set(fraction * u[:, channel])
    if propagate_to_children:
        return x - propagate(delta_u, w)
    return x - delta_u


def find_cycle(adj: np.ndarray):
    """A directed cycle in boolean adj[C, C] as a list of (i, j) edges, or None."""
    n = adj.shape[0]
    color = np.zeros(n, int)  # 0 new, 1 on stack, 2 done
    parent = [-1] * n

    def dfs(start):
        stack = [(start, iter(np.flatnonzero(adj[start])))]
        color[start] = 1
        while stack:
            node, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                continue
            if color[nxt] == 1:
                cycle, cur = [(node, int(nxt))], node
                while cur != nxt:
                    cycle.append((parent[cur], cur))
                    cur = parent[cur]
                return cycle
            if color[nxt] == 0:
                parent[nxt] = node
                color[nxt] = 1
                stack.append((int(nxt), iter(np.flatnonzero(adj[nxt]))))
        return None

    for s in range(n):
        if color[s] == 0:
            cycle = dfs(s)
            if cycle:
                return cycle
    return None


def threshold_graph(w, threshold: float, required=(), stable=None) -> np.ndarray:
    """The graph used by every output: |W| < threshold cut, edges outside
    `stable` (boolean [C, C], None = all) cut, then cycles broken.

    While a cycle remains, its weakest edge (smallest |w|, required edges last)
    is removed, so the result is guaranteed acyclic. Returns W[C, C] (numpy).
    """
    w = np.array(w, dtype=np.float64)
    keep = np.abs(w) >= threshold
    if stable is not None:
        keep &= np.asarray(stable, bool)
    for i, j in required:
        keep[i, j] = True
    w = np.where(keep, w, 0.0)
    np.fill_diagonal(w, 0.0)
    req = {(int(i), int(j)) for i, j in required}
    while (cycle := find_cycle(w != 0)) is not None:
        i, j = min(cycle, key=lambda e: ((e in req), abs(w[e])))
        w[i, j] = 0.0
    return w


def selection_share(graphs) -> np.ndarray:
    """[C, C] share of the graphs [B, C, C] (thresholded) in which each edge is present."""
    return np.mean(np.asarray(graphs) != 0, axis=0)


class ChannelGraph(nnx.Module):
    """Holds the raw channel graph W[C, C]; edges outside `allowed` stay zero.

    `sign="any"`: W = raw_w (start 0); `sign="positive"`: W = softplus(raw_positive_w)
    (start POSITIVE_INIT).
    """

    def __init__(self, allowed: np.ndarray, scale: float = 0.0, sign: str = "any"):
        self.allowed = nnx.Variable(jnp.asarray(allowed, jnp.float32))
        if sign == "positive":
            start = float(np.log(np.expm1(POSITIVE_INIT)))
            self.raw_positive_w = nnx.Param(jnp.full(allowed.shape, start, jnp.float32))
        else:
            self.raw_w = nnx.Param(jnp.full(allowed.shape, scale, jnp.float32))

    def __call__(self):
        params = ({"raw_positive_w": self.raw_positive_w[...]} if hasattr(self, "raw_positive_w")
                  else {"raw_w": self.raw_w[...]})
        w = graph_matrix(params, self.allowed[...])
        return w, acyclicity(w)
