r"""Learning loop and frozen-network evaluation of the E/I (Dale's law) network of
Brendel et al. 2020 Fig. 4 (:mod:`bayesnn.scn.learning.plasticity_dale`), with the conventions
of :func:`bayesnn.scn.learning.learn`: a ``lax.scan`` over blocks of ``record_every``
steps, per-block records (E and I rates, median ISI CV of the E population, number of
sign violations, largest weight), log2 snapshots of the five weight matrices; memory
O(T / record_every + log2(T) N^2).

:func:`evaluate_dale` measures snapshots as ``LearningDale.m`` does: the optimal
linear decoders of the E traces and of the I traces are fitted on one run and tested
on another (normalised error ``sum_d var(x_d - x_hat_d) / sum_d var(x_d)``).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key, warn_if_float32
from bayesnn.core.params import to_device
from bayesnn.core.validation import as_array
from bayesnn.core.validation import require_int as check_int
from bayesnn.scn.learning.training import (
    check_finite, drive_blocks, sample_moments, scan_blocks, snapshot_blocks,
)
from bayesnn.scn.learning.signals import SmoothedNoise, check_inputs, input_block, is_aligned
from bayesnn.scn.learning.statistics import (
    accumulate, add_moments, add_spike, block_summary, decoding_error, empty_acc,
    in_sample_error, optimal_decoder, reset_block, zero_moments,
)
from bayesnn.scn.learning.plasticity import _positive
from bayesnn.scn.learning.plasticity_dale import (
    DALE_WEIGHTS, DaleLearningParams, DaleLearningState, _check_dale_weights,
    dale_learning_inputs, dale_plastic_step, init_dale_learning_state, sign_violations,
)

__all__ = ["DaleLearningResult", "learn_dale", "DaleEvaluation", "evaluate_dale"]


class DaleLearningResult(NamedTuple):
    """Output of :func:`learn_dale` (R records, S snapshots).

    Fields: times (R,) s; rate_e, rate_i (R,) population-mean rates, Hz; cv_e (R,)
    median ISI CV of E neurons with >= 2 intervals in the block; error_e, error_i (R,)
    in-sample error of the block's optimal linear decoder of x from the E (I) traces
    (NaN when ``decode_every = 0``); violations (R,) synapses
    with the wrong sign (0 under Dale's law); max_weight (R,) largest |weight|;
    snapshot_times (S,) s (0: initial); snapshots: dict name -> (S, ...) for
    DALE_WEIGHTS; final :class:`~bayesnn.scn.learning.plasticity_dale.DaleLearningState`.
    """

    times: jax.Array
    rate_e: jax.Array
    rate_i: jax.Array
    cv_e: jax.Array
    error_e: jax.Array
    error_i: jax.Array
    violations: jax.Array
    max_weight: jax.Array
    snapshot_times: jax.Array
    snapshots: dict
    final: DaleLearningState


def learn_dale(params: DaleLearningParams, inputs=SmoothedNoise(3), *, weights: dict | None = None,
               key: Any = 0, duration: float | None = None, record_every: int = 1000,
               snapshots: str | None = "log2", plastic: bool = True, decode_every: int = 10,
               state0: DaleLearningState | None = None) -> DaleLearningResult:
    """Run the E/I learning network (arguments as :func:`bayesnn.scn.learn`;
    ``weights``: dict of the initial DALE_WEIGHTS, e.g. from
    :func:`~bayesnn.scn.learning.plasticity_dale.brendel_dale_weights`; ``decode_every``: steps
    between samples of the in-sample decoders, default 10 = 1 ms at dt = 0.1 ms, 0: off). ``ValueError`` naming the
    argument before any simulation; :class:`~bayesnn.scn.learning.LearningDivergedError`
    if a weight or voltage became non-finite."""
    if not isinstance(params, DaleLearningParams):
        raise ValueError(f"params must be a DaleLearningParams, got {type(params).__name__}")
    if (weights is None) == (state0 is None):
        raise ValueError("give exactly one of weights (initial) and state0 (continuation)")
    if state0 is None:
        state0 = init_dale_learning_state(params, weights)
    else:
        _check_dale_weights(params, {n: getattr(state0, n) for n in DALE_WEIGHTS})
    D, NE = state0.FE.shape
    block = check_int("record_every", record_every, 1)
    data, n_steps = check_inputs(inputs, D, float(params.dt), duration, block)
    n_blocks = n_steps // block
    snaps = snapshot_blocks(n_blocks, snapshots)
    decode_every = check_int("decode_every", decode_every, 0)
    warn_if_float32("scn E/I learning")
    spec = data if isinstance(data, SmoothedNoise) else None
    f = jnp.result_type(float)
    arr = None if spec is not None else to_device(data, f)
    static = dict(spec=spec, block=block, plastic=bool(plastic), noisy=_positive(params.sigma_v),
                  jittery=_positive(params.jitter), decode_every=decode_every,
                  aligned=is_aligned(data, int(state0.step), block))
    key = as_key(key)

    def run_chunk(carry, b0, n):
        return _chunk(params, carry, arr, key, state0.step, b0, n, **static)

    carry = (state0, empty_acc(NE + state0.CEI.shape[0], f))
    (final, _), recs, kept = drive_blocks(
        run_chunk, carry, n_blocks, snaps, lambda c: tuple(getattr(c[0], n) for n in DALE_WEIGHTS))
    times, rate_e, rate_i, cv_e, err_e, err_i, viol, wmax = recs
    check_finite(times, wmax, "E/I learning")
    # on the host (NumPy, the same IEEE products): no device program per shape
    t0 = np.asarray(state0.step).astype(f) * np.asarray(params.dt)
    snap_times = np.concatenate([t0[None], times[snaps]])
    snap = {n: np.stack([k[i] for k in kept]) for i, n in enumerate(DALE_WEIGHTS)}
    return DaleLearningResult(times, rate_e, rate_i, cv_e, err_e, err_i, viol, wmax, snap_times,
                              snap, final)


def _two_spikes(acc, k, V, rec, NE):
    """Both populations' spikes of one step (I senders offset by NE) and the voltages."""
    acc = accumulate(acc, k, V, rec.senders[0], rec.fired[0])
    return add_spike(acc, k, rec.senders[1] + NE, rec.fired[1])


@partial(jax.jit, static_argnames=("spec", "block", "plastic", "noisy", "jittery",
                                   "decode_every", "aligned"))
def _chunk(params, carry, arr, key, step0, b0, n, *, spec, block, plastic, noisy, jittery,
           decode_every, aligned):
    """Blocks b0 .. b0 + n - 1 of a run that started at step ``step0`` (:func:`bayesnn.scn.
    learning.training.scan_blocks`)."""
    D, NE = carry[0].FE.shape
    NI = carry[0].CEI.shape[0]
    f = carry[0].VE.dtype
    inputs = spec if spec is not None else arr
    seconds = block * params.dt

    def inner(carry, inp):
        st, acc, me, mi = carry
        k = st.step
        st, rec = dale_plastic_step(params, st, inp, plastic=plastic)
        if decode_every:
            me = sample_moments(me, k, st.x, st.rE, decode_every)
            mi = sample_moments(mi, k, st.x, st.rI, decode_every)
        return (st, _two_spikes(acc, k, jnp.concatenate([st.VE, st.VI]), rec, NE), me, mi), None

    def one_block(carry, b):
        st, acc = carry
        c = input_block(inputs, key, b, block, step0, aligned)
        inp = dale_learning_inputs(params, c, NE, NI, key=key,
                                   start_step=st.step, noisy=noisy, jittery=jittery)
        n_e, n_i = (NE, NI) if decode_every else (0, 0)
        me, mi = zero_moments(D, n_e, f), zero_moments(D, n_i, f)
        (st, acc, me, mi), _ = jax.lax.scan(inner, (st, acc, me, mi), inp)
        nan = jnp.full((), jnp.nan, f)
        err_e = in_sample_error(me) if decode_every else nan
        err_i = in_sample_error(mi) if decode_every else nan
        e_acc = jax.tree_util.tree_map(lambda a: a[:NE], acc)
        rate_e, cv_e, _ = block_summary(e_acc, block, seconds)
        rate_i = jnp.sum(acc.spikes[NE:]) / (NI * seconds)
        mats = [getattr(st, n) for n in DALE_WEIGHTS]
        wmax = jnp.max(jnp.stack([jnp.max(jnp.abs(m)) for m in mats]))
        wmax = jnp.where(jnp.all(jnp.isfinite(st.VE)) & jnp.all(jnp.isfinite(st.VI)), wmax, jnp.nan)
        t = st.step.astype(f) * params.dt
        return (st, reset_block(acc)), (t, rate_e, rate_i, cv_e, err_e, err_i,
                                        sign_violations(st), wmax)

    return scan_blocks(one_block, carry, b0, n)


class DaleEvaluation(NamedTuple):
    """Frozen E/I network measures (leading axes of the snapshots): error_e, error_i
    (optimal linear decoders of the E and of the I traces, test run), rate_e, rate_i (Hz)."""

    error_e: jax.Array
    error_i: jax.Array
    rate_e: jax.Array
    rate_i: jax.Array


@partial(jax.jit, static_argnames=("spec", "n_blocks", "block", "noisy", "jittery"))
def _evaluate_one(params, w, arr, key, *, spec, n_blocks, block, noisy, jittery):
    D, NE = w[0].shape
    NI = w[2].shape[0]
    f = w[0].dtype
    inputs = spec if spec is not None else arr
    st0 = DaleLearningState(*(jnp.zeros(n, f) for n in (NE, NI, NE, NI, D, D, NE)), *w,
                            jnp.full(NE, -(10**6), jnp.int32), jnp.full(NI, -(10**6), jnp.int32),
                            jnp.zeros((), jnp.int32))

    def run(k):
        def inner(carry, inp):
            st, me, mi, counts = carry
            st, rec = dale_plastic_step(params, st, inp, plastic=False)
            return (st, add_moments(me, st.x, st.rE), add_moments(mi, st.x, st.rI),
                    counts + rec.fired.astype(f)), None

        def one_block(carry, b):
            inp = dale_learning_inputs(params, input_block(inputs, k, b, block), NE, NI, key=k,
                                       start_step=carry[0].step, noisy=noisy, jittery=jittery)
            return jax.lax.scan(inner, carry, inp)[0], None

        carry = (st0, zero_moments(D, NE, f), zero_moments(D, NI, f), jnp.zeros(2, f))
        return jax.lax.scan(one_block, carry, jnp.arange(n_blocks))[0][1:]

    n = n_blocks * block
    me_tr, mi_tr, _ = run(jax.random.fold_in(key, 0))
    me_te, mi_te, counts = run(jax.random.fold_in(key, 1))
    errs = []
    for tr, te in ((me_tr, me_te), (mi_tr, mi_te)):
        errs.append(decoding_error(te, optimal_decoder(tr)))
    seconds = n * params.dt
    return DaleEvaluation(errs[0], errs[1], counts[0] / (NE * seconds), counts[1] / (NI * seconds))


def evaluate_dale(params: DaleLearningParams, snapshots: dict, inputs=SmoothedNoise(3), *,
                  key: Any = 0, duration: float = 2.0, record_every: int = 1000
                  ) -> DaleEvaluation:
    """Decoding errors of the E and I populations and rates of frozen E/I networks.
    ``snapshots``: dict of DALE_WEIGHTS with a common leading axis (e.g.
    ``result.snapshots``) or single matrices. Train / test runs of ``duration`` s use
    fold_in(key, 0 / 1)."""
    mats = {n: np.asarray(as_array(n, snapshots[n])) for n in DALE_WEIGHTS}
    single = mats["FE"].ndim == 2
    if single:
        mats = {n: m[None] for n, m in mats.items()}
    _check_dale_weights(params, {n: m[0] for n, m in mats.items()})
    D = mats["FE"].shape[1]
    block = check_int("record_every", record_every, 1)
    data, n_steps = check_inputs(inputs, D, float(params.dt), duration, block)
    spec = data if isinstance(data, SmoothedNoise) else None
    f = jnp.result_type(float)
    arr = None if spec is not None else jnp.asarray(data, f)
    out = _evaluate_batch(params, tuple(jnp.asarray(mats[n], f) for n in DALE_WEIGHTS), arr,
                          as_key(key), spec=spec, n_blocks=n_steps // block, block=block,
                          noisy=_positive(params.sigma_v), jittery=_positive(params.jitter))
    return jax.tree_util.tree_map(lambda a: a[0], out) if single else out


@partial(jax.jit, static_argnames=("spec", "n_blocks", "block", "noisy", "jittery"))
def _evaluate_batch(params, mats, arr, key, **static):
    return jax.lax.map(lambda w: _evaluate_one(params, w, arr, key, **static), mats)
