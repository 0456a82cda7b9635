"""Argument checks shared by all models.

Every public constructor validates its inputs with these helpers *before* any
simulation work, and raises a ``ValueError`` whose message names the parameter and
the constraint it broke. Nothing downstream clips or silently returns NaN.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def as_array(name: str, value: Any, ndim: int | None = None, dtype=np.float64) -> np.ndarray:
    """Convert ``value`` to a NumPy array, checking it is finite and has ``ndim`` dims."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric, got {value!r}") from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got non-finite values")
    return array


def require_positive(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Array of ``value``; raise unless every element is finite and > 0."""
    array = as_array(name, value, ndim)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {_show(array)}")
    return array


def require_nonnegative(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Array of ``value``; raise unless every element is finite and >= 0."""
    array = as_array(name, value, ndim)
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0, got {_show(array)}")
    return array


def require_shape(name: str, array: np.ndarray, shape: Sequence[int | None]) -> np.ndarray:
    """Raise unless ``array.shape`` matches ``shape`` (``None`` matches any length)."""
    if len(array.shape) != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape)
    ):
        wanted = tuple("any" if s is None else s for s in shape)
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    return array


def require_integer_counts(name: str, value: Any) -> np.ndarray:
    """Array of non-negative integer counts (given as ints or integral floats)."""
    array = as_array(name, value)
    if np.any(array < 0) or np.any(array != np.round(array)):
        raise ValueError(f"{name} must hold non-negative integers")
    return array


def require_in_range(name: str, value: float, low: float, high: float,
                     low_inclusive: bool = False, high_inclusive: bool = False) -> float:
    """Scalar ``value`` in the interval between ``low`` and ``high``."""
    scalar = float(as_array(name, value, ndim=0))
    ok_low = scalar >= low if low_inclusive else scalar > low
    ok_high = scalar <= high if high_inclusive else scalar < high
    if not (ok_low and ok_high):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {scalar}")
    return scalar


def require_rates(r_on, r_off, q_on, q_off) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Rates of the Markov-modulated Poisson model (Hz): switching rates ``r_on``,
    ``r_off`` (scalars > 0) and input rates ``q_on``, ``q_off`` (one shape (N,), N >= 1,
    all > 0)."""
    r_on = float(require_positive("r_on", r_on, ndim=0))
    r_off = float(require_positive("r_off", r_off, ndim=0))
    q_on = require_positive("q_on", q_on, ndim=1)
    q_off = require_positive("q_off", q_off, ndim=1)
    if q_on.shape != q_off.shape:
        raise ValueError(f"q_on and q_off must have the same shape (N,), got {q_on.shape} "
                         f"and {q_off.shape}")
    if q_on.size == 0:
        raise ValueError("q_on must hold at least one input rate, got shape (0,)")
    return r_on, r_off, q_on, q_off


def _show(array: np.ndarray) -> str:
    if array.size <= 6:
        return repr(array.tolist())
    return f"array with min {array.min()!r}"
