"""The planner page without a browser (Streamlit's AppTest): its widgets change
the numbers, and they are the planning API's for the same plan; the optimise
button, the region view, the ensemble's ranges, uploads good and bad."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import dcmmm
from dcmmm.planner import session
from dcmmm.planner.session import ENV
from dcmmm.planner.text import COLUMNS, MONEY_LIKE, RANGES, fmt, range_text
from dcmmm.planning.tables import plan_table, summary
from tests.planner.conftest import APP

# one worker trains the tiny run (conftest) for all of tests/planner under -n 2
pytestmark = pytest.mark.xdist_group("planner")

WEEKS = 8  # the page's plan.weeks (conftest)


@pytest.fixture(scope="module")
def api(run_dir):
    """The planning API's Planner of the page's given plan, built on its own."""
    run = dcmmm.load_run(run_dir)
    pspec = dcmmm.PlanSpec(weeks=WEEKS)
    return dcmmm.Planner.of(run, pspec), pspec


def _metric(at, start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(start))


def _page_table(at, kpi="sales") -> pd.DataFrame:
    """The page's per-channel table with plan.csv's column names."""
    names = {v.format(kpi=kpi): k for k, v in COLUMNS.items()}
    return at.dataframe[0].value.rename(columns=names)


def _check_equal(at, planner, pspec, mult_c, region=None):
    """The page's table and headline numbers against plan.csv and plan_summary.json
    of the same plan computed by the API."""
    mult = planner.channel_multipliers(dict(zip(planner.fitted.channels, mult_c)))
    optimum = planner.optimum_of(mult)
    spec = dataclasses.replace(pspec, by_region=region is not None)
    expected = plan_table(planner, optimum, spec)
    if region is not None:
        expected = expected[expected["region"] == region].reset_index(drop=True)
    page = _page_table(at)
    assert list(page["channel"]) == list(expected["channel"])
    for col in COLUMNS:
        if col != "channel":
            np.testing.assert_allclose(page[col], expected[col], rtol=1e-5, err_msg=col)
    for col, name in RANGES.items():  # the ensemble's ranges, as text
        texts = [range_text(lo, hi, col in MONEY_LIKE)
                 for lo, hi in zip(expected[f"{col}_lo"], expected[f"{col}_hi"])]
        assert list(at.dataframe[0].value[name.format(kpi="sales")]) == texts
    if region is None:
        s = summary(planner, optimum, pspec)
        assert _metric(at, "Extra sales") == fmt(s["incremental_kpi_planned"])
        assert _metric(at, "Spend over") == f"{s['spend_planned']:,.0f}"
        assert _metric(at, "Expected sales") == fmt(s["expected_kpi_total"])
    return expected


def test_sliders_change_the_numbers_to_the_apis(app, api):
    planner, pspec = api
    channels = list(planner.fitted.channels)
    assert [s.label for s in app.slider] == channels
    assert [s.value for s in app.slider] == [100.0] * len(channels)
    _check_equal(app, planner, pspec, np.ones(len(channels)))
    before = _metric(app, "Extra sales")
    app.slider[0].set_value(140.0).run()
    app.slider[2].set_value(60.0).run()
    assert not app.exception and not app.error
    mult_c = np.ones(len(channels))
    mult_c[0], mult_c[2] = 1.4, 0.6
    table = _check_equal(app, planner, pspec, mult_c)
    assert _metric(app, "Extra sales") != before
    assert table["spend_planned"].iloc[0] == pytest.approx(1.4 * table["spend_given"].iloc[0])
    # one region's view: plan.csv per region and channel, that region's rows
    region = planner.fitted.panel.regions[1]
    app.selectbox(key="region").set_value(region).run()
    _check_equal(app, planner, pspec, mult_c, region)


def test_optimise_sets_the_sliders_to_the_apis_plan(app, api):
    planner, pspec = api
    total = 0.9 * float(planner.spend_rc.sum())
    app.sidebar.radio(key="scenario").set_value("fixed").run()
    app.sidebar.number_input(key="total").set_value(total).run()
    next(b for b in app.sidebar.button if b.label == "Optimise").click().run()
    assert not app.exception and not app.error
    best = planner.optimise(dataclasses.replace(pspec, total=total)).multipliers[0]
    assert [s.value for s in app.slider] == pytest.approx(list(np.round(100 * best, 1)), abs=0.06)
    # the sliders hold the plan to a tenth of a percent
    assert float(_metric(app, "Spend over").replace(",", "")) == pytest.approx(total, rel=2e-3)
    _check_equal(app, planner, pspec, np.array([s.value for s in app.slider]) / 100)
    # a budget the bounds cannot meet: one message, the sliders stay
    app.sidebar.number_input(key="total").set_value(10 * total).run()
    next(b for b in app.sidebar.button if b.label == "Optimise").click().run()
    assert not app.exception
    assert [e.value for e in app.sidebar.error] and "cannot be met" in app.sidebar.error[0].value
    assert [s.value for s in app.slider] == pytest.approx(list(np.round(100 * best, 1)), abs=0.06)


def test_an_uploaded_plan_replaces_the_given_one(app, api, run_dir):
    planner, pspec = api
    mult_c = np.linspace(0.7, 1.3, planner.spend_rc.shape[1])
    data = session.plan_csv(planner, mult_c)
    app.sidebar.file_uploader[0].upload("next_quarter.csv", data, "text/csv")
    app.run()
    assert not app.exception and not app.error and not app.sidebar.error
    assert "next_quarter.csv" in app.markdown[0].value
    assert [s.value for s in app.slider] == [100.0] * len(mult_c)
    uploaded = dcmmm.Planner.of(planner.fitted, pspec, pd.read_csv(pd.io.common.BytesIO(data)))
    table = _check_equal(app, uploaded, pspec, np.ones(len(mult_c)))
    np.testing.assert_allclose(table["spend_given"], mult_c * planner.spend_rc.sum(axis=0),
                               rtol=1e-9)


@pytest.mark.parametrize("name, content, words", [
    ("plan.csv", b"date,region\n", "has no rows"),
    ("plan.txt", b"anything", "is not a plan file: use one of .csv, .csv.gz, .parquet"),
    ("negative.csv", None, "column 'tv_spend' has negative value -5.0"),
    ("early.csv", None, "the plan overlaps the data"),
])
def test_a_bad_upload_is_one_message_and_the_page_keeps_working(app, api, name, content, words):
    planner, pspec = api
    if content is None:  # a valid plan file, broken
        frame = pd.read_csv(pd.io.common.BytesIO(session.plan_csv(planner, np.ones(5))))
        if name == "negative.csv":
            frame.loc[3, "tv_spend"] = -5.0
        else:
            frame["date"] = (pd.to_datetime(frame["date"]) - pd.Timedelta(weeks=2)).dt.strftime(
                "%Y-%m-%d")
        content = frame.to_csv(index=False).encode()
    app.sidebar.file_uploader[0].upload(name, content, "text/csv")
    app.run()
    assert not app.exception
    errors = [e.value for e in app.sidebar.error]
    assert len(errors) == 1 and words in errors[0] and name in errors[0], errors
    assert "dcmmm-upload" not in errors[0] and "Traceback" not in errors[0]
    app.slider[1].set_value(120.0).run()  # the given plan still works
    assert not app.exception
    mult_c = np.ones(5)
    mult_c[1] = 1.2
    _check_equal(app, planner, pspec, mult_c)


def test_read_upload_checks_size_and_names_the_file(run_dir):
    run = session.open_run({"run": str(run_dir), "plan": {"weeks": WEEKS},
                            "page": {"max_upload_mb": 1}})
    with pytest.raises(dcmmm.DataError, match=r"'big.csv' is 1.5 MB; the page takes plan "
                                               r"files up to 1 MB"):
        session.read_upload(run, "big.csv", b"x" * (3 * 2**19))
    with pytest.raises(dcmmm.DataError, match="cannot read data file 'bad.parquet'"):
        session.read_upload(run, "../../bad.parquet", b"not parquet")


def test_the_plan_csv_is_a_plan_file_with_the_same_numbers(run_dir, api):
    planner, pspec = api
    mult_c = np.array([1.3, 0.8, 1.0, 1.1, 0.6])
    path = run_dir.parent / "page_plan.csv"
    path.write_bytes(session.plan_csv(planner, mult_c))
    mult = planner.channel_multipliers(dict(zip(planner.fitted.channels, mult_c)))
    expected = summary(planner, planner.optimum_of(mult), pspec)
    again = dcmmm.plan(planner.fitted, path, scenario="as_is", frontier=False).summary
    assert again["spend_given"] == pytest.approx(expected["spend_planned"], rel=1e-9)
    assert again["incremental_kpi_given"] == pytest.approx(expected["incremental_kpi_planned"],
                                                           rel=1e-4)


def test_no_traceback_when_the_run_cannot_be_read(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ENV, json.dumps({"run": str(tmp_path / "nowhere")}))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "nowhere" in at.error[0].value


@pytest.mark.parametrize("scenario", ["target_mroi", "target_roi"])
def test_optimise_with_a_target_is_the_apis_plan_or_its_message(app, api, scenario):
    planner, pspec = api
    given = summary(planner, planner.optimum_of(np.ones_like(planner.spend_rc)), pspec)
    target = 0.8 * (given["mroi_planned"] if scenario == "target_mroi" else given["roi_given"])
    app.sidebar.radio(key="scenario").set_value(scenario).run()
    app.sidebar.number_input(key=f"target_{scenario}").set_value(target).run()
    next(b for b in app.sidebar.button if b.label == "Optimise").click().run()
    assert not app.exception
    spec = dataclasses.replace(pspec, scenario=scenario, **{scenario: target})
    if scenario == "target_roi":  # the budget box says "spend at most": the given spend
        spec = dataclasses.replace(spec, max_total=float(round(planner.spend_rc.sum())))
    try:
        best = planner.optimise(spec).multipliers[0]
    except dcmmm.ConfigError as err:  # a target the bounds cannot reach: the same words
        assert [e.value for e in app.sidebar.error] == [str(err)]
        return
    assert not app.sidebar.error
    assert [s.value for s in app.slider] == pytest.approx(list(np.round(100 * best, 1)), abs=0.06)
