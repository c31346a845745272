"""Reading an input table from a `.csv`, `.csv.gz` or `.parquet` file."""

import os
from collections.abc import Sequence

import pandas as pd

from dcmmm.errors import DataError

SUFFIXES = (".csv", ".csv.gz", ".parquet")


def read_table(path: str | os.PathLike, str_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a `.csv`, `.csv.gz` or `.parquet` file into a DataFrame.

    `str_columns` are read as text from CSV (region codes such as '02134' keep
    their leading zeros); columns the file lacks are ignored. Raises `DataError`
    when the file is missing, unreadable, empty or of another type.
    """
    path = os.fspath(path)
    if not path.lower().endswith(SUFFIXES):
        raise DataError(
            f"data file '{path}' has an unknown extension; use one of {', '.join(SUFFIXES)}"
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
