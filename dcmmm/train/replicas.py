"""Replicas: N independent fits as one vmapped, jitted program.

A replica is one fit: its own parameters, optimiser state, cell weights
(`Batch.fit_w`, `Batch.val_w`), and, when they differ, its own scaled data
and statics. Every array of (state, batch, statics) carries a leading replica
axis N, and the fused train call of `loop.make_call_fn` is `jax.vmap`ped over
it, so N fits cost one compilation and one dispatch per call. The backtest's
folds are replicas (they differ in their origin); ensembles (seeds,
bootstrap weights) are the same mechanism.

Early stopping is per replica: each keeps its own best validation score,
best parameters and best step. All replicas step in lockstep; the loop runs
until every replica has stopped. A replica that has stopped keeps stepping
(its lane of the vmapped program cannot be switched off), but its best
parameters, score and step are frozen from then on, so its result is the one
a fit of that replica alone would return.

On the CPU the N replicas run as G equal groups, each group its own vmapped
program of N/G replicas, called concurrently from G threads (XLA releases
the GIL), G the largest divisor of N up to `TrainSpec.replica_threads` (0 =
the cores this process may use). One vmapped program keeps about one core
busy: its time goes to the GRU scan's small sequential steps. Independent
groups fill the others; 8 members on 2 cores as 2 groups of 4 took 1.19 s a
call against 1.99 s as one program (experiments/uncertainty/README.md). A replica's
arithmetic does not depend on its group, and the groups share one
compilation (equal shapes).
"""

import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from dcmmm.model.mmm import ModelSpec, Statics
from dcmmm.train.loop import (
    TrainSpec,
    TrainState,
    init_state,
    make_call_fn,
    make_optimizer,
    static_part,
)
from dcmmm.train.loss import Batch, LossSpec
from dcmmm.train.phases import joined, phase1_batch, refit_batch, refit_seed, refits
from dcmmm.train.sharding import RegionLayout

logger = logging.getLogger(__name__)


class ReplicaResult(NamedTuple):
    params: dict  # [N, ...] parameters with each replica's best validation score
    state: TrainState  # [N, ...] the final train states
    best_step: np.ndarray  # [N] step of each replica's best validation score
    steps: np.ndarray  # [N] step at which each replica stopped
    history: list  # per call: dict of [N] metrics
    fit_seconds: float  # wall time of all replicas together (compilation included)


def stack(trees: list):
    """Pytrees of equal structure -> one pytree with a leading replica axis N."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def replica(tree, i: int):
    """Replica `i` of a pytree with a leading replica axis."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


@functools.lru_cache(maxsize=8)
def make_replica_call(mspec: ModelSpec, lspec: LossSpec, tspec: TrainSpec):
    """`loop.make_call_fn` vmapped over a leading replica axis of (state, batch,
    statics) and jitted with the state donated; cached on the static settings."""
    return jax.jit(jax.vmap(make_call_fn(mspec, lspec, tspec)), donate_argnums=0)


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def replica_groups(n: int, threads: int) -> int:
    """G, the number of concurrent programs N replicas run as: the largest
    divisor of N that is at most `threads` (0 = `cpu_cores()`)."""
    threads = threads if threads > 0 else cpu_cores()
    return max(g for g in range(1, min(n, threads) + 1) if n % g == 0)


def _slices(tree, groups: int) -> list:
    """A pytree with a leading axis N -> `groups` pytrees of N / groups rows each
    (one group: the pytree itself, not a copy)."""
    if groups == 1:
        return [tree]
    n = jax.tree.leaves(tree)[0].shape[0]
    size = n // groups
    return [jax.tree.map(lambda a, i=i: a[i * size:(i + 1) * size], tree) for i in range(groups)]


def _concat(trees: list):
    return trees[0] if len(trees) == 1 else jax.tree.map(lambda *a: jnp.concatenate(a), *trees)


def _in_groups(call, pool: ThreadPoolExecutor | None, parts: list):
    """state -> (state, metrics) of all replicas, in replica order: `call` run
    once per part (batch, statics) of `parts`, on that part's slice of the
    state, concurrently in `pool` (None: one part, one program)."""
    if pool is None:
        return lambda state: call(state, *parts[0])

    def run(piece):
        out = call(*piece)
        return jax.block_until_ready(out)  # in this thread: the programs overlap

    def grouped(state):
        pieces = [(s, b, st) for s, (b, st) in zip(_slices(state, len(parts)), parts)]
        states, metrics = zip(*pool.map(run, pieces))
        return _concat(list(states)), _concat(list(metrics))

    return grouped


@jax.jit
def _keep_best(improved, new, old):
    """Per replica: `new` where improved [N] is true, else `old` (fresh buffers)."""
    pick = lambda n, o: jnp.where(improved.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)  # noqa: E731
    return jax.tree.map(pick, new, old)


def fit_replicas(params: dict, batch: Batch, statics: Statics, mspec: ModelSpec, lspec: LossSpec,
                 tspec: TrainSpec, seeds, layout: RegionLayout | None = None) -> ReplicaResult:
    """Train N replicas from `params` [N, ...] on `batch`, `statics` [N, ...].

    `layout` (dcmmm.train.sharding, for one replica; default one device) places
    the replicas' region axis (axis 1) on the devices, padded; what comes back
    holds the real regions on one device.

    Replica i is exactly `loop.fit(params[i], batch[i], statics[i], ...,
    seed=seeds[i])` (to float tolerance): the best validation score is kept,
    a replica without validation cells keeps its final parameters, and a
    replica stops after `patience` steps without improvement or at
    `max_steps`. Raises FloatingPointError when a replica that has not
    stopped gets a non-finite loss or gradient.
    """
    static = static_part(tspec)
    call = make_replica_call(mspec, lspec, static)
    optimizer = make_optimizer(static)
    n = len(seeds)
    placed = (layout or RegionLayout(0, 0)).stacked()
    state = placed.to_mesh(stack([init_state(replica(params, i), optimizer, tspec, int(s))
                                  for i, s in enumerate(seeds)]))
    has_val = np.asarray(jnp.sum(batch.val_w, axis=tuple(range(1, batch.val_w.ndim)))) > 0
    batch, statics = placed.batch_to_mesh(batch), placed.to_mesh(statics)
    groups = replica_groups(n, tspec.replica_threads)
    if placed.mesh is not None or jax.default_backend() != "cpu":
        groups = 1  # the devices run the replicas in parallel already
    pool = None
    if groups > 1:
        logger.info("%d replicas as %d concurrent programs of %d", n, groups, n // groups)
        pool = ThreadPoolExecutor(groups, thread_name_prefix="replicas")
    run_call = _in_groups(call, pool, _slices((batch, statics), groups))
    best_params = jax.tree.map(jnp.copy, state.params)
    start = time.perf_counter()
    bar = tqdm(total=tspec.max_steps, disable=not tspec.progress, unit="step",
               desc=f"fit x{n}", leave=False)
    try:
        state, best_params, best_step, steps, history = _loop(
            run_call, state, best_params, has_val, tspec, n, bar)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - start
    return ReplicaResult(placed.to_host(best_params), placed.to_host(state), best_step, steps,
                         history, seconds)


def _loop(run_call, state, best_params, has_val, tspec: TrainSpec, n: int, bar):
    """The early-stopping loop of `fit_replicas` (see there)."""
    best_score = np.full(n, np.inf)
    best_step = np.zeros(n, np.int64)
    steps = np.zeros(n, np.int64)
    stopped = np.zeros(n, bool)
    history = []
    step = 0
    while not stopped.all() and step < tspec.max_steps:
        state, metrics = run_call(state)  # donates the old state
        metrics = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
        step = int(state.step[0])
        history.append(dict(metrics, step=step))
        active = ~stopped
        bad = active & ~(np.isfinite(metrics["loss"]) & np.isfinite(metrics["grad_norm"]))
        if bad.any():
            raise FloatingPointError(
                f"non-finite loss or gradient at step {step} in replica {int(np.argmax(bad))}")
        score = np.where(has_val, metrics["val_score"], -step)
        improved = active & (score < best_score)
        best_score = np.where(improved, score, best_score)
        best_step = np.where(improved, step, best_step)
        best_params = _keep_best(jnp.asarray(improved), state.params, best_params)
        now = active & ((step >= tspec.max_steps) | (has_val & (step - best_step >= tspec.patience)))
        for i in np.nonzero(now & (step < tspec.max_steps))[0]:
            logger.info("replica %d: early stop at step %d (best validation at step %d)",
                        i, step, best_step[i])
        steps = np.where(now, step, steps)
        stopped = stopped | now
        bar.update(tspec.steps_per_call)
        bar.set_postfix(active=int((~stopped).sum()), loss=f"{metrics['loss'].mean():.4g}")
    steps = np.where(stopped, steps, step)
    return state, best_params, best_step, steps, history


def fit_replicas_two_phases(params: dict, batch: Batch, statics: Statics, mspec: ModelSpec,
                            lspec: LossSpec, tspec: TrainSpec, refit: TrainSpec | None, seeds,
                            layout: RegionLayout | None = None, boost: float = 1.0
                            ) -> tuple[ReplicaResult, dict]:
    """Both training phases of N replicas, each phase one vmapped program.

    The schedule of `dcmmm.train.phases`, per replica: phase 1 early-stops
    each replica on its own validation cells; phase 2 (`refit` given and every
    replica has validation cells) continues each from its best parameters on
    all its training cells. Returns the combined result (`best_step` of phase
    1, `steps` of both) and phase 1's {"steps", "best_step", "seconds",
    "refit", "params"} ("refit": phase 2 ran; "params": each replica's best
    parameters of phase 1). `boost`: how many times more the lift tests weigh
    in phase 1 (`phases.phase1_batch`).
    """
    n = len(seeds)
    has_val = bool(np.all(np.asarray(batch.val_w).reshape(n, -1).sum(axis=1) > 0))
    second_runs = refits(refit, has_val)
    first = fit_replicas(params, phase1_batch(batch, boost, second_runs), statics, mspec, lspec,
                         tspec, seeds, layout)
    phase1 = {"steps": first.steps, "best_step": first.best_step, "seconds": first.fit_seconds,
              "refit": second_runs, "params": first.params}
    if not phase1["refit"]:
        return first, phase1
    second = fit_replicas(first.params, refit_batch(batch), statics, mspec, lspec, refit,
                          [refit_seed(s) for s in seeds], layout)
    return joined(second, phase1)._replace(history=first.history + second.history), phase1


def bootstrap_weights(n_regions: int, n_weeks: int, block_weeks: int, rng) -> np.ndarray:
    """Bayesian-bootstrap cell weights [R, T]: Exp(1) per (region, block), mean 1.

    block_weeks 0 gives all ones.
    """
    if block_weeks <= 0:
        return np.ones((n_regions, n_weeks))
    n_blocks = -(-n_weeks // block_weeks)
    w = rng.exponential(1.0, (n_regions, n_blocks))
    w = w / w.mean()
    return np.repeat(w, block_weeks, axis=1)[:, :n_weeks]
