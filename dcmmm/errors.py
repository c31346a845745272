"""User-facing error types.

`DataError` is raised for every problem with the input data, `ConfigError` for
an invalid configuration. Messages name the column, region, value or key at
fault; `train.py` prints them as one line and exits with code 2.
"""


class DataError(ValueError):
    """The input data cannot be used as given (names the column/region/value)."""


class ConfigError(ValueError):
    """A configuration value is invalid (names the key)."""


class TrainingError(RuntimeError):
    """Training could not finish (non-finite loss); names the last good checkpoint."""
