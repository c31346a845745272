"""ROI priors in the loss: the closed form of a Gaussian prior on a model linear in β."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from dcmmm.model.graph import allowed_edges
from dcmmm.model.mmm import ModelSpec, inverse_softplus, predict_panel
from dcmmm.train.loss import LiftBatch, LossSpec, loss_terms
from tests.fixtures import tiny_problem

CHANNEL = 1


def linear_case():
    """The tiny problem with everything but channel 1's β held fixed: no graph,
    one β for all regions, a Huber δ so large that the fit term is ½ r²; the
    prediction is then rest + b · g with g[r, t] = m · hill(adstock(x)) of
    channel 1, and its ROI over all weeks is b · G."""
    spec, params, batch, statics = tiny_problem(seed=3)
    spec = ModelSpec(spec.n_channels, spec.n_controls, hidden=spec.hidden, graph_mode="none",
                     region_beta=False)
    statics = statics._replace(allowed=jnp.asarray(allowed_edges("none", spec.n_channels),
                                                    jnp.float32))
    lspec = LossSpec(huber_delta=1e3, graph_enabled=False)
    n_regions, n_weeks, _ = batch.x.shape
    kpi_mean = np.linspace(80.0, 120.0, n_regions)
    spend = 2.0 * np.asarray(batch.x[..., CHANNEL]).sum()  # 2 currency units per unit of activity
    unit = dict(params, shared=dict(params["shared"], beta=params["shared"]["beta"].at[CHANNEL].set(
        inverse_softplus(1.0))))
    pred = predict_panel(spec, unit, batch.x, batch.z, statics)
    g = np.asarray(pred.media[..., CHANNEL], np.float64)  # b = 1
    rest = np.asarray(pred.y, np.float64) - g
    big_g = float((g * kpi_mean[:, None]).sum() / spend)
    return spec, lspec, params, batch, statics, kpi_mean, spend, g, rest, big_g


def prior(n_regions, n_weeks, n_channels, roi, sd, spend, kpi_mean):
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    every = np.ones((1, n_weeks))
    return LiftBatch(f32(np.eye(n_channels)[[CHANNEL]]), f32(np.ones((1, n_regions))), f32(every),
                     f32(every), f32([roi * spend]), f32([sd * spend]), f32(kpi_mean))


def fitted_b(spec, lspec, params, batch, statics):
    """b = softplus(β) of channel 1 where the loss's gradient in β is 0 (the
    prior's σ̂² held constant in the gradient, as in training)."""

    @jax.jit
    def grad(raw):
        p = dict(params, shared=dict(params["shared"],
                                     beta=params["shared"]["beta"].at[CHANNEL].set(raw)))
        g = jax.grad(lambda q: loss_terms(q, 0.0, 1.0, batch, statics, spec, lspec)[0])(p)
        return g["shared"]["beta"][CHANNEL]

    raw = optimize.brentq(lambda r: float(grad(jnp.float32(r))), -8.0, 8.0, xtol=1e-10)
    return float(jax.nn.softplus(raw))


@pytest.mark.parametrize("sd_over_se", [0.1, 1.0, 10.0])
def test_the_prior_weighs_in_as_a_gaussian_posterior(sd_over_se):
    """With data alone the ROI is the least-squares b̂ · G, with standard error
    se = G σ / √(Σ g²) (σ² the residual variance); a prior N(r0, sd²) moves it
    to the precision-weighted mean (r̂/se² + r0/sd²) / (1/se² + 1/sd²)."""
    spec, lspec, params, batch, statics, kpi_mean, spend, g, rest, big_g = linear_case()
    n_regions, n_weeks, n_channels = batch.x.shape
    w = np.asarray(batch.fit_w, np.float64)
    # the KPI: channel 1 at b = 0.3 plus noise, so the data's own ROI is known
    rng = np.random.default_rng(0)
    y = rest + 0.3 * g + 0.02 * rng.normal(size=rest.shape)
    batch = batch._replace(y=jnp.asarray(y, jnp.float32))
    d = y - rest
    b_data = float((w * g * d).sum() / (w * g * g).sum())
    roi_data = b_data * big_g
    free = fitted_b(spec, lspec, params, batch, statics) * big_g
    assert free == pytest.approx(roi_data, rel=1e-4)  # no prior: least squares

    sigma2 = float((w * (d - b_data * g) ** 2).sum() / w.sum())
    se = big_g * np.sqrt(sigma2 / (w * g * g).sum())
    r0, sd = roi_data + 4.0 * se, sd_over_se * se
    with_prior = batch._replace(priors=prior(n_regions, n_weeks, n_channels, r0, sd, spend,
                                             kpi_mean))
    b = fitted_b(spec, lspec, params, with_prior, statics)
    roi = b * big_g
    # the closed form at the optimum's own residual variance (σ̂², as the loss holds it)
    s2 = float((w * (d - b * g) ** 2).sum() / w.sum())
    se_at = big_g * np.sqrt(s2 / (w * g * g).sum())
    expected = (roi_data / se_at**2 + r0 / sd**2) / (1 / se_at**2 + 1 / sd**2)
    assert roi == pytest.approx(expected, rel=1e-4)
    # the prior's weight: the share of the way from the data's ROI to the prior
    share = (roi - roi_data) / (r0 - roi_data)
    assert share == pytest.approx(se_at**2 / (se_at**2 + sd**2), abs=1e-3)
    assert {0.1: share > 0.98, 1.0: abs(share - 0.5) < 0.05, 10.0: share < 0.02}[sd_over_se]


def test_the_prior_term_is_zero_at_the_prior_and_in_nats_of_the_fit():
    spec, lspec, params, batch, statics, kpi_mean, spend, g, rest, big_g = linear_case()
    n_regions, n_weeks, n_channels = batch.x.shape
    b = float(jax.nn.softplus(params["shared"]["beta"][CHANNEL]))
    roi = b * big_g
    at = batch._replace(priors=prior(n_regions, n_weeks, n_channels, roi, 0.1 * roi, spend,
                                     kpi_mean))
    _, terms = loss_terms(params, 0.0, 1.0, at, statics, spec, lspec)
    assert float(terms["priors"]) == pytest.approx(0.0, abs=1e-9)
    off = batch._replace(priors=prior(n_regions, n_weeks, n_channels, roi * 1.2, 0.1 * roi, spend,
                                      kpi_mean))
    _, terms = loss_terms(params, 0.0, 1.0, off, statics, spec, lspec)
    pred = predict_panel(spec, params, batch.x, batch.z, statics)
    w = np.asarray(batch.fit_w, np.float64)
    resid = np.asarray(pred.y, np.float64) - np.asarray(batch.y, np.float64)
    per_nat = (w * resid**2).sum() / w.sum() / w.sum()
    assert float(terms["priors"]) == pytest.approx(per_nat * 0.5 * 2.0**2, rel=1e-3)  # z = -2
