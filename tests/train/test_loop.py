import chex
import jax
import numpy as np

from dcmmm.train.loop import TrainSpec, fit, init_state, make_optimizer, make_train_step
from dcmmm.train.loss import LossSpec
from tests.fixtures import tiny_problem


def test_step_compiles_once_and_updates_duals():
    spec, params, batch, statics = tiny_problem()
    tspec = TrainSpec(max_steps=10, dual_every=2, progress=False)
    optimizer = make_optimizer(tspec)
    step = make_train_step(spec, LossSpec(), tspec, optimizer)
    step = jax.jit(chex.assert_max_traces(step, n=1))
    state = init_state(params, optimizer, tspec, seed=0)
    for _ in range(3):
        state, metrics = step(state, batch, statics)
    assert int(state.step) == 3
    assert np.isfinite(float(metrics["loss"]))
    assert float(state.alpha) >= 0.0  # one dual update happened at step 2


def test_fit_reduces_loss_and_keeps_best():
    spec, params, batch, statics = tiny_problem()
    tspec = TrainSpec(max_steps=200, steps_per_call=20, patience=200, progress=False)
    result = fit(params, batch, statics, spec, LossSpec(), tspec)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    vals = [h["val_mse"] for h in result.history]
    assert result.best_step == result.history[int(np.argmin(vals))]["step"]


def test_fit_is_deterministic():
    spec, params, batch, statics = tiny_problem()
    tspec = TrainSpec(max_steps=40, steps_per_call=20, progress=False)
    a = fit(params, batch, statics, spec, LossSpec(), tspec)
    b = fit(params, batch, statics, spec, LossSpec(), tspec)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_refit_with_another_schedule_reuses_the_compiled_step():
    import dataclasses

    from dcmmm.train.loop import make_train_call

    spec, params, batch, statics = tiny_problem()
    tspec = TrainSpec(max_steps=20, steps_per_call=10, progress=False)
    fit(params, batch, statics, spec, LossSpec(), tspec)
    misses = make_train_call.cache_info().misses
    refit = dataclasses.replace(tspec, max_steps=10, learning_rate=0.001, warmup_steps=2)
    fit(params, batch, statics, spec, LossSpec(), refit)
    assert make_train_call.cache_info().misses == misses


def test_learning_rate_schedule_warmup_then_cosine():
    import jax.numpy as jnp

    from dcmmm.train.loop import learning_rate

    sched = jnp.asarray([0.1, 10.0, 110.0, 0.1])
    lr = lambda s: float(learning_rate(sched, jnp.asarray(s)))  # noqa: E731
    assert lr(0) == 0.0 and abs(lr(5) - 0.05) < 1e-7 and abs(lr(10) - 0.1) < 1e-7
    assert abs(lr(60) - 0.1 * (0.1 + 0.9 * 0.5)) < 1e-6 and abs(lr(110) - 0.01) < 1e-7
