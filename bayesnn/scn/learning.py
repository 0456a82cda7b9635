r"""The learning loop of the Brendel et al. 2020 network: :func:`learn` runs
:func:`bayesnn.scn.plasticity.plastic_step` in a ``lax.scan`` over blocks of
``record_every`` steps and keeps, per block, the weight distance to the best-scaled
fixed point ``-F^T F`` (Brendel's measure, :func:`~bayesnn.scn.plasticity.
weight_distance`), the population rate, the median ISI CV and the voltage variance,
plus snapshots of the weights at log-spaced times (Brendel et al. 2020 Fig. 2 plots
every quantity on log-time axes at t = 2^j). Memory is bounded: inputs are made block
by block (no T x N arrays), records cost O(T / record_every), snapshots O(log2(T) N^2).

The decoding error of the optimal linear decoder is measured on frozen snapshots by
:func:`bayesnn.scn.learning_eval.evaluate_weights` (Brendel's procedure: fit the
decoder on one run, test it on another).

Inputs: an array ``c`` (T, D) (units of x per s) or :class:`SmoothedNoise`, Brendel's
input: white noise smoothed by a Gaussian of ``sigma_steps`` steps (normalised to unit
sum, truncated at 4 sigma) times ``amplitude``, a new independent sequence every
``sequence_steps`` steps (sequence s from ``fold_in(fold_in(key, 3), s)``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import warn_if_float32
from bayesnn.core.validation import as_array, require_shape
from bayesnn.core import as_key
from bayesnn.core.validation import require_int as check_int
from bayesnn.scn.plasticity import (
    LearningParams, LearningState, _positive, check_weights, init_learning_state,
    learning_inputs, plastic_step, weight_distance,
)

__all__ = ["SmoothedNoise", "smoothed_noise", "noise_block", "LearningResult", "learn",
           "check_inputs", "input_block", "snapshot_blocks", "LearningDivergedError"]


class LearningDivergedError(FloatingPointError):
    """The weights or voltages became non-finite during learning."""


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
        smooth = jax.vmap(lambda row: jnp.convolve(row, taps, mode="same"))(white)
        return spec.amplitude * smooth.T

    seqs = jax.vmap(one)(first_sequence + jnp.arange(n_sequences))
    return seqs.reshape(n_sequences * spec.sequence_steps, spec.n_dims)


def smoothed_noise(spec: SmoothedNoise, n_steps: int, *, key: Any = 0) -> np.ndarray:
    """The first ``n_steps`` rows (T, D) of the input :func:`learn` generates from
    ``spec`` and ``key`` (the same numbers)."""
    spec = _check_spec(spec)
    n_steps = check_int("n_steps", n_steps, 1)
    n_seq = -(-n_steps // spec.sequence_steps)
    return np.asarray(noise_block(spec, as_key(key), 0, n_seq))[:n_steps]


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


def input_block(inputs, key: jax.Array, b, block_steps: int) -> jax.Array:
    """Input rows of block ``b`` (block_steps, D): a slice of an array, or the smoothed
    noise of those steps (traceable in ``b``)."""
    if isinstance(inputs, SmoothedNoise):
        L = inputs.sequence_steps
        if block_steps % L == 0:
            return noise_block(inputs, key, b * (block_steps // L), block_steps // L)
        start = b * block_steps
        seq = noise_block(inputs, key, start // L, 1)
        return jax.lax.dynamic_slice_in_dim(seq, start % L, block_steps)
    return jax.lax.dynamic_slice_in_dim(inputs, b * block_steps, block_steps)


def snapshot_blocks(n_blocks: int, mode) -> np.ndarray:
    """Block indices after which the weights are kept: ``"log2"``: blocks 2^j - 1 and
    the last; ``None``: none. (Snapshot 0 is always the initial weights.)"""
    if mode is None:
        return np.zeros(0, np.int32)
    if mode != "log2":
        raise ValueError(f"snapshots must be 'log2' or None, got {mode!r}")
    blocks = {2**j - 1 for j in range(int(math.log2(n_blocks)) + 1)} | {n_blocks - 1}
    return np.array(sorted(b for b in blocks if b < n_blocks), np.int32)


class LearningResult(NamedTuple):
    """Output of :func:`learn`. R = T / record_every records, S snapshots.

    Fields:
        times: (R,) end of each record block, s.
        weight_distance: (R,) Brendel's normalised distance of Omega to the best-scaled
            ``-F^T F`` at the block's end (:func:`~bayesnn.scn.plasticity.weight_distance`).
        rate: (R,) population-mean firing rate over the block, Hz.
        cv: (R,) median over neurons of the ISI CV (std/mean, ddof 0) of the intervals
            ending in the block (neurons with >= 2 such intervals; NaN if none).
        voltage_var: (R,) mean over neurons of the voltage variance in the block.
        max_weight: (R,) max |Omega| and |F| entries at the block's end.
        snapshot_times: (S,) s (0 = initial weights).
        F_snapshots: (S, D, N), Omega_snapshots: (S, N, N) weights at those times.
        spike_counts: (N,) spikes per neuron over the run.
        final: :class:`~bayesnn.scn.plasticity.LearningState` (continue with ``state0=``).
    """

    times: jax.Array
    weight_distance: jax.Array
    rate: jax.Array
    cv: jax.Array
    voltage_var: jax.Array
    max_weight: jax.Array
    snapshot_times: jax.Array
    F_snapshots: jax.Array
    Omega_snapshots: jax.Array
    spike_counts: jax.Array
    final: LearningState

    def to_xarray(self, attrs: dict | None = None):
        """The records as an ``xarray.Dataset`` (dims ``time`` (s), ``snapshot``,
        ``dim``, ``neuron``, ``pre``); ``final`` is left out."""
        from bayesnn.io import record_to_dataset

        spec = {
            "weight_distance": (("time",), "1", "||Omega - s W||^2/||Omega||^2, W = -F^T F"),
            "rate": (("time",), "Hz", "population-mean firing rate"),
            "cv": (("time",), "1", "median ISI CV over neurons"),
            "voltage_var": (("time",), "V^2", "mean voltage variance per neuron"),
            "max_weight": (("time",), "1", "max |Omega|, |F| entry"),
            "F_snapshots": (("snapshot", "dim", "neuron"), "1", "feedforward weights"),
            "Omega_snapshots": (("snapshot", "neuron", "pre"), "1", "recurrent weights"),
            "spike_counts": (("neuron",), "1", "spikes per neuron"),
        }
        coords = {"time": np.asarray(self.times), "snapshot_time": ("snapshot", np.asarray(
            self.snapshot_times))}
        return record_to_dataset(self, spec, coords, {
            "family": "scn learning (Brendel et al. 2020)", **(attrs or {})})


def learn(params: LearningParams, inputs=SmoothedNoise(), *, F=None, Omega=None,
          key: Any = 0, duration: float | None = None, record_every: int = 1000,
          snapshots: str | None = "log2", plastic: bool = True, x0=None,
          state0: LearningState | None = None) -> LearningResult:
    """Run the Brendel et al. 2020 learning network.

    Args:
        params: :class:`~bayesnn.scn.plasticity.LearningParams`.
        inputs: (T, D) input per step (units of x per s) or :class:`SmoothedNoise`
            (then ``duration`` is required).
        F, Omega: initial weights (D, N) and (N, N) (e.g. from
            :func:`~bayesnn.scn.plasticity.brendel_fig2_weights`), or ``state0``.
        key: int seed or JAX key (noise, jitter, tie-breaks; SmoothedNoise inputs).
        duration: s, a multiple of ``record_every * dt``.
        record_every: steps per record block (default 1000).
        snapshots: ``"log2"`` (initial, blocks 2^j - 1, last) or None.
        plastic: False runs the same network with frozen weights.
        x0: (D,) initial target (V starts at F^T x0).
        state0: continue from ``result.final`` (exclusive with F, Omega, x0).

    Returns:
        :class:`LearningResult`.

    Raises:
        ValueError: naming the argument, before any simulation (bad rates and dt are
            refused when ``params`` is built).
        LearningDivergedError: if weights or voltages became non-finite.
    """
    if not isinstance(params, LearningParams):
        raise ValueError(f"params must be a LearningParams, got {type(params).__name__}")
    if state0 is None:
        if F is None or Omega is None:
            raise ValueError("F and Omega (initial weights) are required without state0")
        state0 = init_learning_state(params, F, Omega, x0=x0)
    else:
        if F is not None or Omega is not None or x0 is not None:
            raise ValueError("state0 is exclusive with F, Omega and x0")
        check_weights(params, state0.F, state0.Omega)
    D, N = state0.F.shape
    block = check_int("record_every", record_every, 1)
    data, n_steps = check_inputs(inputs, D, float(params.dt), duration, block)
    n_blocks = n_steps // block
    snaps = snapshot_blocks(n_blocks, snapshots)
    warn_if_float32("scn learning")
    f = jnp.result_type(float)
    arr = None if isinstance(data, SmoothedNoise) else jnp.asarray(data, f)
    spec = data if isinstance(data, SmoothedNoise) else None
    out = _learn_core(params, state0, arr, as_key(key), jnp.asarray(snaps), spec=spec,
                      n_blocks=n_blocks, block=block, plastic=bool(plastic),
                      noisy=_positive(params.sigma_v), jittery=_positive(params.jitter))
    times, dist, rate, cv, vvar, wmax, Fs, Os, counts, final = out
    bad = ~np.isfinite(np.asarray(wmax))
    if bad.any():
        raise LearningDivergedError(
            f"learning diverged: weights or voltages non-finite by t = "
            f"{float(np.asarray(times)[np.argmax(bad)]):.6g} s; lower eps_r / eps_f")
    t0 = state0.step.astype(f) * params.dt
    snap_times = jnp.concatenate([t0[None], times[jnp.asarray(snaps)]]) if snaps.size else t0[None]
    return LearningResult(times, dist, rate, cv, vvar, wmax, snap_times, Fs, Os, counts, final)


class _Acc(NamedTuple):
    """Per-block accumulators: spikes (N,), last spike step (N,), ISI n/sum/sumsq (N,),
    voltage sum/sumsq (N,)."""

    spikes: jax.Array
    last: jax.Array
    n_isi: jax.Array
    s1: jax.Array
    s2: jax.Array
    v1: jax.Array
    v2: jax.Array


def accumulate(acc: _Acc, k, V, sender, fired) -> _Acc:
    """Add one step (index k, voltages V, spike of ``sender`` if ``fired``)."""
    firef = fired.astype(V.dtype)
    prev = acc.last[sender]
    has = fired & (prev >= 0)
    isi = (k - prev).astype(V.dtype)
    hasf = has.astype(V.dtype)
    return _Acc(acc.spikes.at[sender].add(firef),
                acc.last.at[sender].set(jnp.where(fired, k, prev)),
                acc.n_isi.at[sender].add(hasf), acc.s1.at[sender].add(hasf * isi),
                acc.s2.at[sender].add(hasf * isi * isi), acc.v1 + V, acc.v2 + V * V)


def block_summary(acc: _Acc, n: int, seconds):
    """(rate Hz, median CV, mean voltage variance) of a block of n steps."""
    N = acc.spikes.shape[0]
    rate = jnp.sum(acc.spikes) / (N * seconds)
    ok = acc.n_isi >= 2
    m = acc.s1 / jnp.maximum(acc.n_isi, 1)
    var = jnp.maximum(acc.s2 / jnp.maximum(acc.n_isi, 1) - m * m, 0.0)
    cv = jnp.where(ok, jnp.sqrt(var) / jnp.where(ok, m, 1.0), jnp.nan)
    cv_med = jnp.where(jnp.any(ok), jnp.nanmedian(cv), jnp.nan)
    vm = acc.v1 / n
    return rate, cv_med, jnp.mean(acc.v2 / n - vm * vm)


def reset_block(acc: _Acc) -> _Acc:
    zero = jnp.zeros_like(acc.v1)
    return _Acc(jnp.zeros_like(acc.spikes), acc.last, zero, zero, zero, zero, zero)


def empty_acc(N: int, dtype) -> _Acc:
    zero = jnp.zeros(N, dtype)
    return _Acc(zero, jnp.full(N, -1, jnp.int32), zero, zero, zero, zero, zero)


@partial(jax.jit, static_argnames=("spec", "n_blocks", "block", "plastic", "noisy",
                                   "jittery"))
def _learn_core(params, state0, arr, key, snaps, *, spec, n_blocks, block, plastic, noisy,
                jittery):
    D, N = state0.F.shape
    f = state0.V.dtype
    inputs = spec if spec is not None else arr
    S = snaps.shape[0]
    Fs0 = jnp.broadcast_to(state0.F, (S + 1, D, N))
    Os0 = jnp.broadcast_to(state0.Omega, (S + 1, N, N))
    seconds = block * params.dt

    def inner(carry, inp):
        state, acc = carry
        k = state.step
        state, rec = plastic_step(params, state, inp, plastic=plastic)
        return (state, accumulate(acc, k, state.V, rec.sender, rec.fired)), None

    def one_block(carry, b):
        state, acc, total, Fs, Os = carry
        c = input_block(inputs, key, b, block)
        inp = learning_inputs(params, c, N, key=key, start_step=state.step, noisy=noisy,
                              jittery=jittery)
        (state, acc), _ = jax.lax.scan(inner, (state, acc), inp)
        rate, cv, vvar = block_summary(acc, block, seconds)
        dist = weight_distance(state.F, state.Omega)
        wmax = jnp.maximum(jnp.max(jnp.abs(state.Omega)), jnp.max(jnp.abs(state.F)))
        wmax = jnp.where(jnp.all(jnp.isfinite(state.V)), wmax, jnp.nan)
        slot = jnp.minimum(jnp.searchsorted(snaps, b), S - 1) if S else 0
        if S:
            hit = snaps[slot] == b
            Fs = Fs.at[slot + 1].set(jnp.where(hit, state.F, Fs[slot + 1]))
            Os = Os.at[slot + 1].set(jnp.where(hit, state.Omega, Os[slot + 1]))
        t = state.step.astype(f) * params.dt
        return (state, reset_block(acc), total + acc.spikes, Fs, Os), (t, dist, rate, cv, vvar, wmax)

    carry = (state0, empty_acc(N, f), jnp.zeros(N, f), Fs0, Os0)
    (final, _, total, Fs, Os), recs = jax.lax.scan(one_block, carry, jnp.arange(n_blocks))
    return (*recs, Fs, Os, total, final)
