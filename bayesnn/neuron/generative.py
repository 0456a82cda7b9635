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
``chunk_events`` (candidates past the end change nothing). Trials run in batches of
lanes, and each batch in segments of chunks: after a segment its output spikes move to
host memory and the device buffer starts empty again (pausing between chunks changes
nothing). Working memory is O(batch x (segment's output spikes + samples + N)), flat in
duration; the result holds the output spikes, the samples and the counts.

Ties: candidate times are continuous; two that round to the same float64 time (chance
about :math:`\Lambda \cdot` ulp(t) per event, 1e-9 at one day) are processed one after
the other, each input firing the neuron (``simulate`` sums the jumps of simultaneous
inputs first).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import KeyLike, as_key, trial_keys
from bayesnn.core.precision import require_time_resolution, warn_if_float32
from bayesnn.core.spikes import Spikes, bucket_capacity, next_power_of_two
from bayesnn.core.validation import require_int, require_positive
from bayesnn.neuron.checks import check_params, record_times
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.functional import NeuronState
from bayesnn.neuron.generative_scan import begin, end, fresh_spikes, running, segment
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.runs import NeuronResult

_MAX_DRAWS = 2**31 - 1  # int32 candidate counter
# Output-buffer slots of one compiled call (lanes x capacity) at most: bounds the working
# set of long runs (the kept results are trimmed to the spikes emitted).
_LANE_SLOTS = 2**23
# Expected output spikes per lane in one segment of the run (see _run_batch).
_SEGMENT_SPIKES = 2**14


class GenerativeResult(NamedTuple):
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

    def to_neuron_run(self) -> NeuronResult:
        """The neuron part as a :class:`bayesnn.neuron.NeuronResult`."""
        return NeuronResult(self.times, self.log_odds, self.prediction, self.spikes, None,
                         self.final.n_guarded, self.final)



class _Overflow(Exception):
    """A buffer of the batch was too small: rerun it with ``sizes``."""

    def __init__(self, sizes):
        super().__init__()
        self.sizes = sizes


def _run_batch(params, keys, x0, times, duration, *, chunk_events, drift, sizes,
               max_chunks):
    """One batch of lanes, segment by segment: after each segment its output spikes go to
    host memory and the device buffer starts empty again, so device memory does not grow
    with the duration. Returns (lanes, initial states, per-lane spike times, counts)."""
    lanes, event_keys, initial = begin(params, keys, jnp.asarray(x0), jnp.asarray(times),
                                        duration, record_inputs=sizes["record_inputs"])
    width = keys.shape[0]
    harvested_times = [[] for _ in range(width)]
    harvested_counts = [[] for _ in range(width)]
    slots = sizes["capacity"] + sizes["scratch_size"]
    n_samples = len(times)

    def harvest(lanes):
        events = np.asarray(lanes.spikes.n_events)
        needed = {"capacity": int(events.max(initial=0)),
                  "scratch_size": int(np.max(np.asarray(lanes.scratch_peak))),
                  "record_inputs": (int(np.max(np.asarray(jnp.maximum(
                      lanes.inputs.n_events, lanes.switches.n_events))))
                      if sizes["record_inputs"] else 0)}
        if any(needed[name] > sizes[name] for name in sizes):
            raise _Overflow({name: max(sizes[name], next_power_of_two(needed[name]))
                             for name in sizes})
        spike_times = np.asarray(lanes.spikes.times)
        spike_counts = np.asarray(lanes.spikes.counts)
        for lane in range(width):
            # copies: a view would keep the whole segment buffer alive
            harvested_times[lane].append(spike_times[lane, :events[lane]].copy())
            harvested_counts[lane].append(spike_counts[lane, :events[lane]].copy())

    while bool(running(lanes, duration, n_samples)):
        lanes = segment(params, fresh_spikes(lanes, slots), event_keys, jnp.asarray(times),
                         duration, chunk_events=chunk_events, drift_spikes=drift,
                         record_inputs=sizes["record_inputs"],
                         scratch_size=sizes["scratch_size"], max_chunks=max_chunks)
        harvest(lanes)
    lanes = end(params, fresh_spikes(lanes, slots), duration, jnp.asarray(times),
                drift_spikes=drift, scratch_size=sizes["scratch_size"])
    harvest(lanes)
    return (lanes, initial, [np.concatenate(t) for t in harvested_times],
            [np.concatenate(c) for c in harvested_counts])


def _check_sample_inputs(params, key, duration, n_trials, dt, sample_times, chunk_events,
                         capacity, initial_state, record_inputs, batch_trials):
    params = check_params(params)
    duration = float(require_positive("duration", duration, ndim=0))
    if n_trials is not None:
        n_trials = require_int("n_trials", n_trials, minimum=1)
    chunk_events = require_int("chunk_events", chunk_events, minimum=1)
    if capacity is not None:
        capacity = require_int("capacity", capacity, minimum=1)
    record_inputs = require_int("record_inputs", record_inputs, minimum=0)
    require_int("batch_trials", batch_trials, minimum=1)
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
                        record_inputs: int = 0, batch_trials: int = 1024) -> GenerativeResult:
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
        capacity: output-event slots per trial and segment of the run (default from the
            expected rate, :func:`segment_plan`; grown and rerun on overflow, results
            unchanged).
        initial_state: 0 or 1 to fix x(0); None draws it from the stationary law.
        record_inputs: if > 0, also return the generated input spikes and switch times
            in buffers of this many slots (grown on overflow): for tests and plots of
            short runs. 0 (default) keeps only counts.
        batch_trials: at most this many trials per compiled call, and at most 2^23
            output-buffer slots per call (memory and speed only: results are
            bit-identical for every value); memory holds one batch's working set plus
            the kept results of all trials (output buffers trimmed to the spikes
            emitted).

    Returns:
        :class:`GenerativeResult`: L, G and the true x at the sample times, output spikes,
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
                                           record_inputs, batch_trials)
    warn_if_float32("bayesnn.neuron.simulate_generative")
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    fastest = float(params.r_on) + float(params.r_off) + float(np.maximum(q_on, q_off).sum())
    require_time_resolution("bayesnn.neuron.simulate_generative", duration, fastest)

    keys = (trial_keys(base, n_trials) if n_trials is not None else base[None])
    n_run = keys.shape[0]
    # Output events: about (evidence rate in state 1 / g0 + 10 Hz) x duration, plus drift
    # spikes. The run goes in segments of max_chunks chunks (about _SEGMENT_SPIKES
    # expected output spikes per lane each); a buffer holds one segment's spikes, and is
    # grown and the batch rerun on overflow (identical results).
    max_chunks, default = segment_plan(params, duration, chunk_events)
    output_capacity = capacity or default
    # Lanes per compiled call: at least two (a batch of one fuses differently, see
    # _begin); the last batch is padded with copies (dropped), so every batch runs one
    # program and memory is bounded by one batch plus the kept results.
    width = max(2, min(batch_trials, n_run, _LANE_SLOTS // output_capacity))
    n_batches = -(-n_run // width)
    padded = jnp.concatenate([keys, jnp.broadcast_to(keys[-1:], (n_batches * width - n_run,)
                                                     + keys.shape[1:])])
    sizes = {"capacity": output_capacity,
             "record_inputs": (max(bucket_capacity(max(q_on.sum(), q_off.sum()) * duration),
                                   record_inputs) if record_inputs else 0),
             "scratch_size": 4}
    drift = drift_can_fire(params)
    x0 = -1 if initial_state is None else int(initial_state)
    pieces, spike_times, spike_counts = [], [], []
    for batch in range(n_batches):
        batch_keys = padded[batch * width:(batch + 1) * width]
        while True:
            try:
                lanes, initial, times_k, counts_k = _run_batch(
                    params, batch_keys, x0, times, duration, chunk_events=chunk_events,
                    drift=drift, sizes=sizes, max_chunks=max_chunks)
                break
            except _Overflow as overflow:
                sizes = overflow.sizes
        real = min(width, n_run - batch * width)
        lanes, initial = jax.tree_util.tree_map(lambda a: a[:real], (lanes, initial))
        pieces.append((lanes._replace(spikes=None), initial))
        spike_times += times_k[:real]
        spike_counts += counts_k[:real]
    lanes, initial = _concatenate(pieces)
    spikes = _to_spikes(spike_times, spike_counts)
    if n_trials is None:
        lanes, initial, spikes = jax.tree_util.tree_map(lambda a: a[0],
                                                        (lanes, initial, spikes))
    n_samples = times.shape[0]
    samples = lanes.samples[..., :n_samples, :]
    recorded = bool(sizes["record_inputs"])
    return GenerativeResult(
        times, samples[..., 0], samples[..., 1], samples[..., 2].astype(jnp.int32),
        spikes, lanes.counts.sum(-2), lanes.counts[..., 1, :], lanes.time_on,
        lanes.n_switches, initial, lanes.n_candidates, lanes.state,
        lanes.inputs if recorded else None, lanes.switches if recorded else None)


def segment_plan(params: NeuronParams, duration: float, chunk_events: int) -> tuple[int, int]:
    """(chunks per segment, default output slots per lane and segment) of
    :func:`simulate_generative`: segments of about 2^14 expected output spikes per lane
    (rate bound (1.5 x evidence rate in state 1 / g0 + 10 Hz) plus drift spikes)."""
    rate = (1.5 * max(float(params.evidence_rate_on), 1.0) / float(params.g0) + 10.0
            + _drift_rate(params))
    rate_bound = (max(float(params.r_on), float(params.r_off))
                  + max(float(np.sum(params.q_on)), float(np.sum(params.q_off))))
    chunk_seconds = chunk_events / rate_bound
    max_chunks = max(1, int(_SEGMENT_SPIKES / (rate * chunk_seconds)))
    segment = min(float(duration), max_chunks * chunk_seconds * 1.5)
    return max_chunks, bucket_capacity(rate * segment)


def _to_spikes(times: list, counts: list) -> Spikes:
    """(trials, capacity) output spikes from per-trial event arrays (capacity: the next
    power of two >= the largest count, at least 16)."""
    capacity = next_power_of_two(max(max((t.size for t in times), default=0), 16))
    n = len(times)
    all_times = np.full((n, capacity), np.inf)
    senders = np.full((n, capacity), -1, np.int32)
    all_counts = np.zeros((n, capacity), np.int32)
    for k, (t, c) in enumerate(zip(times, counts)):
        all_times[k, :t.size] = t
        senders[k, :t.size] = 0
        all_counts[k, :t.size] = c
    dtype = jnp.result_type(float)
    return Spikes(jnp.asarray(all_times, dtype), jnp.asarray(senders),
                  jnp.asarray(all_counts), jnp.asarray([t.size for t in times], jnp.int32))


def _pad_spikes(spikes: Spikes, capacity: int) -> Spikes:
    extra = capacity - spikes.capacity
    if extra == 0:
        return spikes
    pad = lambda a, value: jnp.pad(a, ((0, 0), (0, extra)), constant_values=value)
    return Spikes(pad(spikes.times, jnp.inf), pad(spikes.senders, -1), pad(spikes.counts, 0),
                  spikes.n_events)


def _concatenate(pieces):
    """Join the batches' results along the trial axis (spike buffers padded to the
    largest capacity, which grows only if a later batch overflowed)."""
    if len(pieces) == 1:
        return pieces[0]
    lanes = [lane for lane, _ in pieces]
    widest = {name: max(getattr(lane, name).capacity for lane in lanes)
              for name in ("inputs", "switches")}
    lanes = [lane._replace(**{name: _pad_spikes(getattr(lane, name), size)
                              for name, size in widest.items()}) for lane in lanes]
    joined = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *lanes)
    return joined, jnp.concatenate([initial for _, initial in pieces])


def _drift_rate(params) -> float:
    """Bound on drift-driven output events, Hz (see :func:`bayesnn.neuron.simulate`)."""
    if not drift_can_fire(params):
        return 0.0
    return float(max(-float(params.theta), 0.0) / float(params.g0))


__all__ = ["GenerativeResult", "simulate_generative", "segment_plan"]
