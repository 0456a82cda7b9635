"""Run a Bayesian neuron: the user-facing wrappers (one call convention).

``simulate(params, inputs, *, duration, method, dt, sample_times, record_every,
capacity)`` runs one trial; ``simulate_trials`` runs a batch with per-trial inputs (a
leading trial axis on ``inputs``); ``filter_counts`` runs the time-stepped methods on
dense counts per bin. Three integrators, one result type (:class:`NeuronResult`):

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

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayesnn.core.params import is_traced
from bayesnn.core.precision import require_time_resolution, warn_if_float32
from bayesnn.core.spikes import Spikes, bucket_capacity, run_growing
from bayesnn.core.validation import as_array, require_integer_counts, require_positive, require_shape
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.functional import NeuronState
from bayesnn.neuron.kernels import (
    KernelOutput,
    chunk_window,
    event_kernel,
    stepped_counts_kernel,
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


# ---------------------------------------------------------------------------- checks
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


def _initial(params: NeuronParams, initial_log_odds, initial_prediction):
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


# ------------------------------------------------------------------------- compiled
@partial(jax.jit, static_argnames=("capacity", "drift_spikes", "batched"))
def _exact(params, inputs, sample_times, log_odds, prediction, *, capacity, drift_spikes,
           batched):
    run = partial(event_kernel, params, sample_times=sample_times, initial_log_odds=log_odds,
                  initial_prediction=prediction, capacity=capacity, drift_spikes=drift_spikes)
    return jax.vmap(lambda s: run(s))(inputs) if batched else run(inputs)


@partial(jax.jit, static_argnames=("method", "n_steps", "chunk", "record_every", "capacity",
                                   "batched", "window"))
def _stepped(params, inputs, dt, log_odds, prediction, *, method, n_steps, chunk,
             record_every, capacity, batched, window=None):
    run = partial(stepped_event_kernel, params, dt=dt, initial_log_odds=log_odds,
                  initial_prediction=prediction, method=method, n_steps=n_steps, chunk=chunk,
                  record_every=record_every, capacity=capacity, window=window)
    return jax.vmap(lambda s: run(s))(inputs) if batched else run(inputs)


@partial(jax.jit, static_argnames=("method", "record_every", "capacity", "batched"))
def _counts(params, evidence, log_lik_off, dt, bias, log_odds, prediction, *, method,
            record_every, capacity, batched):
    run = partial(stepped_counts_kernel, params, dt=dt, bias=bias, initial_log_odds=log_odds,
                  initial_prediction=prediction, method=method, record_every=record_every,
                  capacity=capacity)
    return jax.vmap(run)(evidence, log_lik_off) if batched else run(evidence, log_lik_off)


def _as_run(times, out: KernelOutput, with_normalizers: bool) -> NeuronResult:
    return NeuronResult(times, out.log_odds, out.prediction, out.spikes,
                     out.log_normalizers if with_normalizers else None,
                     out.final.n_guarded, out.final)


# --------------------------------------------------------------------------- public
def _simulate(params, inputs, duration, method, dt, sample_times, record_every, capacity,
              initial_log_odds, initial_prediction, chunk_steps, batched) -> NeuronResult:
    params = check_params(params)
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    duration = float(require_positive("duration", duration, ndim=0))
    if not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    inputs = check_inputs(inputs, params.n_inputs, duration, batched)
    log_odds, prediction = _initial(params, initial_log_odds, initial_prediction)
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
        n_given = int(np.shape(inputs.times)[0]) if batched else 1
        if drift and n_given == 1:
            # XLA:CPU contracts a*b + c into FMAs per fused kernel, and the drift-spike
            # search (a while_loop) fuses differently unbatched, batched by one and
            # batched by more, which moves crossing times by an ulp. A lone trial
            # therefore runs as a batch of two copies (lane 0 kept), the program of
            # simulate_trials and of sweeps, so that results agree bit for bit.
            one = inputs if not batched else jax.tree_util.tree_map(lambda a: a[0], inputs)
            pair = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), one)
            run = lambda c: _exact(params, pair, jnp.asarray(times), log_odds, prediction,
                                   capacity=c, drift_spikes=True, batched=True)
            keep = (lambda a: a[0]) if not batched else (lambda a: a[:1])
            out = jax.tree_util.tree_map(keep, run_growing(run, capacity, events))
            return _as_run(times, out, False)
        run = lambda c: _exact(params, inputs, jnp.asarray(times), log_odds, prediction,
                               capacity=c, drift_spikes=drift, batched=batched)
        return _as_run(times, run_growing(run, capacity, events), False)
    if dt is None or sample_times is not None:
        raise ValueError(f"method {method!r} records at bin ends: give dt (s), not sample_times")
    dt = float(require_positive("dt", dt, ndim=0))
    n_steps = steps_of(duration, dt)
    chunk = chunk_length(n_steps, int(record_every), int(chunk_steps))
    valid_times = np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.times), np.inf)
    window = chunk_window(valid_times, dt, n_steps, chunk)
    run = lambda c: _stepped(params, inputs, dt, log_odds, prediction, method=method,
                             n_steps=n_steps, chunk=chunk, record_every=int(record_every),
                             capacity=c, batched=batched, window=window)
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    return _as_run(times, run_growing(run, capacity, events), False)


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


def _per_bin_sums(counts: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``sum_i counts[..., i] * coefficients[k, i]`` per bin, for each row k.

    Counts per bin are mostly zero: the sums then run over the nonzero counts only (one
    pass to find them, then ``bincount``), else one ``einsum`` pass (several times
    faster than matmul on integer counts). The two differ by rounding only."""
    flat = counts.reshape(-1)
    where = np.flatnonzero(flat)
    if where.size > flat.size // 8:
        return np.einsum("...n,kn->k...", counts, coefficients)
    rows, channels = np.divmod(where, counts.shape[-1])
    values = flat[where].astype(np.float64)
    n_bins = flat.size // counts.shape[-1]
    return np.stack([np.bincount(rows, weights=values * row[channels], minlength=n_bins)
                     for row in coefficients]).reshape((len(coefficients),) + counts.shape[:-1])


def _log_factorial_sums(counts: np.ndarray, largest: int) -> np.ndarray:
    """sum_i log(n_i!) per bin. log 0! = log 1! = 0, so only counts >= 2 contribute:
    their values come from one table of ``gammaln`` (the same values as gammaln on the
    whole array) and are summed per bin, instead of gammaln on every count."""
    flat = counts.reshape(-1, counts.shape[-1])
    if largest >= 1 << 20:  # a table would be large: gammaln on every count
        return np.asarray(gammaln(np.asarray(counts, np.float64) + 1.0)).sum(-1)
    size = 1 << int(largest).bit_length()  # bucketed: few compiled shapes of gammaln
    table = np.asarray(gammaln(np.arange(size, dtype=np.float64) + 1.0))
    where = np.flatnonzero(flat.reshape(-1) >= 2)
    values = table[flat.reshape(-1)[where].astype(np.int64)]
    rows = where // flat.shape[1]
    return np.bincount(rows, weights=values, minlength=flat.shape[0]).reshape(counts.shape[:-1])


def filter_counts(params: NeuronParams, counts, *, dt: float, method: str = "discrete",
                  observation: str = "poisson", record_every: int = 1,
                  capacity: int | None = None, initial_log_odds: float | None = None,
                  initial_prediction: float | None = None) -> NeuronResult:
    """Time-stepped run on dense counts per bin, with the per-bin normalisers.

    Args:
        counts: (T, N) or (trials, T, N) non-negative integer input counts per bin.
        dt: bin width, s.
        method: "discrete" (exact for the binned model) or "euler".
        observation: "poisson" (counts ~ Poisson(q dt)) or "bernoulli" (0/1 per bin,
            needs q dt < 1).

    ``log_normalizers`` (discrete method) holds log Z_k; their sum is the log marginal
    likelihood of the counts under the binned model (nats).
    """
    params = check_params(params)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if observation not in ("poisson", "bernoulli"):
        raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}")
    dt = float(require_positive("dt", dt, ndim=0))
    counts = require_integer_counts("counts", counts, keep_integer=True)
    if counts.ndim not in (2, 3):
        raise ValueError(f"counts must have shape (T, N) or (trials, T, N), got {counts.shape}")
    largest = int(counts.max()) if counts.size else 0
    require_shape("counts", counts, counts.shape[:-1] + (params.n_inputs,))
    n_steps = counts.shape[-2]
    if n_steps < 1:
        raise ValueError("counts must hold at least one bin, got T = 0")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1 or n_steps % record_every:
        raise ValueError(f"record_every must be an integer >= 1 dividing the number of bins "
                         f"({n_steps}), got {record_every!r}")
    warn_if_float32("bayesnn.neuron.filter_counts")
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    weights = np.asarray(params.weights)
    if observation == "bernoulli":
        if np.max(np.maximum(q_on, q_off)) * dt >= 1:
            raise ValueError("q_on * dt and q_off * dt must be < 1 for Bernoulli bins "
                             f"(max q * dt = {np.max(np.maximum(q_on, q_off)) * dt:.3g})")
        if largest > 1:
            raise ValueError("counts must be 0 or 1 for Bernoulli bins")
        correction = np.log1p(-q_on * dt) - np.log1p(-q_off * dt)
        weights, bias = weights - correction, float(correction.sum())
        # sum_i n log(q dt) + (1 - n) log(1 - q dt), as one product with the counts.
        per_count = np.log(q_off * dt) - np.log1p(-q_off * dt)
        offset = float(np.log1p(-q_off * dt).sum())
    else:
        bias = -float(params.theta) * dt
        per_count, offset = np.log(q_off * dt), -float(q_off.sum() * dt)
    evidence, log_lik_off = _per_bin_sums(counts, np.stack([weights, per_count]))
    log_lik_off = log_lik_off + offset
    if observation == "poisson" and largest > 1:
        log_lik_off = log_lik_off - _log_factorial_sums(counts, largest)
    log_odds, prediction = _initial(params, initial_log_odds, initial_prediction)
    capacity = capacity or default_capacity(params, n_steps * dt, int(counts.sum(axis=(-1, -2)).max()))
    run = lambda c: _counts(params, jnp.asarray(evidence), jnp.asarray(log_lik_off), dt, bias,
                            log_odds, prediction, method=method, record_every=int(record_every),
                            capacity=c, batched=counts.ndim == 3)
    out = run_growing(run, capacity, lambda o: o.spikes.n_events)
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    return _as_run(times, out, method == "discrete")


__all__ = ["NeuronResult", "simulate", "simulate_trials", "filter_counts", "ALL_METHODS",
           "default_capacity", "check_inputs"]
