"""The Bayesian neuron over a parameter grid x trials in one compiled program
(:func:`simulate_grid`, built on the grid primitive :mod:`bayesnn.core.grid`).

Each (point, trial) samples its own inputs from the point's generative model
(:func:`bayesnn.processes.sample_kernel`, key ``fold_in(key, trial)`` shared by all
points: common random numbers) and runs the exact event-driven neuron on them
(:func:`bayesnn.neuron.kernels.event_kernel`). Buffer sizes are the largest the grid
needs (bucketed powers of two), so the whole grid compiles once; if any buffer
overflows, the grid is rerun once with larger buffers (results identical).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayesnn.core.keys import KeyLike, as_key
from bayesnn.core.precision import warn_if_float32
from bayesnn.core.spikes import Spikes, next_power_of_two
from bayesnn.core.validation import require_int, require_positive
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.kernels import event_kernel
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.checks import default_capacity, record_times
from bayesnn.processes.sampling import sample_capacities, sample_kernel, state_at
from bayesnn.core.grid import build_params, grid_coords, make_grid, reshape_points, run_grid


class NeuronGridResult(NamedTuple):
    """Per (point, trial) record of :func:`simulate_grid`.

    Fields:
        state: (S,) hidden state x at the sample times.
        log_odds: (S,) L (exact posterior log-odds given the inputs), nats.
        prediction: (S,) G decoded from the output spikes, nats.
        spikes: output spikes (:class:`bayesnn.core.Spikes`).
        n_input_spikes: () number of input spikes.
        sample_draws, switch_draws: () buffer use of the input sampler (for the
            overflow check).
    """

    state: jax.Array
    log_odds: jax.Array
    prediction: jax.Array
    spikes: Spikes
    n_input_spikes: jax.Array
    sample_draws: jax.Array
    switch_draws: jax.Array


@partial(jax.jit, static_argnames=("switch_capacity", "spike_capacity", "capacity",
                                   "drift_spikes"))
def _grid_kernel(params: NeuronParams, keys, sample_times, duration, *, switch_capacity,
                  spike_capacity, capacity, drift_spikes):
    def one(params, key):
        trial, switches, candidates = sample_kernel(key, params, duration, -1,
                                                    switch_capacity, spike_capacity)
        out = event_kernel(params, trial.inputs, sample_times, params.prior_log_odds,
                           params.prior_log_odds, capacity=capacity,
                           drift_spikes=drift_spikes)
        return NeuronGridResult(state_at(trial.initial_state, trial.switch_times, sample_times),
                          out.log_odds, out.prediction, out.spikes, trial.inputs.n_events,
                          candidates, switches)

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(params, keys)


def simulate_grid(make_params: Callable[..., NeuronParams], grid: Mapping[str, Sequence[float]],
                  *, key: KeyLike, n_trials: int, duration: float, dt: float | None = None,
                  sample_times=None, batch_size: int | None = None,
                  capacity: int | None = None) -> xr.Dataset:
    """Run the exact Bayesian neuron over a parameter grid x ``n_trials`` trials.

    Args:
        make_params: builds a :class:`NeuronParams` from one grid point's values, e.g.
            ``lambda g0, q_scale: base.replace(g0=g0, q_on=base.q_on * q_scale)``.
        grid: ``{name: values}``; names are ``make_params``'s keyword arguments.
        key: int seed or JAX key; trial k uses ``fold_in(key, k)`` at every point.
        n_trials: trials per point.
        duration: trial length, s.
        dt / sample_times: record grid as in :func:`bayesnn.neuron.simulate`.
        batch_size: grid points per compiled call (default: all; smaller bounds memory).
        capacity: output-event slots per trial (default: from the grid's largest
            expected output rate, bucketed to a power of two). The compiled program
            depends on sizes only: the grid's size, ``n_trials``, the record grid, the
            input buffers (from the rates r_on, r_off, q_on, q_off, bucketed), whether
            drift spikes are possible (theta < 0) and this capacity. Giving it makes a
            later sweep over other values of g0 reuse the program (0 compilations);
            results do not depend on it (a buffer that overflows is grown and the sweep
            rerun).

    Returns:
        ``xarray.Dataset`` with dims (*grid names, trial, time) for ``state``,
        ``log_odds``, ``prediction`` and (*grid names, trial, spikes_event) for the
        output spikes; grid values as coordinates; time in s; attrs record
        ``n_compilations`` (1, or 2 after an overflow rerun).

    Raises:
        ValueError: naming the grid point and field for invalid parameters, before any
            simulation.
    """
    spec = make_grid(grid)
    params = build_params(make_params, spec)
    if not isinstance(params, NeuronParams):
        raise ValueError(f"make_params must return NeuronParams, got {type(params).__name__}")
    duration = float(require_positive("duration", duration, ndim=0))
    if not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    times = record_times(duration, dt, sample_times, 1)
    warn_if_float32("bayesnn.neuron.simulate_grid")
    switch_capacity, spike_capacity = sample_capacities(params.model, duration)
    expected_inputs = float(np.max(np.asarray(params.max_input_rate))) * duration
    if capacity is None:
        capacity = default_capacity(params, duration, int(expected_inputs))
    else:
        capacity = require_int("capacity", capacity, minimum=1)
    drift = drift_can_fire(params)
    base = as_key(key)
    # With drift spikes a trial axis of size one fuses differently from larger ones
    # (XLA:CPU FMA contraction, see bayesnn.neuron.runs), so one trial runs as two
    # (trial 1 dropped): points then equal one-by-one runs bit for bit.
    run_trials = max(n_trials, 2) if drift else n_trials
    compilations = 0
    while True:
        compiled = partial(_grid_kernel, sample_times=jnp.asarray(times), duration=duration,
                           switch_capacity=switch_capacity, spike_capacity=spike_capacity,
                           capacity=capacity, drift_spikes=drift)
        compilations += 1
        result = run_grid(compiled, params, base, run_trials, batch_size)
        grown = (_grow(switch_capacity, result.switch_draws),
                 _grow(spike_capacity, result.sample_draws),
                 _grow(capacity, result.spikes.n_events))
        if grown == (switch_capacity, spike_capacity, capacity):
            break
        switch_capacity, spike_capacity, capacity = grown
    result = jax.tree_util.tree_map(lambda leaf: leaf[:, :n_trials], result)
    return _to_dataset(result, spec, times, compilations, duration)


def _grow(capacity: int, used: np.ndarray) -> int:
    largest = int(np.max(used))
    return capacity if largest <= capacity else next_power_of_two(largest)


def _to_dataset(result: NeuronGridResult, spec, times, compilations: int, duration: float) -> xr.Dataset:
    dims = spec.names + ("trial",)
    shaped = lambda a: reshape_points(np.asarray(a), spec)
    spike_times = shaped(result.spikes.times)
    dataset = xr.Dataset(
        {
            "state": (dims + ("time",), shaped(result.state).astype(np.int8)),
            "log_odds": (dims + ("time",), shaped(result.log_odds)),
            "prediction": (dims + ("time",), shaped(result.prediction)),
            "spikes_time": (dims + ("spikes_event",),
                            np.where(np.isfinite(spike_times), spike_times, np.nan)),
            "spikes_count": (dims + ("spikes_event",), shaped(result.spikes.counts)),
            "spikes_n_events": (dims, shaped(result.spikes.n_events)),
            "n_input_spikes": (dims, shaped(result.n_input_spikes)),
        },
        coords={**grid_coords(spec), "time": np.asarray(times)},
        attrs={"n_compilations": compilations, "duration_s": duration,
               "method": "exact event-driven neuron on sampled inputs"},
    )
    dataset["time"].attrs["units"] = "s"
    dataset["spikes_time"].attrs["units"] = "s"
    dataset["state"].attrs["description"] = "hidden state x (0 or 1) at the sample times"
    for name, text in (("log_odds", "log-odds L of x = 1 given the inputs (exact posterior)"),
                       ("prediction", "prediction G decoded from the output spikes")):
        dataset[name].attrs.update(units="nats", description=text)
    dataset["spikes_count"].attrs["description"] = "output spikes per event (0 = unused slot)"
    return dataset


__all__ = ["NeuronGridResult", "simulate_grid"]
