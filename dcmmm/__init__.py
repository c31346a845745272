"""dcmmm: a deep causal Marketing Mix Model in JAX/Flax.

Data flows one way: ``dcmmm.data`` -> ``dcmmm.model`` -> ``dcmmm.train`` ->
``dcmmm.analysis`` -> ``dcmmm.run`` (files on disk); docs/design.md, "Layers".

The public API is `__all__`: the errors, `load_run` and the `Fitted` model it
returns, the analyses that take a `Fitted` (forward planning: `plan`,
`PlanSpec`, `Planner`), and the data layer's loader (`dcmmm.run.main` runs
one experiment from a config dict, as `train.py` does;
`dcmmm.planning.run.main` one plan, as `plan.py` does). Names other than the errors are imported on first use, so
``import dcmmm`` does not import JAX.
"""

import importlib
import os

# jaxlib 0.10 on CPU returns wrong values, silently, from some fused reductions
# whose output passes 2**15 elements (jax-ml/jax#39103): vmapped counterfactuals
# and panels of a few hundred regions hit it. Turning the faulty fusion off
# fixes it; XLA reads the flag when its CPU backend starts (the first
# computation), so importing dcmmm before computing anything with JAX suffices.
#
# Its CPU runtime's concurrency-optimised scheduler also deadlocks some
# programs: the effect profile of a run with lift tests (`dcmmm.evidence`,
# on by default) waited forever, every CPU thread idle, in its first call
# (`python train.py data.scenario=collinear seed=0 model.ensemble_size=1
# calibration.path=...`, and the default ensemble on geo seed 2 with its
# designed tests); with the scheduler off it finishes. tests/test_xla_workaround.py.
# A flag the user already set in XLA_FLAGS is left as they set it.
_XLA_FIXES = ("--xla_cpu_experimental_ynn_fusion_type=",
              "--xla_cpu_enable_concurrency_optimized_scheduler=false")
for _fix in _XLA_FIXES:
    if _fix.split("=")[0] + "=" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _fix).strip()

from dcmmm.errors import ConfigError, DataError, TrainingError  # noqa: E402

__version__ = "0.1.0"

# public name -> (module, name there)
_LAZY = {
    "load_run": ("dcmmm.loaded", "load_run"),
    "Fitted": ("dcmmm.fitted", "Fitted"),
    "analyse": ("dcmmm.outputs", "analyse"),
    "incremental_effects": ("dcmmm.analysis.effects", "incremental_effects"),
    "response_curves": ("dcmmm.analysis.curves", "response_curves"),
    "what_if": ("dcmmm.analysis.budget", "what_if"),
    "marginal_roi": ("dcmmm.analysis.budget", "marginal_roi"),
    "optimise_budget": ("dcmmm.analysis.budget", "optimise_budget"),
    "BudgetSpec": ("dcmmm.analysis.budget", "BudgetSpec"),
    "plan": ("dcmmm.planning.tables", "plan"),
    "PlanSpec": ("dcmmm.planning.spec", "PlanSpec"),
    "Planner": ("dcmmm.planning.planner", "Planner"),
    "DataSpec": ("dcmmm.data.panel", "DataSpec"),
    "Panel": ("dcmmm.data.panel", "Panel"),
    "load_panel": ("dcmmm.data.panel", "load_panel"),
}

__all__ = ["ConfigError", "DataError", "TrainingError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'dcmmm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
