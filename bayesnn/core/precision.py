"""Floating-point precision: never lose accuracy silently.

JAX defaults to float32. bayesnn's choice:

* **Exactness claims refuse float32.** Exact references (:mod:`bayesnn.exact`), the
  NumPyro log-likelihoods and ``bayesnn validate`` call :func:`require_x64`, which raises
  :class:`PrecisionError` (a ``RuntimeError``) unless float64 is on: in float32 they
  would be off by far more than their stated tolerance (e.g. 0.25-3 nats on a 20 s
  trial), and a wrong "exact" answer is worse than none.
* **Model runs in float32 warn once** (:func:`warn_if_float32`, a
  :class:`PrecisionWarning`), since float32 is a legitimate speed choice for
  simulations, but their results are then only good to ~1e-6 relative per step.

Switch float64 on before creating arrays::

    import bayesnn
    bayesnn.enable_x64()

or set ``JAX_ENABLE_X64=1``. The ``bayesnn`` command line and the test suite do so.
"""
from __future__ import annotations

import warnings

import jax


class PrecisionError(RuntimeError):
    """An exactness claim was asked for while JAX computes in float32."""


class PrecisionWarning(UserWarning):
    """A simulation runs in float32: results are accurate to float32 rounding only."""


_warned: set[str] = set()


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX's default floating type to float64 (``enabled=True``) or float32."""
    jax.config.update("jax_enable_x64", bool(enabled))


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default."""
    return bool(jax.config.jax_enable_x64)


def require_x64(what: str) -> None:
    """Raise :class:`PrecisionError` unless float64 is on (for exactness claims)."""
    if not x64_enabled():
        raise PrecisionError(
            f"{what} promises float64 accuracy but JAX is in float32; call "
            "bayesnn.enable_x64() (or set JAX_ENABLE_X64=1) before creating arrays")


def warn_if_float32(what: str) -> None:
    """Warn once per ``what`` if JAX computes in float32."""
    if not x64_enabled() and what not in _warned:
        _warned.add(what)
        warnings.warn(
            f"{what} runs in float32: results carry float32 rounding (~1e-7 relative "
            "per operation, which accumulates over long runs and large |L|); call "
            "bayesnn.enable_x64() for float64", PrecisionWarning, stacklevel=3)
