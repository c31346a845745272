"""dcmmm entry point: `python train.py +experiment=NAME [key=value ...]`.

Hydra composes conf/config.yaml; dcmmm.run.main does the work, with other
libraries' log lines below `log_level` kept out (dcmmm.logs); the run ends
with its summary on the console (a sweep's, one line per job, comes from the
callback in conf/config.yaml). User mistakes (bad data, bad config) print one
line and exit with code 2.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from dcmmm.analysis.summary import run_summary
    from dcmmm.config_keys import check_value
    from dcmmm.errors import TrainingError, exit_on_user_error
    from dcmmm.logs import quiet_libraries
    from dcmmm.run import main as run_main
    from dcmmm.rundir import process_dir, read_tables

    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    try:
        with exit_on_user_error():
            plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
            with quiet_libraries(check_value("log_level", plain.get("log_level", "WARNING")),
                                 hydra_cfg.verbose):
                run_main(plain, run_dir)
    except TrainingError as err:
        print(f"dcmmm: error: {err}", file=sys.stderr)
        sys.exit(3)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return  # the sweep's summary, one line per job, closes it (conf/config.yaml's callback)
    # the files this process wrote, with the report's path as short as the working directory allows
    shown = process_dir(run_dir)
    shown = shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown
    if (tables := read_tables(shown)) is not None:
        print(run_summary(tables), flush=True)


if __name__ == "__main__":
    main()
