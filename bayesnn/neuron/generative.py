r"""Generative exact event-driven run: the hidden chain and the input spikes are drawn
inside the event-driven scan, so no input event array ever exists.

Model (Denève 2008 "Bayesian spiking neurons I", Neural Computation 20:91-117, Sec. 2):
a binary hidden Markov state x(t) switches 0 -> 1 at rate :math:`r_{on}` and 1 -> 0 at
rate :math:`r_{off}` (Hz); input i fires as a Poisson process of rate :math:`q^i_{x(t)}`
(Hz). The neuron integrates (nats)

.. math::  \dot L = \varphi(L) - \theta + \sum_i w_i s_i(t),\qquad
           w_i = \log\frac{q^i_{on}}{q^i_{off}},\qquad
           \theta = \sum_i (q^i_{on} - q^i_{off}),

exactly between events (closed-form flows of :mod:`bayesnn.neuron.flows`) and emits
output spikes when :math:`L > G + g_0/2` (:func:`bayesnn.neuron.functional.advance`,
:func:`bayesnn.neuron.functional.receive`, the step functions of
:func:`bayesnn.neuron.kernels.event_kernel`).

Sampling (exact, by uniformization of the joint process (x, inputs)): every state has a
total event rate :math:`r_{x} + \sum_i q^i_x \le \Lambda = \max(r_{on}, r_{off}) +
\max(\sum_i q^i_{on}, \sum_i q^i_{off})`. Candidate events come at rate
:math:`\Lambda` (gaps :math:`-\log(1-u_1)/\Lambda`); at a candidate the current state x
gives its kind from :math:`v = u_2 \Lambda`: a switch of x if :math:`v < r_x` (the
leaving rate of x), else input i if :math:`v - r_x` falls in the i-th interval of the
cumulative sums of :math:`q_x`, else nothing (a null event). Since x is constant between
switches, this is the exact law of the Markov-modulated Poisson process.

Randomness and chunks: trial keys are :func:`bayesnn.core.keys.trial_keys` (trial k
uses ``fold_in(key, k)``; a lone trial uses ``key``). From a trial key,
``split(key)`` gives the key of x(0) (stationary law ``r_on/(r_on+r_off)`` unless
fixed) and the event key; candidate j's two uniforms come from ``fold_in(event key,
j)`` (a counter), and times accumulate one gap at a time in the scan. The scan runs over
chunks of ``chunk_events`` candidates until every trial passes ``duration``, so only
O(chunk) candidates ever exist, and the results are bit-identical whatever
``chunk_events`` (candidates past the end change nothing). Memory is O(trials x (output
events + samples + N)), flat in duration for a fixed number of samples.

Ties: candidate times are continuous; two that round to the same float64 time (chance
about :math:`\Lambda \cdot` ulp(t) per event, 1e-9 at one day) are processed one after
the other, each input firing the neuron (``simulate`` sums the jumps of simultaneous
inputs first).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import KeyLike, as_key, trial_keys
from bayesnn.core.precision import require_time_resolution, warn_if_float32
from bayesnn.core.spikes import Spikes, bucket_capacity, empty_spikes
from bayesnn.core.validation import require_int, require_positive
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.functional import NeuronState, advance, init_state, prediction, receive
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.simulate import NeuronRun, check_params, default_capacity, record_times

_MAX_DRAWS = 2**31 - 1  # int32 candidate counter


class GenerativeRun(NamedTuple):
    """Result of :func:`simulate_generative` (leading trial axis when ``n_trials`` is
    given).

    Fields:
        times: (S,) sample times, s.
        log_odds: (..., S) L at the sample times, nats.
        prediction: (..., S) G at the sample times, nats.
        state: (..., S) int32 true hidden state x at the sample times (0 or 1).
        spikes: output spikes, :class:`bayesnn.core.Spikes` (sender 0, count =
            multiplicity).
        input_counts: (..., N) int32 input spikes per channel over the run.
        input_counts_on: (..., N) int32 of those, the ones emitted while x = 1.
        time_on: (...) time spent with x = 1, s.
        n_switches: (...) int32 switches of x.
        initial_state: (...) int32 x(0).
        n_candidates: (...) int32 candidate events drawn up to ``duration``.
        final: :class:`bayesnn.neuron.NeuronState` at ``duration``.
        inputs: the generated input spikes (sender = channel) when ``record_inputs`` > 0,
            else None (for tests on short runs).
        switches: the switch times (sender 0) when ``record_inputs`` > 0, else None.
    """

    times: np.ndarray
    log_odds: jax.Array
    prediction: jax.Array
    state: jax.Array
    spikes: Spikes
    input_counts: jax.Array
    input_counts_on: jax.Array
    time_on: jax.Array
    n_switches: jax.Array
    initial_state: jax.Array
    n_candidates: jax.Array
    final: NeuronState
    inputs: Spikes | None
    switches: Spikes | None

    @property
    def posterior(self) -> jax.Array:
        """P(x = 1 | inputs so far) = sigmoid(L)."""
        return jax.nn.sigmoid(self.log_odds)

    def to_neuron_run(self) -> NeuronRun:
        """The neuron part as a :class:`bayesnn.neuron.NeuronRun`."""
        return NeuronRun(self.times, self.log_odds, self.prediction, self.spikes, None,
                         self.final.n_guarded, self.final)


class _Lane(NamedTuple):
    state: NeuronState
    spikes: Spikes
    sample_log_odds: jax.Array
    sample_prediction: jax.Array
    sample_state: jax.Array
    sample_index: jax.Array
    x: jax.Array
    clock: jax.Array
    draw: jax.Array
    n_candidates: jax.Array
    counts: jax.Array
    counts_on: jax.Array
    time_on: jax.Array
    n_switches: jax.Array
    inputs: Spikes
    switches: Spikes


def _record_samples(params, lane: _Lane, limit, padded_times, drift_spikes) -> _Lane:
    """Record every sample time < ``limit`` not yet recorded (advance to it, keep L, G
    and x), as :func:`bayesnn.neuron.kernels.event_kernel` does at a sample."""
    def pending(lane):
        return padded_times[lane.sample_index] < limit

    def record(lane):
        index = lane.sample_index
        time = padded_times[index]
        state, spikes = advance(params, lane.state, time, lane.spikes,
                                drift_spikes=drift_spikes)
        state = state._replace(step=state.step + 1)
        return lane._replace(
            state=state, spikes=spikes,
            sample_log_odds=lane.sample_log_odds.at[index].set(state.log_odds),
            sample_prediction=lane.sample_prediction.at[index].set(
                prediction(params, state, time)),
            sample_state=lane.sample_state.at[index].set(lane.x),
            sample_index=index + 1)

    return jax.lax.while_loop(pending, record, lane)


def _candidate(params, lane: _Lane, event_key, duration, rate_bound, cumulative,
               padded_times, drift_spikes, record_inputs):
    """Draw and process one candidate event of one lane."""
    uniforms = jax.random.uniform(jax.random.fold_in(event_key, lane.draw), (2,),
                                  dtype=lane.clock.dtype)
    time = lane.clock - jnp.log1p(-uniforms[0]) / rate_bound
    valid = time < duration
    x = lane.x
    leave = jnp.where(x == 1, params.r_off, params.r_on)
    level = uniforms[1] * rate_bound
    switch = valid & (level < leave)
    channel = jnp.sum(cumulative[x] <= level - leave, dtype=jnp.int32)
    is_input = valid & ~(level < leave) & (channel < params.n_inputs)
    channel = jnp.where(is_input, channel, -1)

    lane = _record_samples(params, lane, time, padded_times, drift_spikes)
    # Non-inputs leave the neuron alone: advancing to its own time is an exact no-op.
    until = jnp.where(is_input, time, lane.state.time)
    state, spikes = advance(params, lane.state, until, lane.spikes, drift_spikes=drift_spikes)
    state, spikes = receive(params, state, channel, spikes, active=is_input)
    state = state._replace(step=jnp.where(is_input, state.step, lane.state.step))

    ended = jnp.minimum(time, duration) - jnp.minimum(lane.clock, duration)
    hit = jnp.maximum(channel, 0)
    one = is_input.astype(jnp.int32)
    inputs, switches = lane.inputs, lane.switches
    if record_inputs:
        inputs = _append(inputs, time, channel, is_input)
        switches = _append(switches, time, jnp.zeros((), jnp.int32), switch)
    return lane._replace(
        state=state, spikes=spikes, x=jnp.where(switch, 1 - x, x), clock=time,
        draw=lane.draw + 1, n_candidates=lane.n_candidates + valid.astype(jnp.int32),
        counts=lane.counts.at[hit].add(one),
        counts_on=lane.counts_on.at[hit].add(one * x),
        time_on=lane.time_on + jnp.where(x == 1, ended, 0.0),
        n_switches=lane.n_switches + switch.astype(jnp.int32),
        inputs=inputs, switches=switches)


def _append(buffer: Spikes, time, sender, mask) -> Spikes:
    from bayesnn.core.spikes import append_spikes
    return append_spikes(buffer, time[None], sender[None], jnp.ones(1, jnp.int32), mask[None])


@partial(jax.jit, static_argnames=("capacity", "chunk_events", "drift_spikes",
                                   "record_inputs"))
def _generative(params, keys, initial_state, sample_times, duration, *, capacity,
                chunk_events, drift_spikes, record_inputs):
    """Batched kernel: keys (B,), B >= 2 (a batch of one fuses differently on XLA:CPU,
    see :mod:`bayesnn.neuron.simulate`)."""
    dtype = jnp.result_type(float)
    n_samples = sample_times.shape[0]
    padded_times = jnp.concatenate([sample_times.astype(dtype), jnp.full(1, jnp.inf, dtype)])
    q = jnp.stack([params.q_off, params.q_on])  # row x
    cumulative = jnp.cumsum(q, axis=1)
    rate_bound = jnp.maximum(params.r_on, params.r_off) + jnp.max(cumulative[:, -1])
    p_on = params.r_on / (params.r_on + params.r_off)
    duration = jnp.asarray(duration, dtype)
    record_size = max(int(record_inputs), 1)

    def start(key):
        key_state, event_key = jax.random.split(key)
        drawn = jax.random.bernoulli(key_state, p_on).astype(jnp.int32)
        x0 = jnp.where(initial_state < 0, drawn, initial_state).astype(jnp.int32)
        zeros = jnp.zeros(n_samples + 1, dtype)
        lane = _Lane(init_state(params, None, None, dtype), empty_spikes(capacity, dtype),
                     zeros, zeros, jnp.zeros(n_samples + 1, jnp.int32), jnp.array(0), x0,
                     jnp.zeros((), dtype), jnp.array(0), jnp.array(0),
                     jnp.zeros(params.n_inputs, jnp.int32),
                     jnp.zeros(params.n_inputs, jnp.int32), jnp.zeros((), dtype),
                     jnp.array(0), empty_spikes(record_size, dtype),
                     empty_spikes(record_size, dtype))
        return lane, event_key, x0

    lanes, event_keys, x0 = jax.vmap(start)(keys)

    def chunk(lane, event_key):
        def body(lane, _):
            return _candidate(params, lane, event_key, duration, rate_bound, cumulative,
                              padded_times, drift_spikes, record_inputs), None
        return jax.lax.scan(body, lane, None, length=chunk_events)[0]

    lanes = jax.lax.while_loop(lambda lanes: jnp.any(lanes.clock < duration),
                               lambda lanes: jax.vmap(chunk)(lanes, event_keys), lanes)

    def finish(lane):
        lane = _record_samples(params, lane, jnp.inf, padded_times, drift_spikes)
        state, spikes = advance(params, lane.state, jnp.maximum(duration, lane.state.time),
                                lane.spikes, drift_spikes=drift_spikes)
        return lane._replace(state=state, spikes=spikes)

    lanes = jax.vmap(finish)(lanes)
    return lanes, x0


def _check_sample_inputs(params, key, duration, n_trials, dt, sample_times, chunk_events,
                         capacity, initial_state, record_inputs):
    params = check_params(params)
    duration = float(require_positive("duration", duration, ndim=0))
    if n_trials is not None:
        n_trials = require_int("n_trials", n_trials, minimum=1)
    chunk_events = require_int("chunk_events", chunk_events, minimum=1)
    if capacity is not None:
        capacity = require_int("capacity", capacity, minimum=1)
    record_inputs = require_int("record_inputs", record_inputs, minimum=0)
    if initial_state not in (None, 0, 1) or isinstance(initial_state, bool):
        raise ValueError(f"initial_state must be None, 0 or 1, got {initial_state!r}")
    times = record_times(duration, dt, sample_times, 1)
    base = as_key(key)
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    rate_bound = (max(float(params.r_on), float(params.r_off))
                  + max(float(q_on.sum()), float(q_off.sum())))
    expected = rate_bound * duration
    if expected + 10 * np.sqrt(expected) + chunk_events >= _MAX_DRAWS:
        raise ValueError(f"duration ({duration} s) is too long: about {expected:.3g} candidate "
                         f"events at {rate_bound:.4g} Hz, more than the counter's {_MAX_DRAWS}")
    return params, base, duration, n_trials, times, chunk_events, capacity, record_inputs


def simulate_generative(params: NeuronParams, *, key: KeyLike, duration: float,
                        n_trials: int | None = None, dt: float | None = None,
                        sample_times=None, chunk_events: int = 256,
                        capacity: int | None = None, initial_state: int | None = None,
                        record_inputs: int = 0) -> GenerativeRun:
    r"""Sample the hidden chain and the input spikes inside the exact event-driven run.

    Equations, sampling scheme and random-number scheme: module docstring
    (:mod:`bayesnn.neuron.generative`; Denève 2008 I). The neuron part is the same
    computation as :func:`bayesnn.neuron.simulate` with ``method="exact"`` on the
    generated inputs (L equal to rounding; see ``record_inputs``), starting from
    :math:`L(0) = G(0) = \log(r_{on}/r_{off})`.

    Args:
        params: :class:`NeuronParams` (rates in Hz, g0 in nats), one concrete record.
        key: int seed or JAX PRNG key. A lone trial uses ``key``; with ``n_trials``,
            trial k uses ``fold_in(key, k)`` (:func:`bayesnn.core.keys.trial_keys`) and
            equals ``simulate_generative(..., key=fold_in(key, k))`` bit for bit,
            whatever ``n_trials``.
        duration: length of the run, s, > 0.
        n_trials: None for one trial (no trial axis), else the number of trials.
        dt: spacing of the default sample grid, s (default 1 ms).
        sample_times: (S,) sorted record times in [0, duration], s (default every dt).
            Memory grows with S: for long runs give a few.
        chunk_events: candidate events drawn and processed per scan chunk (memory and
            speed only: results are bit-identical for every value).
        capacity: output-event slots per trial (default from the expected rate; grown and
            rerun on overflow, results unchanged).
        initial_state: 0 or 1 to fix x(0); None draws it from the stationary law.
        record_inputs: if > 0, also return the generated input spikes and switch times
            in buffers of this many slots (grown on overflow): for tests and plots of
            short runs. 0 (default) keeps only counts.

    Returns:
        :class:`GenerativeRun`: L, G and the true x at the sample times, output spikes,
        input counts per channel (all and while x = 1), time with x = 1, switches.

    Raises:
        ValueError: naming the argument, for bad parameters or options (duration <= 0,
            unsorted sample times or outside [0, duration], chunk_events < 1, ...),
            before any work; also if the run needs more than 2^31 - 1 candidate events.
        PrecisionError: in float32, when float32 times up to ``duration`` are too coarse
            for the model's rates.
    """
    (params, base, duration, n_trials, times, chunk_events, capacity,
     record_inputs) = _check_sample_inputs(params, key, duration, n_trials, dt, sample_times,
                                           chunk_events, capacity, initial_state,
                                           record_inputs)
    warn_if_float32("bayesnn.neuron.simulate_generative")
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    fastest = float(params.r_on) + float(params.r_off) + float(np.maximum(q_on, q_off).sum())
    require_time_resolution("bayesnn.neuron.simulate_generative", duration, fastest)

    keys = (trial_keys(base, n_trials) if n_trials is not None else base[None])
    n_run = keys.shape[0]
    if n_run == 1:
        keys = jnp.concatenate([keys, keys])  # lane 1 dropped (see _generative)
    p_on = float(params.stationary_prob_on)
    expected_inputs = (p_on * q_on.sum() + (1 - p_on) * q_off.sum()) * duration
    output_capacity = capacity or min(default_capacity(params, duration, int(expected_inputs)),
                                      bucket_capacity(expected_inputs + _drift_rate(params)
                                                      * duration))
    record_capacity = bucket_capacity(max(q_on.sum(), q_off.sum()) * duration) \
        if record_inputs else 0
    record_capacity = max(record_capacity, record_inputs) if record_inputs else 0
    drift = drift_can_fire(params)
    x0 = -1 if initial_state is None else int(initial_state)
    while True:
        lanes, initial = _generative(params, keys, jnp.asarray(x0), jnp.asarray(times),
                                     duration, capacity=output_capacity,
                                     chunk_events=chunk_events, drift_spikes=drift,
                                     record_inputs=record_capacity)
        needed = int(np.max(np.asarray(lanes.spikes.n_events)))
        needed_record = (int(np.max(np.asarray(jnp.maximum(lanes.inputs.n_events,
                                                           lanes.switches.n_events))))
                         if record_capacity else 0)
        if needed <= output_capacity and needed_record <= record_capacity:
            break
        output_capacity = max(output_capacity, _next_power(needed))
        record_capacity = max(record_capacity, _next_power(needed_record))

    keep = (lambda a: a[:n_run]) if n_trials is not None else (lambda a: a[0])
    lanes, initial = jax.tree_util.tree_map(keep, (lanes, initial))
    n_samples = times.shape[0]
    return GenerativeRun(
        times, lanes.sample_log_odds[..., :n_samples], lanes.sample_prediction[..., :n_samples],
        lanes.sample_state[..., :n_samples], lanes.spikes, lanes.counts, lanes.counts_on,
        lanes.time_on, lanes.n_switches, initial, lanes.n_candidates, lanes.state,
        lanes.inputs if record_capacity else None,
        lanes.switches if record_capacity else None)


def _drift_rate(params) -> float:
    """Bound on drift-driven output events, Hz (see :func:`bayesnn.neuron.simulate`)."""
    if not drift_can_fire(params):
        return 0.0
    return float(max(-float(params.theta), 0.0) / float(params.g0))


def _next_power(n: int) -> int:
    return 1 << int(np.ceil(np.log2(max(n, 1))))


__all__ = ["GenerativeRun", "simulate_generative"]
