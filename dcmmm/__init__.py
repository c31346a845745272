"""dcmmm: a deep causal Marketing Mix Model in JAX/Flax.

Data flows one way: ``dcmmm.data`` -> ``dcmmm.model`` -> ``dcmmm.train`` ->
``dcmmm.analysis`` -> ``dcmmm.run`` (files on disk).
"""

import os

# jaxlib 0.10 on CPU returns wrong values, silently, from some fused reductions
# whose output passes 2**15 elements (jax-ml/jax#39103): vmapped counterfactuals
# and panels of a few hundred regions hit it. Turning the faulty fusion off
# fixes it; XLA reads the flag when its CPU backend starts (the first
# computation), so importing dcmmm before computing anything with JAX suffices.
_XLA_FIX = "--xla_cpu_experimental_ynn_fusion_type="
if _XLA_FIX not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _XLA_FIX).strip()

from dcmmm.errors import ConfigError, DataError, TrainingError  # noqa: E402

__all__ = ["ConfigError", "DataError", "TrainingError"]
__version__ = "0.1.0"


def __getattr__(name):
    # `dcmmm.load_run` without importing JAX on `import dcmmm`
    if name in ("load_run", "LoadedRun"):
        from dcmmm import run

        return getattr(run, name)
    raise AttributeError(f"module 'dcmmm' has no attribute {name!r}")
