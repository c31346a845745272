"""The channel graph in a run's outputs: national data learns no edge, dag.csv
holds each kept edge's stability and the KPI mediated through it."""

import logging

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

import dcmmm
from dcmmm.analysis.effects import total_effect
from dcmmm.run import main as run_main
from tests.test_run import TINY, _compose


def _run(tmp_path, overrides, regions=4):
    tiny = [o for o in TINY if not o.startswith("data.n_regions")]
    cfg = OmegaConf.to_container(_compose([*tiny, f"data.n_regions={regions}", *overrides]),
                                 resolve=True)
    run_main(cfg, tmp_path)
    return pd.read_csv(tmp_path / "dag.csv")


def test_national_data_without_spend_learns_no_edge(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        dag = _run(tmp_path, ["data.scenario=national", "data.with_spend=false"], regions=1)
    assert len(dag) == 0
    assert "no channel edges are learned" in caplog.text
    run = dcmmm.load_run(tmp_path)
    assert not np.asarray(run.statics.allowed).any()


def test_dag_holds_stability_and_kpi_mediated(tmp_path):
    dag = _run(tmp_path, ["data.scenario=graph", "data.with_spend=false",
                          "model.graph.require=[[tv,search]]", "model.graph.resamples=4"])
    assert list(dag.columns) == ["parent", "child", "weight", "stability", "kpi_mediated"]
    row = dag.set_index(["parent", "child"]).loc[("tv", "search")]
    assert row["weight"] >= 0 and row["stability"] == 1.0  # required edges always stay
    run = dcmmm.load_run(tmp_path)
    cut = run.graph.copy()
    names = list(run.channels)
    tv, search = names.index("tv"), names.index("search")
    assert run.graph[tv, search] > 0
    cut[tv, search] = 0.0
    oracle = total_effect(run, tv).sum() - total_effect(run, tv, graph=cut).sum()
    np.testing.assert_allclose(row["kpi_mediated"], oracle, rtol=1e-6)
    channels = pd.read_csv(tmp_path / "channels.csv").set_index("channel")
    np.testing.assert_allclose(channels.loc["tv", "incremental_mediated"], oracle, rtol=1e-4)
    assert (channels["incremental_total"] >= 0).all()
