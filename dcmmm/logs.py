"""Which log lines reach the console and the run's log: dcmmm's own progress
at INFO, other libraries' (JAX's backend probing, absl and orbax, matplotlib,
...) only from `log_level` up (WARNING by default).

For entry points only (`train.py`): library code logs through its module's
logger and never sets levels.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # the values of the `log_level` key
OWN = "dcmmm"
# orbax logs through absl, whose warnings at the default level are its own
# bookkeeping (kept out as before log_level existed); below WARNING it follows log_level
ABSL = "absl"


@contextmanager
def quiet_libraries(level: str = "WARNING", verbose=False) -> Iterator[None]:
    """Within the block, the root logger (which every library logger without a
    level of its own follows) is at `level` and dcmmm's logger at INFO; absl
    at ERROR unless `level` is below WARNING. Levels are restored on exit (a
    sweep's next job logs as before).

    verbose: Hydra's `hydra.verbose`: True (every logger at DEBUG) leaves all
    levels alone; logger names (a str or list) keep the DEBUG level Hydra gave
    them, as does every logger whose level was already set.
    """
    root = logging.getLogger()
    saved = {"": root.level}
    if verbose is not True:
        root.setLevel(level)
        absl = "ERROR" if logging.getLevelName(level) >= logging.WARNING else level
        for name, wanted in ((OWN, "INFO"), (ABSL, absl)):
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                saved[name] = logging.NOTSET
                logger.setLevel(wanted)
    try:
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name or None).setLevel(old)
