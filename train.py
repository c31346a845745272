"""dcmmm entry point: `python train.py +experiment=NAME [key=value ...]`.

Hydra composes conf/config.yaml; dcmmm.run.main does the work. User mistakes
(bad data, bad config) print one line and exit with code 2.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)  # here too: launchers' worker processes
    from dcmmm.errors import ConfigError, DataError, TrainingError
    from dcmmm.run import main as run_main

    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        run_main(plain, HydraConfig.get().runtime.output_dir)
    except (DataError, ConfigError) as err:
        print(f"dcmmm: error: {err}", file=sys.stderr)
        sys.exit(2)
    except TrainingError as err:
        print(f"dcmmm: error: {err}", file=sys.stderr)
        sys.exit(3)
    except Exception as err:  # noqa: BLE001
        from omegaconf.errors import MissingMandatoryValue

        if isinstance(err, MissingMandatoryValue):
            print(f"dcmmm: error: missing required config value: {err.full_key}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    logging.getLogger("absl").setLevel(logging.ERROR)
    main()
