"""The compiled scan of :func:`bayesnn.neuron.simulate_generative`: lanes (one trial
each) that draw the hidden chain and the input spikes by uniformization and run the
exact event-driven neuron on them, chunk by chunk.

Equations, sampling scheme and random-number scheme: :mod:`bayesnn.neuron.generative`
(Denève 2008 "Bayesian spiking neurons I", Sec. 2). Three jitted programs: ``begin``
(initial lanes), ``segment`` (up to ``max_chunks`` chunks of every lane) and ``end``
(drift of every lane to ``duration``); the host loop that calls them lives in
:mod:`bayesnn.neuron.generative`.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.spikes import Spikes, append_spikes, empty_spikes
from bayesnn.neuron.functional import NeuronState, advance, init_state, receive, receive_count
from bayesnn.neuron.output import prediction_at

_UNROLL = 2


class Lane(NamedTuple):
    state: NeuronState
    spikes: Spikes
    samples: jax.Array      # (S + 1, 4): L, G's anchor time and value, x (L, G, x after
                            # end); the last row takes non-sample writes
    sample_index: jax.Array
    x: jax.Array
    clock: jax.Array        # time of the pending candidate
    level: jax.Array        # its uniform u_2
    draw: jax.Array         # its index j
    n_candidates: jax.Array
    counts: jax.Array       # (2, N) input spikes per (state, channel)
    time_on: jax.Array
    n_switches: jax.Array
    scratch_peak: jax.Array
    inputs: Spikes
    switches: Spikes


def _uniforms(event_key, draws, dtype):
    """(K, 2) uniforms (u_1, u_2) of the candidates ``draws`` (K,): a counter-based draw
    (integer hashing and an exact bit conversion, so the same values in any batch)."""
    return jax.vmap(lambda draw: jax.random.uniform(jax.random.fold_in(event_key, draw), (2,),
                                                    dtype=dtype))(draws)


def _next_time(previous, uniform, rate_bound):
    """The next candidate time: ``previous`` + an exponential gap of rate ``rate_bound``."""
    return previous - jnp.log1p(-uniform) / rate_bound


def _merge(spikes: Spikes, scratch: Spikes) -> Spikes:
    """Append the events of the small ``scratch`` buffer to ``spikes`` as one block
    (O(scratch)). ``spikes`` has ``scratch.capacity`` spare slots at its end, so the block
    always fits: past the usable capacity it lands in the spare slots (overflow, rerun),
    and its padding only covers slots that are still empty."""
    usable = spikes.capacity - scratch.capacity
    start = jnp.minimum(spikes.n_events, usable)
    put = lambda field, block: jax.lax.dynamic_update_slice(field, block, (start,))
    return Spikes(put(spikes.times, scratch.times), put(spikes.senders, scratch.senders),
                  put(spikes.counts, scratch.counts), spikes.n_events + scratch.n_events)


def _step(params, lane: Lane, table, base, duration, rate_bound, cumulative, padded_times,
          drift_spikes, record_inputs, scratch_size):
    """One element of the merged stream (candidates and sample times, candidates first at
    ties) for one lane. Output spikes of the step go to a small scratch buffer first, so
    that no loop ever carries (or selects over) the whole output buffer."""
    sample_time = padded_times[lane.sample_index]
    take_sample = sample_time < lane.clock
    candidate = ~take_sample
    valid = candidate & (lane.clock < duration)
    x = lane.x
    leave = jnp.where(x == 1, params.r_off, params.r_on)
    level = lane.level * rate_bound
    switch = valid & (level < leave)
    channel = jnp.sum(cumulative[x] <= level - leave, dtype=jnp.int32)
    is_input = valid & ~(level < leave) & (channel < params.n_inputs)
    channel = jnp.where(is_input, channel, -1)

    # Switches and null candidates leave the neuron alone: advancing to its own time is
    # an exact no-op. A sample advances to its time and records, as in event_kernel.
    moves = take_sample | is_input
    until = jnp.where(take_sample, sample_time,
                      jnp.where(is_input, lane.clock, lane.state.time))
    if drift_spikes:
        scratch = empty_spikes(scratch_size, lane.clock.dtype)
        state, scratch = advance(params, lane.state, until, scratch, drift_spikes=True)
        state, scratch = receive(params, state, channel, scratch, active=is_input)
        spikes, scratch_events = _merge(lane.spikes, scratch), scratch.n_events
    else:
        # at most one output event per step (receive's): appended directly, one slot
        state, _ = advance(params, lane.state, until, lane.spikes, drift_spikes=False)
        state, n_spikes = receive_count(params, state, channel, active=is_input)
        spikes = append_spikes(lane.spikes, state.time[None], jnp.zeros(1, jnp.int32),
                               n_spikes[None], (n_spikes > 0)[None])
        scratch_events = (n_spikes > 0).astype(jnp.int32)
    state = state._replace(step=jnp.where(moves, state.step, lane.state.step))
    slot = jnp.where(take_sample, lane.sample_index, padded_times.shape[0] - 1)
    # G is evaluated from its anchor at the samples only, in end (same call, same numbers)
    row = jnp.stack([state.log_odds, state.anchor_time, state.anchor_value,
                     x.astype(state.log_odds.dtype)])
    rows, columns = lane.counts.shape
    tally = ((jnp.arange(rows)[:, None] == x) & (jnp.arange(columns)[None, :] == channel)
             & is_input)

    # the uniforms of candidate lane.draw + 1, drawn with the chunk's (table row - base)
    drawn = jax.lax.dynamic_index_in_dim(table, lane.draw + 1 - base, keepdims=False)
    next_clock, next_level = _next_time(lane.clock, drawn[0], rate_bound), drawn[1]
    ended = jnp.minimum(next_clock, duration) - jnp.minimum(lane.clock, duration)
    inputs, switches = lane.inputs, lane.switches
    if record_inputs:
        inputs = _append(inputs, lane.clock, channel, is_input)
        switches = _append(switches, lane.clock, jnp.zeros((), jnp.int32), switch)
    new_x = jnp.where(switch, 1 - x, x)
    return lane._replace(
        state=state, spikes=spikes,
        samples=jax.lax.dynamic_update_slice(lane.samples, row[None],
                                             (slot, jnp.zeros_like(slot))),
        sample_index=lane.sample_index + take_sample.astype(jnp.int32),
        x=new_x,
        clock=jnp.where(candidate, next_clock, lane.clock),
        level=jnp.where(candidate, next_level, lane.level),
        draw=lane.draw + candidate.astype(jnp.int32),
        n_candidates=lane.n_candidates + valid.astype(jnp.int32),
        counts=lane.counts + tally.astype(jnp.int32),
        # the dwell from this candidate to the next one is spent in the new state
        time_on=lane.time_on + jnp.where(candidate & (new_x == 1), ended, 0.0),
        n_switches=lane.n_switches + switch.astype(jnp.int32),
        scratch_peak=jnp.maximum(lane.scratch_peak, scratch_events),
        inputs=inputs, switches=switches)


def _append(buffer: Spikes, time, sender, mask) -> Spikes:
    return append_spikes(buffer, time[None], sender[None], jnp.ones(1, jnp.int32), mask[None])


def _constants(params, sample_times, duration):
    dtype = jnp.result_type(float)
    # the last slot is +inf (no sample pending) and receives the writes of non-samples
    padded_times = jnp.concatenate([sample_times.astype(dtype), jnp.full(1, jnp.inf, dtype)])
    cumulative = jnp.cumsum(jnp.stack([params.q_off, params.q_on]), axis=1)  # row x
    rate_bound = jnp.maximum(params.r_on, params.r_off) + jnp.max(cumulative[:, -1])
    return dtype, padded_times, cumulative, rate_bound, jnp.asarray(duration, dtype)


@partial(jax.jit, static_argnames=("record_inputs",))
def begin(params, keys, initial_state, sample_times, duration, *, record_inputs):
    """Initial lanes of a batch: keys (B,), B >= 2 (a batch of one fuses differently on
    XLA:CPU, see :mod:`bayesnn.neuron.runs`)."""
    dtype, _, _, rate_bound, duration = _constants(params, sample_times, duration)
    n_samples = sample_times.shape[0]
    p_on = params.r_on / (params.r_on + params.r_off)
    record_size = max(int(record_inputs), 1)

    def start(key):
        key_state, event_key = jax.random.split(key)
        drawn = jax.random.bernoulli(key_state, p_on).astype(jnp.int32)
        x0 = jnp.where(initial_state < 0, drawn, initial_state).astype(jnp.int32)
        first = _uniforms(event_key, jnp.zeros(1, jnp.int32), dtype)[0]
        clock, level = _next_time(jnp.zeros((), dtype), first[0], rate_bound), first[1]
        lane = Lane(init_state(params, None, None, dtype), empty_spikes(1, dtype),
                     jnp.zeros((n_samples + 1, 4), dtype), jnp.zeros((), jnp.int32), x0,
                     clock, level, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     jnp.zeros((2, params.n_inputs), jnp.int32),
                     jnp.where(x0 == 1, jnp.minimum(clock, duration), 0.0),
                     jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     empty_spikes(record_size, dtype),
                     empty_spikes(record_size, dtype))
        return lane, event_key, x0

    return jax.vmap(start)(keys)


def fresh_spikes(lanes: Lane, slots: int) -> Lane:
    """The lanes with an empty output buffer of ``slots`` slots each."""
    width = lanes.x.shape[0]
    empty = empty_spikes(slots, lanes.clock.dtype)
    return lanes._replace(spikes=jax.tree_util.tree_map(
        lambda a: jnp.broadcast_to(a, (width,) + a.shape), empty))


@partial(jax.jit, static_argnames=("chunk_events", "drift_spikes", "record_inputs",
                                   "scratch_size", "max_chunks"))
def segment(params, lanes, event_keys, sample_times, duration, *, chunk_events,
             drift_spikes, record_inputs, scratch_size, max_chunks):
    """Up to ``max_chunks`` chunks of every lane (the output buffer in ``lanes`` has
    ``scratch_size`` spare slots). Pausing between chunks changes nothing: the next
    call continues the same sequence of steps."""
    dtype, padded_times, cumulative, rate_bound, duration = _constants(params, sample_times,
                                                                       duration)
    n_samples = sample_times.shape[0]

    def chunk(lane, event_key):
        # At most chunk_events candidates are consumed per chunk: draw their uniforms at
        # once (candidate j's values depend on j only, not on the chunking).
        base = lane.draw + 1
        table = _uniforms(event_key, base + jnp.arange(chunk_events, dtype=base.dtype), dtype)

        def body(lane, _):
            return _step(params, lane, table, base, duration, rate_bound, cumulative,
                         padded_times, drift_spikes, record_inputs, scratch_size), None
        return jax.lax.scan(body, lane, None, length=chunk_events, unroll=_UNROLL)[0]

    def going(loop):
        lanes, done = loop
        return (done < max_chunks) & running(lanes, duration, n_samples)

    def more(loop):
        lanes, done = loop
        return jax.vmap(chunk)(lanes, event_keys), done + 1

    return jax.lax.while_loop(going, more, (lanes, jnp.zeros((), jnp.int32)))[0]


def running(lanes, duration, n_samples):
    return jnp.any((lanes.clock < duration) | (lanes.sample_index < n_samples))


@partial(jax.jit, static_argnames=("drift_spikes", "scratch_size"))
def end(params, lanes, duration, sample_times, *, drift_spikes, scratch_size):
    """Drift of every lane from its last event to ``duration``; the samples become
    (S + 1, 3) rows L, G, x (G from its anchor at the sample time)."""
    _, padded_times, _, _, _ = _constants(params, sample_times, duration)

    def finish(lane):
        rows = lane.samples
        g = prediction_at(rows[:, 1], rows[:, 2], padded_times, params.r_on, params.r_off)
        lane = lane._replace(samples=jnp.stack([rows[:, 0], g, rows[:, 3]], axis=1))
        scratch = empty_spikes(scratch_size, lane.clock.dtype)
        state, scratch = advance(params, lane.state,
                                 jnp.maximum(jnp.asarray(duration, lane.clock.dtype),
                                             lane.state.time),
                                 scratch, drift_spikes=drift_spikes)
        return lane._replace(state=state, spikes=_merge(lane.spikes, scratch),
                             scratch_peak=jnp.maximum(lane.scratch_peak, scratch.n_events))

    return jax.vmap(finish)(lanes)


__all__ = ["Lane", "begin", "segment", "end", "fresh_spikes", "running"]
