"""Spike events with fixed-capacity buffers.

JAX needs static shapes, while the number of spikes is random. bayesnn records spikes
as *events* in a preallocated buffer of ``capacity`` slots (times, senders) plus a
count; :func:`append_events` scatters the spikes of one step (or one event) into the
next free slots. A count larger than the capacity means the buffer overflowed: the
first ``capacity`` events are kept and callers raise (or retry with a larger
buffer) instead of silently dropping spikes. Memory is O(capacity), i.e. it grows
with spikes, not with neurons x steps.

Unused slots hold ``time = +inf`` and ``sender = -1``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class EventBuffer(NamedTuple):
    """Spike events recorded into fixed storage.

    Fields:
        times: (capacity,) event times in seconds; +inf in unused slots.
        senders: (capacity,) int32 index of the emitting neuron/channel; -1 if unused.
        count: () int32 number of events emitted (may exceed capacity on overflow).
    """

    times: jax.Array
    senders: jax.Array
    count: jax.Array

    @property
    def capacity(self) -> int:
        return self.times.shape[-1]

    def overflowed(self) -> jax.Array:
        """True where more events were emitted than the buffer holds."""
        return self.count > self.capacity


def empty_buffer(capacity: int, dtype=None) -> EventBuffer:
    """An empty buffer with ``capacity`` slots."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    dtype = dtype or jnp.result_type(float)
    return EventBuffer(
        times=jnp.full((capacity,), jnp.inf, dtype=dtype),
        senders=jnp.full((capacity,), -1, dtype=jnp.int32),
        count=jnp.zeros((), dtype=jnp.int32),
    )


def append_events(buffer: EventBuffer, times: jax.Array, senders: jax.Array,
                  mask: jax.Array) -> EventBuffer:
    """Append the events where ``mask`` is true, in order, to ``buffer``.

    ``times``, ``senders`` and ``mask`` have one common shape (k,). Events past the
    capacity are counted but not stored.
    """
    mask = jnp.asarray(mask, dtype=bool)
    positions = buffer.count + jnp.cumsum(mask.astype(jnp.int32)) - 1
    # Unmasked or overflowing events go to an out-of-range index and are dropped.
    target = jnp.where(mask & (positions < buffer.capacity), positions, buffer.capacity)
    return EventBuffer(
        times=buffer.times.at[target].set(jnp.broadcast_to(times, mask.shape).astype(buffer.times.dtype), mode="drop"),
        senders=buffer.senders.at[target].set(jnp.broadcast_to(senders, mask.shape).astype(jnp.int32), mode="drop"),
        count=buffer.count + jnp.sum(mask, dtype=jnp.int32),
    )


def poisson_capacity(expected: float, sigmas: float = 10.0, floor: int = 16) -> int:
    """A buffer size that a Poisson count of mean ``expected`` exceeds with
    negligible probability (mean + ``sigmas`` standard deviations, plus a floor).

    Callers still check for overflow: the capacity is a performance choice, never a
    silent truncation.
    """
    if not math.isfinite(expected) or expected < 0:
        raise ValueError(f"expected must be finite and >= 0, got {expected}")
    return int(math.ceil(expected + sigmas * math.sqrt(expected) + floor))


def events_to_counts(times, channels, n_channels: int, dt: float, n_steps: int) -> jax.Array:
    """Bin events into counts per step: (n_steps, n_channels).

    An event at time t falls in bin ``floor(t / dt)``; events with channel < 0
    (padding) or outside [0, n_steps * dt) are ignored. Memory is steps x channels, so
    use this for moderate runs; long runs bin chunk by chunk inside the scan.
    """
    times = jnp.asarray(times)
    channels = jnp.asarray(channels)
    bins = jnp.floor(times / dt).astype(jnp.int32)
    valid = (channels >= 0) & (bins >= 0) & (bins < n_steps) & jnp.isfinite(times)
    bins = jnp.where(valid, bins, n_steps)
    counts = jnp.zeros((n_steps, n_channels), dtype=jnp.int32)
    return counts.at[bins, jnp.where(valid, channels, 0)].add(valid.astype(jnp.int32), mode="drop")
