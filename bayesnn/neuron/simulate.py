"""Run a Bayesian neuron on input spikes: the user-facing wrappers.

Three integrators, one result type (:class:`NeuronRun`):

========== ======================================= =================================
method     what it integrates                      exact for
========== ======================================= =================================
"exact"    closed-form flows between input events, the continuous-time model
           jumps w_i at spikes, output spikes at   (default)
           exact crossing times
"discrete" log-space HMM forward recursion on      the binned model (Poisson or
           counts per bin                          Bernoulli counts)
"euler"    forward Euler on Denève's ODE with a    neither: O(dt) error
           stability guard
========== ======================================= =================================

Inputs are either a :class:`bayesnn.processes.Trial` (spike events; batched trials
have a leading axis) or, for the time-stepped methods, dense counts per bin
(:func:`filter_counts`). From events, the time-stepped methods bin the spikes chunk by
chunk inside the scan, so memory is O(events + chunk), never O(steps x inputs).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayesnn.core.events import empty_buffer, poisson_capacity
from bayesnn.core.stepping import scan_chunked, scan_steps
from bayesnn.core.validation import (
    as_array,
    require_integer_counts,
    require_positive,
    require_shape,
)
from bayesnn.neuron.event_driven import drift_can_fire, event_kernel
from bayesnn.neuron.output import OutputSpikes
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.stepped import METHODS, StepRecord, collect_spikes, initial_state, make_step

ALL_METHODS = ("exact",) + METHODS


class NeuronRun(NamedTuple):
    """Result of running a Bayesian neuron (leading trial axis when batched).

    Fields:
        times: (S,) times of the recorded values, s (sample times for "exact", bin ends
            for the stepped methods, decimated by ``record_every``).
        log_odds: (..., S) L, the log-odds of x = 1 given the input spikes so far.
        prediction: (..., S) G, the prediction of L from the output spikes.
        spikes: output spikes as events with multiplicity (:class:`OutputSpikes`).
        log_normalizers: (..., T) per-bin log Z_k ("discrete" on counts), else None.
        n_guarded: (...) number of Euler steps taken by the stability guard
            (exponential Euler where dt k(L) >= 1; 0 for other methods).
    """

    times: np.ndarray
    log_odds: jax.Array
    prediction: jax.Array
    spikes: OutputSpikes
    log_normalizers: jax.Array | None
    n_guarded: jax.Array

    @property
    def posterior(self) -> jax.Array:
        """P(x = 1 | inputs so far) = sigmoid(L)."""
        return jax.nn.sigmoid(self.log_odds)

    @property
    def decoded_posterior(self) -> jax.Array:
        """sigmoid(G): the posterior as a downstream reader decodes it from the spikes."""
        return jax.nn.sigmoid(self.prediction)


def _initial(params: NeuronParams, initial_log_odds, initial_prediction):
    start = params.prior_log_odds
    log_odds = start if initial_log_odds is None else float(as_array("initial_log_odds", initial_log_odds, ndim=0))
    prediction = start if initial_prediction is None else float(as_array("initial_prediction", initial_prediction, ndim=0))
    return log_odds, prediction


def _default_capacity(params: NeuronParams, duration: float, n_input_spikes: int) -> int:
    # Mean ON-state output rate is about evidence_rate_on / g0 (Denève 2004); allow for
    # the OFF state, bursts and the margin. Overflow is detected and retried anyway.
    rate = 1.5 * max(params.evidence_rate_on, 1.0) / params.g0 + 10.0
    return poisson_capacity(rate * duration + 0.05 * n_input_spikes)


def _events_of(trial, n_inputs: int):
    if hasattr(trial, "spike_times"):
        spike_times, spike_channels = trial.spike_times, trial.spike_channels
    else:
        spike_times, spike_channels = trial
    spike_times = jnp.asarray(spike_times)
    spike_channels = jnp.asarray(spike_channels, jnp.int32)
    if spike_times.shape != spike_channels.shape or spike_times.ndim not in (1, 2):
        raise ValueError("spike_times and spike_channels must have one common shape (K,) "
                         f"or (trials, K), got {spike_times.shape} and {spike_channels.shape}")
    if int(jnp.max(spike_channels, initial=-1)) >= n_inputs:
        raise ValueError(f"spike_channels must be < n_inputs = {n_inputs}")
    if not bool(jnp.all(jnp.isfinite(spike_times))):
        raise ValueError("spike_times must be finite")
    if bool(jnp.any(jnp.diff(spike_times, axis=-1) < 0)):
        raise ValueError("spike_times must be sorted in time")
    return spike_times, spike_channels


def simulate_exact(params: NeuronParams, trial, sample_times, capacity: int | None = None,
                   initial_log_odds: float | None = None,
                   initial_prediction: float | None = None) -> NeuronRun:
    """Exact event-driven run of the neuron on input spike events (the default method).

    Args:
        params: neuron parameters.
        trial: a :class:`bayesnn.processes.Trial` (one trial or a batch) or a pair
            ``(spike_times, spike_channels)`` of shape (K,) or (trials, K); channel < 0
            marks padding.
        sample_times: (S,) sorted times (s) at which L and G are recorded.
        capacity: output-spike event slots per trial (default from the expected rate;
            doubled and rerun automatically on overflow).
        initial_log_odds, initial_prediction: L(0) and G(0); default log(r_on/r_off).
    """
    spike_times, spike_channels = _events_of(trial, params.n_inputs)
    sample_times = as_array("sample_times", sample_times, ndim=1)
    if np.any(np.diff(sample_times) < 0):
        raise ValueError("sample_times must be sorted in time")
    log_odds, prediction = _initial(params, initial_log_odds, initial_prediction)
    horizon = float(max(np.max(sample_times, initial=0.0), float(jnp.max(spike_times, initial=0.0))))
    if capacity is None:
        capacity = _default_capacity(params, horizon, int(spike_times.shape[-1]))
    args = (jnp.asarray(params.weights), params.r_on, params.r_off, params.theta, params.g0,
            log_odds, prediction)
    drift = drift_can_fire(params.r_on, params.r_off, params.theta, params.g0)
    while True:
        kernel = _exact_jit if spike_times.ndim == 1 else _exact_batch_jit
        result = kernel(spike_times, spike_channels, jnp.asarray(sample_times), *args,
                        capacity=int(capacity), drift_spikes=drift)
        if int(jnp.max(result.n_spike_events)) <= capacity:
            break
        capacity = 2 * int(jnp.max(result.n_spike_events))
    spikes = OutputSpikes(result.spike_times, result.spike_counts, result.n_spike_events)
    zeros = jnp.zeros(spike_times.shape[:-1], jnp.int32)
    return NeuronRun(sample_times, result.log_odds, result.prediction, spikes, None, zeros)


@partial(jax.jit, static_argnames=("capacity", "drift_spikes"))
def _exact_jit(spike_times, spike_channels, sample_times, weights, r_on, r_off, theta, g0,
               log_odds, prediction, *, capacity, drift_spikes):
    return event_kernel(spike_times, spike_channels, sample_times, weights, r_on, r_off,
                        theta, g0, log_odds, prediction, capacity=capacity,
                        drift_spikes=drift_spikes)


@partial(jax.jit, static_argnames=("capacity", "drift_spikes"))
def _exact_batch_jit(spike_times, spike_channels, sample_times, weights, r_on, r_off, theta,
                     g0, log_odds, prediction, *, capacity, drift_spikes):
    """One jitted program for a batch of trials (vmap inside jit)."""
    def one(times, channels):
        return event_kernel(times, channels, sample_times, weights, r_on, r_off, theta, g0,
                            log_odds, prediction, capacity=capacity, drift_spikes=drift_spikes)
    return jax.vmap(one)(spike_times, spike_channels)


def _steps_of(duration: float, dt: float) -> int:
    n_steps = int(round(duration / dt))
    if n_steps < 1 or abs(n_steps * dt - duration) > 1e-9 * max(duration, 1.0):
        raise ValueError(f"duration ({duration}) must be a positive multiple of dt ({dt})")
    return n_steps


def _chunk_length(n_steps: int, record_every: int, target: int) -> int:
    """Largest multiple of record_every that divides n_steps and is <= max(target, record_every)."""
    if n_steps % record_every:
        raise ValueError(f"record_every ({record_every}) must divide the number of steps ({n_steps})")
    best = record_every
    for length in range(record_every, min(n_steps, max(target, record_every)) + 1, record_every):
        if n_steps % length == 0:
            best = length
    return best


def simulate_stepped(params: NeuronParams, trial, dt: float, duration: float,
                     method: str = "discrete", record_every: int = 1,
                     chunk_steps: int = 2000, capacity: int | None = None,
                     initial_log_odds: float | None = None,
                     initial_prediction: float | None = None) -> NeuronRun:
    """Time-stepped run ("discrete" or "euler") on input spike *events*.

    Spikes are binned (bin k = [k dt, (k+1) dt)) one chunk of ``chunk_steps`` bins at
    a time inside the scan, so no steps x inputs array is ever built. L and G are
    recorded every ``record_every`` bins. ``log_normalizers`` is None here (it needs
    the per-input counts; use :func:`filter_counts`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    dt = float(require_positive("dt", dt, ndim=0))
    duration = float(require_positive("duration", duration, ndim=0))
    spike_times, spike_channels = _events_of(trial, params.n_inputs)
    n_steps = _steps_of(duration, dt)
    chunk = _chunk_length(n_steps, int(record_every), int(chunk_steps))
    log_odds, prediction = _initial(params, initial_log_odds, initial_prediction)
    if capacity is None:
        capacity = _default_capacity(params, duration, int(spike_times.shape[-1]))
    scalars = (jnp.asarray(params.weights), params.r_on, params.r_off, params.theta,
               params.g0, dt, log_odds, prediction)
    while True:
        kernel = partial(_stepped_events_jit, method=method, n_steps=n_steps, chunk=chunk,
                         record_every=int(record_every), capacity=int(capacity),
                         batched=spike_times.ndim == 2)
        state, buffer, records = kernel(spike_times, spike_channels, *scalars)
        if int(jnp.max(buffer.count)) <= capacity:
            break
        capacity = 2 * int(jnp.max(buffer.count))
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    spikes = OutputSpikes(buffer.times, jnp.maximum(buffer.senders, 0), buffer.count)
    return NeuronRun(times, records.log_odds, records.prediction, spikes, None, state.n_guarded)


@partial(jax.jit, static_argnames=("method", "n_steps", "chunk", "record_every", "capacity",
                                   "batched"))
def _stepped_events_jit(spike_times, spike_channels, weights, r_on, r_off, theta, g0, dt,
                        log_odds, prediction, *, method, n_steps, chunk, record_every, capacity,
                        batched):
    step = make_step(method, r_on, r_off, theta, g0, dt, -theta * dt)

    def one_trial(spike_times, spike_channels):
        valid = spike_channels >= 0
        bins = jnp.where(valid, jnp.floor(spike_times / dt).astype(jnp.int32), n_steps)
        spike_weights = jnp.where(valid, weights[jnp.maximum(spike_channels, 0)], 0.0)

        def chunk_inputs(index):
            local = bins - index * chunk
            local = jnp.where((local >= 0) & (local < chunk), local, chunk)
            evidence = jnp.zeros(chunk, spike_weights.dtype).at[local].add(spike_weights, mode="drop")
            return evidence, jnp.zeros(chunk, spike_weights.dtype)

        def after_chunk(carry, records, index):
            state, buffer = carry
            buffer = collect_spikes(buffer, records.n_spikes, index * chunk, dt)
            kept = jax.tree_util.tree_map(lambda r: r[record_every - 1::record_every],
                                          (records.log_odds, records.prediction))
            return (state, buffer), kept

        def chunk_step(carry, inputs):
            state, buffer = carry
            state, record = step(state, inputs)
            return (state, buffer), record

        start = (initial_state(log_odds, prediction), empty_buffer(capacity, spike_weights.dtype))
        (state, buffer), (kept_log_odds, kept_prediction) = scan_chunked(
            chunk_step, start, chunk_inputs, n_steps // chunk, after_chunk=after_chunk)
        flat = lambda r: r.reshape((r.shape[0] * r.shape[1],) + r.shape[2:])
        return state, buffer, StepRecord(flat(kept_log_odds), flat(kept_prediction), None, None)

    if batched:
        return jax.vmap(one_trial)(spike_times, spike_channels)
    return one_trial(spike_times, spike_channels)


def filter_counts(params: NeuronParams, counts, dt: float, method: str = "discrete",
                  observation: str = "poisson", record_every: int = 1,
                  capacity: int | None = None, initial_log_odds: float | None = None,
                  initial_prediction: float | None = None) -> NeuronRun:
    """Time-stepped run on dense counts per bin, with the per-bin normalisers.

    Args:
        counts: (T, N) or (trials, T, N) non-negative integer input counts per bin.
        dt: bin width, s.
        method: "discrete" (exact for the binned model) or "euler".
        observation: "poisson" (counts ~ Poisson(q dt)) or "bernoulli" (0/1 per bin,
            needs q dt < 1).

    ``log_normalizers`` (discrete method) holds log Z_k; their sum is the log marginal
    likelihood of the counts under the binned model.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if observation not in ("poisson", "bernoulli"):
        raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}")
    dt = float(require_positive("dt", dt, ndim=0))
    counts = require_integer_counts("counts", counts)
    if counts.ndim not in (2, 3):
        raise ValueError(f"counts must have shape (T, N) or (trials, T, N), got {counts.shape}")
    require_shape("counts", counts, counts.shape[:-1] + (params.n_inputs,))
    n_steps = counts.shape[-2]
    if n_steps % record_every:
        raise ValueError(f"record_every ({record_every}) must divide the number of bins ({n_steps})")
    q_on, q_off = params.q_on, params.q_off
    if observation == "bernoulli":
        if np.max(np.maximum(q_on, q_off)) * dt >= 1:
            raise ValueError("q_on * dt and q_off * dt must be < 1 for Bernoulli bins "
                             f"(max q * dt = {np.max(np.maximum(q_on, q_off)) * dt:.3g})")
        if np.any(counts > 1):
            raise ValueError("counts must be 0 or 1 for Bernoulli bins")
        correction = np.log1p(-q_on * dt) - np.log1p(-q_off * dt)
        weights, bias = params.weights - correction, float(correction.sum())
        log_lik_off = counts @ np.log(q_off * dt) + (1 - counts) @ np.log1p(-q_off * dt)
    else:
        weights, bias = params.weights, -params.theta * dt
        log_lik_off = (counts @ np.log(q_off * dt) - q_off.sum() * dt
                       - np.asarray(gammaln(counts + 1.0)).sum(-1))
    evidence = counts @ weights
    log_odds, prediction = _initial(params, initial_log_odds, initial_prediction)
    if capacity is None:
        capacity = _default_capacity(params, n_steps * dt, int(counts[..., :, :].sum(axis=(-1, -2)).max()))
    while True:
        kernel = partial(_stepped_counts_jit, method=method, record_every=int(record_every),
                         capacity=int(capacity), batched=counts.ndim == 3)
        scalars = (params.r_on, params.r_off, params.theta, params.g0, dt, bias, log_odds, prediction)
        state, buffer, records = kernel(jnp.asarray(evidence), jnp.asarray(log_lik_off), *scalars)
        if int(jnp.max(buffer.count)) <= capacity:
            break
        capacity = 2 * int(jnp.max(buffer.count))
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    spikes = OutputSpikes(buffer.times, jnp.maximum(buffer.senders, 0), buffer.count)
    log_normalizers = records.log_normalizer if method == "discrete" else None
    return NeuronRun(times, records.log_odds, records.prediction, spikes, log_normalizers,
                     state.n_guarded)


@partial(jax.jit, static_argnames=("method", "record_every", "capacity", "batched"))
def _stepped_counts_jit(evidence, log_lik_off, r_on, r_off, theta, g0, dt, bias, log_odds,
                        prediction, *, method, record_every, capacity, batched):
    step = make_step(method, r_on, r_off, theta, g0, dt, bias,
                     with_normalizer=method == "discrete")

    def one_trial(evidence, log_lik_off):
        state, records = scan_steps(step, initial_state(log_odds, prediction),
                                    (evidence, log_lik_off), record_every=1)
        buffer = collect_spikes(empty_buffer(capacity, evidence.dtype), records.n_spikes, 0, dt)
        # log Z is kept for every bin (its sum is the likelihood); L and G are decimated.
        decimated = StepRecord(records.log_odds[record_every - 1::record_every],
                               records.prediction[record_every - 1::record_every],
                               records.log_normalizer, None)
        return state, buffer, decimated

    if batched:
        return jax.vmap(one_trial)(evidence, log_lik_off)
    return one_trial(evidence, log_lik_off)


def simulate(params: NeuronParams, trial, method: str = "exact", *, dt: float | None = None,
             duration: float | None = None, sample_times=None, record_every: int = 1,
             **options) -> NeuronRun:
    """Run the neuron on a trial's input events with the chosen ``method``.

    "exact" records at ``sample_times`` (default: every ``dt`` (default 1 ms) up to
    ``duration``); "discrete" and "euler" need ``dt`` and ``duration``.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    if method == "exact":
        if sample_times is None:
            if duration is None:
                raise ValueError("duration is required when sample_times is not given")
            step = 1e-3 if dt is None else float(require_positive("dt", dt, ndim=0))
            sample_times = step * np.arange(1, _steps_of(float(duration), step) + 1)
            sample_times = sample_times[record_every - 1::record_every]
        return simulate_exact(params, trial, sample_times, **options)
    if dt is None or duration is None:
        raise ValueError(f"method {method!r} needs dt and duration")
    return simulate_stepped(params, trial, dt, duration, method, record_every, **options)


def spikes_of(run: NeuronRun, trial_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Output spike events of one trial as NumPy (times, counts), padding removed."""
    times, counts = np.asarray(run.spikes.times), np.asarray(run.spikes.counts)
    if trial_index is not None:
        times, counts = times[trial_index], counts[trial_index]
    keep = counts > 0
    return times[keep], counts[keep]


__all__ = ["NeuronRun", "simulate", "simulate_exact", "simulate_stepped", "filter_counts",
           "spikes_of", "ALL_METHODS"]
