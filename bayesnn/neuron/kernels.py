"""Pure per-trial kernels of the Bayesian neuron: ``lax.scan`` over the public step
functions of :mod:`bayesnn.neuron.functional`.

Each kernel takes a :class:`bayesnn.neuron.NeuronParams` record (traced: vmap over a
stacked batch of records, differentiate), fixed-shape inputs and static sizes, and
returns a :class:`KernelOutput`. Output spikes go to a :class:`bayesnn.core.Spikes` of
static ``capacity``; the wrappers in :mod:`bayesnn.neuron.runs` apply the overflow
policy.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.binning import bin_index
from bayesnn.core.spikes import Spikes, append_spikes, empty_spikes
from bayesnn.core.stepping import scan_chunked, scan_steps
from bayesnn.neuron.functional import NeuronState, advance, init_state, receive, receive_count
from bayesnn.neuron.output import prediction_at
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.stepped import (
    collect_spikes,
    discrete_normalizer,
    discrete_predict,
    make_discrete_split_step,
    make_step,
    transition_probabilities,
)

_SAMPLE = -2  # channel code of a sample time in the merged event stream
_GATHER_SAMPLES = 64  # merge by gathers up to this many sample times (see event_kernel)


class KernelOutput(NamedTuple):
    """Raw output of a kernel for one trial.

    Fields:
        log_odds: (S,) L at the record times.
        prediction: (S,) G at the record times.
        spikes: output spikes (sender 0, count = multiplicity).
        log_normalizers: (T,) per-bin log Z_k (discrete method on counts) or (0,).
        final: :class:`NeuronState` after the last update.
    """

    log_odds: jax.Array
    prediction: jax.Array
    spikes: Spikes
    log_normalizers: jax.Array
    final: NeuronState


def event_kernel(params: NeuronParams, inputs: Spikes, sample_times: jax.Array,
                 initial_log_odds, initial_prediction, *, capacity: int,
                 drift_spikes: bool = True, scan_length: int | None = None) -> KernelOutput:
    """Exact event-driven run over one trial's input spikes.

    Args:
        params: neuron parameters (traced).
        inputs: input spikes (senders = input channel; padding sender -1, time +inf,
            at the end).
        sample_times: (S,) sorted record times, s. A sample at the time of an input
            spike sees the jump and the output spikes it causes (right-continuity).
            Simultaneous inputs are summed before the neuron fires (one output event).
        initial_log_odds, initial_prediction: L(0), G(0).
        capacity: static number of output-event slots.
        drift_spikes: static; False skips the drift-crossing search (exact when
            :func:`bayesnn.neuron.event_driven.drift_can_fire` is False).
        scan_length: static; at least the number of valid input events (the host knows
            it): only the first ``scan_length`` input slots are scanned, the rest being
            padding, whose events are no-ops but for the update count ``final.step``,
            which still counts them. ``None``: every slot (same result).
    """
    n_slots = inputs.times.shape[0]
    if scan_length is not None and int(scan_length) < n_slots:
        inputs = jax.tree_util.tree_map(lambda a: a[:int(scan_length)] if a.ndim else a,
                                        inputs)
    n_inputs, n_samples = inputs.times.shape[0], sample_times.shape[0]
    valid = inputs.senders >= 0
    # Padding is processed as no-op events at the horizon so the stream stays sorted.
    horizon = jnp.maximum(jnp.max(jnp.where(valid, inputs.times, -jnp.inf), initial=0.0),
                          jnp.max(sample_times, initial=0.0))
    spike_times = jnp.where(valid, inputs.times, horizon)
    # Both streams are sorted: an element's merged position is its own index plus the
    # number of elements of the other stream before it (inputs first at ties).
    if n_samples <= _GATHER_SAMPLES:
        # Few samples: merged slot p holds a sample iff it is a sample slot, else the
        # input p - (samples before p). The same arrays by gathers, which cost less than
        # the scatters below (W1: ~10 % of the whole run).
        sample_slots = jnp.arange(n_samples) + jnp.searchsorted(spike_times, sample_times,
                                                                side="right")
        position = jnp.arange(n_inputs + n_samples)
        before = jnp.searchsorted(sample_slots, position, side="left", method="compare_all")
        is_sample = (sample_slots[jnp.minimum(before, n_samples - 1)] == position
                     if n_samples else jnp.zeros(position.shape, bool))
        source = jnp.clip(position - before, 0, max(n_inputs - 1, 0))
        padded = jnp.concatenate([sample_times.astype(spike_times.dtype),
                                  jnp.zeros(1, spike_times.dtype)])
        senders = jnp.where(valid, inputs.senders, -1).astype(jnp.int32)
        times = jnp.where(is_sample, padded[jnp.minimum(before, n_samples)],
                          spike_times[source] if n_inputs else 0.0)
        channels = jnp.where(is_sample, _SAMPLE, senders[source] if n_inputs else -1
                             ).astype(jnp.int32)
    else:
        input_slots = jnp.arange(n_inputs) + jnp.searchsorted(sample_times, spike_times, side="left")
        sample_slots = jnp.arange(n_samples) + jnp.searchsorted(spike_times, sample_times, side="right")
        times = (jnp.zeros(n_inputs + n_samples, spike_times.dtype)
                 .at[input_slots].set(spike_times).at[sample_slots].set(sample_times))
        channels = (jnp.zeros(n_inputs + n_samples, jnp.int32)
                    .at[input_slots].set(jnp.where(valid, inputs.senders, -1))
                    .at[sample_slots].set(_SAMPLE))

    # An input fires the neuron only once every input of its instant is in (ties: the
    # instant's jumps are summed, as within a bin; samples at the instant come after).
    same_instant_next = jnp.concatenate([(times[1:] == times[:-1]) & (channels[1:] >= 0),
                                         jnp.zeros(1, bool)])

    # Per event only the state advances: the samples keep (L, anchor time, anchor value)
    # and G is evaluated from them after the scan (the same prediction_at call on the
    # same numbers); without drift spikes the output events are the scan's per-event
    # spike counts, compacted after the scan by one append (together ~15 % of the W1
    # scan's time). Drift spikes fall between events, so with the search on they are
    # appended to the buffer as they come.
    dtype = jnp.result_type(float)
    no_buffer = empty_spikes(1, dtype)

    def visit(carry, event):
        state, buffer, samples, sample_index = carry
        time, channel, defer = event
        if drift_spikes:
            state, buffer = advance(params, state, time, buffer, drift_spikes=True)
            state, buffer = receive(params, state, channel, buffer, active=channel >= 0,
                                    emit=~defer)
            fired = None
        else:
            state, _ = advance(params, state, time, no_buffer, drift_spikes=False)
            state, fired = receive_count(params, state, channel, active=channel >= 0,
                                         emit=~defer)
        is_sample = channel == _SAMPLE
        slot = jnp.where(is_sample, sample_index, n_samples)
        samples = samples.at[slot].set(
            jnp.stack([state.log_odds, state.anchor_time, state.anchor_value]))
        return (state, buffer, samples, sample_index + is_sample.astype(jnp.int32)), fired

    start = init_state(params, initial_log_odds, initial_prediction, dtype)
    # One spare slot receives the writes of non-sample events (and keeps S = 0 legal).
    carry = (start, empty_spikes(capacity if drift_spikes else 1, dtype),
             jnp.zeros((n_samples + 1, 3), dtype), jnp.array(0))
    (final, buffer, samples, _), fired = jax.lax.scan(
        visit, carry, (times, channels, same_instant_next))
    if not drift_spikes:
        buffer = append_spikes(empty_spikes(capacity, dtype), times, jnp.zeros((), jnp.int32),
                               fired, fired > 0)
    samples = samples[:n_samples]
    predicted = prediction_at(samples[:, 1], samples[:, 2], sample_times, params.r_on,
                              params.r_off)
    final = final._replace(step=final.step + (n_slots - n_inputs))
    return KernelOutput(samples[:, 0], predicted, buffer, jnp.zeros(0, dtype), final)


def stepped_event_kernel(params: NeuronParams, inputs: Spikes, dt, initial_log_odds,
                         initial_prediction, *, method: str, n_steps: int, chunk: int,
                         record_every: int, capacity: int,
                         window: int | None = None) -> KernelOutput:
    """Time-stepped run on input spike events, binned chunk by chunk inside the scan
    (memory O(events + chunk), never steps x inputs).

    ``window`` (static): at least the number of input events in any chunk (see
    :func:`chunk_window`); each chunk then bins only the ``window`` events from its first
    one on (found by ``searchsorted``), so binning costs O(window) per chunk instead of
    O(all events), which made long runs quadratic in the duration. ``None``: every
    chunk scans all events (same result)."""
    bias = -params.theta * dt
    if method == "discrete":
        # The exps of the next bin are computed at the end of each bin and carried, so
        # that XLA:CPU keeps them out of the loops with the logs and vectorises them.
        prepare, split_step = make_discrete_split_step(params, dt, bias)

        def step(carry, inputs):
            state, ratios = carry
            state, ratios, record = split_step(state, ratios, inputs[0])
            return (state, ratios), record
    else:
        prepare = lambda state: ()
        plain_step = make_step(method, params, dt, bias)

        def step(carry, inputs):
            state, record = plain_step(carry[0], inputs)
            return (state, ()), record
    valid = inputs.senders >= 0
    bins = jnp.where(valid, bin_index(inputs.times, dt, n_steps), n_steps)
    spike_weights = jnp.where(valid, params.weights[jnp.maximum(inputs.senders, 0)], 0.0)
    dtype = jnp.result_type(float)
    n_events = bins.shape[0]
    window = n_events if window is None else min(int(window), n_events)

    def chunk_inputs(index):
        first = index * chunk
        if window < n_events:
            # Events are sorted, so the chunk's events are contiguous from `start`;
            # dynamic_slice moves a window that would overrun the end back inside, which
            # only adds earlier events (dropped below).
            start = jnp.searchsorted(bins, first, side="left")
            chunk_bins = jax.lax.dynamic_slice_in_dim(bins, start, window)
            chunk_weights = jax.lax.dynamic_slice_in_dim(spike_weights, start, window)
        else:
            chunk_bins, chunk_weights = bins, spike_weights
        local = chunk_bins - first
        local = jnp.where((local >= 0) & (local < chunk), local, chunk)
        evidence = jnp.zeros(chunk, dtype).at[local].add(chunk_weights, mode="drop")
        return evidence, jnp.zeros(chunk, dtype)

    # Output spikes: each step writes its spike count's slot in the event buffer
    # (running count while it fits, else the out-of-range slot `capacity`, dropped), so
    # that a chunk's events go into the buffer by one scatter per field, with no cumsum
    # over the chunk; senders (0 for every stored event) are set once after the scan.
    # Same events, times and counts as append_spikes, which cost ~30 % of the W1 run.
    def after_chunk(carry, records, index):
        state, times, counts, n_out = carry
        n_spikes, slot, log_odds, predicted = records
        steps = index * chunk + 1 + jnp.arange(n_spikes.shape[0])
        times = times.at[slot].set((steps * dt).astype(dtype), mode="drop")
        counts = counts.at[slot].set(n_spikes, mode="drop")
        kept = jax.tree_util.tree_map(lambda r: r[record_every - 1::record_every],
                                      (log_odds, predicted))
        return (state, times, counts, n_out), kept

    def chunk_step(carry, step_inputs):
        state, times, counts, n_out = carry
        state, record = step(state, step_inputs)
        fired = record.n_spikes > 0
        slot = jnp.where(fired & (n_out < capacity), n_out, capacity)
        n_out = n_out + fired.astype(jnp.int32)
        return ((state, times, counts, n_out),
                (record.n_spikes, slot, record.log_odds, record.prediction))

    empty = empty_spikes(capacity, dtype)
    initial = init_state(params, initial_log_odds, initial_prediction, dtype)
    start = ((initial, prepare(initial)), empty.times, empty.counts, jnp.zeros((), jnp.int32))
    ((state, _), times, counts, n_out), (log_odds, predicted) = scan_chunked(
        chunk_step, start, chunk_inputs, n_steps // chunk, after_chunk=after_chunk)
    senders = jnp.where(jnp.arange(capacity) < n_out, 0, empty.senders).astype(jnp.int32)
    buffer = Spikes(times=times, senders=senders, counts=counts, n_events=n_out)
    flat = lambda r: r.reshape((r.shape[0] * r.shape[1],) + r.shape[2:])
    return KernelOutput(flat(log_odds), flat(predicted), buffer, jnp.zeros(0, dtype), state)


def chunk_window(times, dt: float, n_steps: int, chunk: int) -> int:
    """Host-side ``window`` for :func:`stepped_event_kernel`: the most valid events
    (finite ``times``, NumPy, any leading batch axes) whose times lie within two bins of
    one chunk, bucketed to a power of two (few compiled shapes). An event's bin differs
    from floor(t / dt) by at most one (:func:`bayesnn.core.bin_index`), so every event
    binned into a chunk is counted."""
    times = np.asarray(times, dtype=np.float64)
    flat = times.reshape(-1, times.shape[-1]) if times.ndim else times.reshape(1, 1)
    n_chunks = n_steps // chunk
    edges = np.arange(n_chunks + 1, dtype=np.float64) * chunk
    most = 0
    for row in flat:
        real = row[np.isfinite(row)]
        if real.size:
            low = np.searchsorted(real, (edges[:-1] - 2.0) * dt, side="left")
            high = np.searchsorted(real, (edges[1:] + 2.0) * dt, side="right")
            most = max(most, int(np.max(high - low)))
    return 1 << max(most, 1).bit_length()


def stepped_counts_kernel(params: NeuronParams, evidence, log_lik_off, dt, bias,
                          initial_log_odds, initial_prediction, *, method: str,
                          record_every: int, capacity: int) -> KernelOutput:
    """Time-stepped run on dense per-bin evidence (T,), keeping log Z for every bin.

    log Z_k depends only on L_{k-1} and bin k, so it is computed after the scan for all
    bins at once (vectorised, the same elementwise formulas as in the step) instead of
    inside the sequential loop."""
    step = make_step(method, params, dt, bias)
    dtype = jnp.result_type(float)
    start = init_state(params, initial_log_odds, initial_prediction, dtype)
    state, records = scan_steps(step, start, (evidence, log_lik_off), record_every=1)
    buffer = collect_spikes(empty_spikes(capacity, dtype), records.n_spikes, 0, dt)
    if method == "discrete":
        previous = jnp.concatenate([start.log_odds[None], records.log_odds[:-1]])
        a_on, a_off = transition_probabilities(params, dt)
        normalizers = discrete_normalizer(discrete_predict(previous, a_on, a_off),
                                          evidence, log_lik_off, bias)
    else:
        normalizers = jnp.zeros(0, dtype)
    return KernelOutput(records.log_odds[record_every - 1::record_every],
                        records.prediction[record_every - 1::record_every],
                        buffer, normalizers, state)


__all__ = ["KernelOutput", "event_kernel", "stepped_event_kernel", "chunk_window",
           "stepped_counts_kernel"]
