"""dcmmm planning: `python plan.py run=RUN_DIR [plan.key=value ...]`.

Hydra composes conf/plan.yaml; dcmmm.planning.run.main plans the weeks after
the run's data into its own directory; with `serve=true`,
dcmmm.planner.serve opens the planner page on the run instead. User mistakes
(a bad plan file, bad settings) print one line and exit with code 2.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="plan")
def main(cfg: DictConfig) -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("jax").setLevel(logging.WARNING)  # which backends it could not start
    # reading the run restores its final checkpoint: the "resuming" line is training's
    logging.getLogger("dcmmm.train.checkpoint").setLevel(logging.WARNING)
    from dcmmm.planning.run import main as plan_main
    from dcmmm.planning.run import user_error

    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        if config.get("serve"):
            from dcmmm.planner.serve import serve

            sys.exit(serve(config))
        plan_main(config, HydraConfig.get().runtime.output_dir)
    except Exception as err:  # noqa: BLE001 (a user's mistake is one line, a bug its traceback)
        message = user_error(err)
        if message is None:
            raise
        print(f"dcmmm: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
