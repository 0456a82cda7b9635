r"""Input signals of the learning networks (Brendel et al. 2020, code ``Learning.m``):
:class:`SmoothedNoise`, white noise smoothed by a Gaussian of ``sigma_steps`` steps
(normalised to unit sum, truncated at 4 sigma) times ``amplitude`` (units of x per s),
a new independent sequence every ``sequence_steps`` steps (sequence s drawn from
``fold_in(fold_in(key, 3), s)``), made block by block inside the learning scans; or a
plain array (T, D). Argument checks shared by the learning loops.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key
from bayesnn.core.validation import as_array, require_shape
from bayesnn.core.validation import require_int as check_int

__all__ = ["SmoothedNoise", "noise_block", "smoothed_noise", "check_inputs", "input_block",
           "is_aligned"]


class SmoothedNoise(NamedTuple):
    """Brendel et al. 2020 input (code ``Learning.m``): per sequence of
    ``sequence_steps`` steps, D independent white-noise rows convolved ('same') with a
    Gaussian of ``sigma_steps`` steps normalised to unit sum, times ``amplitude``
    (units of x per s). Defaults: their Fig. 2 (2000, 30 steps, 1000 steps)."""

    n_dims: int = 2
    amplitude: float = 2000.0
    sigma_steps: float = 30.0
    sequence_steps: int = 1000


def _check_spec(spec: SmoothedNoise) -> SmoothedNoise:
    check_int("inputs.n_dims", spec.n_dims, 1)
    check_int("inputs.sequence_steps", spec.sequence_steps, 1)
    for name in ("amplitude", "sigma_steps"):
        value = float(as_array(f"inputs.{name}", getattr(spec, name), ndim=0))
        if not value > 0:
            raise ValueError(f"inputs.{name} must be > 0, got {value}")
    return SmoothedNoise(int(spec.n_dims), float(spec.amplitude), float(spec.sigma_steps),
                         int(spec.sequence_steps))


def _gaussian_taps(sigma: float) -> np.ndarray:
    half = int(math.ceil(4 * sigma))
    t = np.arange(-half, half + 1)
    w = np.exp(-(t**2) / (2 * sigma**2))
    return w / w.sum()


def noise_block(spec: SmoothedNoise, key: jax.Array, first_sequence, n_sequences: int,
                dtype=None) -> jax.Array:
    """Sequences ``first_sequence .. first_sequence + n_sequences - 1`` of the smoothed
    noise, concatenated: (n_sequences * sequence_steps, D). Traceable in
    ``first_sequence``."""
    dtype = dtype or jnp.result_type(float)
    taps = jnp.asarray(_gaussian_taps(spec.sigma_steps), dtype)
    base = jax.random.fold_in(key, 3)

    def one(s):
        white = jax.random.normal(jax.random.fold_in(base, s), (spec.n_dims, spec.sequence_steps),
                                  dtype)
        full = jax.vmap(lambda row: jnp.convolve(row, taps, mode="full"))(white)
        half = (taps.shape[0] - 1) // 2                 # 'same': centred, any length
        smooth = full[:, half:half + spec.sequence_steps]
        return spec.amplitude * smooth.T

    seqs = jax.vmap(one)(first_sequence + jnp.arange(n_sequences))
    return seqs.reshape(n_sequences * spec.sequence_steps, spec.n_dims)


def smoothed_noise(spec: SmoothedNoise, n_steps: int, *, key: Any = 0) -> np.ndarray:
    """The first ``n_steps`` rows (T, D) of the input :func:`learn` generates from
    ``spec`` and ``key`` (the same numbers)."""
    spec = _check_spec(spec)
    n_steps = check_int("n_steps", n_steps, 1)
    n_seq = -(-n_steps // spec.sequence_steps)
    return np.asarray(_noise_program(spec, as_key(key), n_seq))[:n_steps]


@partial(jax.jit, static_argnames=("spec", "n_sequences"))
def _noise_program(spec: SmoothedNoise, key, n_sequences: int):
    """:func:`noise_block` from sequence 0 as one compiled program (eagerly it would
    dispatch about ten small ones)."""
    return noise_block(spec, key, 0, n_sequences)


def check_inputs(inputs, n_dims: int, dt: float, duration, block_steps: int
                 ) -> tuple[Any, int]:
    """Validate ``inputs`` (array (T, D) or :class:`SmoothedNoise`) against D and the
    block length; returns (inputs, n_steps). ``ValueError`` naming the argument."""
    if isinstance(inputs, SmoothedNoise):
        spec = _check_spec(inputs)
        if spec.n_dims != n_dims:
            raise ValueError(f"inputs.n_dims must equal F's D = {n_dims}, got {spec.n_dims}")
        if duration is None:
            raise ValueError("duration (s) is required with SmoothedNoise inputs")
        L = spec.sequence_steps
        if block_steps % L and L % block_steps:
            raise ValueError(f"record_every ({block_steps}) and inputs.sequence_steps ({L}) "
                             "must divide one another")
        n_steps = _steps_of(duration, dt)
        out = spec
    else:
        c = require_shape("inputs", as_array("inputs", inputs, ndim=2), (None, n_dims))
        n_steps = c.shape[0]
        if duration is not None and _steps_of(duration, dt) != n_steps:
            raise ValueError(f"duration must equal the number of input rows times dt "
                             f"({n_steps} x {dt} s), got {duration} s")
        out = c
    if n_steps < 1 or n_steps % block_steps:
        raise ValueError(f"record_every ({block_steps}) must divide the number of steps "
                         f"({n_steps}); choose duration as a multiple of record_every * dt")
    return out, n_steps


def _steps_of(duration, dt: float) -> int:
    duration = float(as_array("duration", duration, ndim=0))
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    n = int(round(duration / dt))
    if not math.isclose(n * dt, duration, rel_tol=1e-9, abs_tol=1e-6 * dt):
        raise ValueError(f"duration must be a multiple of dt = {dt} s, got {duration} s")
    return n


def input_block(inputs, key: jax.Array, b, block_steps: int, step0=0,
                aligned: bool = True) -> jax.Array:
    """Input rows of block ``b`` of a run (block_steps, D): rows ``b * block_steps ..``
    of an array, or the smoothed noise of the absolute steps ``step0 + b * block_steps
    ..`` (so a continued run sees the sequences the uninterrupted run would).
    ``aligned``: ``step0`` and ``block_steps`` are multiples of ``sequence_steps``
    (then exactly the block's sequences are made). Traceable in ``b`` and ``step0``."""
    if isinstance(inputs, SmoothedNoise):
        L = inputs.sequence_steps
        start = step0 + b * block_steps
        if aligned and block_steps % L == 0:
            return noise_block(inputs, key, start // L, block_steps // L)
        first = start // L
        seqs = noise_block(inputs, key, first, -(-block_steps // L) + 1)
        return jax.lax.dynamic_slice_in_dim(seqs, start - first * L, block_steps)
    return jax.lax.dynamic_slice_in_dim(inputs, b * block_steps, block_steps)


def is_aligned(inputs, step0: int, block_steps: int) -> bool:
    """Whether :func:`input_block` may take its fast path for a run starting at step0."""
    if not isinstance(inputs, SmoothedNoise):
        return True
    return int(step0) % inputs.sequence_steps == 0 and block_steps % inputs.sequence_steps == 0
