r"""The learning loop of the Brendel et al. 2020 network: :func:`learn` runs
:func:`bayesnn.scn.learning.plasticity.plastic_step` in a ``lax.scan`` over blocks of
``record_every`` steps and keeps, per block, the weight distance to the best-scaled
fixed point ``-F^T F`` (Brendel's measure, :func:`~bayesnn.scn.learning.plasticity.
weight_distance`), the population rate, the median ISI CV and the voltage variance,
plus snapshots of the weights at log-spaced times (Brendel et al. 2020 Fig. 2 plots
every quantity on log-time axes at t = 2^j). Memory is bounded: inputs are made block
by block (no T x N arrays), records cost O(T / record_every), snapshots O(log2(T) N^2).

The decoding error of the optimal linear decoder is recorded per block *in sample*
(the decoder fitted on the block's samples of r~ and x, taken every ``decode_every``
steps); the out-of-sample measure of Brendel's code (fit on one run, test on another,
frozen weights) is :func:`bayesnn.scn.learning.evaluation.evaluate_weights`.

Inputs: an array ``c`` (T, D) (units of x per s) or
:class:`~bayesnn.scn.learning.signals.SmoothedNoise` (Brendel's input).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key, warn_if_float32
from bayesnn.core.params import to_device
from bayesnn.core.validation import require_int as check_int
from bayesnn.scn.learning.signals import SmoothedNoise, check_inputs, input_block, is_aligned
from bayesnn.scn.learning.statistics import (
    accumulate, add_moments, block_summary, empty_acc, in_sample_error, reset_block,
    zero_moments,
)
from bayesnn.scn.learning.plasticity import (
    LearningParams, LearningState, _positive, check_weights, init_learning_state,
    learning_inputs, plastic_step, weight_distance,
)

__all__ = ["LearningResult", "learn", "snapshot_blocks", "LearningDivergedError",
           "sample_moments"]


class LearningDivergedError(FloatingPointError):
    """The weights or voltages became non-finite during learning."""


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
            ``-F^T F`` at the block's end (:func:`~bayesnn.scn.learning.plasticity.weight_distance`).
        rate: (R,) population-mean firing rate over the block, Hz.
        cv: (R,) median over neurons of the ISI CV (std/mean, ddof 0) of the intervals
            ending in the block (neurons with >= 2 such intervals; NaN if none).
        voltage_var: (R,) mean over neurons of the voltage variance in the block.
        error: (R,) in-sample error of the block's optimal linear decoder,
            ``sum_d var(x_d - x_hat_d) / sum_d var(x_d)`` (NaN when not recorded).
        max_weight: (R,) max |Omega| and |F| entries at the block's end.
        snapshot_times: (S,) s (0 = initial weights).
        F_snapshots: (S, D, N), Omega_snapshots: (S, N, N) weights at those times.
        spike_counts: (N,) spikes per neuron over the run.
        final: :class:`~bayesnn.scn.learning.plasticity.LearningState` (continue with ``state0=``).
    """

    times: jax.Array
    weight_distance: jax.Array
    rate: jax.Array
    cv: jax.Array
    voltage_var: jax.Array
    error: jax.Array
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
            "error": (("time",), "1", "in-sample optimal linear decoder error"),
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
          snapshots: str | None = "log2", plastic: bool = True, decode_every: int | None = None,
          x0=None, state0: LearningState | None = None) -> LearningResult:
    """Run the Brendel et al. 2020 learning network.

    Args:
        params: :class:`~bayesnn.scn.learning.plasticity.LearningParams`.
        inputs: (T, D) input per step (units of x per s) or :class:`SmoothedNoise`
            (then ``duration`` is required).
        F, Omega: initial weights (D, N) and (N, N) (e.g. from
            :func:`~bayesnn.scn.learning.plasticity.brendel_fig2_weights`), or ``state0``.
        key: int seed or JAX key (noise, jitter, tie-breaks; SmoothedNoise inputs).
        duration: s, a multiple of ``record_every * dt``.
        record_every: steps per record block (default 1000).
        snapshots: ``"log2"`` (initial, blocks 2^j - 1, last) or None.
        plastic: False runs the same network with frozen weights.
        decode_every: sample r~ and x for the in-sample decoder every this many steps
            (costs O(N^2) per sample; 0: no decoding-error record; None: 1 for N <= 50,
            else 0, since an in-sample fit needs many more samples per block than
            neurons; use :func:`~bayesnn.scn.learning.evaluation.evaluate_weights` there).
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
    decode_every = (int(N <= 50) if decode_every is None
                    else check_int("decode_every", decode_every, 0))
    warn_if_float32("scn learning")
    f = jnp.result_type(float)
    arr = None if isinstance(data, SmoothedNoise) else to_device(data, f)
    spec = data if isinstance(data, SmoothedNoise) else None
    static = dict(spec=spec, block=block, plastic=bool(plastic), noisy=_positive(params.sigma_v),
                  jittery=_positive(params.jitter), decode_every=decode_every,
                  aligned=is_aligned(data, int(state0.step), block))
    key = as_key(key)

    def run_chunk(carry, b0, n):
        return _learn_chunk(params, carry, arr, key, state0.step, b0, n, **static)

    carry = (state0, empty_acc(N, f), to_device(np.zeros(N, f)))
    carry, recs, snaps_w = drive_blocks(run_chunk, carry, n_blocks, snaps,
                                        lambda c: (c[0].F, c[0].Omega))
    final, _, counts = carry
    times, dist, rate, cv, vvar, err, wmax = recs
    check_finite(times, wmax, "learning")
    # on the host (NumPy, the same IEEE products): no device program per shape
    t0 = np.asarray(state0.step).astype(f) * np.asarray(params.dt)
    snap_times = np.concatenate([t0[None], times[snaps]])
    Fs = np.stack([w[0] for w in snaps_w])
    Os = np.stack([w[1] for w in snaps_w])
    return LearningResult(times, dist, rate, cv, vvar, err, wmax, snap_times, Fs, Os, counts,
                          final)


CHUNK_BLOCKS = 16  # most blocks per compiled call in long runs


def drive_blocks(run_chunk, carry, n_blocks: int, snaps: np.ndarray, take):
    """Run ``n_blocks`` blocks by calls ``run_chunk(carry, b0, n) -> (carry, records)``
    with ``n <= CHUNK_BLOCKS`` blocks (``b0``, ``n`` int32 arrays, so that one compiled
    program serves every call whatever the duration and the snapshot times: records
    come in ``CHUNK_BLOCKS`` rows, the first ``n`` filled), stopping after each block in
    ``snaps`` to keep ``take(carry)``. Returns (carry, records concatenated over blocks
    as NumPy arrays, [take(initial), take(snap)...] as NumPy arrays). Records and
    snapshots are assembled on the host: slicing and stacking device arrays of
    varying length would compile one small program per length."""
    kept = [jax.device_get(take(carry))]
    ends = sorted({int(b) + 1 for b in snaps} | {n_blocks})
    snap_set = {int(x) for x in snaps}
    parts, b = [], 0
    for end in ends:
        while b < end:
            n = min(CHUNK_BLOCKS, end - b)
            carry, rec = run_chunk(carry, np.int32(b), np.int32(n))
            parts.append([np.asarray(a)[:n] for a in jax.device_get(rec)])
            b += n
        if end - 1 in snap_set:
            kept.append(jax.device_get(take(carry)))
    recs = tuple(np.concatenate(a) for a in zip(*parts))
    return carry, recs, kept


def scan_blocks(one_block, carry, b0, n):
    """``one_block(carry, b) -> (carry, record)`` for blocks ``b0 .. b0 + n - 1`` (n <=
    CHUNK_BLOCKS, traced), records in ``CHUNK_BLOCKS`` rows (the first n filled): a
    ``fori_loop`` with a traced trip count, so the chunk program does not depend on n."""
    _, shapes = jax.eval_shape(one_block, carry, b0)
    buffers = tuple(jnp.zeros((CHUNK_BLOCKS,) + s.shape, s.dtype) for s in shapes)

    def body(i, state):
        carry, buffers = state
        carry, record = one_block(carry, b0 + i)
        return carry, tuple(buf.at[i].set(r) for buf, r in zip(buffers, record))

    return jax.lax.fori_loop(0, n, body, (carry, buffers))


def check_finite(times, wmax, what: str) -> None:
    """Raise :class:`LearningDivergedError` at the first record with a non-finite value."""
    bad = ~np.isfinite(np.asarray(wmax))
    if bad.any():
        raise LearningDivergedError(
            f"{what} diverged: weights or voltages non-finite by t = "
            f"{float(np.asarray(times)[np.argmax(bad)]):.6g} s; lower eps_r / eps_f")


def sample_moments(moments, k, x, r, every: int):
    """Add (x, r~) to the decoder moments when ``k % every == 0`` (every >= 1; the
    O(N^2) update is skipped by ``lax.cond`` on the other steps)."""
    if every == 1:
        return add_moments(moments, x, r)
    return jax.lax.cond(k % every == 0, lambda m: add_moments(m, x, r), lambda m: m, moments)


@partial(jax.jit, static_argnames=("spec", "block", "plastic", "noisy", "jittery",
                                   "decode_every", "aligned"))
def _learn_chunk(params, carry, arr, key, step0, b0, n, *, spec, block, plastic, noisy, jittery,
                 decode_every, aligned):
    """Blocks b0 .. b0 + n - 1 of a run that started at step ``step0`` (:func:`scan_blocks`)."""
    D, N = carry[0].F.shape
    f = carry[0].V.dtype
    inputs = spec if spec is not None else arr
    seconds = block * params.dt

    def inner(c, inp):
        state, acc, mom = c
        k = state.step
        state, rec = plastic_step(params, state, inp, plastic=plastic)
        if decode_every:
            mom = sample_moments(mom, k, state.x, state.rates, decode_every)
        return (state, accumulate(acc, k, state.V, rec.sender, rec.fired), mom), None

    def one_block(c, b):
        state, acc, total = c
        u = input_block(inputs, key, b, block, step0, aligned)
        inp = learning_inputs(params, u, N, key=key, start_step=state.step, noisy=noisy,
                              jittery=jittery)
        mom = zero_moments(D, N if decode_every else 0, f)
        (state, acc, mom), _ = jax.lax.scan(inner, (state, acc, mom), inp)
        rate, cv, vvar = block_summary(acc, block, seconds)
        err = in_sample_error(mom) if decode_every else jnp.full((), jnp.nan, f)
        dist = weight_distance(state.F, state.Omega)
        wmax = jnp.maximum(jnp.max(jnp.abs(state.Omega)), jnp.max(jnp.abs(state.F)))
        wmax = jnp.where(jnp.all(jnp.isfinite(state.V)), wmax, jnp.nan)
        t = state.step.astype(f) * params.dt
        return (state, reset_block(acc), total + acc.spikes), (t, dist, rate, cv, vvar, err, wmax)

    return scan_blocks(one_block, carry, b0, n)
