"""Panel loading and validation (docs/design.md, "Data")."""

import logging
import os
import time

import numpy as np
import pandas as pd
import pytest

from dcmmm.data.calendar import WEEKS_PER_YEAR
from dcmmm.data.panel import DataSpec, Panel, load_panel
from dcmmm.data.reading import read_table
from dcmmm.errors import ConfigError, DataError

DMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "data", "dma_panel.csv.gz")
START = pd.Timestamp("2023-01-02")  # a Monday


def make_frame(R=2, T=40, dates=True, seed=0):
    """Long table: region r0.., weekly dates from 2023-01-02 (or week ids 0..T-1),
    KPI 'sales', channels 'tv', 'search' with spend columns, control 'price'."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range(START, periods=T, freq="7D") if dates else np.arange(T)
    n = R * T
    frame = pd.DataFrame(
        {
            "region": np.repeat([f"r{i}" for i in range(R)], T),
            "date": np.tile(periods, R),
            "sales": rng.uniform(50.0, 150.0, n),
            "tv": rng.uniform(0.0, 10.0, n),
            "search": rng.uniform(0.0, 5.0, n),
            "price": rng.normal(3.0, 0.5, n),
        }
    )
    frame["tv_spend"] = 2.0 * frame["tv"]
    frame["search_spend"] = 0.5 * frame["search"]
    return frame


def make_spec(**kw):
    base = dict(
        kpi="sales",
        channels=("tv", "search"),
        spend=("tv_spend", "search_spend"),
        controls=("price",),
        region="region",
        holdout_weeks=4,
        val_weeks=4,
    )
    base.update(kw)
    return DataSpec(**base)


def row(frame, region, week):
    """Index label of the row of `region` at week `week` (0-based)."""
    date = START + pd.Timedelta(weeks=week)
    return frame.index[(frame["region"] == region) & (frame["date"] == date)][0]


# ---------------------------------------------------------------- happy path


def test_load_shapes_and_contents():
    frame = make_frame()
    panel = load_panel(make_spec(), frame)
    assert isinstance(panel, Panel)
    assert (panel.n_regions, panel.n_weeks, panel.n_channels, panel.n_controls) == (2, 40, 2, 1)
    assert panel.regions == ("r0", "r1")
    assert panel.channels == ("tv", "search") and panel.channel_columns == ("tv", "search")
    assert panel.spend_columns == ("tv_spend", "search_spend") and panel.has_spend
    assert panel.kpi_name == "sales" and panel.source == "<DataFrame>"
    assert panel.periods.dtype == np.dtype("datetime64[D]")
    assert panel.period_labels()[:2] == ["2023-01-02", "2023-01-09"]
    assert panel.y.dtype == np.float64 and panel.mask.dtype == bool
    assert panel.mask.all() and panel.observed.all()
    assert panel.missing_cells == {} and panel.outages == ()
    np.testing.assert_array_equal(panel.y[1], frame["sales"].to_numpy()[40:])
    np.testing.assert_array_equal(panel.media[0, :, 1], frame["search"].to_numpy()[:40])
    np.testing.assert_array_equal(panel.spend[0, :, 0], frame["tv_spend"].to_numpy()[:40])
    np.testing.assert_array_equal(panel.z[1, :, 0], frame["price"].to_numpy()[40:])
    assert panel.n_train == 36
    assert panel.train_mask[:, :36].all() and not panel.train_mask[:, 36:].any()
    assert panel.holdout_mask[:, 36:].all() and not panel.holdout_mask[:, :36].any()


def test_row_order_does_not_matter():
    frame = make_frame()
    a = load_panel(make_spec(), frame)
    b = load_panel(make_spec(), frame.sample(frac=1.0, random_state=1))
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.media, b.media)


def test_names_and_no_spend():
    panel = load_panel(make_spec(spend=None, names=("TV", "Search")), make_frame())
    assert panel.channels == ("TV", "Search")
    assert panel.spend is None and panel.spend_columns is None and not panel.has_spend


def test_spend_column_may_be_its_own_activity_column():
    panel = load_panel(make_spec(spend=("tv", "search_spend")), make_frame())
    np.testing.assert_array_equal(panel.spend[..., 0], panel.media[..., 0])


def test_lists_are_accepted_as_tuples():
    spec = make_spec(
        channels=["tv", "search"], spend=["tv_spend", "search_spend"], controls=["price"]
    )
    assert spec.channels == ("tv", "search") and spec.controls == ("price",)
    assert load_panel(spec, make_frame()).n_channels == 2


def test_integer_week_ids():
    panel = load_panel(make_spec(), make_frame(dates=False))
    assert panel.periods.dtype == np.int64
    np.testing.assert_array_equal(panel.periods, np.arange(40))
    assert panel.period_labels()[:3] == ["0", "1", "2"]
    np.testing.assert_allclose(panel.week_of_year, np.mod(np.arange(40), WEEKS_PER_YEAR))


def test_week_ids_as_strings_and_floats():
    frame = make_frame(dates=False)
    a = load_panel(make_spec(), frame.assign(date=frame["date"].astype(float)))
    b = load_panel(make_spec(), frame.assign(date=frame["date"].astype(str)))
    np.testing.assert_array_equal(a.periods, np.arange(40))
    np.testing.assert_array_equal(b.periods, np.arange(40))


def test_iso_date_strings_and_week_of_year():
    frame = make_frame(T=60)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    panel = load_panel(make_spec(), frame)
    assert panel.period_labels()[0] == "2023-01-02"
    # 2023-01-02 is day 2 of the year; 52 weeks later is 2024-01-01 (day 1)
    assert panel.week_of_year[0] == pytest.approx(1 / 7)
    assert panel.week_of_year[52] == 0.0
    assert (panel.week_of_year >= 0).all() and (panel.week_of_year < 52.18).all()


def test_national_data():
    frame = make_frame(R=1).drop(columns="region")
    panel = load_panel(make_spec(region=None), frame)
    assert panel.regions == ("national",)
    assert panel.y.shape == (1, 40)


def test_numeric_regions_are_sorted_numerically_and_labelled_as_str():
    frame = make_frame(R=3)
    frame["region"] = frame["region"].map({"r0": 10, "r1": 2, "r2": 501})
    panel = load_panel(make_spec(), frame)
    assert panel.regions == ("2", "10", "501")


def test_missing_cells_absent_row_and_nan_kpi(caplog):
    frame = make_frame()
    frame.loc[row(frame, "r0", 7), "sales"] = np.nan
    frame = frame.drop(index=[row(frame, "r1", 10), row(frame, "r1", 0)])
    with caplog.at_level(logging.INFO, logger="dcmmm.data"):
        panel = load_panel(make_spec(), frame)
    assert panel.n_weeks == 40  # the grid is the whole calendar
    assert panel.missing_cells == {"r0": 1, "r1": 2}
    assert not panel.mask[0, 7] and panel.observed[0, 7] and panel.y[0, 7] == 0.0
    assert not panel.mask[1, 10] and not panel.observed[1, 10] and panel.y[1, 10] == 0.0
    assert panel.mask.sum() == 80 - 3
    assert (panel.media[1, 10] == 0).all() and (panel.spend[1, 10] == 0).all()
    assert panel.z[1, 10, 0] == panel.z[1, 9, 0]  # carried forward
    assert panel.z[1, 0, 0] == panel.z[1, 1, 0]  # backward before the first row
    assert np.isfinite(panel.z).all()
    assert "missing KPI cells" in caplog.text and "nothing aired" in caplog.text


def test_gap_in_the_grid_is_a_missing_week():
    frame = make_frame()
    frame = frame[frame["date"] != START + pd.Timedelta(weeks=5)]
    panel = load_panel(make_spec(), frame)
    assert panel.n_weeks == 40 and not panel.observed[:, 5].any()
    assert panel.period_labels()[5] == "2023-02-06"


def test_outage_runs_masked_or_kept(caplog):
    frame = make_frame(R=3)
    for w in range(10, 14):
        frame.loc[row(frame, "r1", w), "sales"] = 0.0
    for w in (20, 21):  # two zero weeks: not a run
        frame.loc[row(frame, "r2", w), "sales"] = 0.0
    with caplog.at_level(logging.INFO, logger="dcmmm.data"):
        masked = load_panel(make_spec(), frame)
    assert masked.outages == (("r1", "2023-03-13", "2023-04-03", 4),)
    assert not masked.mask[1, 10:14].any() and masked.mask[1, 9] and masked.mask[1, 14]
    assert masked.mask[2, 20:22].all()
    assert masked.missing_cells == {}
    assert "KPI outages (runs of zero KPI) in 1 region(s), masked" in caplog.text
    assert "'r1' 2023-03-13 to 2023-04-03 (4 weeks)" in caplog.text

    kept = load_panel(make_spec(zero_runs="keep"), frame)
    assert kept.outages == masked.outages
    assert kept.mask.all() and (kept.y[1, 10:14] == 0).all()


def test_zero_run_in_a_region_with_zero_median_is_not_an_outage():
    frame = make_frame()
    frame.loc[
        (frame["region"] == "r1") & (frame["date"] >= START + pd.Timedelta(weeks=10)), "sales"
    ] = 0.0
    panel = load_panel(make_spec(), frame)
    assert panel.outages == () and panel.mask.all()


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_file_round_trip(tmp_path, suffix):
    frame = make_frame()
    path = tmp_path / f"panel{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    from_file = load_panel(make_spec(path=str(path)))
    from_frame = load_panel(make_spec(), frame)
    assert from_file.source == str(path)
    assert from_file.regions == from_frame.regions
    np.testing.assert_array_equal(from_file.periods, from_frame.periods)
    np.testing.assert_allclose(from_file.y, from_frame.y, rtol=1e-15)
    np.testing.assert_allclose(from_file.media, from_frame.media, rtol=1e-15)
    np.testing.assert_allclose(from_file.z, from_frame.z, rtol=1e-15)


def test_csv_region_codes_keep_leading_zeros(tmp_path):
    frame = make_frame(dates=False)
    frame["region"] = frame["region"].map({"r0": "02134", "r1": "10001"})
    path = tmp_path / "zip.csv"
    frame.to_csv(path, index=False)
    assert load_panel(make_spec(path=str(path))).regions == ("02134", "10001")


# ---------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    "kw, key",
    [
        (dict(channels=()), "data.channels"),
        (dict(holdout_weeks=0), "data.holdout_weeks"),
        (dict(holdout_weeks=2.5), "data.holdout_weeks"),
        (dict(val_weeks=-1), "train.val_weeks"),
        (dict(zero_runs="drop"), "data.zero_runs"),
        (dict(spend=("tv_spend",)), "data.spend"),
        (dict(names=("TV",)), "data.names"),
        (dict(names=("TV", "TV")), "data.names"),
        (dict(kpi=None), "data.kpi"),
    ],
)
def test_config_errors(kw, key):
    with pytest.raises(ConfigError, match=key):
        make_spec(**kw)


def test_no_path_and_no_frame():
    with pytest.raises(ConfigError, match="data.path"):
        load_panel(make_spec())


# ---------------------------------------------------------------- file errors


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_panel(make_spec(path=str(tmp_path / "nope.csv")))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(str(path))


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("region,date,sales,tv,search,price\n")
    with pytest.raises(DataError, match="no rows"):
        read_table(str(path))


def test_unknown_extension(tmp_path):
    path = tmp_path / "panel.txt"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="unknown extension"):
        read_table(str(path))


def test_unreadable_parquet(tmp_path):
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"this is not parquet at all" * 10)
    with pytest.raises(DataError, match="cannot read data file"):
        read_table(str(path))


def test_directory_is_not_a_file(tmp_path):
    path = tmp_path / "dir.csv"
    path.mkdir()
    with pytest.raises(DataError, match="does not exist"):
        read_table(str(path))


# ---------------------------------------------------------------- column errors


def test_absent_column_lists_existing_columns():
    with pytest.raises(
        DataError, match=r"column 'radio' \(data.channels\) not found.*'tv', 'search'"
    ):
        load_panel(make_spec(channels=("tv", "radio"), spend=None), make_frame())


@pytest.mark.parametrize(
    "kw",
    [
        dict(controls=("tv",)),  # channel also a control
        dict(channels=("sales", "tv"), spend=None),  # KPI also a channel
        dict(spend=("search", "search_spend")),  # spend of tv is the search channel
        dict(spend=("tv_spend", "tv_spend")),  # one spend column for two channels
        dict(controls=("region",)),  # region also a control
        dict(date="sales"),  # KPI also the period
    ],
)
def test_column_used_twice(kw):
    with pytest.raises(DataError, match="used twice"):
        load_panel(make_spec(**kw), make_frame())


def test_duplicated_column_in_frame():
    frame = make_frame()
    frame = pd.concat([frame, frame[["tv"]]], axis=1)
    with pytest.raises(DataError, match="'tv'.*appears 2 times"):
        load_panel(make_spec(), frame)


# ---------------------------------------------------------------- value errors


@pytest.mark.parametrize(
    "column, value, pattern",
    [
        ("tv", -3.0, "column 'tv' has negative value -3.0 in region 'r1' at 2023-01-16"),
        (
            "tv_spend",
            -1.5,
            "column 'tv_spend' has negative value -1.5 in region 'r1' at 2023-01-16",
        ),
        ("sales", -2.0, "column 'sales' has negative value -2.0 in region 'r1' at 2023-01-16"),
        ("tv", np.inf, "column 'tv' has infinite value inf in region 'r1' at 2023-01-16"),
        ("search_spend", -np.inf, "column 'search_spend' has infinite value -inf in region 'r1'"),
        ("sales", np.inf, "column 'sales' has infinite value inf in region 'r1' at 2023-01-16"),
        ("price", np.inf, "column 'price' has infinite value inf in region 'r1' at 2023-01-16"),
        ("tv", np.nan, r"column 'tv' has a missing value \(NaN\) in region 'r1' at 2023-01-16"),
        ("tv_spend", np.nan, r"column 'tv_spend' has a missing value \(NaN\) in region 'r1'"),
        (
            "price",
            np.nan,
            r"column 'price' has a missing value \(NaN\) in region 'r1' at 2023-01-16",
        ),
        ("tv", 1e40, "column 'tv' has value 1e\\+40 in region 'r1' at 2023-01-16"),
    ],
)
def test_bad_values(column, value, pattern):
    frame = make_frame()
    frame.loc[row(frame, "r1", 2), column] = value
    with pytest.raises(DataError, match=pattern):
        load_panel(make_spec(), frame)


def test_negative_controls_are_fine():
    frame = make_frame()
    frame["price"] -= 10.0
    assert load_panel(make_spec(), frame).z.min() < 0


@pytest.mark.parametrize("column", ["tv", "sales", "price"])
def test_non_numeric_value(column):
    frame = make_frame()
    frame[column] = frame[column].astype(object)
    frame.loc[row(frame, "r0", 3), column] = "n/a"
    with pytest.raises(
        DataError,
        match=f"column '{column}' has non-numeric value 'n/a' in region 'r0' at 2023-01-23",
    ):
        load_panel(make_spec(), frame)


def test_numeric_strings_are_accepted():
    frame = make_frame()
    frame["tv"] = frame["tv"].astype(str)
    np.testing.assert_allclose(
        load_panel(make_spec(), frame).media[0, :, 0], make_frame()["tv"][:40]
    )


def test_datetime_column_as_media_is_rejected():
    frame = make_frame().assign(tv=pd.Timestamp("2024-01-01"))
    with pytest.raises(DataError, match="'tv'.*not numeric"):
        load_panel(make_spec(), frame)


def test_duplicate_rows():
    frame = make_frame()
    frame = pd.concat([frame, frame.loc[[row(frame, "r1", 5)]]], ignore_index=True)
    with pytest.raises(DataError, match="duplicate rows in region 'r1' at 2023-02-06"):
        load_panel(make_spec(), frame)


def test_mixed_weekdays():
    frame = make_frame()
    frame.loc[row(frame, "r0", 6), "date"] = START + pd.Timedelta(weeks=6, days=2)
    with pytest.raises(
        DataError, match="not on one weekly grid: 2023-02-15 \\(Wednesday\\) in region 'r0'"
    ):
        load_panel(make_spec(), frame)


def test_three_day_step():
    frame = make_frame()
    frame["date"] = START + (frame.groupby("region").cumcount() * 3).map(
        lambda d: pd.Timedelta(days=d)
    )
    with pytest.raises(DataError, match="not on one weekly grid"):
        load_panel(make_spec(), frame)


def test_non_integer_week_id():
    frame = make_frame(dates=False).astype({"date": float})
    frame.loc[3, "date"] = 2.5
    with pytest.raises(DataError, match="non-integer week id 2.5 in region 'r0'"):
        load_panel(make_spec(), frame)


def test_unparseable_date():
    frame = make_frame()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d").astype(object)
    frame.loc[4, "date"] = "next tuesday"
    with pytest.raises(
        DataError, match="'next tuesday' in region 'r0' that is neither an ISO date"
    ):
        load_panel(make_spec(), frame)


def test_missing_date():
    frame = make_frame()
    frame.loc[4, "date"] = pd.NaT
    with pytest.raises(DataError, match="missing period in region 'r0'"):
        load_panel(make_spec(), frame)


def test_missing_region():
    frame = make_frame()
    frame.loc[4, "region"] = None
    with pytest.raises(DataError, match="'region'.*missing value"):
        load_panel(make_spec(), frame)


def test_absurd_calendar_span():
    frame = make_frame(dates=False)
    frame.loc[0, "date"] = 10**7
    with pytest.raises(DataError, match="spans"):
        load_panel(make_spec(), frame)


def test_region_kpi_mean_not_positive():
    frame = make_frame()
    frame.loc[frame["region"] == "r1", "sales"] = 0.0
    with pytest.raises(
        DataError, match="column 'sales' has mean 0.0 over the training weeks in region 'r1'"
    ):
        load_panel(make_spec(), frame)


def test_region_without_training_kpi():
    frame = make_frame()
    frame.loc[
        (frame["region"] == "r1") & (frame["date"] < START + pd.Timedelta(weeks=36)), "sales"
    ] = np.nan
    with pytest.raises(DataError, match="region 'r1' has no usable KPI in the training weeks"):
        load_panel(make_spec(), frame)


def test_too_few_weeks():
    with pytest.raises(DataError, match="33 weeks .* at least 34"):
        load_panel(make_spec(), make_frame(T=33))


def test_channel_without_training_activity():
    frame = make_frame()
    train = frame["date"] < START + pd.Timedelta(weeks=36)
    frame.loc[train, ["search", "search_spend"]] = 0.0
    with pytest.raises(
        DataError, match="channel 'search': column 'search' has no activity at all in the training"
    ):
        load_panel(make_spec(), frame)


def test_spend_without_activity():
    frame = make_frame().assign(search=0.0)
    with pytest.raises(
        DataError,
        match="spend column 'search_spend' has spend .* activity column 'search' is zero everywhere",
    ):
        load_panel(make_spec(), frame)


def test_activity_without_spend():
    frame = make_frame().assign(tv_spend=0.0)
    with pytest.raises(
        DataError,
        match="activity column 'tv' has activity but spend column 'tv_spend' is zero everywhere",
    ):
        load_panel(make_spec(), frame)


def test_errors_are_value_errors():
    assert issubclass(DataError, ValueError) and issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------- the real DMA panel


@pytest.mark.skipif(not os.path.exists(DMA_PATH), reason="data/dma_panel.csv.gz not present")
def test_dma_panel():
    columns = pd.read_csv(DMA_PATH, nrows=0).columns
    spec = DataSpec(
        kpi="target_visits",
        channels=tuple(c for c in columns if c.startswith("impressions_")),
        controls=tuple(c for c in columns if c.startswith("control_")),
        region="dmacode",
        date="weekid",
        path=DMA_PATH,
    )
    start = time.perf_counter()
    panel = load_panel(spec)
    assert time.perf_counter() - start < 3.0
    assert (panel.n_regions, panel.n_weeks, panel.n_channels, panel.n_controls) == (190, 109, 13, 7)
    assert panel.periods[0] == 0 and panel.periods[-1] == 108
    assert len(panel.outages) == 13
    for region, first, last, n in panel.outages:
        assert 16 <= int(first) <= int(last) <= 23 and n >= 3
        r = panel.regions.index(region)
        assert not panel.mask[r, int(first) : int(last) + 1].any()
        assert panel.observed[r, int(first) : int(last) + 1].all()
    assert sum(panel.missing_cells.values()) == 190 * 109 - 20370
    assert panel.mask.sum() == 20370 - 13 * 8
    for array in (panel.y, panel.media, panel.z, panel.week_of_year):
        assert np.isfinite(array).all()
