"""Argument checks shared by all models.

Every public constructor validates its inputs with these helpers *before* any
simulation work, and raises a ``ValueError`` whose message names the parameter and
the constraint it broke. Nothing downstream clips or silently returns NaN.

Scalars and arrays (``as_array``, ``require_positive``, ``require_nonnegative``,
``require_shape``, ``require_integer_counts``, ``require_in_range``, ``require_int``),
matrices (``require_matrix``, ``require_square``, ``require_symmetric``, ``require_psd``,
``require_pd``, ``require_hurwitz``) and one trial of spikes (``check_spikes``). Traced
values are the caller's business: check with :func:`bayesnn.core.is_traced` first.
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


def require_integer_counts(name: str, value: Any, *, keep_integer: bool = False) -> np.ndarray:
    """Array of non-negative integer counts (given as ints or integral floats), float64;
    with ``keep_integer`` an integer NumPy array is returned as it is after one pass for
    the sign (no float copy: large count arrays on a hot path)."""
    if keep_integer and isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        if value.size and value.min() < 0:
            raise ValueError(f"{name} must hold non-negative integers")
        return value
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


# ----------------------------------------------------------------------------- matrices
SYMMETRY_TOL = 1e-10  # relative slack for symmetry / positive semi-definiteness checks


def require_matrix(name: str, value: Any, shape: Sequence[int | None]) -> np.ndarray:
    """Finite array of ``len(shape)`` dims matching ``shape`` (``None``: any length)."""
    return require_shape(name, as_array(name, value, ndim=len(shape)), shape)


def require_square(name: str, value: Any) -> np.ndarray:
    """Finite, non-empty square matrix."""
    array = as_array(name, value, ndim=2)
    if array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {array.shape}")
    return array


def require_symmetric(name: str, array: np.ndarray) -> np.ndarray:
    """Raise unless ``array`` is symmetric to ``SYMMETRY_TOL`` relative; return its
    symmetric part."""
    scale = max(1.0, float(np.max(np.abs(array), initial=0.0)))
    if np.max(np.abs(array - array.T), initial=0.0) > SYMMETRY_TOL * scale:
        raise ValueError(f"{name} must be symmetric")
    return 0.5 * (array + array.T)


def require_psd(name: str, value: Any, dim: int | None = None) -> np.ndarray:
    """Symmetric positive semi-definite (dim, dim) matrix (eigenvalues >= -1e-10 scale)."""
    array = require_matrix(name, value, (dim, dim))
    if array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {array.shape}")
    array = require_symmetric(name, array)
    scale = max(1.0, float(np.max(np.abs(array))))
    low = float(np.min(np.linalg.eigvalsh(array)))
    if low < -SYMMETRY_TOL * scale:
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue {low:.3g}")
    return array


def require_pd(name: str, value: Any, dim: int | None = None) -> np.ndarray:
    """Symmetric positive-definite (dim, dim) matrix (its Cholesky factor exists)."""
    array = require_psd(name, value, dim)
    try:
        np.linalg.cholesky(array)
    except np.linalg.LinAlgError as error:
        raise ValueError(f"{name} must be positive definite, smallest eigenvalue "
                         f"{float(np.min(np.linalg.eigvalsh(array))):.3g}") from error
    return array


def require_hurwitz(name: str, matrix: np.ndarray) -> np.ndarray:
    """Raise unless every eigenvalue of ``matrix`` has a negative real part (stable)."""
    worst = float(np.max(np.real(np.linalg.eigvals(matrix))))
    if worst >= 0:
        raise ValueError(f"{name} must be Hurwitz (stable: all Re eig < 0), but its largest "
                         f"real eigenvalue is {worst:.4g} 1/s")
    return matrix


def require_int(name: str, value: Any, minimum: int = 0) -> int:
    """A Python int >= ``minimum`` (bools and non-integral numbers rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- spikes
def check_spikes(spikes: Any, *, n_senders: int, duration: float | None = None,
                 name: str = "spikes") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one trial of a :class:`bayesnn.core.Spikes` record and return its NumPy
    ``(times (K,), senders (K,), counts (K,))`` with padding removed.

    Raises:
        ValueError: naming ``name``, if it is not a single-trial ``Spikes``, overflowed,
            has unsorted, non-finite or negative times, times after ``duration`` s,
            senders outside ``[0, n_senders)`` or counts < 1.
    """
    from bayesnn.core.spikes import Spikes, spike_arrays

    if not isinstance(spikes, Spikes):
        raise ValueError(f"{name} must be a bayesnn.core.Spikes record (see make_spikes), "
                         f"got {type(spikes).__name__}")
    if np.ndim(spikes.times) != 1:
        raise ValueError(f"{name} must hold one trial (times of shape (C,)), got shape "
                         f"{np.shape(spikes.times)}")
    try:
        times, senders, counts = spike_arrays(spikes)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} times of valid events must be finite")
    if times.size and np.any(np.diff(times) < 0):
        raise ValueError(f"{name} times must be sorted in time")
    if senders.size and int(np.max(senders)) >= n_senders:
        raise ValueError(f"{name} senders must be < {n_senders}, got {int(np.max(senders))}")
    if counts.size and np.any(counts < 1):
        raise ValueError(f"{name} counts of valid events must be >= 1")
    if times.size and times[0] < 0:
        raise ValueError(f"{name} times must be >= 0 s, got {times[0]}")
    if duration is not None and times.size and (times[0] < 0 or times[-1] > duration):
        raise ValueError(f"{name} times must lie in [0, duration = {duration}] s, got "
                         f"[{times[0]}, {times[-1]}]")
    return times, senders.astype(np.int64), counts.astype(np.int64)


def _show(array: np.ndarray) -> str:
    if array.size <= 6:
        return repr(array.tolist())
    return f"array with min {array.min()!r}"


__all__ = ["as_array", "require_positive", "require_nonnegative", "require_shape",
           "require_integer_counts", "require_in_range", "SYMMETRY_TOL",
           "require_matrix", "require_square", "require_symmetric", "require_psd",
           "require_pd", "require_hurwitz", "require_int", "check_spikes"]
