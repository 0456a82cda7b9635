"""One spike-event container for every family: :class:`Spikes`.

JAX needs static shapes while the number of spikes is random, so spikes are *events*
in a preallocated buffer of ``capacity`` slots. The same record carries the input
spikes of a Bayesian neuron (sender = input channel), the output spikes of a neuron
(sender 0, with a multiplicity when several spikes fall at one instant), and the spikes
of a network (sender = neuron index). Memory is O(capacity): it grows with spikes,
never with neurons x steps.

Conventions (the same everywhere):

* valid events fill the first ``min(n_events, capacity)`` slots, sorted in time;
* padding slots hold ``time = +inf``, ``sender = -1``, ``count = 0``;
* ``n_events`` counts every event emitted; ``n_events > capacity`` means the buffer
  overflowed. bayesnn's single overflow policy (:func:`run_growing`): the public
  wrappers rerun with a larger capacity (results are identical per key, see below),
  so a user never receives a truncated result; kernels only record the count.
* batched containers have leading batch axes on every field.

Capacities are bucketed to powers of two (:func:`bucket_capacity`) so that runs whose
expected counts differ a little share one compiled program.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.precision import require_distinct_in_float32

MIN_CAPACITY = 16


class Spikes(NamedTuple):
    """Spike events in fixed storage (a JAX pytree).

    Fields:
        times: (..., C) event times in seconds, sorted; ``+inf`` in unused slots.
        senders: (..., C) int32 index of the emitting input channel or neuron; -1 unused.
        counts: (..., C) int32 number of spikes at the event (1 for ordinary spikes; the
            Bayesian neuron can emit several at one instant); 0 unused.
        n_events: (...) int32 events emitted (more than C means overflow).
    """

    times: jax.Array
    senders: jax.Array
    counts: jax.Array
    n_events: jax.Array

    @property
    def capacity(self) -> int:
        """Number of slots C (static)."""
        return int(self.times.shape[-1])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.times.shape[:-1])

    def overflowed(self) -> jax.Array:
        """True where more events were emitted than the buffer holds."""
        return self.n_events > self.capacity

    @property
    def n_spikes(self) -> jax.Array:
        """(...) total number of spikes (events weighted by their counts)."""
        return jnp.sum(self.counts, axis=-1)


def empty_spikes(capacity: int, dtype: Any = None) -> Spikes:
    """An empty container with ``capacity`` slots (``dtype``: float type of times)."""
    if int(capacity) < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    dtype = dtype or jnp.result_type(float)
    return Spikes(times=jnp.full((capacity,), jnp.inf, dtype=dtype),
                  senders=jnp.full((capacity,), -1, dtype=jnp.int32),
                  counts=jnp.zeros((capacity,), dtype=jnp.int32),
                  n_events=jnp.zeros((), dtype=jnp.int32))


def append_spikes(spikes: Spikes, times: jax.Array, senders: jax.Array,
                  counts: jax.Array, mask: jax.Array) -> Spikes:
    """Append the events where ``mask`` is true, in order (one scatter).

    ``times``, ``senders``, ``counts`` broadcast to ``mask``'s shape (k,). Events past
    the capacity are counted in ``n_events`` but not stored.
    """
    mask = jnp.asarray(mask, dtype=bool)
    positions = spikes.n_events + jnp.cumsum(mask.astype(jnp.int32)) - 1
    # Unmasked or overflowing events go to an out-of-range index and are dropped.
    target = jnp.where(mask & (positions < spikes.capacity), positions, spikes.capacity)

    def put(field, values, dtype):
        return field.at[target].set(jnp.broadcast_to(values, mask.shape).astype(dtype),
                                    mode="drop")

    return Spikes(times=put(spikes.times, times, spikes.times.dtype),
                  senders=put(spikes.senders, senders, jnp.int32),
                  counts=put(spikes.counts, counts, jnp.int32),
                  n_events=spikes.n_events + jnp.sum(mask, dtype=jnp.int32))


def next_power_of_two(n: int, minimum: int = 1) -> int:
    """The smallest power of two >= ``n`` and >= ``minimum``: bayesnn's one bucketing
    of buffer sizes and padded lengths (few distinct shapes, so few compiled programs)."""
    return max(int(minimum), 1 << max(int(n) - 1, 0).bit_length())


def bucket_capacity(expected: float, sigmas: float = 10.0) -> int:
    """A power-of-two buffer size that a Poisson count of mean ``expected`` exceeds with
    negligible probability (mean + ``sigmas`` standard deviations + 16, rounded up).

    Rounding up to a power of two keeps compiled shapes stable across parameter values;
    overflow is still detected and handled by :func:`run_growing`.
    """
    if not math.isfinite(expected) or expected < 0:
        raise ValueError(f"expected must be finite and >= 0, got {expected}")
    needed = expected + sigmas * math.sqrt(expected) + MIN_CAPACITY
    return 1 << max(4, math.ceil(math.log2(needed)))


def run_growing(run: Callable[[int], Any], capacity: int,
                events_of: Callable[[Any], Any]) -> Any:
    """bayesnn's one overflow policy: call ``run(capacity)``; while any event count
    (``events_of(result)``, an int array) exceeds ``capacity``, rerun with the next power
    of two that holds the largest count. Never truncates; results are identical to a run
    with a large enough buffer from the start (buffers only store, they never feed back).
    """
    while True:
        result = run(int(capacity))
        largest = int(np.max(np.asarray(events_of(result)), initial=0))
        if largest <= capacity:
            return result
        capacity = next_power_of_two(largest)


def make_spikes(times, senders=None, counts=None, *, n_senders: int | None = None,
                duration: float | None = None, capacity: int | None = None,
                name: str = "spikes") -> Spikes:
    """Build a :class:`Spikes` from event lists (NumPy or lists), validated.

    Args:
        times: (K,) spike times in seconds, sorted (non-decreasing), finite.
        senders: (K,) int sender index (default all 0); must lie in [0, n_senders).
        counts: (K,) spikes per event, >= 1 (default 1).
        n_senders: number of input channels / neurons, to check ``senders``.
        duration: if given, every time must lie in [0, duration].
        capacity: slots (default: the smallest power of two >= max(K, 16)).
        name: the parameter name used in error messages.

    Raises:
        ValueError: naming ``name`` and the broken constraint (shape, NaN/inf,
            unsorted, out-of-range time or sender, capacity < K).
        PrecisionError: in float32, if float32 would merge or reorder distinct times.
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1:
        raise ValueError(f"{name} times must have shape (K,), got {times.shape}")
    n = times.shape[0]
    senders = np.zeros(n, np.int64) if senders is None else np.asarray(senders)
    counts = np.ones(n, np.int64) if counts is None else np.asarray(counts)
    for field, values in (("senders", senders), ("counts", counts)):
        if values.shape != (n,):
            raise ValueError(f"{name} {field} must have shape ({n},) like the times, "
                             f"got {values.shape}")
        if n and not np.all(np.asarray(values) == np.round(values)):
            raise ValueError(f"{name} {field} must be integers")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} times must be finite")
    if n and np.any(np.diff(times) < 0):
        raise ValueError(f"{name} times must be sorted in time")
    if n and np.any(senders < 0):
        raise ValueError(f"{name} senders must be >= 0")
    if n_senders is not None and n and np.max(senders) >= n_senders:
        raise ValueError(f"{name} senders must be < {n_senders}, got {int(np.max(senders))}")
    if n and np.any(counts < 1):
        raise ValueError(f"{name} counts must be >= 1")
    if duration is not None and n and (times[0] < 0 or times[-1] > duration):
        raise ValueError(f"{name} times must lie in [0, duration = {duration}] s, got "
                         f"[{times[0]}, {times[-1]}]")
    require_distinct_in_float32(f"{name} times", times)
    if capacity is None:
        capacity = 1 << max(4, math.ceil(math.log2(max(n, 1))))
    if capacity < max(n, 1):
        raise ValueError(f"capacity must be >= the number of events ({n}), got {capacity}")
    pad = capacity - n
    dtype = jnp.result_type(float)
    # converted by NumPy and transferred by device_put: jnp.asarray(..., dtype) compiles
    # a conversion program per capacity
    put = jax.device_put
    return Spikes(
        times=put(np.concatenate([times, np.full(pad, np.inf)]).astype(dtype)),
        senders=put(np.concatenate([senders, np.full(pad, -1)]).astype(np.int32)),
        counts=put(np.concatenate([counts, np.zeros(pad)]).astype(np.int32)),
        n_events=put(np.asarray(n, np.int32)))


def stack_spikes(trials: Sequence[Spikes], capacity: int | None = None) -> Spikes:
    """Stack single-trial containers into one batch with a leading trial axis (padded to
    a common capacity, by default the largest)."""
    if len(trials) == 0:
        raise ValueError("trials must hold at least one Spikes record")
    capacity = capacity or max(s.capacity for s in trials)

    def pad(s: Spikes) -> Spikes:
        extra = capacity - s.capacity
        if extra < 0:
            raise ValueError(f"capacity ({capacity}) is smaller than a trial's ({s.capacity})")
        return Spikes(jnp.pad(s.times, (0, extra), constant_values=jnp.inf),
                      jnp.pad(s.senders, (0, extra), constant_values=-1),
                      jnp.pad(s.counts, (0, extra)), s.n_events)

    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[pad(s) for s in trials])


def spike_arrays(spikes: Spikes, trial: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one way to extract spikes: NumPy ``(times, senders, counts)`` of one trial,
    padding removed.

    Args:
        spikes: a single-trial container, or a batch with ``trial`` to pick one.
        trial: index along the leading trial axis (required for a batch).

    Raises:
        ValueError: if the container is batched and ``trial`` is None, or if it
            overflowed (its stored events would be incomplete).
    """
    if trial is not None:
        # picked on the host (indexing a device array compiles a program per shape)
        spikes = jax.tree_util.tree_map(lambda a: np.asarray(a)[trial], spikes)
    if spikes.times.ndim != 1:
        raise ValueError(f"spikes is a batch of shape {spikes.batch_shape}: pass trial=")
    n_events = int(spikes.n_events)
    if n_events > spikes.capacity:
        raise ValueError(f"spikes overflowed ({n_events} events > capacity "
                         f"{spikes.capacity}); its stored events are incomplete")
    # sliced on the host: slicing a device array dispatches an XLA program per shape
    senders = np.asarray(spikes.senders)[:n_events]
    keep = senders >= 0
    return (np.asarray(spikes.times)[:n_events][keep], senders[keep],
            np.asarray(spikes.counts)[:n_events][keep])


def spike_times_of(spikes: Spikes, sender: int, trial: int | None = None) -> np.ndarray:
    """Times of every spike of one sender, each repeated by its multiplicity (s)."""
    times, senders, counts = spike_arrays(spikes, trial)
    pick = senders == sender
    return np.repeat(times[pick], counts[pick])


__all__ = ["MIN_CAPACITY", "Spikes", "empty_spikes", "append_spikes",
           "next_power_of_two", "bucket_capacity", "run_growing", "make_spikes",
           "stack_spikes", "spike_arrays", "spike_times_of"]
