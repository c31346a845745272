"""Ensembles: E fits of one panel as one vmapped program (`dcmmm.train.replicas`).

Member 0 is the plain fit: its parameters are the run's point estimates and
every output file is computed from them. Members 1..E−1 differ in three ways:

- their initial media parameters (β, Hill k and s, adstock) are perturbed by
  Gaussian noise of sd `model.ensemble_jitter` (raw units) and their GRU is
  initialised from another key: the fit lands in another basin where the
  data cannot tell basins apart (e.g. how much of an always-on channel's
  effect is baseline);
- the fitted cells are weighted by a Bayesian bootstrap: an Exp(1) weight per
  (region, block of `model.ensemble_block_weeks` weeks), so members see the
  data resampled in blocks that keep carry-over together. Validation cells
  keep weight 1, so each member early-stops on the same validation weeks;
- their outside evidence is redrawn: each lift test's measured lift, and
  each ROI prior's centre, is drawn from its own sampling distribution,
  lift + N(0, lift_se²) (`redrawn`). The bootstrap resamples the panel, not
  the experiments; a member fitted to the same tests as member 0 inherits
  their noise without its spread, and a calibrated run's intervals would
  hold only what the panel leaves open (experiments/design/README.md,
  "Calibrated intervals"). Member 0 keeps the tests as measured.

A member whose fit contradicts its evidence (its tests' and priors' χ²
exceeds member 0's by more than the 0.999 quantile of χ² with as many
degrees of freedom as there are tests and priors) did not find a fit the
evidence allows (a phase 1 still on its way there; an ensemble member of a
calibrated run stuck at 5-8 standard errors from a test it was fitted to):
`contradicted` names it, and it is left out of the intervals
(`dcmmm.fitting.fit_members`; metrics.json's `ensemble.left_out`).

Zero tests: could a channel have brought nothing? Member 0's phase-1 fit is
continued with that channel's activity removed (one replica per channel, next
to a control replica continued as it is, all one vmapped program), and the
two are compared on the validation weeks (never the holdout) by a
Diebold-Mariano test on the weekly squared errors. When removing the channel
does not predict those weeks significantly worse (t below the t quantile of
the interval's level), zero is plausible and the lower end of the channel's
effect and ROI intervals is taken down to 0, unless lift tests of the channel
exclude zero at that level (`with_lift_tests`): an experiment that measured
the channel's lift outweighs eight validation weeks that cannot see it.

The spread of a reported number over the members is its interval,
`<col>_lo` / `<col>_hi`: the k-th smallest and largest member value, k chosen
so that the interval holds a new member with probability
`model.ensemble_interval` (`interval`).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from dcmmm.model.mmm import Statics, init_params, predict_panel
from dcmmm.specs import RunSpec
from dcmmm.train.loss import Batch, LiftBatch, likelihood_nats
from dcmmm.train.replicas import (
    ReplicaResult,
    bootstrap_weights,
    fit_replicas,
    fit_replicas_two_phases,
    replica,
    stack,
)
from dcmmm.train.sharding import region_layout

JITTERED = ("beta", "hill", "adstock")  # shared media parameters a member perturbs


def member_inits(params: dict, spec: RunSpec, batch: Batch, statics: Statics) -> list:
    """E initial parameter sets: member 0 = `params`, the others re-initialised
    with their own key and their shared media parameters jittered."""
    ens = spec.ensemble
    members = [params]
    rng = np.random.default_rng([spec.seed, 11])
    for i in range(1, ens.size):
        p = init_params(spec.model, jax.random.fold_in(jax.random.key(spec.seed), i), batch.x,
                        batch.y, np.asarray(batch.fit_w), statics)
        shared = dict(p["shared"])
        for name in JITTERED:
            shared[name] = jax.tree.map(
                lambda a: a + jnp.asarray(rng.normal(0.0, ens.jitter, a.shape), a.dtype),
                shared[name])
        members.append({"shared": shared, "region": p["region"]})
    return members


def redrawn(tests: LiftBatch | None, rng: np.random.Generator) -> LiftBatch | None:
    """Lift tests (or ROI priors) with each measured lift redrawn from its
    sampling distribution: lift + N(0, lift_se²); None stays None."""
    if tests is None:
        return None
    noise = rng.normal(0.0, 1.0, np.shape(tests.lift))
    return tests._replace(lift=tests.lift + jnp.asarray(noise, tests.lift.dtype) * tests.lift_se)


def member_batches(batch: Batch, spec: RunSpec) -> Batch:
    """The batch stacked over members [E, ...]: member 0's as it is; the
    others' fit cells bootstrap-weighted and their lift tests and priors
    `redrawn` (module docstring)."""
    ens = spec.ensemble
    rng = np.random.default_rng([spec.seed, 13])
    draws = np.random.default_rng([spec.seed, 29])  # own stream: the weights stay as without tests
    n_regions, n_weeks = batch.y.shape
    batches = [batch]
    for _ in range(1, ens.size):
        w = bootstrap_weights(n_regions, n_weeks, ens.block_weeks, rng)
        batches.append(batch._replace(fit_w=batch.fit_w * jnp.asarray(w, batch.fit_w.dtype),
                                      lifts=redrawn(batch.lifts, draws),
                                      priors=redrawn(batch.priors, draws)))
    return stack(batches)


def evidence_chi2(params: dict, batches: Batch, statics: Statics, spec: RunSpec) -> np.ndarray:
    """[E] each member's χ² = Σ z² over its own lift tests and ROI priors
    (`params` and `batches` stacked over members; zeros without either)."""
    def one(p, b):
        pred = predict_panel(spec.model, p, b.x, b.z, statics)
        return 2.0 * sum(likelihood_nats(p, b, statics, spec.model, pred, tests)
                         for tests in (b.lifts, b.priors) if tests is not None)

    if batches.lifts is None and batches.priors is None:
        return np.zeros(jax.tree.leaves(params)[0].shape[0])
    return np.asarray(jax.jit(jax.vmap(one))(params, batches), np.float64)


def evidence_terms(batch: Batch) -> int:
    """How many lift tests and ROI priors the batch holds."""
    return sum(int(np.shape(t.lift)[-1]) for t in (batch.lifts, batch.priors) if t is not None)


def contradicted(chi2, n_terms: int, p: float = 0.001) -> list[int]:
    """Members (indices ≥ 1) whose evidence χ² exceeds member 0's by more
    than the 1 − p quantile of χ² with `n_terms` degrees of freedom: fits that
    the tests and priors rule out where the point fit meets them. Member 0 is
    never left out; [] without evidence."""
    chi2 = np.asarray(chi2, np.float64)
    if n_terms == 0:
        return []
    bound = float(stats.chi2.ppf(1.0 - p, n_terms))
    return [i for i in range(1, len(chi2)) if not chi2[i] - chi2[0] <= bound]


def fit_ensemble(params: dict, batch: Batch, statics: Statics, spec: RunSpec,
                 batches: Batch | None = None) -> tuple[ReplicaResult, dict]:
    """Both phases of all members as one vmapped program.

    `batches`: the members' batches (`member_batches(batch, spec)`, made here
    when None). Returns the replicas' result (params [E, ...]; member 0 is
    the point estimate) and phase 1's summary (`replicas.fit_replicas_two_phases`).
    """
    size = spec.ensemble.size
    inits = stack(member_inits(params, spec, batch, statics))
    batches = member_batches(batch, spec) if batches is None else batches
    statics_e = stack([statics] * size)
    layout = region_layout(spec.mesh, batch.y.shape[0])  # mesh=regions: members sharded too
    return fit_replicas_two_phases(inits, batches, statics_e, spec.model, spec.loss, spec.train,
                                   spec.refit, [spec.seed] * size, layout,
                                   boost=spec.calibration_boost)


def zero_tests(params: dict, batch: Batch, statics: Statics, spec: RunSpec, layout=None,
               level: float | None = None) -> dict:
    """Per channel: is "it brought nothing" consistent with the validation weeks?

    `params`: member 0's phase-1 parameters (fitted without the validation
    weeks). Replica 0 continues them as they are, replica 1 + c with channel
    c's activity set to 0, for `max(train.refit_steps, 100)` steps on the
    fitted weeks (so the other parameters can take up what the channel
    explained), each keeping its best validation score; the replicas run in
    groups of the ensemble's size, so no new program is compiled. d_t = (knockout − control) mean squared error of validation week t;
    t = mean(d) / (sd(d) / √n). Zero is plausible when t ≤ the
    (1 + level) / 2 quantile of Student's t with n − 1 degrees of freedom
    (two-sided at the interval's level). Returns {"t": [C], "plausible": [C],
    "critical": float, "weeks": n}.
    """
    level = spec.ensemble.interval if level is None else level
    n_ch = batch.x.shape[-1]
    lanes = [batch] + [batch._replace(x=batch.x.at[..., c].set(0.0)) for c in range(n_ch)]
    steps = max(spec.refit_steps, 100)
    tspec = dataclasses.replace(spec.train, max_steps=steps, patience=steps,
                                warmup_steps=min(50, steps // 4), progress=False)
    # in groups of the ensemble's size (padded with copies), so the members' compiled step is reused
    group = max(spec.ensemble.size, 1)
    fitted = []
    for start in range(0, len(lanes), group):
        chunk = lanes[start:start + group]
        chunk = chunk + [chunk[0]] * (group - len(chunk))
        res = fit_replicas(stack([params] * group), stack(chunk), stack([statics] * group),
                           spec.model, spec.loss, tspec, [spec.seed + 2] * group, layout)
        fitted += [replica(res.params, i) for i in range(min(group, len(lanes) - start))]
    val_w = np.asarray(batch.val_w, np.float64)
    weeks = val_w.sum(axis=0) > 0

    def weekly_mse(i):
        b = lanes[i]
        resid = np.asarray(predict_panel(spec.model, fitted[i], b.x, b.z, statics).y - b.y,
                           np.float64)
        return (resid**2 * val_w)[:, weeks].sum(axis=0) / val_w[:, weeks].sum(axis=0)

    control = weekly_mse(0)
    n = int(weeks.sum())
    critical = float(stats.t.ppf((1.0 + level) / 2.0, max(n - 1, 1)))
    t_stats = []
    for c in range(n_ch):
        d = weekly_mse(1 + c) - control
        sd = float(np.std(d, ddof=1)) if n > 1 else 0.0
        t_stats.append(float(np.mean(d)) / (sd / math.sqrt(n)) if sd > 0 else
                       (0.0 if np.mean(d) <= 0 else math.inf))
    return {"t": t_stats, "plausible": [bool(t <= critical) for t in t_stats],
            "critical": critical, "weeks": n}


def with_lift_tests(zero: dict, channel, lift, lift_se, level: float) -> dict:
    """The zero tests `zero` (`zero_tests`' result) with the lift tests'
    evidence: per channel the z of its tests pooled, Σ lift / √(Σ se²) (a
    test of "every lift is 0"; NaN without tests), as `lift_z`, and zero no
    longer plausible where |z| exceeds the two-sided normal quantile of
    `level`. channel [N] (indices), lift and lift_se [N] (KPI units)."""
    channel = np.asarray(channel, int)
    lift, se = np.asarray(lift, np.float64), np.asarray(lift_se, np.float64)
    critical = float(stats.norm.ppf(0.5 + level / 2.0))
    z, plausible = [], []
    for c, ok in enumerate(zero["plausible"]):
        mine = channel == c
        zc = float(lift[mine].sum() / math.sqrt(float((se[mine] ** 2).sum()))) if mine.any() \
            else math.nan
        z.append(zc)
        plausible.append(bool(ok) and not abs(zc) > critical)
    return {**zero, "plausible": plausible, "lift_z": z, "lift_critical": critical}


def interval_rank(n_members: int, level: float) -> int:
    """k of the interval [k-th smallest, k-th largest] of E members: the largest k ≥ 1
    with (E + 1 − 2k) / (E + 1) ≥ `level`, or 1 (the range) when no k reaches it."""
    return max(1, int(np.floor((1.0 - level) * (n_members + 1) / 2.0 + 1e-9)))


def achieved_level(n_members: int, level: float) -> float:
    """The level (E + 1 − 2k) / (E + 1) of the interval `interval` reports."""
    k = interval_rank(n_members, level)
    return (n_members + 1 - 2 * k) / (n_members + 1)


def interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The `level` interval over the leading member axis of values [E, ...].

    Order statistics, not sample quantiles: for E exchangeable members, a new
    draw falls between the k-th smallest and the k-th largest with probability
    (E + 1 − 2k) / (E + 1), so k = `interval_rank`. (The 10% and 90% sample
    quantiles of 8 members bound only about 62% of draws; for 80% with E = 8
    the best is the range, 7/9 = 78%; E ≥ 9 reaches 80%.) NaN members are
    left out.
    """
    values = np.asarray(values, np.float64)
    flat = values.reshape(values.shape[0], -1)
    lo, hi = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        v = np.sort(flat[:, j][np.isfinite(flat[:, j])])
        if v.size:
            k = min(interval_rank(v.size, level), (v.size + 1) // 2)
            lo[j], hi[j] = v[k - 1], v[v.size - k]
    shape = values.shape[1:]
    return lo.reshape(shape), hi.reshape(shape)
