"""How stable each edge of the channel graph is: bootstrap refits of the graph.

The graph's terms of the loss (`dcmmm.train.loss.graph_loss`) depend on the
activity data only, never on the KPI, so the graph can be refitted alone,
cheaply, on resampled data. Each refit weighs the structural equations'
cells by a Bayesian bootstrap (an Exp(1) weight per region and block of
weeks, as ensemble members do) and starts from the fitted graph; the share
of refits in which an edge survives thresholding is its stability
(Meinshausen & Bühlmann 2010, "Stability selection"). An edge that a shared
plan or a few spikes produce comes and goes with the resample; one that rests
on many regions and weeks stays.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dcmmm.model.graph import acyclicity, graph_matrix, selection_share, threshold_graph
from dcmmm.model.mmm import Statics
from dcmmm.train.loop import dual_update
from dcmmm.train.loss import Batch, graph_loss
from dcmmm.train.replicas import bootstrap_weights

REFIT_STEPS = 600  # Adam steps per refit, from the fitted graph (a warm start)


def graph_refits(params: dict, batch: Batch, statics: Statics, spec, weights) -> np.ndarray:
    """The raw graph W [B, C, C] refitted under each of the cell weights [B, R, T].

    Only the graph's parameters (and, with spend, each region's own-activity
    share) move; the augmented Lagrangian runs as in training (`dual_update`).
    `spec` is the run's RunSpec.
    """
    lspec, tspec = spec.loss, spec.train
    start = {"graph": params["shared"]["graph"], "own": params["region"]["own"]}
    optimizer = optax.chain(optax.clip_by_global_norm(tspec.clip_norm),
                            optax.adam(tspec.learning_rate * 0.2))

    def loss(p, alpha, rho, sem_w):
        full = {"shared": {**params["shared"], "graph": p["graph"]},
                "region": {**params["region"], "own": p["own"]}}
        w = graph_matrix(p["graph"], statics.allowed)
        h = acyclicity(w)
        return graph_loss(full, w, h, alpha, rho, batch._replace(sem_w=sem_w), lspec), h

    def refit(cell_w):
        sem_w = batch.sem_w * cell_w

        def step(carry, i):
            p, opt_state, alpha, rho, h_prev = carry
            (_, h), grads = jax.value_and_grad(loss, has_aux=True)(p, alpha, rho, sem_w)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            p = optax.apply_updates(p, updates)
            alpha, rho, h_prev = dual_update(alpha, rho, h_prev, h, i + 1, tspec)
            return (p, opt_state, alpha, rho, h_prev), None

        carry = (start, optimizer.init(start), jnp.zeros(()),
                 jnp.asarray(tspec.rho_init, jnp.float32), jnp.asarray(jnp.inf, jnp.float32))
        carry, _ = jax.lax.scan(step, carry, jnp.arange(REFIT_STEPS))
        return graph_matrix(carry[0]["graph"], statics.allowed)

    return np.asarray(jax.jit(jax.vmap(refit))(jnp.asarray(weights, jnp.float32)))


def edge_stability(params: dict, batch: Batch, statics: Statics, spec, seed: int) -> np.ndarray:
    """[C, C] share of `spec.graph.resamples` bootstrap refits in which each edge
    survives `threshold_graph` (required edges always do)."""
    n_regions, n_weeks = batch.sem_w.shape
    rng = np.random.default_rng([seed, 17])
    weights = np.stack([bootstrap_weights(n_regions, n_weeks, spec.ensemble.block_weeks, rng)
                        for _ in range(spec.graph.resamples)])
    graphs = graph_refits(params, batch, statics, spec, weights)
    return selection_share([threshold_graph(g, spec.graph.threshold, spec.graph.require)
                            for g in graphs])
