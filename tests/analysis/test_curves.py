import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from dcmmm.analysis.curves import DEFAULT_MULTIPLIERS, fit_hill, fit_hill_curves, response_curves
from dcmmm.analysis.plans import plan_kpi_change, plan_prediction
from tests.analysis.conftest import arrays, with_spend

MULTS = DEFAULT_MULTIPLIERS  # 0, 0.1, ..., 3


@pytest.fixture(scope="module")
def curves(problem):
    return response_curves(problem, multipliers=MULTS)


def test_columns_and_sizes(curves, problem):
    assert list(curves.columns) == ["channel", "multiplier", "spend", "activity",
                                    "incremental_direct", "incremental_total"]
    assert len(curves) == len(MULTS) * len(problem.channels)
    for c, name in enumerate(problem.channels):
        one = curves[curves["channel"] == name]
        np.testing.assert_allclose(one["spend"], MULTS * problem.panel.spend[..., c].sum(),
                                   rtol=1e-9)
        np.testing.assert_allclose(one["activity"], MULTS * problem.panel.media[..., c].sum(),
                                   rtol=1e-6)


def test_zero_at_zero_and_incremental_effects_at_one(curves, problem, effects):
    inc = effects
    for c, name in enumerate(problem.channels):
        one = curves[curves["channel"] == name].set_index("multiplier")
        scale = one["incremental_total"].abs().max()
        assert one.loc[0.0, "incremental_total"] == pytest.approx(0.0, abs=1e-6 * scale)
        assert one.loc[1.0, "incremental_total"] == pytest.approx(inc.total[:, c].sum(), rel=1e-4)
        assert one.loc[1.0, "incremental_direct"] == pytest.approx(inc.direct[:, c].sum(),
                                                                   rel=1e-4)


def test_curves_are_monotone_and_mediation_only_for_parents(curves, problem):
    for name, one in curves.groupby("channel"):
        for col in ("incremental_direct", "incremental_total"):
            steps = np.diff(one[col].to_numpy())
            assert np.all(steps >= -1e-4 * one[col].abs().max()), (name, col)
    tv, radio = (curves[curves["channel"] == n] for n in ("tv", "radio"))
    assert np.all(tv["incremental_total"].iloc[1:] > tv["incremental_direct"].iloc[1:])
    np.testing.assert_allclose(radio["incremental_total"], radio["incremental_direct"], rtol=1e-5)


def test_vmap_equals_a_loop(curves, problem):
    spec, params, x, z, statics, w, kpi_mean = arrays(problem)
    change = jax.jit(lambda m, ref: plan_kpi_change(spec, params, x, z, statics, w, m, kpi_mean,
                                                    ref))
    off = jnp.array([0.0, 1.0, 1.0])
    reference = plan_prediction(spec, params, x, z, statics, w, off)
    tv = curves[curves["channel"] == "tv"]
    for m, expected in zip(MULTS, tv["incremental_total"]):
        got = float(change(jnp.array([m, 1.0, 1.0]), reference))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_week_mask_and_missing_spend(curves, problem):
    weeks = np.arange(problem.panel.n_weeks) >= 30
    late = response_curves(with_spend(problem, None), multipliers=MULTS, weeks=weeks)
    assert late["spend"].isna().all()
    assert list(late["channel"].unique()) == ["tv", "radio", "search"]
    on = late["multiplier"].to_numpy() > 0
    assert np.all(late["incremental_total"][on].to_numpy()
                  < curves["incremental_total"][on].to_numpy())
    assert np.all(late["incremental_total"][on] > 0)


@pytest.mark.parametrize("top,k,s", [(100.0, 0.8, 1.7), (40.0, 2.0, 0.7), (5.0, 0.3, 3.0)])
def test_hill_fit_recovers_a_hill_curve(top, k, s):
    m = MULTS
    y = top * m**s / (m**s + k**s)
    top_hat, k_hat, s_hat, r2 = fit_hill(m, y)
    assert r2 > 0.9999
    assert top_hat == pytest.approx(top, rel=0.02)
    assert k_hat == pytest.approx(k, rel=0.02)
    assert s_hat == pytest.approx(s, rel=0.02)


def test_hill_fit_of_model_curves(curves):
    fits = fit_hill_curves(curves)
    assert list(fits.columns) == ["channel", "top", "half_saturation_multiplier", "slope", "r2"]
    assert list(fits["channel"]) == ["tv", "radio", "search"]
    assert (fits["r2"] > 0.99).all() and (fits["top"] > 0).all()
    flat = pd.DataFrame({"channel": "x", "multiplier": MULTS, "incremental_total": 0.0})
    assert np.isnan(fit_hill_curves(flat)["r2"].iloc[0])

