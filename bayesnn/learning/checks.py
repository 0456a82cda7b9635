"""Argument checks of the learning algorithms: ``ValueError`` naming the argument, raised
before any work (bayesnn's bad-input policy)."""
from __future__ import annotations

import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import require_in_range, require_integer_counts, require_positive
from bayesnn.processes.labelling import require_distinct_states
from bayesnn.processes.params import MMPPParams, check_mmpp_fields

# Learned rates are kept in [MIN_RATE, MAX_RATE] Hz: the M-step maximises the expected
# complete-data log-likelihood over this box (for each rate a concave 1-D problem, so
# clipping is the exact constrained maximiser), and gradient ascent projects onto it.
MIN_RATE = 1e-6
MAX_RATE = 1e6


def check_initial(initial, name: str = "initial", start: bool = True) -> MMPPParams:
    """A validated :class:`MMPPParams` from ``initial`` (any record holding r_on, r_off,
    q_on, q_off); ``ValueError`` naming ``<name>.<field>`` if a rate is outside the
    valid domain (finite, > 0, matching shapes), and (``start=True``, a learner's
    starting point) if it is a symmetric start ``q_on == q_off``
    (:func:`bayesnn.processes.require_distinct_states`)."""
    for field in ("r_on", "r_off", "q_on", "q_off"):
        if not hasattr(initial, field):
            raise ValueError(f"{name} must hold r_on, r_off, q_on, q_off (an MMPPParams), "
                             f"got {type(initial).__name__}")
    try:
        fields = check_mmpp_fields(initial.r_on, initial.r_off, initial.q_on, initial.q_off)
    except ValueError as error:
        raise ValueError(f"{name}.{error}") from None
    params = MMPPParams(**fields)
    if start:
        require_distinct_states(params, name)
    return params


def check_rate_bounds(min_rate, max_rate) -> tuple[float, float]:
    low = float(require_positive("min_rate", min_rate, ndim=0))
    high = float(require_positive("max_rate", max_rate, ndim=0))
    if high <= low:
        raise ValueError(f"max_rate must be > min_rate = {low}, got {high}")
    return low, high


def check_learning_rate(value, name: str = "learning_rate") -> float:
    return float(require_positive(name, value, ndim=0))


def check_discount(value, name: str = "discount") -> float:
    """Discount factor per bin (or per step) in (0, 1]; 1 = no forgetting."""
    return require_in_range(name, value, 0.0, 1.0, low_inclusive=False, high_inclusive=True)


def check_initial_prob_on(value) -> float | None:
    """``None`` (the stationary law of the current parameters, bayesnn's default) or a
    fixed P(x_0 = 1) in [0, 1]."""
    if value is None:
        return None
    return require_in_range("initial_prob_on", value, 0.0, 1.0, True, True)


def check_reference(reference, n_inputs: int):
    """``None`` or a valid :class:`MMPPParams` with N inputs (the labelling reference)."""
    if reference is None:
        return None
    params = check_initial(reference, "reference", start=False)
    if params.n_inputs != n_inputs:
        raise ValueError(f"reference must have N = {n_inputs} inputs, got {params.n_inputs}")
    return params


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_tolerance(value, name: str = "tol") -> float:
    return float(require_positive(name, value, ndim=0))


def _require_enough(name: str, n_spikes: int, n_inputs: int) -> None:
    n_parameters = 2 * n_inputs + 2
    if n_spikes < n_parameters:
        raise ValueError(f"{name} holds {n_spikes} spikes, fewer than the {n_parameters} "
                         f"parameters to learn (r_on, r_off, q_on, q_off for N = {n_inputs})")


def check_counts(counts, dt, n_inputs: int, name: str = "counts") -> tuple[np.ndarray, float]:
    """Binned counts as a (B, T, N) float array (a (T, N) array gains B = 1)."""
    require_x64("bayesnn.learning")
    array = require_integer_counts(name, counts)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[-1] != n_inputs or array.shape[1] < 1:
        raise ValueError(f"{name} must have shape (T, N) or (B, T, N) with T >= 1 and "
                         f"N = {n_inputs}, got {np.shape(counts)}")
    dt = float(require_positive("dt", dt, ndim=0))
    _require_enough(name, int(array.sum()), n_inputs)
    return array.astype(float), dt


def check_spikes(inputs, duration, n_inputs: int, name: str = "inputs"
                 ) -> tuple[Spikes, float, bool]:
    """Input spikes (one trial or a batch) on ``[0, duration]``; returns (inputs,
    duration, batched)."""
    require_x64("bayesnn.learning")
    if not isinstance(inputs, Spikes):
        raise ValueError(f"{name} must be a bayesnn.core.Spikes, got {type(inputs).__name__}")
    duration = float(require_positive("duration", duration, ndim=0))
    times, senders = np.asarray(inputs.times), np.asarray(inputs.senders)
    if times.ndim not in (1, 2):
        raise ValueError(f"{name} must be one trial (C,) or a batch (B, C), got {times.shape}")
    if np.any(np.asarray(inputs.n_events) > inputs.capacity):
        raise ValueError(f"{name} overflowed its buffer (n_events > capacity)")
    if not np.issubdtype(senders.dtype, np.integer):
        raise ValueError(f"{name}.senders must be integers, got dtype {senders.dtype}")
    counts = np.asarray(inputs.counts)
    if not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(f"{name}.counts must be integers, got dtype {counts.dtype}")
    valid = senders >= 0
    if np.any(valid & (counts < 1)):
        raise ValueError(f"{name}.counts (spike multiplicities) must be >= 1 at every valid "
                         f"event, got {int(counts[valid].min())}")
    if np.any(senders >= n_inputs):
        raise ValueError(f"{name} senders must be < N = {n_inputs}, got {int(senders.max())}")
    if np.any(valid & ~np.isfinite(times)) or np.any(valid & ((times < 0) | (times > duration))):
        raise ValueError(f"{name} times must lie in [0, duration = {duration}] s")
    ordered = np.where(valid, times, np.inf)
    if np.any(ordered[..., 1:] < ordered[..., :-1]):
        raise ValueError(f"{name} times must be sorted, valid events first")
    _require_enough(name, int(np.sum(np.where(valid, np.asarray(inputs.counts), 0))), n_inputs)
    return inputs, duration, times.ndim == 2


__all__ = ["MIN_RATE", "MAX_RATE", "check_initial", "check_rate_bounds",
           "check_learning_rate", "check_discount", "check_initial_prob_on",
           "check_positive_int", "check_tolerance", "check_counts", "check_spikes"]
