r"""Data and exact references for log-odds populations.

* :func:`sample_population`: K hidden chains and their inputs (variable k sampled by
  :func:`bayesnn.processes.sample_trial` with key ``fold_in(key, k)``), the input spikes
  merged into one :class:`bayesnn.core.Spikes` with sender ``k M + i``.
* :func:`reference_log_odds`: on the grid ``t_n = n dt`` (n = 0..T) the exact posterior
  log-odds :math:`L^k` (continuous-time filter :func:`bayesnn.exact.mmpp.mmpp_filter`), the
  exact solution of the filter linearised at the prior, and the summed input weights
  per step.

**Linearised filter.** At :math:`L^* = \log(r_{on}/r_{off})`, where the prior flow
vanishes and its slope is :math:`k = r_{on} + r_{off}`, the log-odds filter becomes
:math:`\dot y = -k y - \theta + \sum_j w_{i_j} \delta(t - t_j)`, ``y = L - L*``, solved
exactly: :math:`y(t) = -\theta/k\,(1 - e^{-kt}) + \sum_{t_j \le t} w_j e^{-k(t - t_j)}`.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import lfilter

from bayesnn.core.binning import GRID_TOLERANCE, bin_index
from bayesnn.core.keys import KeyLike, as_key
from bayesnn.core.spikes import Spikes, make_spikes, stack_spikes
from bayesnn.core.validation import check_spikes, require_int, require_positive
from bayesnn.posteriors.log_odds_params import LogOddsPopulationParams

__all__ = ["LogOddsReference", "PopulationTrial", "grid_steps", "linearised_log_odds",
           "reference_log_odds", "sample_population", "sample_population_trials",
           "split_inputs"]


class PopulationTrial(NamedTuple):
    """One sampled trial of the K-variable problem (a leading trial axis on every field
    when batched).

    Fields:
        initial_state: (K,) int32, x^k(0).
        switch_times: (K, S) sorted times at which each x^k flips, s; +inf padding.
        inputs: :class:`bayesnn.core.Spikes` of all K M inputs (sender = k M + i).
        duration: () trial length, s.
    """

    initial_state: jax.Array
    switch_times: jax.Array
    inputs: Spikes
    duration: jax.Array

    def state_at(self, times) -> np.ndarray:
        """Hidden states at ``times`` (s, right-continuous): (S, K), or (trials, S, K)."""
        times = np.asarray(times, float)
        flips = np.sum(np.asarray(self.switch_times)[..., None, :] <= times[:, None], axis=-1)
        states = (np.asarray(self.initial_state)[..., None, :] + np.swapaxes(flips, -1, -2)) % 2
        return states.astype(np.int32)


def sample_population(params: LogOddsPopulationParams, *, key: KeyLike,
                      duration: float) -> PopulationTrial:
    """Sample the K hidden chains and their inputs; variable k uses key
    ``fold_in(key, k)`` (:func:`bayesnn.processes.sample_trial`)."""
    from bayesnn.processes import sample_trial

    _check_params(params)
    duration = float(require_positive("duration", duration, ndim=0))
    key = as_key(key)
    M = params.n_inputs
    starts, switches, times, senders = [], [], [], []
    for k in range(params.n_variables):
        trial = sample_trial(params.variable(k), key=jax.random.fold_in(key, k), duration=duration)
        t, s, _ = check_spikes(trial.inputs, n_senders=M, duration=duration)
        starts.append(int(trial.initial_state))
        flips = np.asarray(trial.switch_times)
        switches.append(flips[np.isfinite(flips)])
        times.append(t)
        senders.append(s + k * M)
    times, senders = np.concatenate(times), np.concatenate(senders)
    order = np.argsort(times, kind="stable")
    width = max(1, max(s.size for s in switches))
    padded = np.full((params.n_variables, width), np.inf)
    for k, s in enumerate(switches):
        padded[k, :s.size] = s
    f = jnp.result_type(float)
    put = jax.device_put  # NumPy in without an XLA program (jnp.asarray compiles one)
    return PopulationTrial(put(np.asarray(starts, np.int32)), put(padded.astype(f)),
                           make_spikes(times[order], senders[order],
                                       n_senders=params.n_variables * M, duration=duration),
                           put(np.asarray(duration, f)))


def sample_population_trials(params: LogOddsPopulationParams, *, key: KeyLike, n_trials: int,
                             duration: float) -> PopulationTrial:
    """``n_trials`` trials with a leading trial axis; trial j equals
    ``sample_population(params, key=fold_in(key, j), ...)`` (padded to a common capacity)."""
    key = as_key(key)
    n_trials = require_int("n_trials", n_trials, minimum=1)
    trials = [sample_population(params, key=jax.random.fold_in(key, j), duration=duration)
              for j in range(n_trials)]
    width = max(t.switch_times.shape[1] for t in trials)
    switches = jnp.stack([jnp.pad(t.switch_times, ((0, 0), (0, width - t.switch_times.shape[1])),
                                  constant_values=jnp.inf) for t in trials])
    return PopulationTrial(jnp.stack([t.initial_state for t in trials]), switches,
                           stack_spikes([t.inputs for t in trials]),
                           jnp.stack([t.duration for t in trials]))


def _check_params(params) -> LogOddsPopulationParams:
    if not isinstance(params, LogOddsPopulationParams):
        raise ValueError("params must be a LogOddsPopulationParams (see "
                         f"make_log_odds_population), got {type(params).__name__}")
    return params


def split_inputs(params: LogOddsPopulationParams, inputs: Spikes, *,
                 duration: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per variable k, the NumPy ``(times, local input index)`` of its input spikes
    (multiplicities expanded). Raises ValueError naming ``inputs`` for bad spikes."""
    K, M = params.n_variables, params.n_inputs
    times, senders, counts = check_spikes(inputs, n_senders=K * M, duration=duration,
                                          name="inputs")
    times, senders = np.repeat(times, counts), np.repeat(senders, counts)
    return [(times[senders // M == k], senders[senders // M == k] - k * M) for k in range(K)]


def grid_steps(duration: float, dt: float) -> int:
    """T = duration / dt, required to be an integer >= 2 (to 1e-9 relative)."""
    duration = float(require_positive("duration", duration, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    n_steps = int(round(duration / dt))
    if n_steps < 2 or abs(n_steps * dt - duration) > 1e-9 * duration:
        raise ValueError(f"duration ({duration}) must be a multiple of dt ({dt}) of at least "
                         "2 steps")
    return n_steps


class LogOddsReference(NamedTuple):
    """Exact quantities on the grid ``t_n = n dt``, n = 0..T (module docstring).

    Fields:
        times: (T + 1,) grid, s.
        exact: (T + 1, K) exact posterior log-odds (continuous-time filter), nats.
        linear: (T + 1, K) exact solution of the filter linearised at L*, nats.
        jumps: (T, K) summed weights of the input spikes in step n, [n dt, (n+1) dt), nats.
    """

    times: np.ndarray
    exact: np.ndarray
    linear: np.ndarray
    jumps: np.ndarray


def linearised_log_odds(params: LogOddsPopulationParams, variable: int, spike_times,
                        spike_channels, times: np.ndarray) -> np.ndarray:
    """Exact solution L* + y(t) of the linearised filter of ``variable`` at ``times`` (a
    uniform grid from 0; module docstring). Spikes at the grid time t_n count at t_n."""
    times = np.asarray(times, float)
    step = times[1] - times[0]
    leak = float(params.linear_leak)
    theta = float(params.theta[variable])
    weights = np.asarray(params.weights)[variable]
    spike_times = np.asarray(spike_times, float)
    spike_channels = np.asarray(spike_channels, int)
    # Bin n collects spikes in (t_{n-1}, t_n], each decayed to t_n; a spike on the grid
    # (to GRID_TOLERANCE relative, the one binning rule's) counts at its own grid time.
    scaled = spike_times / step
    nearest = np.round(scaled)
    on_grid = np.abs(scaled - nearest) <= GRID_TOLERANCE * np.maximum(np.abs(nearest), 1.0)
    index = np.clip(np.where(on_grid, nearest, np.ceil(scaled)).astype(int), 0, len(times) - 1)
    drive = np.zeros(len(times))
    np.add.at(drive, index, weights[spike_channels] * np.exp(-leak * (times[index] - spike_times)))
    decay = np.exp(-leak * step)
    drive[1:] += -theta / leak * (1 - decay)
    return float(params.prior_log_odds) + lfilter([1.0], [1.0, -decay], drive)  # y_n = decay y_{n-1} + drive_n


def reference_log_odds(params: LogOddsPopulationParams, inputs: Spikes, *, duration: float,
                       dt: float = 1e-4) -> LogOddsReference:
    """Exact, exact-linearised log-odds and step jumps on the grid (module docstring).

    Raises:
        ValueError: naming the argument (bad spikes, duration not a multiple of dt).
    """
    from bayesnn.exact.mmpp import mmpp_filter

    _check_params(params)
    n_steps = grid_steps(duration, dt)
    per_variable = split_inputs(params, inputs, duration=duration)
    times = dt * np.arange(n_steps + 1)
    weights = np.asarray(params.weights)
    exact, linear, jumps = [], [], []
    for k, (t, channel) in enumerate(per_variable):
        spikes = make_spikes(t, channel, n_senders=params.n_inputs, duration=duration)
        # Right-continuity: the value at t_0 = 0 sees a spike at exactly 0 like any other.
        filtered = mmpp_filter(params.variable(k), spikes, duration=duration, query_times=times)
        exact.append(np.asarray(filtered.log_odds))
        linear.append(linearised_log_odds(params, k, t, channel, times))
        step_jumps = np.zeros(n_steps)
        np.add.at(step_jumps, bin_index(np.asarray(t), dt, n_steps),
                  weights[k, channel])
        jumps.append(step_jumps)
    return LogOddsReference(times, np.stack(exact, 1), np.stack(linear, 1), np.stack(jumps, 1))
