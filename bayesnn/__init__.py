"""bayesnn: Bayesian inference with spiking neurons, measured against exact Bayes.

Units: seconds and Hz everywhere. Validation runs in float64; call
:func:`bayesnn.enable_x64` (or set ``JAX_ENABLE_X64=1``) before creating arrays.
"""
from typing import TYPE_CHECKING

from bayesnn.core.lazy_exports import lazy_names

if TYPE_CHECKING:  # the names, for readers and type checkers; bound on first use below
    from bayesnn.core.precision import enable_x64, x64_enabled

# Bound on first use (PEP 562): importing JAX takes 1-3 s, and the ``bayesnn`` command
# decides whether to re-execute itself (a fixed PYTHONHASHSEED, bayesnn.cli) before it
# needs JAX; importing ``bayesnn`` alone must not start it.
_WHERE = {"enable_x64": "bayesnn.core.precision", "x64_enabled": "bayesnn.core.precision"}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__version__ = "0.1.0"
__all__ = ["enable_x64", "x64_enabled", "__version__"]
