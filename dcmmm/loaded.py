"""A finished run read back from its directory as a fitted model, without retraining."""

import dataclasses
from pathlib import Path

import numpy as np

from dcmmm import rundir
from dcmmm.config import run_spec_for
from dcmmm.data.scaling import Scalers
from dcmmm.errors import ConfigError, DataError
from dcmmm.fitted import Fitted
from dcmmm.fitting import prepare
from dcmmm.refresh import continuation_of
from dcmmm.train.checkpoint import Checkpointer
from dcmmm.train.loop import Progress, init_state, make_optimizer, static_part


def load_run(run_dir: str | Path) -> Fitted:
    """The fitted model of a finished run: its config, data, scalers, final
    parameters and, with an ensemble, its members and zero tests, and the
    profile of its channels' effects (evidence.json).

    The data file must be unchanged since the run (its sha256 is checked).
    """
    run_dir = Path(run_dir)
    for name in (rundir.CONFIG, rundir.RUN_INFO, rundir.SCALERS, rundir.CHECKPOINTS):
        if not (run_dir / name).exists():
            raise ConfigError(f"'{run_dir}' is not a finished dcmmm run: {name} is missing")
    cfg = rundir.read_json(run_dir / rundir.CONFIG)
    info = rundir.read_json(run_dir / rundir.RUN_INFO)
    panel, data_path, _ = rundir.load_data(cfg, run_dir, generate=False)
    if info.get("data_sha256") and rundir.sha256(data_path) != info["data_sha256"]:
        raise DataError(f"data file '{data_path}' changed since the run (sha256 differs)")
    spec = run_spec_for(cfg, panel)
    scalers = Scalers.load(run_dir / rundir.SCALERS)
    split, statics, batch, params = prepare(panel, scalers, spec, rundir.lift_tests_of(cfg, panel),
                                            continuation_of(info),
                                            priors=rundir.priors_of(cfg, panel))
    ckpt = Checkpointer(run_dir / rundir.CHECKPOINTS, 0)
    template = init_state(params, make_optimizer(static_part(spec.train)), spec.train, spec.seed)
    saved = ckpt.restore_latest(Progress(template, np.inf, params, 0, False))
    ckpt.close()
    if saved is None or not saved.final:
        raise ConfigError(f"'{run_dir}' has no final checkpoint: the run did not finish")
    best = saved.progress.best_params
    fitted = Fitted.of(spec, panel, scalers, best, batch, statics, split,
                       rundir.load_members(run_dir, best, spec.ensemble.size),
                       rundir.read_json(run_dir / rundir.ZERO_TESTS),
                       rundir.read_graph_stability(run_dir))
    return dataclasses.replace(fitted, evidence=rundir.read_json(run_dir / rundir.EVIDENCE))
