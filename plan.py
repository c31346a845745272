"""dcmmm planning: `python plan.py run=RUN_DIR [plan.key=value ...]`.

Hydra composes conf/plan.yaml; dcmmm.planning.run.main plans the weeks after
the run's data into its own directory and ends with the plan's summary on the
console (dcmmm.planning.summary); with `serve=true`, dcmmm.planner.serve opens
the planner page on the run instead. User mistakes (a bad plan file, bad
settings) print one line and exit with code 2.
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="plan")
def main(cfg: DictConfig) -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("jax").setLevel(logging.WARNING)  # which backends it could not start
    # reading the run restores its final checkpoint: the "resuming" line is training's
    logging.getLogger("dcmmm.train.checkpoint").setLevel(logging.WARNING)
    from dcmmm.errors import exit_on_user_error
    from dcmmm.planning.run import main as plan_main

    out_dir = HydraConfig.get().runtime.output_dir
    with exit_on_user_error():
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        if config.get("serve"):
            from dcmmm.planner.serve import serve

            serve(config)  # replaces this process
        plan_main(config, out_dir)
    print(_summary(Path(out_dir), HydraConfig.get().mode == RunMode.MULTIRUN), flush=True)


def _summary(out_dir: Path, one_line: bool) -> str:
    """The plan's closing summary, from the files it wrote (plan.csv, plan_summary.json);
    one line for a job of a sweep."""
    import json

    import pandas as pd

    from dcmmm.planning.run import PLAN, PLAN_SUMMARY
    from dcmmm.planning.summary import plan_line, plan_summary

    shown = out_dir.relative_to(Path.cwd()) if out_dir.is_relative_to(Path.cwd()) else out_dir
    summary = json.loads((out_dir / PLAN_SUMMARY).read_text())
    if one_line:
        return plan_line(summary, str(shown))
    return plan_summary(pd.read_csv(out_dir / PLAN), summary, str(shown))


if __name__ == "__main__":
    main()
