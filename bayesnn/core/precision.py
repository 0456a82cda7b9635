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

* **Absolute times never lose their spacing silently.** A float32 time near t carries
  an error up to ``ulp(t)/2`` (3.9 ms at t = 1 day), which every flow between events
  turns into an error of about ``rate * ulp(t)/2`` (rate: the fastest rate of the
  model, Hz, or 1/dt for binning). :func:`require_time_resolution` refuses, with a
  :class:`PrecisionError`, float32 runs where that exceeds ``TIME_RESOLUTION`` (1e-3:
  errors of that size are visible in any float32-vs-float64 comparison, while a 10 s
  run of 20 inputs at ~440 Hz in total, 2e-4, still passes); :func:`require_distinct_in_float32` refuses event
  times that float32 would merge or reorder. Both are no-ops in float64.

Switch float64 on before creating arrays::

    import bayesnn
    bayesnn.enable_x64()

or set ``JAX_ENABLE_X64=1``. The ``bayesnn`` command line and the test suite do so.
"""
from __future__ import annotations

import warnings

import jax
import numpy as np


class PrecisionError(RuntimeError):
    """An exactness claim was asked for while JAX computes in float32."""


class PrecisionWarning(UserWarning):
    """A simulation runs in float32: results are accurate to float32 rounding only."""


_warned: set[str] = set()


_FLOAT32_RECORDS = {"built": 0}  # records validated while JAX was in float32


def note_float32_record() -> None:
    """Called when a parameter record is built in float32 (see :func:`enable_x64`)."""
    _FLOAT32_RECORDS["built"] += 1


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX's default floating type to float64 (``enabled=True``) or float32.

    Records built before (in float32) keep float32 values: switching on float64 after
    building any warns (:class:`PrecisionWarning`), naming how many were built, so a
    float32 record is never used in a float64 run without a word; rebuild them."""
    if enabled and not x64_enabled() and _FLOAT32_RECORDS["built"]:
        warnings.warn(
            f"enable_x64() after {_FLOAT32_RECORDS['built']} value(s) of parameter records were built "
            "in float32: they keep float32 values (about 7 digits); rebuild them after "
            "enable_x64() (or call it first, before building any record)",
            PrecisionWarning, stacklevel=2)
    jax.config.update("jax_enable_x64", bool(enabled))
    if enabled:
        _FLOAT32_RECORDS["built"] = 0


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default."""
    return bool(jax.config.jax_enable_x64)


def require_x64(what: str) -> None:
    """Raise :class:`PrecisionError` unless float64 is on (for exactness claims)."""
    if not x64_enabled():
        raise PrecisionError(
            f"{what} promises float64 accuracy but JAX is in float32; call "
            "bayesnn.enable_x64() (or set JAX_ENABLE_X64=1) before creating arrays")


TIME_RESOLUTION = 1e-3
"""Largest ``rate * ulp(t_max) / 2`` (dimensionless) a float32 run may carry (module
docstring)."""


def float32_time_error(t_max: float) -> float:
    """Largest rounding error (s) of a float32 time in ``[0, t_max]``: ``ulp(t_max)/2``."""
    return 0.5 * float(np.spacing(np.float32(abs(float(t_max)))))


def require_time_resolution(what: str, t_max: float, rate: float) -> None:
    """In float32, raise :class:`PrecisionError` unless ``rate * ulp(t_max)/2 <=
    TIME_RESOLUTION``: absolute times up to ``t_max`` (s) would otherwise move events by
    more than a 1e-3 fraction of the model's fastest time scale ``1/rate`` (Hz).
    No-op in float64 (``ulp(1 day)/2 = 7e-12`` s)."""
    if x64_enabled():
        return
    error = float32_time_error(t_max)
    if rate * error > TIME_RESOLUTION:
        raise PrecisionError(
            f"{what}: in float32, times up to {float(t_max):.6g} s are rounded by up to "
            f"{error:.3g} s, i.e. {rate * error:.3g} of the fastest time scale 1/{rate:.4g} Hz "
            f"(limit {TIME_RESOLUTION:g}); call bayesnn.enable_x64() (or set "
            "JAX_ENABLE_X64=1), or shorten the run")


def require_distinct_in_float32(name: str, times) -> None:
    """In float32, raise :class:`PrecisionError` naming ``name`` if rounding the sorted
    float64 ``times`` to float32 merges two distinct times or reorders them (the event
    sequence itself would change). No-op in float64."""
    if x64_enabled():
        return
    exact = np.asarray(times, dtype=np.float64)
    if exact.size < 2:
        return
    rounded = exact.astype(np.float32)
    distinct = np.diff(exact) > 0
    if np.any(distinct & ~(np.diff(rounded) > 0)):
        where = int(np.argmax(distinct & ~(np.diff(rounded) > 0)))
        raise PrecisionError(
            f"{name}: float32 cannot tell apart the distinct times {float(exact[where])!r} and "
            f"{float(exact[where + 1])!r} s (resolution {float32_time_error(exact[-1]):.3g} s there); "
            "call bayesnn.enable_x64() (or set JAX_ENABLE_X64=1) before building spikes")


def warn_if_float32(what: str) -> None:
    """Warn once per ``what`` if JAX computes in float32."""
    if not x64_enabled() and what not in _warned:
        _warned.add(what)
        warnings.warn(
            f"{what} runs in float32: results carry float32 rounding (~1e-7 relative "
            "per operation, which accumulates over long runs and large |L|); call "
            "bayesnn.enable_x64() for float64", PrecisionWarning, stacklevel=3)


__all__ = ["PrecisionError", "PrecisionWarning", "enable_x64", "x64_enabled",
           "require_x64", "TIME_RESOLUTION", "float32_time_error",
           "require_time_resolution", "require_distinct_in_float32", "warn_if_float32"]
