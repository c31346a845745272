"""How each channel's ROI is known: `roi_basis` and the evidence behind it.

Observational data pin down what a channel returns only over the spend range
they show it at. A flighted channel is seen at zero (off-air weeks) and at
its usual level, so switching it off (its incremental effect, its ROI) is
within the data; an always-on channel's effect on switching off is an
extrapolation of its curve below the lowest spend it had, and two channels
that always move together can trade their effects. Two pieces of evidence:

- **Spend range** (`spend_coverage`): the share of fitted cells with the
  channel off air, and how far its adstocked activity goes toward 0: one
  minus its 5% quantile relative to its mean (`range_covered`: 1 = the data
  see the channel switched off, 0 = always at its mean), and the coefficient
  of variation of the adstocked activity.
- **Profile of the fit over the channel's effect size** (`effect_profile`):
  the idea of `scripts/identifiability.py` as vmapped refits. Starting from
  the fitted parameters, one replica per (channel, ratio) is refitted with
  the channel's total effect held at ratio × its fitted value (the tight
  prior of `dcmmm.train.loss`, on the model's own counterfactual) while every
  other parameter adapts; a control replica refits the same number of steps
  held at its fitted effect. The cost of a ratio is the loss of
  log-likelihood against the control, in nats: the fit's Gaussian likelihood
  at the control's residual variance, plus the lift tests' and the priors'.
  Ratios are 1 / (1 + tolerance) and 1 + tolerance. Each refit starts a
  fresh optimiser at the fitted point and ends where its steps leave it,
  which on a hard surface depends on the start: two more controls start
  from the fitted parameters nudged by 0.1% (`JITTER`), and the larger of
  their costs' distances from the control's is the refits' own noise
  (`noise_nats`); a cost within `nats` plus that noise rules nothing out.
  On the generator's panels the noise is about a nat; on the DMA panel,
  whose refits do not settle in 100 steps, it is 19 nats (nor in 300: a
  probe then had one hold cost 8 nats from the one-fit run's parameters and
  40 from member 0 of an ensemble, the same fit to float rounding;
  experiments/design/README.md, "The profile's own noise"). The
  replicas are one vmapped program of 2C + 3 lanes.

The basis (`roi_basis`): a channel whose effect can move by the tolerance in
either direction within `nats` (plus the noise) of the best fit is `extrapolated`: the data
(tests and priors included) cannot tell its ROI to ±tolerance. A hold need
not reach its target in the refit's few steps: its cost is carried to the
target as the quadratic the log-likelihood is near its optimum,
cost · ((target − 1) / (reached − 1))², from a hold that moved at least a
third of the way (`MIN_MOVE`). A negative cost (the held refit fits better
than the control) counts as 0: the data prefer a different effect, and the
fitted one is no measurement (on the collinear scenario tv's and radio's
effects trade this way, each hold stopping short of its target). Otherwise it
is `calibrated` when lift tests of it entered the fit, `prior` when an ROI
prior did, and `measured` when the data alone pin it. Without a profile
(`evidence.steps=0`) the basis rests on the spend range, which cannot see
tests and priors: `extrapolated` when its adstocked activity covers less
than 80% of the way to 0 (`range_covered`), unless the channel's lift tests
or ROI prior alone make a ±tolerance change of its effect cost more than
`nats` (`external_costs`: Σ ½ (tolerance · model lift / se)² over them, the
model's lift in each moving with the effect), when it is `calibrated` or
`prior`.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.fitted import Fitted
from dcmmm.model import adstock as adstock_lib
from dcmmm.model.mmm import adstock_kernel, predict_panel
from dcmmm.specs import RunSpec
from dcmmm.train.loss import Batch, LiftBatch, likelihood_nats, model_lifts
from dcmmm.train.phases import refit_batch, refit_seed
from dcmmm.train.replicas import fit_replicas, replica, stack

TIGHT = 0.02  # sd of the profile's hold on a channel's effect, as a share of its fitted effect
JITTERS = 2  # more controls, from nudged starts: the refits' own noise
JITTER = 1e-3  # their nudge, relative to each parameter
MIN_MOVE = 1 / 3  # a hold that moved less of the way to its target says nothing of the target
RANGE_COVERED = 0.8  # without a profile: extrapolated below this share of the way to 0
BASES = ("measured", "extrapolated", "calibrated", "prior")


def spend_coverage(fitted: Fitted) -> pd.DataFrame:
    """Per channel over the training cells: `off_air_share` (share of cells
    with no activity), `range_covered` (1 − the 5% quantile of adstocked
    activity over its (region, channel) mean, in [0, 1]) and `adstock_cv`
    (its coefficient of variation), with the fitted adstock kernel."""
    x = np.asarray(fitted.batch.x, np.float64)
    cells = np.asarray(fitted.batch.fit_w + fitted.batch.val_w, np.float64) > 0  # [R, T]
    kernel = adstock_kernel(fitted.model, fitted.params["shared"])
    stocked = np.asarray(jax.vmap(adstock_lib.adstock, in_axes=(0, None))(
        jnp.asarray(x, jnp.float32), kernel), np.float64)  # [R, T, C]
    rows = []
    for c in range(x.shape[2]):
        a, seen = stocked[..., c], x[..., c]
        mean = np.array([a[r, cells[r]].mean() if cells[r].any() else 0.0
                         for r in range(a.shape[0])])
        keep = mean > 0
        rel = (a[keep] / mean[keep, None])[cells[keep]]
        rows.append({"channel": fitted.channels[c],
                     "off_air_share": float((seen[cells] <= 0).mean()),
                     "range_covered": float(np.clip(1.0 - np.quantile(rel, 0.05), 0.0, 1.0))
                     if rel.size else 0.0,
                     "adstock_cv": float(rel.std() / max(rel.mean(), 1e-12)) if rel.size else 0.0})
    return pd.DataFrame(rows)


def _all_weeks(channels, n_regions: int, n_weeks: int, n_channels: int, lift, lift_se, kpi_mean
               ) -> LiftBatch:
    """Tests that switch each of `channels` off in every week and region."""
    n = len(channels)
    every = jnp.ones((n, n_weeks), jnp.float32)
    return LiftBatch(jnp.asarray(np.eye(n_channels)[list(channels)], jnp.float32),
                     jnp.ones((n, n_regions), jnp.float32), every, every,
                     jnp.asarray(lift, jnp.float32), jnp.asarray(lift_se, jnp.float32),
                     jnp.asarray(kpi_mean, jnp.float32))


def channel_effects(params: dict, batch: Batch, statics, spec: RunSpec, kpi_mean) -> np.ndarray:
    """[C] each channel's total effect over all weeks and regions as the loss
    sees it (own activity off, the learned graph; KPI units)."""
    n_regions, n_weeks, n_channels = batch.x.shape
    probe = _all_weeks(range(n_channels), n_regions, n_weeks, n_channels, np.zeros(n_channels),
                       np.ones(n_channels), kpi_mean)
    pred = predict_panel(spec.model, params, batch.x, batch.z, statics)
    return np.asarray(model_lifts(params, batch, statics, spec.model, pred, lifts=probe),
                      np.float64)


def _with_hold(batch: Batch, hold: LiftBatch) -> Batch:
    """`batch` with one more prior row: the profile's hold on a channel's effect."""
    if batch.priors is None:
        return batch._replace(priors=hold)
    joined = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), batch.priors._replace(
        kpi_mean=jnp.zeros(0)), hold._replace(kpi_mean=jnp.zeros(0)))
    return batch._replace(priors=joined._replace(kpi_mean=hold.kpi_mean))


def _nats(params: dict, batch: Batch, statics, spec: RunSpec, sigma2: float, n_priors: int
          ) -> tuple[float, float]:
    """(the negative log-likelihood in nats of the fitted cells at residual
    variance σ², plus the lift tests' and the first `n_priors` priors' nats;
    the sum of squared residuals)."""
    pred = predict_panel(spec.model, params, batch.x, batch.z, statics)
    w = np.asarray(batch.fit_w, np.float64)
    sse = float((w * (np.asarray(pred.y, np.float64) - np.asarray(batch.y, np.float64)) ** 2).sum())
    nats = sse / (2.0 * sigma2) if sigma2 > 0 else 0.0
    if batch.lifts is not None:
        nats += float(likelihood_nats(params, batch, statics, spec.model, pred, batch.lifts))
    if n_priors:
        user = jax.tree.map(lambda a: a[:n_priors], batch.priors._replace(kpi_mean=jnp.zeros(0)))
        nats += float(likelihood_nats(params, batch, statics, spec.model, pred,
                                      user._replace(kpi_mean=batch.priors.kpi_mean)))
    return nats, sse


def profile_ratios(tolerance: float) -> tuple[float, float]:
    """The effect ratios a profile holds each channel at: 1 / (1 + tol) and 1 + tol."""
    return 1.0 / (1.0 + tolerance), 1.0 + tolerance


def effect_profile(params: dict, batch: Batch, statics, spec: RunSpec, kpi_mean, steps: int,
                   tolerance: float, layout=None) -> dict:
    """The fit's profile over each channel's effect size (module docstring).

    params: the fitted parameters; batch, statics: its inputs (lift tests and
    priors included); kpi_mean [R]. Every replica continues on all training
    cells (phase 2's batch) for `steps` steps at phase 2's learning rate, as
    one vmapped program (`dcmmm.train.replicas`). Returns {"ratios": [2]
    targets, "achieved": [C, 2] the effect reached / the fitted one, "nats":
    [C, 2] its cost against the control, "effect": [C] the fitted effects
    (KPI units), "steps": steps, "noise_nats": the refits' own noise}.
    """
    n_regions, n_weeks, n_channels = batch.x.shape
    ratios = profile_ratios(tolerance)
    effect = channel_effects(params, batch, statics, spec, kpi_mean)
    scale = np.maximum(np.abs(effect), 1e-6 * max(np.abs(effect).max(), 1.0))
    # lanes 1..JITTERS: controls from starts nudged by JITTER (relative), whose spread from
    # the control is the refits' own noise
    lanes = [(0, 1.0)] * (1 + JITTERS) + [(c, r) for c in range(n_channels) for r in ratios]
    full = refit_batch(batch)
    batches = [_with_hold(full, _all_weeks([c], n_regions, n_weeks, n_channels, [r * effect[c]],
                                           [TIGHT * scale[c]], kpi_mean)) for c, r in lanes]
    refit = spec.refit or dataclasses.replace(spec.train, learning_rate=spec.train.learning_rate
                                              * spec.refit_lr_fraction)
    # one program: 2C + 1 lanes as concurrent groups stalled on the CPU (jaxlib 0.10.2;
    # likely the scheduler deadlock dcmmm/__init__.py now turns off, not re-measured)
    tspec = dataclasses.replace(refit, max_steps=steps, patience=steps,
                                warmup_steps=min(refit.warmup_steps, steps // 4), progress=False,
                                replica_threads=1)
    keys = jax.random.split(jax.random.key(refit_seed(spec.seed)), JITTERS)
    starts = [params, *[nudged(params, JITTER, k) for k in keys]]
    starts += [params] * (len(lanes) - len(starts))
    res = fit_replicas(stack(starts), stack(batches),
                       stack([statics] * len(lanes)), spec.model, spec.loss, tspec,
                       [refit_seed(spec.seed)] * len(lanes), layout)
    n_priors = 0 if batch.priors is None else int(batch.priors.lift.shape[0])
    fits = [replica(res.params, i) for i in range(len(lanes))]
    _, sse = _nats(fits[0], full, statics, spec, 0.0, n_priors)
    sigma2 = sse / max(float(np.asarray(full.fit_w).sum()), 1.0)
    base, _ = _nats(fits[0], full, statics, spec, sigma2, n_priors)
    noise = max((abs(_nats(fits[i], full, statics, spec, sigma2, n_priors)[0] - base)
                 for i in range(1, 1 + JITTERS)), default=0.0)
    achieved = np.zeros((n_channels, len(ratios)))
    nats = np.zeros_like(achieved)
    for i, (c, _) in enumerate(lanes[1 + JITTERS:], start=1 + JITTERS):
        j = (i - 1 - JITTERS) % len(ratios)
        achieved[c, j] = channel_effects(fits[i], full, statics, spec, kpi_mean)[c] / scale[c]
        nats[c, j] = _nats(fits[i], full, statics, spec, sigma2, n_priors)[0] - base
    return {"ratios": list(ratios), "achieved": achieved.tolist(), "nats": nats.tolist(),
            "effect": effect.tolist(), "steps": steps, "noise_nats": noise}


def nudged(params: dict, relative: float, key) -> dict:
    """`params` with each floating value scaled by (1 + relative · a standard
    normal draw); other leaves as they are."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))

    def one(leaf, k):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf
        return leaf * (1.0 + relative * jax.random.normal(k, leaf.shape, leaf.dtype))

    return jax.tree.unflatten(tree, [one(leaf, k) for leaf, k in zip(leaves, keys)])


def ruled_out_above(profile: dict, nats: float) -> float:
    """The cost a hold must exceed to rule its ratio out: `nats` plus the
    profile's own refit noise (0 for a profile recorded without it)."""
    return nats + profile.get("noise_nats", 0.0)


def consistent_ratios(profile: dict, nats: float) -> tuple[np.ndarray, np.ndarray]:
    """[C] lowest and highest effect ratio (reached / fitted) among the
    profile's points that cost at most `nats`, the fitted point (1) included."""
    cost, achieved = np.asarray(profile["nats"]), np.asarray(profile["achieved"])
    ok = cost <= ruled_out_above(profile, nats)
    return (np.where(ok, achieved, 1.0).min(axis=1, initial=1.0),
            np.where(ok, achieved, 1.0).max(axis=1, initial=1.0))


def target_costs(profile: dict, tolerance: float) -> np.ndarray:
    """[C, 2] the cost in nats of each channel's effect at 1 / (1 + tol) and
    1 + tol: a hold's cost (negative: 0) carried from the ratio it reached to
    its target as a quadratic, cost · ((target − 1) / (reached − 1))²; inf
    where the hold moved less than MIN_MOVE of the way."""
    cost = np.maximum(np.asarray(profile["nats"], np.float64), 0.0)
    moved = np.asarray(profile["achieved"], np.float64) - 1.0
    goal = np.asarray(profile_ratios(tolerance)) - 1.0  # [2]
    far = np.abs(moved) >= MIN_MOVE * np.abs(goal)
    with np.errstate(divide="ignore", invalid="ignore"):
        carried = cost * (goal / np.where(far, moved, 1.0)) ** 2
    return np.where(far, carried, np.inf)


def roi_basis(profile: dict | None, coverage: pd.DataFrame, nats: float, tolerance: float,
              calibrated=(), with_prior=(), external=None) -> list[str]:
    """Per channel (in `coverage`'s order) its `roi_basis` (module docstring).

    profile: `effect_profile`'s result or None; nats: the cost below which a
    ratio is consistent with the data; tolerance: the relative change of the
    effect the data must rule out (`target_costs`); calibrated / with_prior:
    names of the channels with lift tests / ROI priors; external: without a
    profile, {name: `external_costs`' nats} (absent: 0)."""
    out = []
    costs = None if profile is None else target_costs(profile, tolerance)
    external = external or {}
    for c, name in enumerate(coverage["channel"]):
        if costs is not None:  # a cost within the refits' own noise rules nothing out
            loose = bool((costs[c] <= ruled_out_above(profile, nats)).any())
        else:  # the spend range knows nothing of tests and priors: their own cost
            loose = (not external.get(name, 0.0) > nats
                     and bool(coverage["range_covered"].iloc[c] < RANGE_COVERED))
        if loose:
            out.append("extrapolated")
        elif name in calibrated:
            out.append("calibrated")
        elif name in with_prior:
            out.append("prior")
        else:
            out.append("measured")
    return out


def external_costs(fitted: Fitted, tolerance: float) -> dict[str, float]:
    """{channel: nats} that changing the channel's effect by ±`tolerance`
    costs under its lift tests and ROI priors alone: Σ ½ (tolerance · the
    fitted model's lift / se)² over them (a prior is a test of all weeks), the
    model's lift moving in proportion to the effect; channels without either
    are absent."""
    out: dict[str, float] = {}
    for lifts in (fitted.batch.lifts, fitted.batch.priors):
        if lifts is None:
            continue
        se = np.asarray(lifts.lift_se, np.float64)
        for c, cost in zip(np.argmax(np.asarray(lifts.off), axis=1),
                           0.5 * (tolerance * fitted.model_lifts(lifts) / se) ** 2):
            name = fitted.channels[c]
            out[name] = out.get(name, 0.0) + float(cost)
    return out


def evidence_table(fitted: Fitted) -> pd.DataFrame:
    """channels.csv's evidence columns per channel: `roi_basis`, the number
    of the run's lift tests of the channel (`lift_tests`), the spend
    range (`spend_coverage`) and, with a profile, the nats of holding the
    effect at 1 / (1 + tol) and 1 + tol of its fitted value
    (`profile_nats_low`, `profile_nats_high`), the refits' own noise
    (`profile_noise_nats`, one value for the run) and the
    ROI range consistent with the data among those points
    (`profile_roi_lo`, `profile_roi_hi`; NaN without spend)."""
    coverage = spend_coverage(fitted)
    profile = fitted.evidence
    ev = fitted.spec.evidence
    names = fitted.channels
    n_tests = np.zeros(len(names), int)
    if fitted.batch.lifts is not None:
        np.add.at(n_tests, np.argmax(np.asarray(fitted.batch.lifts.off), axis=1), 1)
    tested = {names[c] for c in np.flatnonzero(n_tests)}
    with_prior = set()
    if fitted.batch.priors is not None:
        with_prior = {names[c] for c in np.argmax(np.asarray(fitted.batch.priors.off), axis=1)}
    table = coverage.copy()
    external = external_costs(fitted, ev.tolerance) if profile is None else None
    table.insert(1, "roi_basis", roi_basis(profile, coverage, ev.nats, ev.tolerance, tested,
                                           with_prior, external))
    table.insert(2, "lift_tests", n_tests)
    if profile is None:
        return table
    nats = np.asarray(profile["nats"])
    for j, label in enumerate(("low", "high")):
        table[f"profile_nats_{label}"] = nats[:, j]
    table["profile_noise_nats"] = float(profile.get("noise_nats", 0.0))
    spend = (fitted.panel.spend.sum(axis=(0, 1)) if fitted.panel.spend is not None
             else np.full(len(names), np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        roi = np.asarray(profile["effect"]) / np.where(spend > 0, spend, np.nan)
    lo, hi = consistent_ratios(profile, ev.nats)
    table["profile_roi_lo"], table["profile_roi_hi"] = lo * roi, hi * roi
    return table
