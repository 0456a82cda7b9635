"""The one binning rule of bayesnn (every time-stepped method and every binned
reference uses it).

Bin k (k = 0..T-1) is ``[k dt, (k+1) dt)``, except that the end point ``t = T dt``
belongs to the last bin (so a spike at exactly ``t = duration`` is counted, never
dropped). Times exported from clock-driven simulators sit on the grid, ``t = k dt`` up
to rounding: ``floor(t / dt)`` would put e.g. ``49 * 1e-4`` into bin 48. Here a time
within ``GRID_TOLERANCE`` (relative) of a grid point ``k dt`` is taken to be on it and
goes to bin k. In float32 the tolerance is ``8 eps = 9.5e-7`` relative (a float32
grid time carries up to ~1.5 eps of rounding in ``t / dt``), and float32 runs whose
absolute times are too coarse for the model are refused upstream
(:func:`bayesnn.core.require_time_resolution`).
"""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import is_traced, to_device

GRID_TOLERANCE = 1e-9


def bin_index(times: jax.Array, dt, n_steps: int) -> jax.Array:
    """Bin of each time (int32); non-finite times (padding) map to ``n_steps`` (a
    scatter with ``mode="drop"`` then ignores them). Callers check that times lie in
    [0, n_steps dt] before binning.

    Concrete inputs are binned in NumPy on the host (the same IEEE operations, so the
    same bins), so that eager calls dispatch no XLA programs; traced inputs (inside a
    scan) use jax.numpy."""
    if not is_traced(times, dt, n_steps):
        return _bin_index_host(np.asarray(times), dt, n_steps)
    scaled = times / dt
    nearest = jnp.round(scaled)
    # float32 grid times carry ~1.5 eps |k| of rounding in t / dt: widen to 8 eps there.
    tolerance = max(GRID_TOLERANCE, 8.0 * float(jnp.finfo(scaled.dtype).eps))
    on_grid = jnp.abs(scaled - nearest) <= tolerance * jnp.maximum(jnp.abs(nearest), 1.0)
    index = jnp.where(on_grid, nearest, jnp.floor(scaled))
    index = jnp.where(index == n_steps, n_steps - 1, index)
    return jnp.where(jnp.isfinite(times), index, n_steps).astype(jnp.int32)


@np.errstate(invalid="ignore")  # padding (inf) gives nan in scaled - nearest
def _bin_index_host(times: np.ndarray, dt, n_steps: int) -> np.ndarray:
    scaled = times / (dt if isinstance(dt, (int, float)) else np.asarray(dt))
    nearest = np.round(scaled)
    tolerance = max(GRID_TOLERANCE, 8.0 * float(np.finfo(scaled.dtype).eps))
    on_grid = np.abs(scaled - nearest) <= tolerance * np.maximum(np.abs(nearest), 1.0)
    index = np.where(on_grid, nearest, np.floor(scaled))
    index = np.where(index == n_steps, n_steps - 1, index)
    return np.where(np.isfinite(times), index, n_steps).astype(np.int32)


def grid_step(times, dt: float) -> np.ndarray:
    """The step ``k`` whose interval ``[k dt, (k+1) dt)`` holds each time, by the rule of
    :func:`bin_index` (a time within ``GRID_TOLERANCE`` of ``k dt`` is on it), in NumPy
    float64 on the host, for times that are not bounded by a run length (e.g. the onset
    of a perturbation). Returns int64 steps (times must be finite and >= 0)."""
    scaled = np.asarray(times, dtype=np.float64) / float(dt)
    nearest = np.round(scaled)
    on_grid = np.abs(scaled - nearest) <= GRID_TOLERANCE * np.maximum(np.abs(nearest), 1.0)
    return np.where(on_grid, nearest, np.floor(scaled)).astype(np.int64)


def bin_counts(spikes, n_senders: int, dt, n_steps: int) -> jax.Array:
    """Dense counts (n_steps, n_senders) of a :class:`bayesnn.core.Spikes` (one trial),
    events weighted by their multiplicity. Memory is steps x senders: for moderate runs
    (long runs bin chunk by chunk inside their scan with :func:`bin_index`)."""
    if not is_traced(spikes, dt, n_steps):  # on the host: no eager XLA programs
        return to_device(_bin_counts_host(spikes.times, spikes.senders, spikes.counts,
                                          n_senders, dt, n_steps))
    valid = spikes.senders >= 0
    bins = jnp.where(valid, bin_index(spikes.times, dt, n_steps), n_steps)
    counts = jnp.zeros((n_steps, n_senders), dtype=jnp.int32)
    return counts.at[bins, jnp.maximum(spikes.senders, 0)].add(
        jnp.where(valid, spikes.counts, 0), mode="drop")


def _bin_counts_host(times, senders, counts, n_senders: int, dt, n_steps: int) -> np.ndarray:
    """(n_steps, n_senders) int32 counts of one trial in NumPy (:func:`bin_index`'s rule)."""
    senders = np.asarray(senders)
    valid = senders >= 0
    bins = np.where(valid, bin_index(np.asarray(times), dt, n_steps), n_steps)
    keep = valid & (bins < n_steps)
    out = np.zeros((n_steps, n_senders), dtype=np.int32)
    np.add.at(out, (bins[keep], senders[keep]), np.asarray(counts)[keep])
    return out


def n_bins_of(duration: float, dt: float) -> int:
    """T = duration / dt; ``ValueError`` naming both unless it is a positive whole number
    (to 1e-9 relative)."""
    steps = int(round(duration / dt))
    if steps < 1 or abs(steps * dt - duration) > 1e-9 * duration:
        raise ValueError(f"duration = {duration} s must be a whole number (>= 1) of bins of "
                         f"dt = {dt} s")
    return steps


def bin_spikes(spikes, *, n_senders: int, duration: float, dt: float) -> np.ndarray:
    """Float64 counts of checked spikes in bins of width ``dt`` on ``[0, duration]``:
    (T, N) for one trial, (B, T, N) for a batch, by :func:`bin_index`'s rule (a spike at
    exactly ``duration`` goes to the last bin), events weighted by their multiplicity.
    The one binning helper of the learners and the NumPyro models; the caller checks
    the spikes (sorted, in range, senders < N, counts >= 1)."""
    steps = n_bins_of(duration, dt)
    # in NumPy on the host (bin_index's rule, the same bins as the traced path): a
    # compiled binning would cost one XLA program per trial length and capacity
    times, senders, counts = (np.asarray(a) for a in (spikes.times, spikes.senders,
                                                      spikes.counts))
    if times.ndim == 1:
        return _bin_counts_host(times, senders, counts, n_senders, float(dt),
                                steps).astype(np.float64)
    return np.stack([_bin_counts_host(*trial, n_senders, float(dt), steps)
                     for trial in zip(times, senders, counts)]).astype(np.float64)


def spikes_from_counts(counts, dt: float):
    """Binned counts (T, N) as a :class:`bayesnn.core.Spikes` trial that
    :func:`bin_spikes` (width ``dt``) bins back to the same counts: one event per non-zero
    bin and input, at the bin's left edge ``k dt`` (s, on the grid, so in bin k), with the
    count as its multiplicity. For data that only exist binned; use ``duration = T dt``."""
    from bayesnn.core.spikes import make_spikes
    from bayesnn.core.validation import require_integer_counts, require_positive

    array = np.asarray(require_integer_counts("counts", counts))
    if array.ndim != 2:
        raise ValueError(f"counts must have shape (T, N), got {array.shape}")
    dt = float(require_positive("dt", dt, ndim=0))
    steps, senders = np.nonzero(array)
    return make_spikes(steps * dt, senders, array[steps, senders].astype(np.int64),
                       n_senders=array.shape[1])


__all__ = ["GRID_TOLERANCE", "spikes_from_counts", "bin_index", "bin_counts", "bin_spikes", "grid_step", "n_bins_of"]
