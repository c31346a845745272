"""The weekly calendar of a panel: periods from dates or integer week ids.

A panel's calendar runs from its first to its last period, one week apart;
an absent week inside becomes a missing cell (`dcmmm.data.panel`). Dates must
fall on one weekday; integer week ids are placed with id 0 as the first week
of a year (for the yearly seasonality).
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from dcmmm.data.checks import show
from dcmmm.errors import DataError

WEEKS_PER_YEAR = 365.2425 / 7
"""Mean Gregorian year in weeks (52.1775): the period of integer week ids and
of the yearly seasonality."""

MAX_WEEKS = 10_000
"""Longest calendar accepted (about 190 years); longer means a wrong period column."""


def period_labels(periods: np.ndarray) -> list[str]:
    if np.issubdtype(periods.dtype, np.datetime64):
        return list(np.datetime_as_string(periods.astype("datetime64[D]"), unit="D"))
    return [str(int(p)) for p in periods]


def period_grid(
    col: pd.Series, column: str, in_region: Callable[[int], str]
) -> tuple[np.ndarray, np.ndarray]:
    """Full weekly calendar [T] and each row's week index [N].

    Dates must all fall on one weekday (any gap of whole weeks is fine);
    integer week ids must be integers. The calendar runs from the first to the
    last period, so absent weeks inside become missing cells.
    """
    isna = col.isna().to_numpy()
    if isna.any():
        i = int(np.argmax(isna))
        raise DataError(
            f"column '{column}' (data.date) has a missing period {in_region(i)} (row {i})"
        )
    dtype = col.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _date_grid(col, column, in_region)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise DataError(
            f"column '{column}' (data.date) holds {dtype} values, not dates or week ids"
        )
    if pd.api.types.is_numeric_dtype(dtype):
        return _week_id_grid(col.to_numpy(dtype=np.float64), col, column, in_region)
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        as_number = pd.to_numeric(col, errors="coerce")
        if as_number.notna().all():
            return _week_id_grid(as_number.to_numpy(dtype=np.float64), col, column, in_region)
        try:
            dates = pd.to_datetime(col, errors="coerce", format="ISO8601")
        except (ValueError, TypeError, OverflowError) as e:
            raise DataError(f"column '{column}' (data.date) cannot be read as dates: {e}") from e
        bad = dates.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"column '{column}' (data.date) has value {show(col.iloc[i])} {in_region(i)} that is "
                f"neither an ISO date (YYYY-MM-DD) nor an integer week id"
            )
        return _date_grid(dates, column, in_region)
    raise DataError(f"column '{column}' (data.date) holds {dtype} values, not dates or week ids")


def _date_grid(
    dates: pd.Series, column: str, in_region: Callable[[int], str]
) -> tuple[np.ndarray, np.ndarray]:
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    first = int(days.min())
    off_grid = (days - first) % 7 != 0
    if off_grid.any():
        i = int(np.argmax(off_grid))
        d, d0 = np.datetime64(int(days[i]), "D"), np.datetime64(first, "D")
        raise DataError(
            f"column '{column}' (data.date) is not on one weekly grid: {d} ({_weekday(d)}) "
            f"{in_region(i)} is not a whole number of weeks after the first period {d0} "
            f"({_weekday(d0)}); all periods must fall on the same weekday"
        )
    t_idx = (days - first) // 7
    T = _check_span(int(t_idx.max()) + 1, column)
    periods = np.datetime64(first, "D") + 7 * np.arange(T)
    return periods.astype("datetime64[D]"), t_idx.astype(np.intp)


def _week_id_grid(
    values: np.ndarray, col: pd.Series, column: str, in_region: Callable[[int], str]
) -> tuple[np.ndarray, np.ndarray]:
    bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0**53)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"column '{column}' (data.date) has non-integer week id {show(col.iloc[i])} {in_region(i)}; "
            f"week ids must be integers"
        )
    ids = values.astype(np.int64)
    first = int(ids.min())
    T = _check_span(int(ids.max()) - first + 1, column)
    return np.arange(first, first + T, dtype=np.int64), (ids - first).astype(np.intp)


def _check_span(T: int, column: str) -> int:
    if T > MAX_WEEKS:
        raise DataError(
            f"column '{column}' (data.date) spans {T} weeks from its first to its last period "
            f"(at most {MAX_WEEKS}); is it the right period column?"
        )
    return T


def _weekday(day: np.datetime64) -> str:
    return pd.Timestamp(day).day_name()


def week_of_year(periods: np.ndarray) -> np.ndarray:
    """[T] weeks since the start of the year, float64 in [0, 52.18)."""
    if np.issubdtype(periods.dtype, np.datetime64):
        return (pd.DatetimeIndex(periods).day_of_year.to_numpy(dtype=np.float64) - 1.0) / 7.0
    return np.mod(periods.astype(np.float64), WEEKS_PER_YEAR)
