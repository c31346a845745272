"""Training: one pure jitted step, several fused per call, early stopping.

The train state is one pytree (params, optimiser state, step, augmented-
Lagrangian duals α and ρ, the last h(W), PRNG key). The dual update
α ← α + ρ·h(W), with ρ growing when h does not fall enough, runs inside the
jitted step every `dual_every` steps, so the step compiles once.
"""

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from dcmmm.model.mmm import ModelSpec, Statics
from dcmmm.train.loss import Batch, LossSpec, loss_terms, selection_score, validation_mse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSpec:
    """Optimiser and schedule settings (defaults: conf/train and conf/optim)."""

    max_steps: int = 1000
    steps_per_call: int = 50
    patience: int = 300  # steps without a better validation score before stopping
    learning_rate: float = 0.05
    warmup_steps: int = 100
    end_lr_fraction: float = 0.05
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    dual_every: int = 100
    rho_init: float = 1.0
    rho_growth: float = 10.0
    rho_max: float = 1e6
    progress: bool = True
    replica_threads: int = 0  # concurrent programs replicas run as on the CPU (0 = one per core)


class TrainState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    step: jax.Array
    alpha: jax.Array
    rho: jax.Array
    h_prev: jax.Array
    key: jax.Array
    schedule: jax.Array  # [4] peak learning rate, warmup steps, total steps, end fraction


class FitResult(NamedTuple):
    params: dict  # parameters with the best validation score
    state: TrainState  # the final train state
    best_step: int
    steps: int
    history: list  # dicts of scalar metrics per call
    fit_seconds: float


def make_optimizer(tspec: TrainSpec) -> optax.GradientTransformation:
    """Global-norm clipping + AdamW direction (decay on GRU weights only).

    The learning rate is applied in the step from `TrainState.schedule`
    (`learning_rate`), so a refit with another schedule reuses the compiled step.
    """
    decay_mask = lambda p: jax.tree.map_with_path(  # noqa: E731
        lambda path, _: any(getattr(k, "key", None) == "gru" for k in path), p
    )
    return optax.chain(
        optax.clip_by_global_norm(tspec.clip_norm),
        optax.scale_by_adam(),
        optax.add_decayed_weights(tspec.weight_decay, mask=decay_mask),
    )


def learning_rate(schedule, step):
    """Linear warmup to the peak, then cosine decay to `end fraction · peak`.

    schedule: [4] (peak, warmup steps, total steps, end fraction); step: int.
    """
    peak, warmup, total, end = schedule[0], schedule[1], schedule[2], schedule[3]
    step = step.astype(jnp.float32)
    warm = peak * step / jnp.maximum(warmup, 1.0)
    progress = jnp.clip((step - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0)
    cosine = peak * (end + (1.0 - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))
    return jnp.where(step < warmup, warm, cosine)


def schedule_array(tspec: TrainSpec):
    warmup = min(tspec.warmup_steps, max(tspec.max_steps - 1, 0))
    return jnp.asarray([tspec.learning_rate, warmup, tspec.max_steps, tspec.end_lr_fraction],
                       jnp.float32)


def init_state(params: dict, optimizer, tspec: TrainSpec, seed: int) -> TrainState:
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        step=jnp.zeros((), jnp.int32),
        alpha=jnp.zeros(()),
        rho=jnp.asarray(tspec.rho_init, jnp.float32),
        h_prev=jnp.asarray(jnp.inf, jnp.float32),
        key=jax.random.key(seed),
        schedule=schedule_array(tspec),
    )


def dual_update(alpha, rho, h_prev, h, step, tspec: TrainSpec):
    """Augmented-Lagrangian duals after `step`: every `dual_every` steps
    α ← α + ρ·h(W), and ρ grows `rho_growth`-fold (up to `rho_max`) when h has
    not fallen below a quarter of its value at the previous update."""
    now = (step % tspec.dual_every) == 0
    new_alpha = jnp.where(now, alpha + rho * h, alpha)
    grow = now & (h > 0.25 * h_prev)
    new_rho = jnp.where(grow, jnp.minimum(rho * tspec.rho_growth, tspec.rho_max), rho)
    return new_alpha, new_rho, jnp.where(now, h, h_prev)


def make_train_step(mspec: ModelSpec, lspec: LossSpec, tspec: TrainSpec, optimizer):
    """train_step(state, batch, statics) -> (state, metrics); pure, not jitted."""

    def train_step(state: TrainState, batch: Batch, statics: Statics):
        grad_fn = jax.value_and_grad(loss_terms, has_aux=True)
        (loss, terms), grads = grad_fn(
            state.params, state.alpha, state.rho, batch, statics, mspec, lspec
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        lr = learning_rate(state.schedule, state.step)
        params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
        step = state.step + 1
        alpha, rho, h_prev = dual_update(state.alpha, state.rho, state.h_prev, terms["h"], step,
                                         tspec)
        metrics = dict(terms, loss=loss, grad_norm=optax.tree.norm(grads))
        state = TrainState(params, opt_state, step, alpha, rho, h_prev, state.key, state.schedule)
        return state, metrics

    return train_step


def make_call_fn(mspec: ModelSpec, lspec: LossSpec, tspec: TrainSpec):
    """call(state, batch, statics) -> (state, metrics): `steps_per_call` fused
    steps, the last step's metrics and the validation MSE after the call.
    Pure and not jitted (`make_train_call` jits it, `replicas` vmaps it)."""
    optimizer = make_optimizer(tspec)
    step_fn = make_train_step(mspec, lspec, tspec, optimizer)

    def call(state, batch, statics):
        state, metrics = jax.lax.scan(
            lambda s, _: step_fn(s, batch, statics), state, None, length=tspec.steps_per_call
        )
        last = jax.tree.map(lambda series: series[-1], metrics)
        last["val_mse"] = validation_mse(state.params, batch, statics, mspec)
        last["val_score"] = selection_score(last, batch)
        return state, last

    return call


@functools.lru_cache(maxsize=8)
def make_train_call(mspec: ModelSpec, lspec: LossSpec, tspec: TrainSpec):
    """`make_call_fn` jitted, the state donated.

    Cached on the static settings only (the schedule lives in the state), so
    fits that differ in learning rate or length share one compilation.
    """
    return jax.jit(make_call_fn(mspec, lspec, tspec), donate_argnums=0)


def static_part(tspec: TrainSpec) -> TrainSpec:
    """The settings the compiled step depends on (schedule fields neutralised)."""
    return dataclasses.replace(tspec, max_steps=0, patience=0, learning_rate=0.0,
                               warmup_steps=0, end_lr_fraction=0.0, rho_init=0.0, progress=False,
                               replica_threads=0)


class Progress(NamedTuple):
    """Everything `fit` needs to continue exactly where it was (host side)."""

    state: TrainState
    best_score: float
    best_params: dict
    best_step: int
    stopped: bool  # early stopping has triggered or max_steps is reached


def fit(params, batch: Batch, statics: Statics, mspec: ModelSpec, lspec: LossSpec,
        tspec: TrainSpec, seed: int = 0, on_call=None, resume: Progress | None = None
        ) -> FitResult:
    """Train from `params`; keep the parameters with the best validation score
    (`selection_score`: the validation MSE, plus the lift tests' and ROI
    priors' misfit where there are some).

    With no validation cells (val_w all zero), the final parameters are kept.
    Stops early after `patience` steps without improvement. After every fused
    call, `on_call(progress)` runs on the host (checkpointing); `resume` (a
    saved `Progress`) continues a fit exactly, step for step.
    """
    static = static_part(tspec)
    train_call = make_train_call(mspec, lspec, static)
    has_val = bool(jnp.sum(batch.val_w) > 0)  # also for arrays spread over processes
    if resume is None:
        state = init_state(jax.tree.map(jnp.copy, params), make_optimizer(static), tspec, seed)
        progress = Progress(state, np.inf, None, 0, False)
    else:
        progress = resume
    history = []
    start = time.perf_counter()
    done = int(progress.state.step)
    bar = tqdm(total=tspec.max_steps, initial=done, disable=not tspec.progress, unit="step",
               desc="fit", leave=False)
    while not progress.stopped and int(progress.state.step) < tspec.max_steps:
        state, metrics = train_call(progress.state, batch, statics)  # donates the old state
        metrics = {k: float(v) for k, v in metrics.items()}
        step = int(state.step)
        metrics["step"] = step
        history.append(metrics)
        if not np.isfinite(metrics["loss"]) or not np.isfinite(metrics["grad_norm"]):
            raise FloatingPointError(f"non-finite loss or gradient at step {step}")
        score = metrics["val_score"] if has_val else -step
        best_score, best_params, best_step = progress.best_score, progress.best_params, progress.best_step
        if score < best_score:
            best_score, best_params, best_step = score, jax.tree.map(jnp.copy, state.params), step
        stopped = step >= tspec.max_steps or (has_val and step - best_step >= tspec.patience)
        if stopped and step < tspec.max_steps:
            logger.info("early stop at step %d (best validation at step %d)", step, best_step)
        progress = Progress(state, best_score, best_params, best_step, stopped)
        if on_call is not None:
            on_call(progress)
        bar.update(tspec.steps_per_call)
        bar.set_postfix(loss=f"{metrics['loss']:.4g}", val=f"{metrics['val_mse']:.4g}",
                        h=f"{metrics['h']:.2g}")
    bar.close()
    state = progress.state
    jax.block_until_ready(state.params)
    seconds = time.perf_counter() - start
    best_params = progress.best_params if progress.best_params is not None else state.params
    return FitResult(best_params, state, progress.best_step, int(state.step), history, seconds)
