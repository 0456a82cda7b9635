"""Argument checks and derived sizes of the Bayesian neuron's runs.

Shared by :mod:`bayesnn.neuron.runs`, :mod:`bayesnn.neuron.binned`,
:mod:`bayesnn.neuron.generative` and :mod:`bayesnn.neuron.grid`: the parameter record
and input spikes are checked (``ValueError`` naming the argument, before any work), and
the sizes that compiled programs depend on (output capacity bucketed to a power of two,
number of bins, chunk length, record grid) are derived on the host from sizes and
bounds only.
"""
from __future__ import annotations

import numpy as np

from bayesnn.core.params import is_traced
from bayesnn.core.spikes import Spikes, bucket_capacity
from bayesnn.core.validation import as_array, require_positive
from bayesnn.neuron.params import NeuronParams


def check_params(params) -> NeuronParams:
    if not isinstance(params, NeuronParams):
        raise ValueError(f"params must be a NeuronParams, got {type(params).__name__}")
    if is_traced(params):
        raise ValueError("params must hold concrete values in simulate; inside jit/vmap "
                         "use the kernels of bayesnn.neuron.kernels")
    if np.asarray(params.r_on).ndim != 0:
        raise ValueError("params must be one record, not a stacked batch (use "
                         "bayesnn.neuron.simulate_grid for batches of parameters)")
    return params


def check_inputs(inputs, n_inputs: int, duration: float, batched: bool) -> Spikes:
    """Validate input spikes: a Spikes record with fields of one shape, senders < N,
    valid times finite, sorted and inside [0, duration], counts 1."""
    if not isinstance(inputs, Spikes):
        raise ValueError("inputs must be a bayesnn.core.Spikes (e.g. trial.inputs from "
                         f"bayesnn.processes.sample_trial), got {type(inputs).__name__}")
    want = 2 if batched else 1
    if np.ndim(inputs.times) != want:
        layout = "(trials, capacity)" if batched else "(capacity,)"
        raise ValueError(f"inputs.times must have shape {layout} here, got "
                         f"{np.shape(inputs.times)}" + ("" if batched else
                         "; for a batch of trials use simulate_trials"))
    for field in ("senders", "counts"):
        if np.shape(getattr(inputs, field)) != np.shape(inputs.times):
            raise ValueError(f"inputs.{field} must have shape {np.shape(inputs.times)} like "
                             f"inputs.times, got {np.shape(getattr(inputs, field))}")
    if np.shape(inputs.n_events) != np.shape(inputs.times)[:-1]:
        raise ValueError(f"inputs.n_events must have shape {np.shape(inputs.times)[:-1]}, "
                         f"got {np.shape(inputs.n_events)}")
    times, senders = np.asarray(inputs.times), np.asarray(inputs.senders)
    if not np.issubdtype(senders.dtype, np.integer):
        raise ValueError(f"inputs.senders must be integers, got dtype {senders.dtype}")
    if np.any(np.asarray(inputs.n_events) > times.shape[-1]):
        raise ValueError("inputs overflowed their capacity: the stored events are incomplete")
    valid = senders >= 0
    if np.any(senders >= n_inputs):
        raise ValueError(f"inputs.senders must be < n_inputs = {n_inputs}, got {senders.max()}")
    real = np.where(valid, times, 0.0)
    if not np.all(np.isfinite(real)):
        raise ValueError("inputs.times must be finite for every valid event")
    if np.any(real < 0) or np.any(real > duration):
        raise ValueError(f"inputs.times must lie in [0, duration = {duration}] s, got "
                         f"[{real[valid].min()}, {real[valid].max()}]")
    ordered = np.where(valid, times, np.inf)
    if np.any(ordered[..., 1:] < ordered[..., :-1]):
        raise ValueError("inputs.times must be sorted in time, with padding at the end")
    if np.any(np.asarray(inputs.counts)[valid] != 1):
        # The kernels apply one jump w_i per event; a multiplicity would be dropped.
        raise ValueError("inputs.counts must be 1 for every valid input event (give "
                         "simultaneous spikes as separate events)")
    return inputs


def initial_values(params: NeuronParams, initial_log_odds, initial_prediction):
    prior = float(params.prior_log_odds)
    log_odds = prior if initial_log_odds is None else float(as_array("initial_log_odds", initial_log_odds, ndim=0))
    prediction = prior if initial_prediction is None else float(as_array("initial_prediction", initial_prediction, ndim=0))
    return log_odds, prediction


def default_capacity(params, duration: float, n_input_events: int) -> int:
    """Output-event slots: the mean ON-state rate is about evidence_rate_on / g0 (Denève
    2004); allow for the OFF state and bursts; bucketed to a power of two. Works for a
    stacked batch of records (largest over the batch)."""
    rate = 1.5 * np.maximum(np.asarray(params.evidence_rate_on), 1.0) / np.asarray(params.g0) + 10.0
    return bucket_capacity(float(np.max(rate)) * duration + 0.05 * n_input_events)


def steps_of(duration: float, dt: float) -> int:
    """Number of bins of width dt in duration (must be an integer multiple)."""
    n_steps = int(round(duration / dt))
    if n_steps < 1 or abs(n_steps * dt - duration) > 1e-9 * max(duration, 1.0):
        raise ValueError(f"duration ({duration}) must be a positive multiple of dt ({dt})")
    return n_steps


def chunk_length(n_steps: int, record_every: int, target: int) -> int:
    """Largest multiple of record_every that divides n_steps and is <= max(target, record_every)."""
    if n_steps % record_every:
        raise ValueError(f"record_every ({record_every}) must divide the number of steps ({n_steps})")
    best = record_every
    for length in range(record_every, min(n_steps, max(target, record_every)) + 1, record_every):
        if n_steps % length == 0:
            best = length
    return best


def record_times(duration: float, dt: float | None, sample_times, record_every: int) -> np.ndarray:
    """Sample times for the exact method: given, or every dt (default 1 ms) up to duration."""
    if sample_times is not None:
        times = as_array("sample_times", sample_times, ndim=1)
        if np.any(np.diff(times) < 0):
            raise ValueError("sample_times must be sorted in time")
        if times.size and (times[0] < 0 or times[-1] > duration):
            raise ValueError(f"sample_times must lie in [0, duration = {duration}] s")
        return times[record_every - 1::record_every]
    step = 1e-3 if dt is None else float(require_positive("dt", dt, ndim=0))
    return step * np.arange(1, steps_of(duration, step) + 1)[record_every - 1::record_every]



__all__ = ["check_params", "check_inputs", "initial_values", "default_capacity", "steps_of",
           "chunk_length", "record_times"]
