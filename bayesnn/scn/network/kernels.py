"""Pieces shared by the B13 and the E/I (Dale) simulators, written once.

- :func:`pick_max`: the neuron with the largest ``V - T``, exact ties broken at random
  by a cyclic offset (one spike per step and population).
- :func:`draw_randomness` / :func:`scan_network`: the random inputs of each step
  (voltage noise, tie-break offsets) and the chunked time loop. Step ``k``'s draws
  come from ``fold_in(key, k)`` (absolute step index), so a run's result depends on
  its key only: not on the chunk length, the recording interval, the batch it runs
  in, or whether it continues an earlier run (``state0``).
- :func:`append_events`: spike events into a :class:`bayesnn.core.Spikes` buffer plus a
  parallel per-event value array (the margins ``V - T``).
- :func:`expected_demand`: the spike count a tracking network needs, the basis of the
  default event capacity (:func:`bayesnn.core.bucket_capacity`).
- argument checks shared by the simulate functions (``ValueError`` naming the argument).
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import lfilter

from bayesnn.core import Spikes, append_spikes, as_key, scan_steps_chunked
from bayesnn.core.validation import as_array, require_shape

__all__ = ["StepInputs", "pick_max", "draw_randomness", "chunk_layout", "scan_network",
           "append_events", "block_mean", "expected_demand"]


class StepInputs(NamedTuple):
    """The inputs of one step (a leading time axis when stacked).

    Fields:
        c: (D,) network input, units of x per second.
        noise: (N,) standard normal draws for the voltage noise, or shape (0,) for a
            noise-free run (the step then skips the noise term).
        offsets: (P,) int32 random cyclic offsets for the tie-break, one per population
            (P = 1 for the B13 network, 2 for the E/I network: E then I).
    """

    c: jax.Array
    noise: jax.Array
    offsets: jax.Array


def pick_max(z: jax.Array, offset: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Index of the largest entry of ``z`` (n,) and that value; among exact ties the
    first index at or after ``offset`` (cyclically) wins, so a random offset breaks
    ties at random. Max plus first-equal index is faster than ``argmax`` inside
    ``lax.scan`` on CPU."""
    n = z.shape[-1]
    arange = jnp.arange(n, dtype=jnp.int32)
    m = jnp.max(z)
    rank = jnp.where(arange >= offset, arange - offset, arange - offset + n)
    j = jnp.min(jnp.where(z == m, rank, n))
    return jnp.where(j + offset >= n, j + offset - n, j + offset).astype(jnp.int32), m


BLOCK = 16  # steps per PRNG key in draw_randomness


def draw_randomness(key: jax.Array, start: jax.Array, length: int, n_noise: int,
                    sizes: Sequence[int], dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Noise (length, n_noise) and tie-break offsets (length, P) of the steps
    ``start .. start + length - 1``; offset p uniform in [0, sizes[p]) (``word %
    sizes[p]``: bias below sizes[p] / 2^32).

    The random words of step k are row ``k % 16`` of ``bits(fold_in(key, k // 16),
    (16, n_noise + P))``: a step's randomness depends on the key and k only, whatever
    the chunk it is drawn in (one key per 16 steps keeps the hashing cheap). The words
    are turned into standard normals by one vectorised transform (that of
    ``jax.random.normal``: ``sqrt(2) erfinv(u)``, u uniform in (-1, 1)); per-step
    ``jax.random.normal`` / ``randint`` calls were ~2x slower inside the loop."""
    dtype = jnp.dtype(dtype)
    unsigned = jnp.dtype(f"uint{dtype.itemsize * 8}")
    n_words = n_noise + len(sizes)
    first_block = start // BLOCK
    n_blocks = -(-length // BLOCK) + 1  # covers ``length`` rows at any alignment
    blocks = first_block + jnp.arange(n_blocks, dtype=jnp.int32)
    words = jax.vmap(lambda b: jax.random.bits(jax.random.fold_in(key, b), (BLOCK, n_words),
                                               unsigned))(blocks)
    row = jnp.asarray(start - first_block * BLOCK, jnp.int32)
    words = jax.lax.dynamic_slice(words.reshape(n_blocks * BLOCK, n_words),
                                  (row, jnp.zeros((), jnp.int32)), (length, n_words))
    high = jnp.asarray(sizes, unsigned)
    offsets = (words[:, n_noise:] % high).astype(jnp.int32)
    return _standard_normal(words[:, :n_noise], dtype), offsets


def _standard_normal(bits: jax.Array, dtype: Any) -> jax.Array:
    """Standard normals from uniform random bits (the transform of jax.random.normal)."""
    info = jnp.finfo(dtype)
    width = info.bits
    unsigned = bits.dtype
    one = np.array(1.0, dtype).view(f"uint{width}")
    mantissa = bits >> np.array(width - info.nmant, unsigned)
    floats = jax.lax.bitcast_convert_type(mantissa | np.array(one, unsigned), dtype) - 1.0
    low = jnp.nextafter(jnp.array(-1.0, dtype), jnp.array(1.0, dtype))
    uniform = jnp.maximum(low, floats * (1.0 - low) + low)        # [low, 1)
    return jnp.sqrt(jnp.array(2.0, dtype)) * jax.lax.erf_inv(uniform)


def chunk_layout(n_steps: int, n_neurons: int, every: int, chunk_steps: int = 0) -> int:
    """Steps per generated input chunk (a multiple of ``every``). With ``chunk_steps = 0``
    the length aims at ~2^19 noise draws per chunk (16-2048 steps) and prefers a
    divisor of ``n_steps`` (no remainder chunk: one compiled scan body, not two)."""
    if chunk_steps:
        return max(every, every * (min(chunk_steps, n_steps) // every))
    target = int(np.clip(2**19 // max(n_neurons, 1), 16, 2048))
    for length in range(every * (target // every), max(every, target // 4) - 1, -every):
        if length > 0 and n_steps % length == 0:
            return length
    length = every * max(1, int(round(target / every)))
    return min(length, every * (n_steps // every))


def scan_network(body: Callable, carry: Any, c: jax.Array, key: jax.Array, step0: jax.Array,
                 *, every: int, chunk: int, n_noise: int, sizes: Sequence[int]):
    """Run ``body(carry, StepInputs) -> (carry, record)`` over the rows of ``c`` (T, D) with
    :func:`bayesnn.core.scan_steps_chunked`; inputs are built chunk by chunk (no T x N
    arrays), records kept every ``every`` steps. ``step0``: absolute index of the first
    step (for the random draws)."""
    n_steps, n_dims = c.shape

    def inputs_for(chunk_index, length):
        start = chunk_index * chunk
        c_chunk = jax.lax.dynamic_slice(c, (start, 0), (length, n_dims))
        noise, offsets = draw_randomness(key, step0 + start, length, n_noise, sizes, c.dtype)
        return StepInputs(c_chunk, noise, offsets)

    return scan_steps_chunked(body, carry, inputs_for, n_steps, chunk, every)


def append_events(spikes: Spikes, margins: jax.Array, time: jax.Array, senders: jax.Array,
                  values: jax.Array, mask: jax.Array) -> tuple[Spikes, jax.Array]:
    """Append the events where ``mask`` (k,) holds (count 1 each) to ``spikes``, and their
    ``values`` to the parallel array ``margins`` (same slots)."""
    mask = jnp.asarray(mask, bool)
    positions = spikes.n_events + jnp.cumsum(mask.astype(jnp.int32)) - 1
    capacity = margins.shape[0]
    target = jnp.where(mask & (positions < capacity), positions, capacity)
    margins = margins.at[target].set(
        jnp.broadcast_to(values, mask.shape).astype(margins.dtype), mode="drop")
    return append_spikes(spikes, time, senders, 1, mask), margins


def block_mean(acc: jax.Array, value: jax.Array, index: jax.Array, every: int):
    """Running block average: returns ``(acc_next, mean)`` where ``mean`` is the average
    of ``value`` over the block of ``every`` steps that step ``index`` (0-based within
    the run) closes; ``acc_next`` restarts at 0 after a block's last step."""
    total = acc + value
    closes = (index + 1) % every == 0
    return jnp.where(closes, jnp.zeros_like(total), total), total / every


def _times(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for x (..., T, D) and a small (D, E) m: NumPy's matmul of a tall, thin
    array is ~10x slower than D E vector operations at D <= 8."""
    if m.shape[0] > 8:
        return x @ m
    out = np.empty(x.shape[:-1] + (m.shape[1],), np.result_type(x, m))
    for e in range(m.shape[1]):
        col = x[..., 0] * m[0, e]
        for d in range(1, m.shape[0]):
            col = col + x[..., d] * m[d, e]
        out[..., e] = col
    return out


def expected_demand(A: np.ndarray, c: np.ndarray, dt: float, leak: float,
                    x0: np.ndarray | None) -> float | np.ndarray:
    """``sum_k ||(A + leak I) x_k + c_k||_1 dt + ||x0||_1``: the total decoder increment
    a readout with leak ``leak`` needs to follow the Euler target
    ``x_{k+1} = x_k + dt (A x_k + c_k)`` (divide by a kernel norm for a spike count).
    Solved per eigenmode of ``I + dt A`` with a first-order filter (O(T D^2)); inf if
    that is ill-conditioned (the caller then falls back to a bound). ``c`` (T, D) gives
    a float; a batch ``c`` (trials, T, D) with ``x0`` None, (D,) or (trials, D) gives
    one value per trial (one filter call per mode for all trials)."""
    c = np.asarray(c, float)
    n_steps, n_dims = c.shape[-2:]
    batch = c.shape[:-2]
    x0 = np.zeros(batch + (n_dims,)) if x0 is None else np.broadcast_to(
        np.asarray(x0, float), batch + (n_dims,))
    bad = np.full(batch, math.inf) if batch else math.inf
    with np.errstate(all="ignore"):
        try:
            poles, modes = np.linalg.eig(np.eye(n_dims) + dt * np.asarray(A, float))
            inverse = np.linalg.inv(modes)
        except np.linalg.LinAlgError:
            return bad
        if not (np.iscomplexobj(poles) or np.iscomplexobj(modes)):
            poles, modes, inverse = poles.real, modes.real, inverse.real  # real arithmetic
        drive = dt * _times(c, inverse.T)                # (..., T, D) in modal coordinates
        y = np.empty(drive.shape, drive.dtype)
        start = x0 @ inverse.T                           # (..., D)
        powers = np.arange(n_steps)
        for d in range(n_dims):
            y[..., d] = lfilter([0.0, 1.0], [1.0, -poles[d]], drive[..., d], axis=-1)
            if np.any(start[..., d] != 0):               # the pow costs more than the filter
                y[..., d] += poles[d] ** powers * start[..., d, None]
        x = np.real(_times(y, modes.T))                  # x_k for k = 0..T-1
        demand = _times(x, (np.asarray(A, float) + leak * np.eye(n_dims)).T) + c
        total = np.sum(np.abs(demand), axis=(-2, -1)) * dt + np.sum(np.abs(x0), axis=-1)
    total = np.where(np.isfinite(total), total, math.inf)
    return total if batch else float(total)


# ------------------------------------------------------------------------ argument checks
def check_int(name: str, value: Any, low: int) -> int:
    """An integer >= ``low`` (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_input(c: Any, n_dims: int, batched: bool) -> np.ndarray:
    """Input ``c`` as float array, (T, D) or (trials, T, D) with T >= 1."""
    c = as_array("c", c, ndim=3 if batched else 2)
    if batched and c.shape[0] < 1:
        raise ValueError("c must hold at least one trial, got shape (0, T, D)")
    if c.shape[-2] < 1:
        raise ValueError(f"c must have at least one time step, got shape {c.shape}")
    require_shape("c", c, (None,) * (c.ndim - 1) + (n_dims,))
    return c


def check_run(n_steps: int, dt: float, duration: Any, record_every: Any,
              capacity: Any) -> tuple[int, int | None]:
    """Check ``duration`` (None or T dt, s), ``record_every`` (divides T) and
    ``capacity`` (None or >= 1); returns ``(record_every, capacity)``."""
    if duration is not None:
        duration = float(as_array("duration", duration, ndim=0))
        if not math.isclose(duration, n_steps * dt, rel_tol=1e-9, abs_tol=1e-6 * dt):
            raise ValueError(f"duration must equal the number of input steps times dt "
                             f"({n_steps} x {dt} = {n_steps * dt} s), got {duration} s")
    every = check_int("record_every", record_every, 1)
    if n_steps % every:
        raise ValueError(f"record_every must divide the number of steps {n_steps}, got {every}")
    if capacity is not None:
        capacity = check_int("capacity", capacity, 1)
    return every, capacity


def check_x0(x0: Any, n_dims: int, n_trials: int | None) -> np.ndarray | None:
    """Initial target: (D,), or (trials, D) for a batch (shared x0 is broadcast)."""
    if x0 is None:
        return None
    x0 = as_array("x0", x0)
    if n_trials is not None and x0.ndim == 2:
        return require_shape("x0", x0, (n_trials, n_dims))
    require_shape("x0", x0, (n_dims,))
    return x0 if n_trials is None else np.broadcast_to(x0, (n_trials, n_dims))


def run_key(key: Any) -> jax.Array:
    """``key`` as one JAX key (int seed or key; ValueError naming ``key`` otherwise)."""
    return as_key(key)


def any_positive(*values: Any) -> bool:
    """True if any entry of the (concrete) values is > 0; True for traced values."""
    try:
        return any(bool(np.any(np.asarray(v) > 0)) for v in values if v is not None)
    except jax.errors.TracerArrayConversionError:
        return True
