"""Run a Bayesian neuron: the user-facing wrappers (one call convention).

``simulate(params, inputs, *, duration, method, dt, sample_times, record_every,
capacity)`` runs one trial; ``simulate_trials`` runs a batch with per-trial inputs (a
leading trial axis on ``inputs``); ``filter_counts`` (:mod:`bayesnn.neuron.binned`) runs
the time-stepped methods on dense counts per bin. Three integrators, one result type (:class:`NeuronResult`):

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

Compiled shapes depend only on sizes (inputs' capacity, number of samples, output
capacity bucketed to a power of two), never on parameter values, so runs with new
parameter values reuse the compiled program. Overflowing output buffers are rerun
larger (:func:`bayesnn.core.run_growing`), never truncated.
"""
from __future__ import annotations
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import numpy as np

from bayesnn.core.precision import require_time_resolution, warn_if_float32
from bayesnn.core.spikes import Spikes, bucket_capacity, run_growing
from bayesnn.core.validation import require_positive
from bayesnn.neuron.checks import (
    check_inputs,
    check_params,
    chunk_length,
    default_capacity,
    initial_values,
    record_times,
    steps_of,
)
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.functional import NeuronState
from bayesnn.neuron.kernels import (
    KernelOutput,
    chunk_window,
    event_kernel,
    stepped_event_kernel,
)
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.stepped import METHODS

ALL_METHODS = ("exact",) + METHODS

RUN_SPEC = {
    "log_odds": (("time",), "nats", "log-odds L of x = 1 given the input spikes so far"),
    "prediction": (("time",), "nats", "prediction G of L, decoded from the output spikes"),
    "spikes": ((), "", "output spikes (count = multiplicity)"),
    "log_normalizers": (("bin",), "nats", "per-bin log Z_k (discrete method on counts)"),
    "n_guarded": ((), "1", "Euler steps taken by the stability guard"),
}


class NeuronResult(NamedTuple):
    """Result of running a Bayesian neuron (leading trial axis when batched).

    Fields:
        times: (S,) record times, s (sample times for "exact", bin ends for the stepped
            methods, decimated by ``record_every``).
        log_odds: (..., S) L, nats.
        prediction: (..., S) G, nats.
        spikes: output spikes, :class:`bayesnn.core.Spikes` (sender 0; count =
            multiplicity).
        log_normalizers: (..., T) per-bin log Z_k ("discrete" on counts), else None.
        n_guarded: (...) Euler steps taken by the stability guard (0 for other methods).
        final: :class:`bayesnn.neuron.NeuronState` after the last update.
    """

    times: np.ndarray
    log_odds: jax.Array
    prediction: jax.Array
    spikes: Spikes
    log_normalizers: jax.Array | None
    n_guarded: jax.Array
    final: NeuronState

    @property
    def posterior(self) -> jax.Array:
        """P(x = 1 | inputs so far) = sigmoid(L)."""
        return jax.nn.sigmoid(self.log_odds)

    @property
    def decoded_posterior(self) -> jax.Array:
        """sigmoid(G): the posterior as a downstream reader decodes it from the spikes."""
        return jax.nn.sigmoid(self.prediction)

    def to_xarray(self, attrs: dict | None = None):
        """An ``xarray.Dataset``: L and G on (trial, time), time in s; output spikes on
        an event dim; units and descriptions in attributes."""
        from bayesnn.io import record_to_dataset
        return record_to_dataset(self, RUN_SPEC, coords={"time": self.times}, attrs=attrs)


# ------------------------------------------------------------------------- compiled
@partial(jax.jit, static_argnames=("capacity", "drift_spikes", "batched", "scan_length"))
def _exact(params, inputs, sample_times, log_odds, prediction, *, capacity, drift_spikes,
           batched, scan_length=None):
    run = partial(event_kernel, params, sample_times=sample_times, initial_log_odds=log_odds,
                  initial_prediction=prediction, capacity=capacity, drift_spikes=drift_spikes,
                  scan_length=scan_length)
    return jax.vmap(lambda s: run(s))(inputs) if batched else run(inputs)


@partial(jax.jit, static_argnames=("method", "n_steps", "chunk", "record_every", "capacity",
                                   "batched", "window"))
def _stepped(params, inputs, dt, log_odds, prediction, *, method, n_steps, chunk,
             record_every, capacity, batched, window=None):
    run = partial(stepped_event_kernel, params, dt=dt, initial_log_odds=log_odds,
                  initial_prediction=prediction, method=method, n_steps=n_steps, chunk=chunk,
                  record_every=record_every, capacity=capacity, window=window)
    return jax.vmap(lambda s: run(s))(inputs) if batched else run(inputs)


@partial(jax.jit, static_argnames=("batched",))
def _first_lane(out, *, batched):
    """Lane 0 of a batch of two (with its trial axis when ``batched``)."""
    return jax.tree_util.tree_map(lambda a: a[:1] if batched else a[0], out)


def as_run(times, out: KernelOutput, with_normalizers: bool) -> NeuronResult:
    return NeuronResult(times, out.log_odds, out.prediction, out.spikes,
                     out.log_normalizers if with_normalizers else None,
                     out.final.n_guarded, out.final)


# --------------------------------------------------------------------------- public
def _simulate(params, inputs, duration, method, dt, sample_times, record_every, capacity,
              initial_log_odds, initial_prediction, chunk_steps, batched, *,
              window_at_least: int = 0) -> NeuronResult:
    # window_at_least (stepped methods): a floor on the static event window of
    # stepped_event_kernel, which changes the cost, never the result; callers that run
    # several step sizes pass the largest window so that they share one program.
    params = check_params(params)
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    duration = float(require_positive("duration", duration, ndim=0))
    if not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    inputs = check_inputs(inputs, params.n_inputs, duration, batched)
    log_odds, prediction = initial_values(params, initial_log_odds, initial_prediction)
    warn_if_float32("bayesnn.neuron.simulate")
    # float32 absolute times must keep their spacing at the model's fastest rate (Hz).
    fastest = np.asarray(params.r_on) + np.asarray(params.r_off) + np.sum(
        np.maximum(np.asarray(params.q_on), np.asarray(params.q_off)), axis=-1)
    require_time_resolution("bayesnn.neuron.simulate", duration, float(np.max(fastest)))
    n_events = int(np.max(np.asarray(inputs.n_events)))
    chosen = capacity is not None
    capacity = capacity or default_capacity(params, duration, n_events)
    events = lambda out: out.spikes.n_events
    if method == "exact":
        times = record_times(duration, dt, sample_times, int(record_every))
        drift = drift_can_fire(params)
        if not chosen:
            # At most one output event (any multiplicity) per input event, plus drift
            # spikes: between inputs G lies in (L*, L_inf) where -phi(G) < -theta, so
            # they come at less than |theta| / g0 Hz (none unless drift_can_fire). Memory
            # stays flat in duration for quiet runs (a day at 1e4 Hz input rates).
            drift_rate = (float(np.max(np.maximum(-np.asarray(params.theta), 0.0)
                                       / np.asarray(params.g0))) if drift else 0.0)
            capacity = min(capacity, bucket_capacity(n_events + drift_rate * duration))
        # Input buffers are sized for a majorant (a sampler's thinning candidates): when
        # every trial's valid events fit in the first half of the slots the kernel scans
        # only that half, the rest being padding (W1: 4096 of 8192 slots). Two choices
        # per input shape, so at most two programs, whatever the values.
        n_slots = int(np.shape(inputs.times)[-1])
        half = n_slots // 2
        scan_length = half if 0 < half and n_events <= half else n_slots
        n_given = int(np.shape(inputs.times)[0]) if batched else 1
        if drift and n_given == 1:
            # XLA:CPU contracts a*b + c into FMAs per fused kernel, and the drift-spike
            # search (a while_loop) fuses differently unbatched, batched by one and
            # batched by more, which moves crossing times by an ulp. A lone trial
            # therefore runs as a batch of two copies (lane 0 kept), the program of
            # simulate_trials and of sweeps, so that results agree bit for bit.
            # (built on the host and cut by one jitted program: no eager XLA programs)
            one = jax.tree_util.tree_map(lambda a: np.asarray(a)[0] if batched else np.asarray(a),
                                         inputs)
            pair = jax.tree_util.tree_map(lambda a: np.stack([a, a]), one)
            run = lambda c: _exact(params, pair, times, log_odds, prediction,
                                   capacity=c, drift_spikes=True, batched=True,
                                   scan_length=scan_length)
            out = _first_lane(run_growing(run, capacity, events), batched=batched)
            return as_run(times, out, False)
        run = lambda c: _exact(params, inputs, times, log_odds, prediction,
                               capacity=c, drift_spikes=drift, batched=batched,
                               scan_length=scan_length)
        return as_run(times, run_growing(run, capacity, events), False)
    if dt is None or sample_times is not None:
        raise ValueError(f"method {method!r} records at bin ends: give dt (s), not sample_times")
    dt = float(require_positive("dt", dt, ndim=0))
    n_steps = steps_of(duration, dt)
    chunk = chunk_length(n_steps, int(record_every), int(chunk_steps))
    valid_times = np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.times), np.inf)
    window = max(chunk_window(valid_times, dt, n_steps, chunk), int(window_at_least))
    run = lambda c: _stepped(params, inputs, dt, log_odds, prediction, method=method,
                             n_steps=n_steps, chunk=chunk, record_every=int(record_every),
                             capacity=c, batched=batched, window=window)
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    return as_run(times, run_growing(run, capacity, events), False)


def simulate(params: NeuronParams, inputs: Spikes, *, duration: float, method: str = "exact",
             dt: float | None = None, sample_times=None, record_every: int = 1,
             capacity: int | None = None, initial_log_odds: float | None = None,
             initial_prediction: float | None = None, chunk_steps: int = 2000) -> NeuronResult:
    """Run one Bayesian neuron on one trial's input spikes.

    Args:
        params: :class:`NeuronParams`.
        inputs: input spikes, :class:`bayesnn.core.Spikes` of shape (capacity,),
            senders = input index (e.g. ``trial.inputs`` from
            :func:`bayesnn.processes.sample_trial`).
        duration: length of the run, s; every input and sample time lies in [0, duration].
        method: "exact" (default), "discrete" or "euler".
        dt: "exact": spacing of the default sample grid (default 1 ms); stepped: bin width.
        sample_times: (S,) sorted record times for "exact" (default every dt).
        record_every: keep every k-th record.
        capacity: output-event slots (default from the expected rate; grown on overflow).
        initial_log_odds, initial_prediction: L(0), G(0); default log(r_on/r_off).
        chunk_steps: bins per chunk of the stepped methods' input binning.

    Ties: "exact" samples are right-continuous (a sample at a spike's time sees its jump
    and the output spikes it causes); simultaneous inputs are one instant (jumps summed,
    then one output event). Stepped records are bin ends: the record at ``(k+1) dt``
    holds bin k = ``[k dt, (k+1) dt)`` (:func:`bayesnn.core.bin_index`), so a spike
    exactly at an interior grid time is first seen by the next record, and a spike at
    ``t = duration`` by the last.

    Returns:
        :class:`NeuronResult`.

    Raises:
        ValueError: naming the argument, for bad parameters, inputs or options (times
            outside [0, duration], unsorted, senders >= N, ...), before any work.
        PrecisionError: in float32, when float32 times up to ``duration`` are too coarse
            for the model's rates (:func:`bayesnn.core.require_time_resolution`).
    """
    return _simulate(params, inputs, duration, method, dt, sample_times, record_every,
                     capacity, initial_log_odds, initial_prediction, chunk_steps, False)


def simulate_trials(params: NeuronParams, inputs: Spikes, *, duration: float,
                    method: str = "exact", dt: float | None = None, sample_times=None,
                    record_every: int = 1, capacity: int | None = None,
                    initial_log_odds: float | None = None,
                    initial_prediction: float | None = None,
                    chunk_steps: int = 2000) -> NeuronResult:
    """:func:`simulate` over a batch of trials with per-trial inputs (``inputs`` fields
    have a leading trial axis, e.g. ``sample_trials(...).inputs``), in one compiled
    program. Trial k equals ``simulate(params, inputs[k], ...)`` bit for bit."""
    return _simulate(params, inputs, duration, method, dt, sample_times, record_every,
                     capacity, initial_log_odds, initial_prediction, chunk_steps, True)


__all__ = ["NeuronResult", "simulate", "simulate_trials", "ALL_METHODS", "RUN_SPEC"]
