"""Panel: validated, region-first arrays built from a long (region, period) table.

Input is one row per (region, period), from CSV, Parquet or a pandas DataFrame
(docs/design.md, "Data"). `load_panel` validates it and returns a `Panel`:

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

Every problem with the data raises `DataError` (the checks are in
`dcmmm.data.checks`), every invalid setting `ConfigError`; messages name the
column, region, period and value at fault. The calendar is
`dcmmm.data.calendar`'s, the file reader `dcmmm.data.reading`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dcmmm.data import calendar
from dcmmm.data.checks import (
    check_channels,
    check_columns,
    check_duplicates,
    check_kpi_levels,
    fill_within_region,
    log_summary,
    numeric_column,
    outage_runs,
    region_codes,
    scatter,
)
from dcmmm.data.reading import read_table
from dcmmm.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

MIN_FIT_WEEKS = 26
"""Training weeks needed besides the holdout and validation windows."""

_ZERO_RUN_MODES = ("mask", "keep")


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
    date_column, region_column: the table's period and region columns
        (region_column None: national data), so that a plan file for later
        weeks can be read like the table (`dcmmm.data.future`).
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
    date_column: str = "date"
    region_column: str | None = None

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

    def channel_lookup(self) -> dict[str, int]:
        """Channel index by display name or activity column (what a user's
        lift-test or prior file may name a channel by)."""
        names = {n: i for i, n in enumerate(self.channels)}
        names.update({n: i for i, n in enumerate(self.channel_columns)})
        return names

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
        return calendar.period_labels(self.periods)


def load_panel(dspec: DataSpec, frame: pd.DataFrame | None = None) -> Panel:
    """Validate a long table and build the `Panel` (docs/design.md, "Data").

    Uses `frame` when given (source "<DataFrame>"), else reads `dspec.path`.
    Raises `DataError` naming the column, region, period and value at fault,
    `ConfigError` for invalid settings.
    """
    if frame is None:
        if dspec.path is None:
            raise ConfigError("data.path is required (a .csv, .csv.gz or .parquet file)")
        source = os.fspath(dspec.path)
        frame = read_table(source, str_columns=(dspec.region,) if dspec.region else ())
    else:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        source = "<DataFrame>"
        if len(frame) == 0:
            raise DataError("the data table has no rows")
    check_columns(dspec, frame, source)

    regions, r_idx = region_codes(frame, dspec.region)

    def in_region(i: int) -> str:
        return f"in region '{regions[r_idx[i]]}'"

    periods, t_idx = calendar.period_grid(frame[dspec.date], dspec.date, in_region)
    labels = calendar.period_labels(periods)

    def at(i: int) -> str:
        return f"{in_region(i)} at {labels[t_idx[i]]}"

    R, T, C, K = len(regions), len(periods), len(dspec.channels), len(dspec.controls)
    check_duplicates(r_idx, t_idx, T, at)
    needed = dspec.holdout_weeks + dspec.val_weeks + MIN_FIT_WEEKS
    if T < needed:
        raise DataError(
            f"too few weeks: the panel has {T} weeks ({labels[0]} to {labels[-1]}) but needs at "
            f"least {needed} (data.holdout_weeks {dspec.holdout_weeks} + train.val_weeks "
            f"{dspec.val_weeks} + {MIN_FIT_WEEKS} to fit)"
        )

    kpi_rows = numeric_column(frame, dspec.kpi, "KPI", at, nan_ok=True, negative_ok=False)
    media_rows = [
        numeric_column(frame, c, "media", at, nan_ok=False, negative_ok=False) for c in dspec.channels
    ]
    spend_rows = None
    if dspec.spend is not None:
        spend_rows = [
            media_rows[j]
            if s == dspec.channels[j]
            else numeric_column(frame, s, "spend", at, nan_ok=False, negative_ok=False)
            for j, s in enumerate(dspec.spend)
        ]
    control_rows = [
        numeric_column(frame, c, "control", at, nan_ok=False, negative_ok=True) for c in dspec.controls
    ]

    observed = np.zeros((R, T), dtype=bool)
    observed[r_idx, t_idx] = True
    kpi = np.full((R, T), np.nan)
    kpi[r_idx, t_idx] = kpi_rows
    media = scatter(media_rows, r_idx, t_idx, R, T, fill=0.0)
    spend = None if spend_rows is None else scatter(spend_rows, r_idx, t_idx, R, T, fill=0.0)
    z = fill_within_region(scatter(control_rows, r_idx, t_idx, R, T, fill=np.nan), observed)

    n_train = T - dspec.holdout_weeks
    is_train = np.arange(T) < n_train
    usable = observed & ~np.isnan(kpi)
    outage_cells, outages = outage_runs(kpi, usable, is_train, regions, labels)
    mask = usable & ~outage_cells if dspec.zero_runs == "mask" else usable
    y = np.where(mask, kpi, 0.0)

    names = dspec.names if dspec.names is not None else tuple(dspec.channels)
    check_kpi_levels(y, mask & is_train, regions, dspec.kpi, n_train)
    check_channels(media, spend, is_train, names, dspec)

    missing = (~observed).sum(1) + (observed & np.isnan(kpi)).sum(1)
    missing_cells = {regions[r]: int(n) for r, n in enumerate(missing) if n > 0}
    log_summary(source, regions, labels, C, K, observed, missing_cells, outages, dspec.zero_runs)

    return Panel(
        regions=regions,
        periods=periods,
        week_of_year=calendar.week_of_year(periods),
        channels=tuple(names),
        channel_columns=tuple(dspec.channels),
        spend_columns=None if dspec.spend is None else tuple(dspec.spend),
        controls=tuple(dspec.controls),
        kpi_name=dspec.kpi,
        y=y,
        media=media,
        spend=spend,
        z=z,
        mask=mask,
        observed=observed,
        holdout_weeks=dspec.holdout_weeks,
        missing_cells=missing_cells,
        outages=outages,
        source=source,
        date_column=dspec.date,
        region_column=dspec.region,
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
    cells, outages = outage_runs(kpi, usable, is_train, panel.regions, labels)
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
