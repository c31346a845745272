"""Property: any input table ends in a clean Panel (finite arrays, invertible
scalers) or a DataError / ConfigError, never another exception."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmmm.data.panel import DataSpec, load_panel
from dcmmm.data.scaling import fit_scalers
from dcmmm.errors import ConfigError, DataError

CORRUPTIONS = (
    "nan_media",
    "inf_media",
    "negative_media",
    "nan_kpi",
    "inf_kpi",
    "negative_kpi",
    "nan_spend",
    "negative_spend",
    "nan_control",
    "inf_control",
    "text_value",
    "duplicate_row",
    "drop_rows",
    "irregular_date",
    "fractional_week",
    "zero_channel",
    "zero_kpi_region",
    "zero_run",
    "constant_control",
    "huge_value",
)


@st.composite
def tables(draw):
    """A small long table (1-3 regions, 1-2 channels, 0-2 controls) at a random
    scale, with up to three random corruptions, and its DataSpec."""
    R = draw(st.integers(1, 3))
    C = draw(st.integers(1, 2))
    K = draw(st.integers(0, 2))
    T = draw(st.sampled_from([36, 40, 33, 24]))  # 24 weeks are too few
    period_kind = draw(st.sampled_from(["dates", "iso", "weeks"]))
    scale = 10.0 ** draw(st.sampled_from([-300, -20, -3, 0, 6, 12, 29, 40, 300]))
    with_spend = draw(st.booleans())
    corruptions = draw(st.lists(st.sampled_from(CORRUPTIONS), max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    n = R * T
    periods = pd.date_range("2022-01-03", periods=T, freq="7D")
    frame = pd.DataFrame(
        {"region": np.repeat([f"g{r}" for r in range(R)], T), "date": np.tile(periods, R)}
    )
    frame["kpi"] = scale * rng.uniform(1.0, 10.0, n)
    channels = [f"m{c}" for c in range(C)]
    for c in channels:
        frame[c] = scale * rng.uniform(0.0, 5.0, n) * (rng.random(n) < 0.8)
        frame[c + "_spend"] = 3.0 * frame[c]
    controls = [f"k{k}" for k in range(K)]
    for k in controls:
        frame[k] = rng.normal(0.0, scale, n)

    def cell():
        return int(rng.integers(len(frame)))

    for corruption in corruptions:
        kind, _, what = corruption.partition("_")
        if corruption == "duplicate_row":
            frame = pd.concat([frame, frame.iloc[[cell()]]], ignore_index=True)
        elif corruption == "drop_rows":
            frame = frame.drop(
                index=frame.index[
                    rng.choice(len(frame), size=min(5, len(frame) - 1), replace=False)
                ]
            )
        elif corruption == "irregular_date":
            frame.loc[frame.index[cell()], "date"] += pd.Timedelta(days=int(rng.integers(1, 7)))
        elif corruption == "zero_channel":
            frame[channels[0]] = 0.0
        elif corruption == "zero_kpi_region":
            frame.loc[frame["region"] == "g0", "kpi"] = 0.0
        elif corruption == "zero_run":
            start = int(rng.integers(T - 4))
            frame.loc[
                (frame["region"] == "g0")
                & frame["date"].between(periods[start], periods[start + 3]),
                "kpi",
            ] = 0.0
        elif corruption == "constant_control" and controls:
            frame[controls[0]] = scale
        elif corruption == "text_value":
            column = str(rng.choice(["kpi", *channels, *controls]))
            frame[column] = frame[column].astype(object)
            frame.loc[frame.index[cell()], column] = "oops"
        elif corruption == "huge_value":
            frame.loc[frame.index[cell()], "kpi"] = 1e300
        elif kind in ("nan", "inf", "negative"):
            column = {"media": channels[0], "kpi": "kpi", "spend": channels[0] + "_spend"}.get(
                what, controls[0] if controls else "kpi"
            )
            value = {"nan": np.nan, "inf": np.inf, "negative": -1.0}[kind]
            frame.loc[frame.index[cell()], column] = value
    if period_kind == "weeks":
        weeks = (frame["date"] - periods[0]) / pd.Timedelta(days=7)
        frame["date"] = (
            weeks if "fractional_week" in corruptions else weeks.round().astype(np.int64)
        )
    elif period_kind == "iso":
        frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")

    spec = DataSpec(
        kpi="kpi",
        channels=tuple(channels),
        spend=tuple(c + "_spend" for c in channels) if with_spend else None,
        controls=tuple(controls),
        region="region" if R > 1 or draw(st.booleans()) else None,
        holdout_weeks=draw(st.integers(1, 4)),
        val_weeks=2,
        zero_runs=draw(st.sampled_from(["mask", "keep"])),
    )
    if spec.region is None:
        frame = frame[frame["region"] == "g0"].drop(columns="region")
    return spec, frame


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_any_table_loads_cleanly_or_raises_a_data_error(case):
    spec, frame = case
    try:
        panel = load_panel(spec, frame)
    except (DataError, ConfigError) as e:
        assert str(e)
        return
    R, T, C, K = panel.n_regions, panel.n_weeks, panel.n_channels, panel.n_controls
    assert panel.y.shape == (R, T) and panel.media.shape == (R, T, C) and panel.z.shape == (R, T, K)
    arrays = [panel.y, panel.media, panel.z, panel.week_of_year]
    if panel.spend is not None:
        arrays.append(panel.spend)
    assert all(np.isfinite(a).all() for a in arrays)
    assert (panel.media >= 0).all() and (panel.y >= 0).all()
    assert not (panel.mask & ~panel.observed).any()
    assert (panel.y[~panel.mask] == 0).all()
    assert panel.train_mask.any(axis=1).all()

    scalers = fit_scalers(panel)
    ys, ms, zs = (
        scalers.scale_kpi(panel.y),
        scalers.scale_media(panel.media),
        scalers.scale_controls(panel.z),
    )
    assert all(np.isfinite(a).all() for a in (ys, ms, zs))
    np.testing.assert_allclose(scalers.unscale_kpi(ys), panel.y, rtol=1e-12)
    np.testing.assert_allclose(scalers.unscale_media(ms), panel.media, rtol=1e-12)
