"""Floating-point precision control.

JAX defaults to float32. Every exactness claim in bayesnn is checked in float64, which
must be switched on before any JAX array is created::

    import bayesnn
    bayesnn.enable_x64()

or, equivalently, ``JAX_ENABLE_X64=1`` in the environment. The ``bayesnn`` command
line and the test suite enable it themselves.
"""
from __future__ import annotations

import jax


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX's default floating type to float64 (``enabled=True``) or float32."""
    jax.config.update("jax_enable_x64", bool(enabled))


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default."""
    return bool(jax.config.jax_enable_x64)
