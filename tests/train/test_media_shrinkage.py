"""model.media_shrinkage: a price on the KPI credited to media (an ablation, off by default)."""

import jax.numpy as jnp
import numpy as np
import pytest

from dcmmm.model.mmm import predict_panel
from dcmmm.train.loss import LossSpec, loss_terms
from tests.fixtures import tiny_problem


def test_the_term_is_the_price_times_the_mean_credit_of_the_fitted_cells():
    spec, params, batch, statics = tiny_problem(seed=3)
    fit_w = np.ones(batch.fit_w.shape, np.float32)
    fit_w[:, -3:] = 0.0  # cells outside the fit do not count
    batch = batch._replace(fit_w=jnp.asarray(fit_w))
    pred = predict_panel(spec, params, batch.x, batch.z, statics)
    media = np.asarray(pred.media, np.float64).sum(axis=-1)  # [R, T]
    credit = (media * fit_w).sum(axis=1) / fit_w.sum(axis=1)
    _, terms = loss_terms(params, 0.0, 1.0, batch, statics, spec, LossSpec(media_shrinkage=0.3))
    assert float(terms["media_shrinkage"]) == pytest.approx(0.3 * credit.mean(), rel=1e-5)
    assert media.min() >= 0 and credit.mean() > 0  # credit is positive: the price pulls it to 0
    _, off = loss_terms(params, 0.0, 1.0, batch, statics, spec, LossSpec())
    assert "media_shrinkage" not in off
