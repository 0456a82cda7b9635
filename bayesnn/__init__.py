"""bayesnn: Bayesian inference with spiking neurons, measured against exact Bayes.

Units: seconds and Hz everywhere. Validation runs in float64; call
:func:`bayesnn.enable_x64` (or set ``JAX_ENABLE_X64=1``) before creating arrays.
"""
from bayesnn.core.precision import enable_x64, x64_enabled

__version__ = "0.1.0"
__all__ = ["enable_x64", "x64_enabled", "__version__"]
