"""Property: any input table, through the whole run, ends in finite outputs or
in one DataError / ConfigError; never another exception, never NaN written."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from omegaconf import OmegaConf

from dcmmm.errors import ConfigError, DataError
from dcmmm.run import main as run_main
from tests.data.test_panel_hypothesis import tables
from tests.test_run import _compose


@pytest.mark.slow
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables())
def test_any_table_fits_cleanly_or_raises_a_data_error(case):
    spec, frame = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        frame.to_csv(path, index=False)
        listing = lambda xs: "[" + ",".join(xs) + "]"  # noqa: E731
        overrides = [
            "data=csv", f"data.path={path}", "data.kpi=kpi", f"data.channels={listing(spec.channels)}",
            f"data.controls={listing(spec.controls)}", f"data.holdout_weeks={spec.holdout_weeks}",
            f"data.zero_runs={spec.zero_runs}", "train.val_weeks=2", "train.max_steps=2",
            "train.steps_per_call=1", "train.refit_steps=1", "model.dynamics.hidden=2",
            "train.progress=false", "model.ensemble_size=1",
            f"data.region={spec.region or 'null'}",
            f"data.spend={listing(spec.spend) if spec.spend else 'null'}",
        ]
        cfg = OmegaConf.to_container(_compose(overrides), resolve=True)
        try:
            run_main(cfg, Path(tmp) / "run")
        except (DataError, ConfigError) as e:
            assert str(e)
            return
        run = Path(tmp) / "run"
        metrics = json.loads((run / "metrics.json").read_text())  # strict JSON: no NaN
        assert metrics["steps"] == 3
        pred = pd.read_csv(run / "predictions.csv")
        assert np.isfinite(pred["predicted"]).all()
        decomp = pd.read_csv(run / "decomposition.csv")
        assert np.isfinite(decomp.drop(columns=["region", "date"]).to_numpy(float)).all()
