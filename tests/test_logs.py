"""Quiet logs: library chatter below `log_level` is kept out, dcmmm's progress
stays, hydra.verbose wins, and every level is restored after the block."""

import logging

import pytest

from dcmmm.logs import quiet_libraries


class Records(logging.Handler):
    """The names and levels of the records that reach the root logger's handlers."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        self.seen.append((record.name, record.levelname))


@pytest.fixture
def records():
    root = logging.getLogger()
    handler, level = Records(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what Hydra's job logging sets
    yield handler.seen
    root.removeHandler(handler)
    root.setLevel(level)


def chatter():
    """The lines of a run: JAX's backend probe, orbax through absl, dcmmm's progress."""
    logging.getLogger("jax._src.xla_bridge").info("Unable to initialize backend 'tpu'")
    logging.getLogger("absl").info("orbax: saving checkpoint")
    logging.getLogger("absl").warning("orbax: bookkeeping")
    logging.getLogger("matplotlib.font_manager").warning("font cache rebuilt")
    logging.getLogger("dcmmm.run").info("fit: 400 steps")


def test_default_keeps_library_info_out_and_dcmmm_in(records):
    before = [logging.getLogger(name).level for name in ("", "dcmmm", "absl")]
    with quiet_libraries("WARNING"):
        chatter()
    assert records == [("matplotlib.font_manager", "WARNING"), ("dcmmm.run", "INFO")]
    assert [logging.getLogger(name).level for name in ("", "dcmmm", "absl")] == before
    chatter()  # levels restored after the block: everything at INFO again
    assert len(records) == 2 + 5


def test_log_level_info_brings_the_chatter_back(records):
    with quiet_libraries("INFO"):
        chatter()
    assert [name for name, _ in records] == ["jax._src.xla_bridge", "absl", "absl",
                                             "matplotlib.font_manager", "dcmmm.run"]


def test_log_level_error_keeps_dcmmm_progress(records):
    with quiet_libraries("ERROR"):
        chatter()
    assert records == [("dcmmm.run", "INFO")]


def test_hydra_verbose(records):
    logging.getLogger().setLevel(logging.DEBUG)  # hydra.verbose=true
    with quiet_libraries("WARNING", verbose=True):
        logging.getLogger("jax._src.dispatch").debug("compiling")
    assert records == [("jax._src.dispatch", "DEBUG")]
    records.clear()
    logging.getLogger().setLevel(logging.INFO)
    jax = logging.getLogger("jax")
    jax.setLevel(logging.DEBUG)  # hydra.verbose=jax: that logger only
    try:
        with quiet_libraries("WARNING", verbose=["jax"]):
            logging.getLogger("jax._src.xla_bridge").info("Unable to initialize backend 'tpu'")
            logging.getLogger("matplotlib").info("chatter")
        assert records == [("jax._src.xla_bridge", "INFO")]
    finally:
        jax.setLevel(logging.NOTSET)
