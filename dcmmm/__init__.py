"""dcmmm: a deep causal Marketing Mix Model in JAX/Flax.

Data flows one way: ``dcmmm.data`` -> ``dcmmm.model`` -> ``dcmmm.train`` ->
``dcmmm.analysis`` -> ``dcmmm.run`` (files on disk).
"""

from dcmmm.errors import ConfigError, DataError

__all__ = ["ConfigError", "DataError"]
__version__ = "0.1.0"
