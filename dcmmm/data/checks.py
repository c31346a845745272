"""Checks of a long input table's values, each a `DataError` naming the
column, region, period and value at fault (docs/design.md, "Data").

`dcmmm.data.panel.load_panel` runs them in order: columns and their roles,
region labels, one row per (region, period), numeric values within range,
KPI outage runs, a positive KPI level per region, channels with activity.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dcmmm.errors import DataError

if TYPE_CHECKING:
    from dcmmm.data.panel import DataSpec

logger = logging.getLogger(__name__)
OUTAGES_SHOWN = 5  # outage runs named in the log line; the rest are counted

NATIONAL = "national"
"""Region label of national data (`DataSpec.region is None`)."""

OUTAGE_MIN_WEEKS = 3
"""A run of at least this many zero-KPI weeks is reported as an outage."""

MAX_ABS = 1e30
"""Largest magnitude accepted for a value: keeps sums, squares and float32
model outputs finite. No real KPI, activity or spend comes near it."""

_INT_LABEL = re.compile(r"-?\d+")


def show(value: object) -> str:
    """A cell value as written in messages: 2.5, 'n/a' (no numpy reprs)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_columns(dspec: DataSpec, frame: pd.DataFrame, source: str) -> None:
    """Each configured column exists once in the table and has one role."""
    roles: list[tuple[object, str]] = [(dspec.date, "data.date"), (dspec.kpi, "data.kpi")]
    if dspec.region is not None:
        roles.append((dspec.region, "data.region"))
    roles += [(c, "data.channels") for c in dspec.channels]
    if dspec.spend is not None:
        # a channel measured only by its spend may name one column as both
        roles += [(s, "data.spend") for s, c in zip(dspec.spend, dspec.channels) if s != c]
    roles += [(c, "data.controls") for c in dspec.controls]

    seen: dict[object, str] = {}
    for column, key in roles:
        if column in seen:
            raise DataError(f"column '{column}' is used twice: in {seen[column]} and in {key}")
        seen[column] = key

    existing = [str(c) for c in frame.columns]
    for column, key in roles:
        n = int(np.sum(frame.columns == column)) if column in frame.columns else 0
        if n == 0:
            raise DataError(
                f"column '{column}' ({key}) not found in {source}; its columns are: "
                + ", ".join(f"'{c}'" for c in existing)
            )
        if n > 1:
            raise DataError(f"column '{column}' ({key}) appears {n} times in {source}")


def region_codes(frame: pd.DataFrame, column: str | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted region labels [R] (str) and each row's region index [N]."""
    n = len(frame)
    if column is None:
        return (NATIONAL,), np.zeros(n, dtype=np.intp)
    col = frame[column]
    isna = col.isna().to_numpy()
    if isna.any():
        raise DataError(
            f"column '{column}' (data.region) has a missing value in row {int(np.argmax(isna))}"
        )
    dtype = col.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        uniq, codes = np.unique(col.to_numpy(), return_inverse=True)
        labels = tuple(_number_label(u) for u in uniq)
    else:
        strs = col.astype(str).to_numpy(dtype=object)
        uniq, codes = np.unique(strs, return_inverse=True)
        if all(_INT_LABEL.fullmatch(u) for u in uniq):
            order = sorted(range(len(uniq)), key=lambda i: (int(uniq[i]), uniq[i]))
            rank = np.empty(len(uniq), dtype=np.intp)
            rank[order] = np.arange(len(uniq))
            uniq, codes = uniq[order], rank[codes]
        labels = tuple(str(u) for u in uniq)
    if len(set(labels)) != len(labels):
        dup = next(lab for lab, k in Counter(labels).items() if k > 1)
        raise DataError(
            f"column '{column}' (data.region) has two different values shown as '{dup}'"
        )
    return labels, codes.reshape(-1).astype(np.intp)


def _number_label(value: object) -> str:
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def check_duplicates(
    r_idx: np.ndarray, t_idx: np.ndarray, T: int, at: Callable[[int], str]
) -> None:
    key = r_idx.astype(np.int64) * T + t_idx
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if same.any():
        k = int(np.argmax(same))
        i, j = int(order[k]), int(order[k + 1])
        raise DataError(
            f"duplicate rows {at(i)} (table rows {i} and {j}, counted from 0); keep one row per region and period"
        )


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    role: str,
    at: Callable[[int], str],
    nan_ok: bool,
    negative_ok: bool,
) -> np.ndarray:
    """One column as float64 [N], checked: numeric, finite, within MAX_ABS,
    >= 0 unless `negative_ok`, no NaN unless `nan_ok`."""
    col = frame[column]
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        try:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError, OverflowError) as e:
            raise DataError(f"column '{column}' ({role}) is not numeric: {e}") from e
        bad = np.isnan(values) & col.notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"column '{column}' has non-numeric value {show(col.iloc[i])} {at(i)} ({role})"
            )
    else:
        raise DataError(f"column '{column}' ({role}) is not numeric: it holds {dtype} values")

    nan = np.isnan(values)
    if not nan_ok and nan.any():
        i = int(np.argmax(nan))
        raise DataError(
            f"column '{column}' has a missing value (NaN) {at(i)} ({role} cannot be missing; "
            f"dcmmm never invents {role} values)"
        )
    with np.errstate(invalid="ignore"):
        inf = np.isinf(values)
        if inf.any():
            i = int(np.argmax(inf))
            raise DataError(
                f"column '{column}' has infinite value {float(values[i])!r} {at(i)} ({role})"
            )
        big = np.abs(values) > MAX_ABS
        if big.any():
            i = int(np.argmax(big))
            raise DataError(
                f"column '{column}' has value {float(values[i])!r} {at(i)} ({role}); values must be "
                f"at most {MAX_ABS:g} in magnitude, rescale the column"
            )
        neg = values < 0
        if not negative_ok and neg.any():
            i = int(np.argmax(neg))
            raise DataError(
                f"column '{column}' has negative value {float(values[i])!r} {at(i)} ({role} must be >= 0)"
            )
    return values


def scatter(
    rows: list[np.ndarray], r_idx: np.ndarray, t_idx: np.ndarray, R: int, T: int, fill: float
) -> np.ndarray:
    """Columns of row values [N] each -> [R, T, len(rows)], `fill` where no row."""
    out = np.full((R, T, len(rows)), fill)
    if rows:
        out[r_idx, t_idx] = np.stack(rows, axis=1)
    return out


def fill_within_region(x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """[R, T, K]: values of absent weeks taken from the region's previous
    observed week, or its next one before its first observed week."""
    R, T = observed.shape
    t = np.arange(T)
    prev = np.maximum.accumulate(np.where(observed, t, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(observed, t, T)[:, ::-1], axis=1)[:, ::-1]
    source_t = np.where(prev >= 0, prev, nxt)
    return x[np.arange(R)[:, None], np.minimum(source_t, T - 1)]


def outage_runs(
    kpi: np.ndarray,
    usable: np.ndarray,
    is_train: np.ndarray,
    regions: tuple[str, ...],
    labels: list[str],
) -> tuple[np.ndarray, tuple[tuple[str, str, str, int], ...]]:
    """Runs of >= OUTAGE_MIN_WEEKS consecutive zero-KPI weeks in regions whose
    training median KPI is positive: [R, T] bool cells and the run list."""
    train_kpi = np.where(usable & is_train, kpi, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN region: median NaN
        median = np.nanmedian(train_kpi, axis=1)
    zero = usable & (kpi == 0) & (median > 0)[:, None]
    edges = np.diff(np.pad(zero, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    run_r, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    cells = np.zeros_like(zero)
    runs = []
    for r, a, b in zip(run_r, start, stop):
        if b - a >= OUTAGE_MIN_WEEKS:
            cells[r, a:b] = True
            runs.append((regions[r], labels[a], labels[b - 1], int(b - a)))
    return cells, tuple(runs)


def check_kpi_levels(
    y: np.ndarray, train_mask: np.ndarray, regions: tuple[str, ...], column: str, n_train: int
) -> None:
    count = train_mask.sum(1)
    empty = count == 0
    if empty.any():
        r = int(np.argmax(empty))
        raise DataError(
            f"region '{regions[r]}' has no usable KPI in the training weeks (the first {n_train}): "
            f"its rows there are absent, NaN in column '{column}' or masked outages"
        )
    mean = (y * train_mask).sum(1) / count
    bad = ~(mean > 0)
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(
            f"column '{column}' has mean {float(mean[r])!r} over the training weeks in region "
            f"'{regions[r]}'; the KPI mean of every region must be positive (drop the region)"
        )


def check_channels(
    media: np.ndarray,
    spend: np.ndarray | None,
    is_train: np.ndarray,
    names: Sequence[str],
    dspec: DataSpec,
) -> None:
    """Spend and activity agree on which channels exist; each channel is active in training."""
    for c, name in enumerate(names):
        column = dspec.channels[c]
        active = bool((media[:, :, c] > 0).any())
        if spend is not None and dspec.spend[c] != column:
            paid = bool((spend[:, :, c] > 0).any())
            if paid and not active:
                raise DataError(
                    f"channel '{name}': spend column '{dspec.spend[c]}' has spend (total "
                    f"{float(spend[:, :, c].sum())!r}) but activity column '{column}' is zero everywhere"
                )
            if active and not paid:
                raise DataError(
                    f"channel '{name}': activity column '{column}' has activity but spend column "
                    f"'{dspec.spend[c]}' is zero everywhere"
                )
        if not (media[:, is_train, c] > 0).any():
            raise DataError(
                f"channel '{name}': column '{column}' has no activity at all in the training weeks "
                f"(all zero); drop the channel or move the holdout"
            )


def log_summary(
    source: str,
    regions: tuple[str, ...],
    labels: list[str],
    C: int,
    K: int,
    observed: np.ndarray,
    missing_cells: dict[str, int],
    outages: tuple[tuple[str, str, str, int], ...],
    zero_runs: str,
) -> None:
    R, T = observed.shape
    logger.info(
        "loaded %s: %d regions x %d weeks (%s to %s), %d channels, %d controls",
        source,
        R,
        T,
        labels[0],
        labels[-1],
        C,
        K,
    )
    absent = int((~observed).sum())
    if absent:
        logger.info(
            "%d (region, week) rows are absent: media and spend set to 0 there (nothing aired), "
            "controls carried from the region's nearest row, KPI masked",
            absent,
        )
    if missing_cells:
        shown = ", ".join(f"'{r}': {n}" for r, n in list(missing_cells.items())[:20])
        more = (
            f", ... and {len(missing_cells) - 20} more regions" if len(missing_cells) > 20 else ""
        )
        logger.info(
            "missing KPI cells (absent rows + NaN KPI), %d in %d regions: %s%s",
            sum(missing_cells.values()),
            len(missing_cells),
            shown,
            more,
        )
    if outages:  # one line, however many regions (the DMA panel has 13)
        shown = ", ".join(f"'{r}' {first} to {last} ({n} weeks)"
                          for r, first, last, n in outages[:OUTAGES_SHOWN])
        more = f", and {len(outages) - OUTAGES_SHOWN} more" if len(outages) > OUTAGES_SHOWN else ""
        logger.info("KPI outages (runs of zero KPI) in %d region(s), %s (data.zero_runs=%s): %s%s",
                    len(outages), "masked" if zero_runs == "mask" else "kept as zeros",
                    zero_runs, shown, more)
