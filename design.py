"""dcmmm's experiment design: `python design.py run=RUN_DIR [design.channel=... ...]`.

Hydra composes conf/design.yaml; dcmmm.design.run.main proposes geo lift
tests for the run's least-known channels. User mistakes (a run directory
that is not a finished run, a bad setting) print one line and exit with code 2.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="design")
def main(cfg: DictConfig) -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)
    from dcmmm.design.run import main as design_main
    from dcmmm.errors import ConfigError, DataError

    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        design_main(plain, HydraConfig.get().runtime.output_dir)
    except (DataError, ConfigError) as err:
        print(f"dcmmm: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001
        from omegaconf.errors import MissingMandatoryValue

        if isinstance(err, MissingMandatoryValue):
            print(f"dcmmm: error: missing required config value: {err.full_key}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    logging.getLogger("absl").setLevel(logging.ERROR)
    main()
