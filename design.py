"""dcmmm's experiment design: `python design.py run=RUN_DIR [design.channel=... ...]`.

Hydra composes conf/design.yaml; dcmmm.design.run.main proposes geo lift
tests for the run's least-known channels and the run ends with their summary
on the console (dcmmm.design.summary). User mistakes (a run directory that is
not a finished run, a bad setting) print one line and exit with code 2.
"""

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path="conf", config_name="design")
def main(cfg: DictConfig) -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("jax").setLevel(logging.WARNING)  # which backends it could not start
    # reading the run restores its final checkpoint: the "resuming" line is training's
    logging.getLogger("dcmmm.train.checkpoint").setLevel(logging.WARNING)
    from dcmmm.design.run import DESIGN_CSV, DESIGN_HTML, DESIGN_JSON
    from dcmmm.design.run import main as design_main
    from dcmmm.design.summary import design_summary
    from dcmmm.errors import exit_on_user_error

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    with exit_on_user_error():
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        design_main(plain, out_dir)
    shown = out_dir.relative_to(Path.cwd()) if out_dir.is_relative_to(Path.cwd()) else out_dir
    record = json.loads((out_dir / DESIGN_JSON).read_text())
    print(design_summary(record, page=str(shown / DESIGN_HTML), table=str(shown / DESIGN_CSV)),
          flush=True)


if __name__ == "__main__":
    logging.getLogger("absl").setLevel(logging.ERROR)
    main()
