"""dcmmm: a deep causal Marketing Mix Model in JAX/Flax.

Data flows one way: ``dcmmm.data`` -> ``dcmmm.model`` -> ``dcmmm.train`` ->
``dcmmm.analysis`` -> ``dcmmm.run`` (files on disk).
"""

from dcmmm.errors import ConfigError, DataError, TrainingError

__all__ = ["ConfigError", "DataError", "TrainingError"]
__version__ = "0.1.0"


def __getattr__(name):
    # `dcmmm.load_run` without importing JAX on `import dcmmm`
    if name in ("load_run", "LoadedRun"):
        from dcmmm import run

        return getattr(run, name)
    raise AttributeError(f"module 'dcmmm' has no attribute {name!r}")
