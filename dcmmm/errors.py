"""User-facing error types.

`DataError` is raised for every problem with the input data, `ConfigError` for
an invalid configuration. Messages name the column, region, value or key at
fault; the entry points (`train.py`, `plan.py`, `design.py`) print them as one
line (`user_error`) and exit with code 2.
"""

import contextlib
import sys

from omegaconf.errors import MissingMandatoryValue


class DataError(ValueError):
    """The input data cannot be used as given (names the column/region/value)."""


class ConfigError(ValueError):
    """A configuration value is invalid (names the key)."""


class TrainingError(RuntimeError):
    """Training could not finish (non-finite loss); names the last good checkpoint."""


def user_error(err: Exception) -> str | None:
    """The one line an entry point shows for a user's mistake (bad data, a bad
    or missing config value), or None for a bug (its traceback is shown)."""
    if isinstance(err, DataError | ConfigError):
        return str(err)
    if isinstance(err, MissingMandatoryValue):
        return f"missing required config value: {err.full_key}"
    return None


@contextlib.contextmanager
def exit_on_user_error():
    """For an entry point's work: a user's mistake (`user_error`) is printed
    as one line `dcmmm: error: ...` on stderr and exits with code 2; any
    other exception (a bug) keeps its traceback."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 (a user's mistake is one line, a bug its traceback)
        message = user_error(err)
        if message is None:
            raise
        print(f"dcmmm: error: {message}", file=sys.stderr)
        sys.exit(2)
