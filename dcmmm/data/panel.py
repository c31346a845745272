"""Panel: validated, region-first arrays built from a long (region, period) table.

Input is one row per (region, period), from CSV, Parquet or a pandas DataFrame
(DESIGN.md section 2). `load_panel` validates it and returns a `Panel`:

    y        [R, T]     KPI in its own units (0.0 where `mask` is False)
    media    [R, T, C]  activity per channel (impressions, GRPs, clicks or spend), >= 0
    spend    [R, T, C]  spend per channel in currency units, or None
    z        [R, T, K]  raw control values
    mask     [R, T]     KPI observed and usable for the loss and the metrics
    observed [R, T]     the row was present in the input

`T` is the full weekly calendar from the first to the last period of the table,
so a (region, period) row that is absent becomes a missing cell: masked, its
media and spend 0 (nothing aired), its controls carried from the region's
nearest earlier (else later) row. A NaN KPI is also a missing cell.

Every problem with the data raises `DataError`, every invalid setting
`ConfigError`; messages name the column, region, period and value at fault.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dcmmm.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

NATIONAL = "national"
"""Region label of national data (`DataSpec.region is None`)."""

MIN_FIT_WEEKS = 26
"""Training weeks needed besides the holdout and validation windows."""

OUTAGE_MIN_WEEKS = 3
"""A run of at least this many zero-KPI weeks is reported as an outage."""

WEEKS_PER_YEAR = 365.2425 / 7
"""Mean Gregorian year in weeks (52.1775); period of integer week ids."""

MAX_ABS = 1e30
"""Largest magnitude accepted for a value: keeps sums, squares and float32
model outputs finite. No real KPI, activity or spend comes near it."""

MAX_WEEKS = 10_000
"""Longest calendar accepted (about 190 years); longer means a wrong period column."""

_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_ZERO_RUN_MODES = ("mask", "keep")
_INT_LABEL = re.compile(r"-?\d+")


@dataclass(frozen=True)
class DataSpec:
    """Which columns of the input table mean what (config group `data`).

    kpi: target column (sales, visits, conversions); NaN = missing cell.
    channels: media activity columns, one per channel.
    path: `.csv`, `.csv.gz` or `.parquet` file; unused when a DataFrame is given.
    date: period column: weekly ISO dates / datetimes, or integer week ids.
    region: region column; None = national data, one region named "national".
    spend: spend columns in the order of `channels` (a channel's spend column
        may be its own activity column), or None.
    names: display names of the channels, or None for the column names.
    controls: control columns (price, promotions, macro).
    holdout_weeks: last calendar weeks kept out of training (>= 1).
    val_weeks: `train.val_weeks`, used only to check there are enough weeks.
    zero_runs: "mask" or "keep" KPI outage runs.

    Sequences (lists, Hydra ListConfig) are stored as tuples; invalid settings
    raise `ConfigError` here.
    """

    kpi: str
    channels: tuple[str, ...]
    path: str | None = None
    date: str = "date"
    region: str | None = None
    spend: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None
    controls: tuple[str, ...] = ()
    holdout_weeks: int = 13
    val_weeks: int = 8
    zero_runs: str = "mask"

    def __post_init__(self) -> None:
        for key in ("channels", "spend", "names", "controls"):
            value = getattr(self, key)
            if value is None:
                continue
            object.__setattr__(self, key, (value,) if isinstance(value, str) else tuple(value))
        for key in ("channels", "spend", "names", "controls"):
            bad = [c for c in getattr(self, key) or () if not isinstance(c, str) or not c]
            if bad:
                raise ConfigError(f"data.{key} must list column names, got {bad[0]!r}")
        if self.region is not None and (not isinstance(self.region, str) or not self.region):
            raise ConfigError(f"data.region must be a column name or null, got {self.region!r}")
        for key in ("kpi", "date"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(f"data.{key} must be a column name, got {getattr(self, key)!r}")
        if not self.channels:
            raise ConfigError("data.channels is empty; name at least one media activity column")
        for key in ("spend", "names"):
            value = getattr(self, key)
            if value is not None and len(value) != len(self.channels):
                raise ConfigError(
                    f"data.{key} has {len(value)} entries but data.channels has "
                    f"{len(self.channels)}; give one per channel, in the same order"
                )
        if self.names is not None and len(set(self.names)) != len(self.names):
            dup = next(n for n, k in Counter(self.names).items() if k > 1)
            raise ConfigError(f"data.names has the display name {dup!r} twice")
        if not _is_int(self.holdout_weeks) or self.holdout_weeks < 1:
            raise ConfigError(
                f"data.holdout_weeks must be an integer >= 1, got {self.holdout_weeks!r}"
            )
        if not _is_int(self.val_weeks) or self.val_weeks < 0:
            raise ConfigError(f"train.val_weeks must be an integer >= 0, got {self.val_weeks!r}")
        object.__setattr__(self, "holdout_weeks", int(self.holdout_weeks))
        object.__setattr__(self, "val_weeks", int(self.val_weeks))
        if self.zero_runs not in _ZERO_RUN_MODES:
            raise ConfigError(f"data.zero_runs must be 'mask' or 'keep', got {self.zero_runs!r}")


@dataclass(frozen=True, eq=False, repr=False)
class Panel:
    """A validated panel: R regions x T weeks x C channels x K controls.

    Arrays are float64 (bool for masks), region-first, on the full weekly
    calendar `periods`. Weeks `[0, n_train)` are training weeks (validation
    included), the last `holdout_weeks` are the holdout.

    regions: [R] region labels as str.
    periods: [T] sorted period labels: datetime64[D] for date input, int64 for
        integer week ids.
    week_of_year: [T] position in the year in weeks, in [0, 52.18): for dates
        (day_of_year - 1) / 7; for integer week ids `id mod 52.1775`, i.e. week
        id 0 is taken as the first week of a year.
    channels: [C] display names; channel_columns: [C] activity columns;
        spend_columns: [C] spend columns or None; controls: [K] control columns.
    y: [R, T] KPI, 0.0 where `mask` is False.
    media: [R, T, C] activity >= 0; 0 for absent rows.
    spend: [R, T, C] spend >= 0 (0 for absent rows), or None.
    z: [R, T, K] raw controls; absent rows filled forward then backward within
        the region (they are masked out of the loss anyway).
    mask: [R, T] KPI observed and usable: row present, KPI not NaN, not in a
        masked outage run.
    observed: [R, T] row present in the input.
    missing_cells: region -> absent rows + NaN-KPI rows, for regions with any.
    outages: (region, first period label, last period label, n_weeks) per
        zero-KPI outage run (masked or kept, see `DataSpec.zero_runs`).
    source: the file path, or "<DataFrame>".
    """

    regions: tuple[str, ...]
    periods: np.ndarray
    week_of_year: np.ndarray
    channels: tuple[str, ...]
    channel_columns: tuple[str, ...]
    spend_columns: tuple[str, ...] | None
    controls: tuple[str, ...]
    kpi_name: str
    y: np.ndarray
    media: np.ndarray
    spend: np.ndarray | None
    z: np.ndarray
    mask: np.ndarray
    observed: np.ndarray
    holdout_weeks: int
    missing_cells: dict[str, int] = field(default_factory=dict)
    outages: tuple[tuple[str, str, str, int], ...] = ()
    source: str = "<DataFrame>"

    def __post_init__(self) -> None:
        R, T, C, K = len(self.regions), len(self.periods), len(self.channels), len(self.controls)
        expected = {
            "week_of_year": (T,),
            "y": (R, T),
            "mask": (R, T),
            "observed": (R, T),
            "media": (R, T, C),
            "z": (R, T, K),
        }
        if self.spend is not None:
            expected["spend"] = (R, T, C)
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"Panel.{name} has shape {got}, expected {shape} (R, T, C, K)")

    def __repr__(self) -> str:
        labels = self.period_labels()
        span = f" ({labels[0]} to {labels[-1]})" if labels else ""
        return (
            f"Panel(R={self.n_regions}, T={self.n_weeks}{span}, "
            f"C={self.n_channels}, K={self.n_controls}, holdout_weeks={self.holdout_weeks}, "
            f"kpi={self.kpi_name!r}, source={self.source!r})"
        )

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def n_weeks(self) -> int:
        return len(self.periods)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def n_controls(self) -> int:
        return len(self.controls)

    @property
    def n_train(self) -> int:
        """Training weeks (validation window included): T - holdout_weeks."""
        return self.n_weeks - self.holdout_weeks

    @property
    def train_mask(self) -> np.ndarray:
        """[R, T] bool: usable KPI cells in the training weeks."""
        return self.mask & (np.arange(self.n_weeks) < self.n_train)

    @property
    def holdout_mask(self) -> np.ndarray:
        """[R, T] bool: usable KPI cells in the holdout weeks."""
        return self.mask & (np.arange(self.n_weeks) >= self.n_train)

    @property
    def has_spend(self) -> bool:
        return self.spend is not None

    def period_labels(self) -> list[str]:
        """[T] labels: ISO 'YYYY-MM-DD' for dates, str(id) for integer week ids."""
        return _labels(self.periods)


def read_table(path: str | os.PathLike, str_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a `.csv`, `.csv.gz` or `.parquet` file into a DataFrame.

    `str_columns` are read as text from CSV (region codes such as '02134' keep
    their leading zeros); columns the file lacks are ignored. Raises `DataError`
    when the file is missing, unreadable, empty or of another type.
    """
    path = os.fspath(path)
    if not path.lower().endswith(_SUFFIXES):
        raise DataError(
            f"data file '{path}' has an unknown extension; use one of {', '.join(_SUFFIXES)}"
        )
    if not os.path.isfile(path):
        raise DataError(f"data file '{path}' does not exist")
    if os.path.getsize(path) == 0:
        raise DataError(f"data file '{path}' is empty")
    try:
        if path.lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={c: str for c in str_columns})
    except Exception as e:  # any reader failure is the file's fault, reported as one line
        raise DataError(f"cannot read data file '{path}': {type(e).__name__}: {e}") from e
    if len(frame) == 0:
        raise DataError(f"data file '{path}' has no rows")
    return frame


def load_panel(spec: DataSpec, frame: pd.DataFrame | None = None) -> Panel:
    """Validate a long table and build the `Panel` (DESIGN.md section 2).

    Uses `frame` when given (source "<DataFrame>"), else reads `spec.path`.
    Raises `DataError` naming the column, region, period and value at fault,
    `ConfigError` for invalid settings.
    """
    if frame is None:
        if spec.path is None:
            raise ConfigError("data.path is required (a .csv, .csv.gz or .parquet file)")
        source = os.fspath(spec.path)
        frame = read_table(source, str_columns=(spec.region,) if spec.region else ())
    else:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        source = "<DataFrame>"
        if len(frame) == 0:
            raise DataError("the data table has no rows")
    _check_columns(spec, frame, source)

    regions, r_idx = _region_codes(frame, spec.region)

    def in_region(i: int) -> str:
        return f"in region '{regions[r_idx[i]]}'"

    periods, t_idx = _period_grid(frame[spec.date], spec.date, in_region)
    labels = _labels(periods)

    def at(i: int) -> str:
        return f"{in_region(i)} at {labels[t_idx[i]]}"

    R, T, C, K = len(regions), len(periods), len(spec.channels), len(spec.controls)
    _check_duplicates(r_idx, t_idx, T, at)
    needed = spec.holdout_weeks + spec.val_weeks + MIN_FIT_WEEKS
    if T < needed:
        raise DataError(
            f"too few weeks: the panel has {T} weeks ({labels[0]} to {labels[-1]}) but needs at "
            f"least {needed} (data.holdout_weeks {spec.holdout_weeks} + train.val_weeks "
            f"{spec.val_weeks} + {MIN_FIT_WEEKS} to fit)"
        )

    kpi_rows = _numeric(frame, spec.kpi, "KPI", at, nan_ok=True, negative_ok=False)
    media_rows = [
        _numeric(frame, c, "media", at, nan_ok=False, negative_ok=False) for c in spec.channels
    ]
    spend_rows = None
    if spec.spend is not None:
        spend_rows = [
            media_rows[j]
            if s == spec.channels[j]
            else _numeric(frame, s, "spend", at, nan_ok=False, negative_ok=False)
            for j, s in enumerate(spec.spend)
        ]
    control_rows = [
        _numeric(frame, c, "control", at, nan_ok=False, negative_ok=True) for c in spec.controls
    ]

    observed = np.zeros((R, T), dtype=bool)
    observed[r_idx, t_idx] = True
    kpi = np.full((R, T), np.nan)
    kpi[r_idx, t_idx] = kpi_rows
    media = _scatter(media_rows, r_idx, t_idx, R, T, fill=0.0)
    spend = None if spend_rows is None else _scatter(spend_rows, r_idx, t_idx, R, T, fill=0.0)
    z = _fill_within_region(_scatter(control_rows, r_idx, t_idx, R, T, fill=np.nan), observed)

    n_train = T - spec.holdout_weeks
    is_train = np.arange(T) < n_train
    usable = observed & ~np.isnan(kpi)
    outage_cells, outages = _outage_runs(kpi, usable, is_train, regions, labels)
    mask = usable & ~outage_cells if spec.zero_runs == "mask" else usable
    y = np.where(mask, kpi, 0.0)

    names = spec.names if spec.names is not None else tuple(spec.channels)
    _check_kpi_levels(y, mask & is_train, regions, spec.kpi, n_train)
    _check_channels(media, spend, is_train, names, spec)

    missing = (~observed).sum(1) + (observed & np.isnan(kpi)).sum(1)
    missing_cells = {regions[r]: int(n) for r, n in enumerate(missing) if n > 0}
    _log_summary(source, regions, labels, C, K, observed, missing_cells, outages, spec.zero_runs)

    return Panel(
        regions=regions,
        periods=periods,
        week_of_year=_week_of_year(periods),
        channels=tuple(names),
        channel_columns=tuple(spec.channels),
        spend_columns=None if spec.spend is None else tuple(spec.spend),
        controls=tuple(spec.controls),
        kpi_name=spec.kpi,
        y=y,
        media=media,
        spend=spend,
        z=z,
        mask=mask,
        observed=observed,
        holdout_weeks=spec.holdout_weeks,
        missing_cells=missing_cells,
        outages=outages,
        source=source,
    )


def with_holdout(panel: Panel, holdout_weeks: int) -> Panel:
    """The panel with another holdout, as `load_panel` would build it from the
    same table with `holdout_weeks`, for a backtest fold.

    Outage runs are decided again on the new training weeks (a region's
    training median), so nothing after them decides which cells are masked.
    Unlike `load_panel`, a region without usable positive KPI in the new
    training weeks does not raise: all its KPI cells are masked (it is neither
    fitted nor scored in that fold).
    """
    R, T = panel.n_regions, panel.n_weeks
    labels = panel.period_labels()
    old = np.zeros((R, T), bool)
    index = {r: i for i, r in enumerate(panel.regions)}
    for region, first, last, _ in panel.outages:
        old[index[region], labels.index(first):labels.index(last) + 1] = True
    masked_runs = not (panel.mask & old).any()  # data.zero_runs=mask (or no outages)
    usable = panel.mask | old if masked_runs else panel.mask
    kpi = np.where(usable, panel.y, np.nan)
    is_train = np.arange(T) < T - holdout_weeks
    cells, outages = _outage_runs(kpi, usable, is_train, panel.regions, labels)
    mask = usable & ~cells if masked_runs else usable.copy()
    train = mask & is_train
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(train, panel.y, 0.0).sum(1) / train.sum(1)
    empty = ~(mean > 0)
    if empty.any():
        logger.info("%d regions without usable KPI before week %d are masked there: %s",
                    int(empty.sum()), T - holdout_weeks,
                    ", ".join(r for r, e in zip(panel.regions, empty) if e))
    mask[empty] = False
    return dataclasses.replace(panel, y=np.where(mask, panel.y, 0.0), mask=mask,
                               holdout_weeks=int(holdout_weeks), outages=outages)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _show(value: object) -> str:
    """A cell value as written in messages: 2.5, 'n/a' (no numpy reprs)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _labels(periods: np.ndarray) -> list[str]:
    if np.issubdtype(periods.dtype, np.datetime64):
        return list(np.datetime_as_string(periods.astype("datetime64[D]"), unit="D"))
    return [str(int(p)) for p in periods]


def _check_columns(spec: DataSpec, frame: pd.DataFrame, source: str) -> None:
    """Each configured column exists once in the table and has one role."""
    roles: list[tuple[object, str]] = [(spec.date, "data.date"), (spec.kpi, "data.kpi")]
    if spec.region is not None:
        roles.append((spec.region, "data.region"))
    roles += [(c, "data.channels") for c in spec.channels]
    if spec.spend is not None:
        # a channel measured only by its spend may name one column as both
        roles += [(s, "data.spend") for s, c in zip(spec.spend, spec.channels) if s != c]
    roles += [(c, "data.controls") for c in spec.controls]

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


def _region_codes(frame: pd.DataFrame, column: str | None) -> tuple[tuple[str, ...], np.ndarray]:
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


def _period_grid(
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
                f"column '{column}' (data.date) has value {_show(col.iloc[i])} {in_region(i)} that is "
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
            f"column '{column}' (data.date) has non-integer week id {_show(col.iloc[i])} {in_region(i)}; "
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


def _week_of_year(periods: np.ndarray) -> np.ndarray:
    """[T] weeks since the start of the year, float64 in [0, 52.18)."""
    if np.issubdtype(periods.dtype, np.datetime64):
        return (pd.DatetimeIndex(periods).day_of_year.to_numpy(dtype=np.float64) - 1.0) / 7.0
    return np.mod(periods.astype(np.float64), WEEKS_PER_YEAR)


def _check_duplicates(
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


def _numeric(
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
                f"column '{column}' has non-numeric value {_show(col.iloc[i])} {at(i)} ({role})"
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


def _scatter(
    rows: list[np.ndarray], r_idx: np.ndarray, t_idx: np.ndarray, R: int, T: int, fill: float
) -> np.ndarray:
    """Columns of row values [N] each -> [R, T, len(rows)], `fill` where no row."""
    out = np.full((R, T, len(rows)), fill)
    if rows:
        out[r_idx, t_idx] = np.stack(rows, axis=1)
    return out


def _fill_within_region(x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """[R, T, K]: values of absent weeks taken from the region's previous
    observed week, or its next one before its first observed week."""
    R, T = observed.shape
    t = np.arange(T)
    prev = np.maximum.accumulate(np.where(observed, t, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(observed, t, T)[:, ::-1], axis=1)[:, ::-1]
    source_t = np.where(prev >= 0, prev, nxt)
    return x[np.arange(R)[:, None], np.minimum(source_t, T - 1)]


def _outage_runs(
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


def _check_kpi_levels(
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


def _check_channels(
    media: np.ndarray,
    spend: np.ndarray | None,
    is_train: np.ndarray,
    names: Sequence[str],
    spec: DataSpec,
) -> None:
    """Spend and activity agree on which channels exist; each channel is active in training."""
    for c, name in enumerate(names):
        column = spec.channels[c]
        active = bool((media[:, :, c] > 0).any())
        if spend is not None and spec.spend[c] != column:
            paid = bool((spend[:, :, c] > 0).any())
            if paid and not active:
                raise DataError(
                    f"channel '{name}': spend column '{spec.spend[c]}' has spend (total "
                    f"{float(spend[:, :, c].sum())!r}) but activity column '{column}' is zero everywhere"
                )
            if active and not paid:
                raise DataError(
                    f"channel '{name}': activity column '{column}' has activity but spend column "
                    f"'{spec.spend[c]}' is zero everywhere"
                )
        if not (media[:, is_train, c] > 0).any():
            raise DataError(
                f"channel '{name}': column '{column}' has no activity at all in the training weeks "
                f"(all zero); drop the channel or move the holdout"
            )


def _log_summary(
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
    for region, first, last, n in outages:
        logger.info(
            "KPI outage in region '%s': %d weeks of zero KPI from %s to %s; %s (data.zero_runs=%s)",
            region,
            n,
            first,
            last,
            "masked" if zero_runs == "mask" else "kept as zeros",
            zero_runs,
        )
