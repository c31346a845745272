"""The fitted model: one type for everything an analysis needs.

A `Fitted` holds a run's spec, its panel and scalers, the fitted parameters,
the model's inputs (scaled batch, calendar statics, split) and the
thresholded channel graph every output uses; with an ensemble, the members'
parameters and the zero tests. A fit returns one (`dcmmm.fitting`), a finished
run directory reads back as one (`dcmmm.load_run`), and the analyses take one:

    run = dcmmm.load_run("outputs/...")
    dcmmm.what_if(run, {"tv": 1.2})
    dcmmm.optimise_budget(run, dcmmm.BudgetSpec(total=1.5e6))
"""

import dataclasses
from dataclasses import dataclass

import jax
import numpy as np

from dcmmm.data.panel import Panel
from dcmmm.data.scaling import Scalers
from dcmmm.model.graph import threshold_graph
from dcmmm.model.mmm import ModelSpec, Prediction, Statics, graph_weights, predict_panel
from dcmmm.specs import RunSpec
from dcmmm.train.inputs import Split
from dcmmm.train.loss import Batch, model_lifts
from dcmmm.train.replicas import replica


def used_graph(spec: RunSpec, params: dict, statics: Statics,
               stability: np.ndarray | None = None) -> np.ndarray:
    """The channel graph W[C, C] every output uses: the learned graph with
    |W| < `model.graph.threshold` cut, edges found in less than
    `model.graph.stability` of the bootstrap refits cut (`stability` [C, C],
    None: not measured) and cycles broken (`threshold_graph`)."""
    stable = None if stability is None else stability >= spec.graph.stability
    return threshold_graph(np.asarray(graph_weights(params, statics)), spec.graph.threshold,
                           spec.graph.require, stable)


@dataclass(frozen=True, eq=False)
class Fitted:
    """A fitted model of R regions, T weeks, C channels.

    spec: the run's settings; panel: its data (KPI, media and spend in data
    units); scalers: the scaling of the panel (`kpi_mean` [R] turns scaled
    KPI into KPI units); params: the fitted parameters; batch: the scaled
    inputs (`x` [R, T, C], `z` [R, T, K], cell weights, lift tests); statics:
    calendar and level basis; split: fitted / validation / holdout weeks;
    graph: W[C, C], the thresholded channel graph (`used_graph`);
    member_params: with an ensemble, the members' parameters [E, ...] (member
    0 = `params`), else None; zero_tests: the ensemble's zero tests
    (`dcmmm.ensemble.zero_tests`, with the channel names), or None;
    graph_stability: [C, C] share of the graph's bootstrap refits in which
    each edge survives (`dcmmm.train.graph_stability`), or None when not
    measured; evidence: the profile of the fit over each channel's effect
    size (`dcmmm.evidence.effect_profile`), or None when not measured.
    """

    spec: RunSpec
    panel: Panel
    scalers: Scalers
    params: dict
    batch: Batch
    statics: Statics
    split: Split
    graph: np.ndarray
    member_params: dict | None = None
    zero_tests: dict | None = None
    graph_stability: np.ndarray | None = None
    evidence: dict | None = None

    @classmethod
    def of(cls, spec: RunSpec, panel: Panel, scalers: Scalers, params: dict, batch: Batch,
           statics: Statics, split: Split, member_params: dict | None = None,
           zero_tests: dict | None = None, graph_stability: np.ndarray | None = None
           ) -> "Fitted":
        """The fitted model of `params`, its graph thresholded as every output uses it."""
        return cls(spec, panel, scalers, params, batch, statics, split,
                   used_graph(spec, params, statics, graph_stability), member_params, zero_tests,
                   graph_stability)

    def with_stability(self, graph_stability: np.ndarray | None) -> "Fitted":
        """This model with its edges' stability measured, and its graph cut to the stable edges."""
        return dataclasses.replace(self, graph_stability=graph_stability, graph=used_graph(
            self.spec, self.params, self.statics, graph_stability))

    @property
    def model(self) -> ModelSpec:
        return self.spec.model

    @property
    def kpi_mean(self) -> np.ndarray:
        """[R] KPI units per scaled unit (each region's training-week KPI mean)."""
        return self.scalers.kpi_mean

    @property
    def channels(self) -> tuple[str, ...]:
        return self.panel.channels

    def prediction(self) -> Prediction:
        """The prediction and its components [R, T, ...] in scaled units."""
        return predict_panel(self.model, self.params, self.batch.x, self.batch.z, self.statics)

    def model_lifts(self, lifts) -> np.ndarray:
        """[N] the KPI the fitted model loses in each of the lift tests `lifts`
        (a `LiftBatch`: the run's tests or priors), through the thresholded
        graph (KPI units, float64)."""
        w = jax.numpy.asarray(self.graph, jax.numpy.float32)
        return np.asarray(model_lifts(self.params, self.batch, self.statics, self.model,
                                      self.prediction(), w=w, lifts=lifts), np.float64)

    def to_kpi(self, scaled) -> np.ndarray:
        """Scaled KPI [R, T] (a prediction or one of its components) in KPI units, float64."""
        return self.scalers.unscale_kpi(np.asarray(scaled, np.float64))

    def predict(self) -> tuple[np.ndarray, Prediction]:
        """Prediction in KPI units [R, T] (as predictions.csv) and its components (scaled)."""
        pred = self.prediction()
        return self.to_kpi(pred.y), pred

    @property
    def n_members(self) -> int:
        """Ensemble members (0 without an ensemble)."""
        if self.member_params is None:
            return 0
        return jax.tree.leaves(self.member_params)[0].shape[0]

    def members(self) -> list["Fitted"]:
        """The ensemble's members as fitted models, member 0 (this model) first;
        [] without an ensemble. Each member uses its own thresholded graph, cut
        to the edges this model's stability keeps."""
        if self.member_params is None:
            return []
        plain = dataclasses.replace(self, member_params=None, zero_tests=None, evidence=None)
        return [plain] + [Fitted.of(self.spec, self.panel, self.scalers,
                                    replica(self.member_params, i), self.batch, self.statics,
                                    self.split, graph_stability=self.graph_stability)
                          for i in range(1, self.n_members)]
