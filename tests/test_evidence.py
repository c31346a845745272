"""How each ROI is known: the spend range, the profile over a channel's effect, roi_basis."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from dcmmm.evidence import (
    consistent_ratios,
    effect_profile,
    evidence_table,
    nudged,
    roi_basis,
    spend_coverage,
)
from dcmmm.specs import RunSpec
from dcmmm.train.loop import TrainSpec, fit
from dcmmm.train.loss import LossSpec
from dcmmm.train.phases import refit_batch
from tests.fixtures import fitted_of, tiny_problem


def flighted_and_constant(seed=0):
    """6 regions × 90 weeks: channel 0 on air in alternate 8-week blocks,
    channel 1 always at its mean (±1%); both bring KPI. The data see channel 0
    switched off and on; channel 1's effect is a level the intercept can take."""
    spec, params, batch, statics = tiny_problem(n_regions=6, n_weeks=90, n_channels=2, seed=seed)
    rng = np.random.default_rng(seed)
    n_regions, n_weeks = 6, 90
    on = (np.arange(n_weeks) // 8) % 2 == 0
    flighted = np.where(on[None], rng.gamma(8.0, 0.25, (n_regions, n_weeks)), 0.0)
    flighted = flighted / flighted.mean(axis=1, keepdims=True)
    constant = 1.0 + 0.01 * rng.normal(size=(n_regions, n_weeks))
    x = np.stack([flighted, constant], axis=-1)
    y = (1.0 + 0.25 * x[..., 0] / (x[..., 0] + 0.8) + 0.25 * constant / (constant + 0.8)
         + 0.02 * rng.normal(size=(n_regions, n_weeks)))
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    batch = batch._replace(x=f32(x), y=f32(y), xc=f32(x - x.mean(axis=1, keepdims=True)),
                           spend=f32(x))
    return spec, params, batch, statics


def test_the_spend_range_tells_a_flighted_channel_from_an_always_on_one():
    spec, params, batch, statics = flighted_and_constant()
    fitted = fitted_of(spec, params, batch, statics, np.zeros((2, 2)), np.full(6, 100.0))
    cover = spend_coverage(fitted).set_index("channel")
    assert cover.loc["c0", "off_air_share"] == pytest.approx(0.5, abs=0.1)
    assert cover.loc["c1", "off_air_share"] == 0.0
    assert cover.loc["c0", "range_covered"] > 0.9  # adstocked activity reaches 0
    assert cover.loc["c1", "range_covered"] < 0.05  # never far from its mean
    assert cover.loc["c0", "adstock_cv"] > 10 * cover.loc["c1", "adstock_cv"]
    # without a profile the basis rests on the spend range
    assert roi_basis(None, spend_coverage(fitted), 2.0, 0.25) == ["measured", "extrapolated"]


def test_roi_basis_of_a_flighted_and_a_constant_channel():
    """The profile: holding the flighted channel's effect 20% lower or 25%
    higher costs many nats; the constant channel's costs almost none (the
    intercept takes up the difference), so its ROI is an extrapolation."""
    spec_m, params, batch, statics = flighted_and_constant()
    spec = RunSpec(spec_m, LossSpec(graph_enabled=False),
                   TrainSpec(max_steps=600, steps_per_call=50, patience=600, progress=False))
    result = fit(params, refit_batch(batch), statics, spec.model, spec.loss, spec.train)
    kpi_mean = np.full(6, 100.0)
    profile = effect_profile(result.params, batch, statics, spec, kpi_mean, steps=150,
                             tolerance=0.25)
    nats, achieved = np.asarray(profile["nats"]), np.asarray(profile["achieved"])
    assert achieved.shape == nats.shape == (2, 2)
    # controls from starts 0.1% apart end close: the costs below are not refit noise
    assert 0.0 <= profile["noise_nats"] < 0.5, profile["noise_nats"]
    # the constant channel reaches both held ratios at a cost within noise
    np.testing.assert_allclose(achieved[1], [0.8, 1.25], atol=0.03)
    assert nats[1].max() < 2.0, nats
    # the flighted channel's effect is pinned: moving it costs well over the 2 nats
    assert nats[0].min() > 4.0, nats
    lo, hi = consistent_ratios(profile, 2.0)
    assert lo[1] <= 0.83 and hi[1] >= 1.22 and lo[0] == hi[0] == 1.0
    fitted = fitted_of(spec_m, result.params, batch, statics, np.zeros((2, 2)), kpi_mean,
                       spend=np.asarray(batch.x))
    fitted = dataclasses.replace(fitted, spec=dataclasses.replace(fitted.spec, loss=spec.loss),
                                 evidence=profile)
    table = evidence_table(fitted).set_index("channel")
    assert list(table["roi_basis"]) == ["measured", "extrapolated"]
    roi = np.asarray(profile["effect"]) / np.asarray(batch.x).sum(axis=(0, 1))
    assert table.loc["c1", "profile_roi_lo"] == pytest.approx(achieved[1, 0] * roi[1], rel=1e-6)
    assert table.loc["c0", "profile_roi_lo"] == table.loc["c0", "profile_roi_hi"]


def test_tests_and_priors_name_the_basis_of_a_pinned_channel():
    coverage = pd.DataFrame({"channel": ["a", "b", "c", "d"], "range_covered": [1.0] * 4})
    profile = {"nats": [[50.0, 50.0], [40.0, 40.0], [30.0, 30.0], [0.5, 40.0]],
               "achieved": [[0.8, 1.25], [0.8, 1.25], [0.8, 1.25], [0.8, 1.25]]}
    basis = roi_basis(profile, coverage, 2.0, 0.25, calibrated={"b", "d"}, with_prior={"c"})
    # d has a test, yet its effect can still be 20% lower within 2 nats
    assert basis == ["measured", "calibrated", "prior", "extrapolated"]
    # a held ratio that stayed far from its target says nothing about the tolerance
    stuck = {"nats": [[0.1, 0.1]], "achieved": [[0.95, 1.05]]}
    assert roi_basis(stuck, coverage.iloc[:1], 2.0, 0.25) == ["measured"]
    # without a profile the spend range decides, except where the tests or
    # priors alone, which it cannot see, rule out ±tolerance at `nats`: b's
    # test does (2.5 nats > 2), d's (0.5 nats) does not
    uncovered = coverage.assign(range_covered=0.1)
    assert roi_basis(None, uncovered, 2.0, 0.25, calibrated={"b", "d"}, with_prior={"c"},
                     external={"b": 2.5, "c": 3.0, "d": 0.5}) == [
        "extrapolated", "calibrated", "prior", "extrapolated"]


@pytest.mark.parametrize("nats, achieved, basis", [
    ([0.5, 30.0], [0.9, 1.1], "extrapolated"),  # low side: 0.5 · (0.2 / 0.1)² = 2.0 ≤ 2 nats
    ([0.6, 30.0], [0.9, 1.1], "measured"),  # 2.4 > 2: the quadratic leaves the 2 nats
    ([30.0, -1.5], [0.84, 1.2], "extrapolated"),  # held higher it fits better: no measurement
    ([30.0, -1.5], [0.84, 1.06], "measured"),  # moved less than a third of the way: no evidence
    ([30.0, 0.0], [0.84, 1.0], "measured"),  # did not move at all
])
def test_a_hold_short_of_its_target_is_carried_there_as_a_quadratic(nats, achieved, basis):
    coverage = pd.DataFrame({"channel": ["a"], "range_covered": [1.0]})
    profile = {"nats": [nats], "achieved": [achieved]}
    assert roi_basis(profile, coverage, 2.0, 0.25) == [basis]


def test_a_run_writes_its_profile_and_each_channels_basis(tmp_path):
    """train's run with a (short) profile: evidence.json, and channels.csv's
    roi_basis with the profile's columns; load_run reads the profile back."""
    from omegaconf import OmegaConf

    import dcmmm
    from dcmmm.run import main as run_main
    from tests.test_run import TINY, _compose

    run_dir = tmp_path / "run"
    run_main(OmegaConf.to_container(_compose([*TINY, "evidence.steps=5"]), resolve=True), run_dir)
    channels = pd.read_csv(run_dir / "channels.csv")
    assert set(channels["roi_basis"]) <= {"measured", "extrapolated", "calibrated", "prior"}
    for col in ("profile_nats_low", "profile_nats_high", "profile_roi_lo", "profile_roi_hi"):
        assert col in channels and channels[col].notna().all(), col
    assert (run_dir / "evidence.json").exists()
    assert dcmmm.load_run(run_dir).evidence is not None


@pytest.mark.parametrize("tolerance_over_se, basis",
                         [(4.0, "calibrated"), (1.0, "extrapolated")])
def test_without_a_profile_a_precise_test_alone_pins_an_always_on_channel(tolerance_over_se,
                                                                          basis):
    from dcmmm.evidence import _all_weeks, external_costs
    from dcmmm.model.mmm import predict_panel

    spec, params, batch, statics = flighted_and_constant()
    kpi_mean = np.full(6, 100.0)
    # the oracle: the KPI the constant channel c1 brings, by switching it off
    on = predict_panel(spec, params, batch.x, batch.z, statics).y
    off = predict_panel(spec, params, batch.x.at[..., 1].set(0.0), batch.z, statics).y
    lift = float((np.asarray(on - off, np.float64) * kpi_mean[:, None]).sum())
    se = 0.25 * lift / tolerance_over_se  # a ±25% change moves the test by that many se
    n_regions, n_weeks, n_channels = batch.x.shape
    test = _all_weeks([1], n_regions, n_weeks, n_channels, [lift], [se], kpi_mean)
    fitted = fitted_of(spec, params, batch._replace(lifts=test), statics, np.zeros((2, 2)),
                       kpi_mean)
    costs = external_costs(fitted, 0.25)
    assert set(costs) == {"c1"}
    assert costs["c1"] == pytest.approx(0.5 * tolerance_over_se**2, rel=1e-4)
    table = evidence_table(fitted).set_index("channel")  # no profile: evidence.steps=0
    assert table.loc["c1", "roi_basis"] == basis  # 8 nats > 2 pins it; 0.5 does not
    assert table.loc["c0", "roi_basis"] == "measured"  # flighted: the spend range covers it
    assert table.loc["c1", "lift_tests"] == 1 and table.loc["c0", "lift_tests"] == 0
    # the run's summary and report say whether a test was run and too imprecise
    from dcmmm.analysis.report import basis_note
    from dcmmm.analysis.summary import basis_line
    line, note = basis_line(table.reset_index()), basis_note(table.reset_index())
    if basis == "extrapolated":
        assert "extrapolated although tested: c1: its lift tests" in line
        assert "too imprecise to pin it;" in line and "design.channel" in line
        assert "c1 is an extrapolation although tested" in note
    else:
        assert "pin every channel" in line and "tested" not in note


@pytest.mark.parametrize("noise, basis", [(0.0, "measured"), (0.5, "measured"),
                                          (1.5, "extrapolated")])
def test_a_cost_within_the_refits_own_noise_rules_nothing_out(noise, basis):
    """A hold costing 3 nats rules its ratio out at 2 nats, unless the free
    controls from nudged starts already end more than 1 nat apart."""
    coverage = pd.DataFrame({"channel": ["a"], "range_covered": [1.0]})
    profile = {"nats": [[3.0, 40.0]], "achieved": [[0.8, 1.25]], "noise_nats": noise}
    assert roi_basis(profile, coverage, 2.0, 0.25) == [basis]
    lo, _ = consistent_ratios(profile, 2.0)
    assert lo[0] == (0.8 if basis == "extrapolated" else 1.0)


def test_the_summary_says_when_the_profile_is_too_noisy_to_measure():
    from dcmmm.analysis.summary import basis_line
    table = pd.DataFrame({"channel": ["a", "b"], "roi_basis": ["extrapolated"] * 2,
                          "lift_tests": [0, 0], "profile_noise_nats": [17.8, 17.8]})
    line = basis_line(table)
    assert "extrapolated, not measured (roi_basis): a, b" in line
    assert "end 18 nats apart (profile_noise_nats)" in line
    assert "apart" not in basis_line(table.assign(profile_noise_nats=0.4))


def test_a_nudged_start_moves_each_parameter_by_its_relative_size():
    params = {"a": jnp.full((1000,), 2.0), "b": {"c": jnp.zeros(3), "d": jnp.asarray(-5.0)},
              "n": jnp.arange(3)}
    out = nudged(params, 1e-3, jax.random.key(0))
    rel = np.asarray(out["a"]) / 2.0 - 1.0
    assert 0.8e-3 < rel.std() < 1.2e-3 and abs(rel.mean()) < 1e-4
    assert np.all(np.asarray(out["b"]["c"]) == 0.0)  # a zero stays where it is
    assert np.array_equal(np.asarray(out["n"]), [0, 1, 2])  # integers as they are
    assert float(out["b"]["d"]) != -5.0 and abs(float(out["b"]["d"]) / -5.0 - 1.0) < 5e-3
