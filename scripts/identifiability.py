"""How well can the data identify one channel's total effect? A profile likelihood.

    python -m scripts.identifiability --scenario geo --seed 0 --channel social

An oracle that knows every part of the generator's model except one
channel's Hill curve (its half saturation k and slope s): for each (k, s) on
a grid, the KPI is regressed (least squares on the training weeks) on the
true media features of all channels, with that channel's feature rebuilt
from (k, s), plus per-region intercept, trend, Fourier seasonality and
controls. Printed per grid cell: the loss of log-likelihood against the true
curve (Δ nats; about 2 is the edge of a 95% interval) and the channel's
implied total contribution relative to the truth. When cells within ~2 nats
span contributions far from 1, the observational data cannot pin the
channel's incremental effect (ROI) even for this oracle; only priors or
experiments (lift tests, `calibration.path`) can.
"""

import argparse

import numpy as np

from dcmmm.data import synthetic
from dcmmm.data.synthetic import apply_adstock, hill

K_GRID = np.linspace(0.3, 3.0, 10)  # half saturation, units of mean activity
S_GRID = np.linspace(0.6, 3.0, 9)  # Hill slope


def profile(scenario: str, seed: int, channel: str, holdout_weeks: int = 13, ks=K_GRID, ss=S_GRID):
    """(grid of Δ nats [K, S], grid of contribution / true [K, S], ks, ss, true (k, s))."""
    frame, _, world = synthetic.simulate(synthetic.scenario(scenario), seed=seed)
    n_r, n_t, n_c = len(world.regions), len(world.dates), len(world.channels)
    ci = world.channels.index(channel)
    if world.beta_c[ci] <= 0:
        raise SystemExit(f"'{channel}' has no effect in this world: nothing to profile")
    y = frame[synthetic.KPI_COLUMN].to_numpy().reshape(n_r, n_t)
    a = apply_adstock(world.activity_all, world.kernels)[:, world.burn_in:]
    a = a / world.act_mean_rc[:, None, :]
    unit = world.config.kpi_scale * world.size_r[:, None]

    def feature(c, k, s):
        scale = world.beta_rc[:, c] / max(world.beta_c[c], 1e-12) if world.beta_c[c] > 0 else 1.0
        return unit * np.asarray(scale).reshape(-1, 1) * hill(a[:, :, c], np.array(k), np.array(s))

    features = np.stack([feature(c, world.hill_k[c], world.hill_s[c]) for c in range(n_c)], -1)
    n_fit = n_t - holdout_weeks
    t = np.arange(n_t)
    fourier = np.stack([f(2 * np.pi * k * t / 52.1775) for k in (1, 2) for f in (np.sin, np.cos)], 1)
    nuisance = np.zeros((n_r, n_t, n_r * 8))
    for r in range(n_r):
        cols = np.column_stack([np.ones(n_t), t / 52.0, fourier, world.price_rt[r],
                                world.promo_rt[r]])
        nuisance[r, :, r * 8:(r + 1) * 8] = cols
    nuisance = nuisance[:, :n_fit].reshape(-1, n_r * 8)
    target = y[:, :n_fit].reshape(-1)

    def sse(feats):
        design = np.concatenate([nuisance, feats[:, :n_fit].reshape(-1, n_c)], 1)
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        resid = target - design @ coef
        return float(resid @ resid), coef[-n_c:]

    base, _ = sse(features)
    sigma2 = base / target.size
    true_total = world.beta_c[ci] * features[:, :, ci].sum()
    nats = np.zeros((len(ks), len(ss)))
    contrib = np.zeros_like(nats)
    for i, k in enumerate(ks):
        for j, s in enumerate(ss):
            trial = features.copy()
            trial[:, :, ci] = feature(ci, k, s)
            e, coef = sse(trial)
            nats[i, j] = (e - base) / (2 * sigma2)
            contrib[i, j] = coef[ci] * trial[:, :, ci].sum() / true_total
    return nats, contrib, ks, ss, (world.hill_k[ci], world.hill_s[ci])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="geo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channel", default="social")
    args = parser.parse_args(argv)
    nats, contrib, ks, ss, (k0, s0) = profile(args.scenario, args.seed, args.channel)
    print(f"{args.scenario} seed {args.seed}, channel {args.channel}: true k={k0:.2f}, s={s0:.2f}")
    print("cells: Δ nats vs the true curve / implied contribution ÷ true contribution")
    print("k \\ s  " + " ".join(f"{s:>11.2f}" for s in ss))
    for i, k in enumerate(ks):
        print(f"{k:5.2f}  " + " ".join(f"{nats[i, j]:5.1f}/{contrib[i, j]:5.2f}"
                                        for j in range(len(ss))))
    near = contrib[nats < 2.0]
    print(f"within 2 nats of the truth: contribution {near.min():.2f}x to {near.max():.2f}x "
          "the true one")
    return nats, contrib


if __name__ == "__main__":
    main()
