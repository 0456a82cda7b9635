r"""Balanced spike-coding populations that carry binary posteriors (log-odds).

Problem: K independent binary hidden variables :math:`x^k_t`, each a two-state
Markov chain (rates ``r_on``, ``r_off``, Hz) observed through its own M Poisson
inputs (rates ``q_on[k, i]``, ``q_off[k, i]``): K copies of the Bayesian neuron's
generative model. The exact posterior log-odds :math:`L^k_t` comes from the
continuous-time filter (:func:`bayesnn.exact.mmpp.mmpp_filter`).

Two ways for a spike-coding network (Boerlin et al. 2013, :mod:`bayesnn.scn`) with
D = K readout dimensions to carry :math:`L_t`:

**Tracking mode.** The network autoencodes the exact log-odds vector: target
:math:`x = L`, input :math:`c_k = (L_{k+1} - L_k)/dt + \lambda L_k` (the exact
autoencoder form, A = -λI, λ_V = λ_d = λ). The spike-based posterior is
:math:`\sigma(\hat x)`. The network does no inference; it re-encodes the exact answer,
and its error is the spike-coding (quantisation) error alone.

**Implementing mode.** The network's own dynamics do the inference. Linearising the
log-odds filter around the prior log-odds :math:`L^* = \log(r_{on}/r_{off})`, where
:math:`\varphi(L^*) = 0` and :math:`k(L^*) = r_{on}e^{-L^*} + r_{off}e^{L^*} = r_{on} + r_{off}`:

.. math::  \dot y = -(r_{on} + r_{off})\, y - \theta + \sum_i w_i \sum_j \delta(t - t_{ij}),
           \qquad y = L - L^*.

This is a linear dynamical system, so a B13 network with A = -(r_on + r_off) I
implements it; choosing λ_d = λ_V = r_on + r_off makes it the exact autoencoder form
(Ω_s = 0), with input :math:`c_k = -\theta + (\text{jumps in step } k)/dt` (input
spikes delivered as impulses through the feedforward weights Γᵀ, the bias as a
constant drive). The spike-based posterior is :math:`\sigma(L^* + \hat x)`. Its error
splits into **linearisation** (the exact linearised filter, computed in closed form
below, against the exact filter) and **spike coding** (the network against the exact
linearised filter).

Decoders: for each variable, ``n_neurons / K`` neurons, half with kernel
:math:`+\gamma e_k` and half with :math:`-\gamma e_k`, :math:`\gamma` =
``decoder_span / (n_neurons / K)``; in each dimension the readout then stays in a box
of half-width :math:`T/\gamma \approx \gamma/2` around the network's target. Input
spikes make L jump by up to max|w| (about 1.8 at the defaults), far more than the box,
so the networks resolve spikes sequentially within a step (``spike_mode="greedy"``):
one spike per step would need max|w|/γ steps to catch up after every input spike.

Error against N: the readout error is uniform in a box of width ∝ γ ∝ 1/N, so the
RMSE falls as 1/N and, since KL(σ(L) ‖ σ(L + ε)) ≈ ½ σ'(L) ε², the time-averaged KL
falls as 1/N²; spikes per second grow as N (each spike moves the readout by γ).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import numpy as np
from scipy.signal import lfilter

from bayesnn import processes
from bayesnn.core.validation import require_positive, require_shape
from bayesnn.exact.mmpp import mmpp_filter
from bayesnn.metrics import log_loss, mean_kl
from bayesnn.scn.network import DriveMarginWarning, make_autoencoder
from bayesnn.scn.simulate import simulate as simulate_scn
from bayesnn.scn.targets import autoencoder_input, lds_euler

MODES = ("tracking", "implementing")


@dataclass(frozen=True)
class LogOddsProblem:
    """K independent binary hidden variables with M Poisson inputs each (s, Hz).

    Fields:
        r_on, r_off: switching rates shared by the K variables.
        q_on, q_off: (K, M) input rates in state 1 and state 0.
    Derived: ``weights`` (K, M) = log(q_on / q_off), ``theta`` (K,) = sum (q_on - q_off).
    """

    r_on: float
    r_off: float
    q_on: np.ndarray
    q_off: np.ndarray
    weights: np.ndarray = field(init=False, repr=False)
    theta: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        r_on = float(require_positive("r_on", self.r_on, ndim=0))
        r_off = float(require_positive("r_off", self.r_off, ndim=0))
        q_on = require_positive("q_on", self.q_on, ndim=2)
        q_off = require_shape("q_off", require_positive("q_off", self.q_off, ndim=2), q_on.shape)
        for name, value in (("r_on", r_on), ("r_off", r_off), ("q_on", q_on), ("q_off", q_off),
                            ("weights", np.log(q_on / q_off)), ("theta", (q_on - q_off).sum(1))):
            object.__setattr__(self, name, value)

    @property
    def n_variables(self) -> int:
        return int(self.q_on.shape[0])

    @property
    def prior_log_odds(self) -> float:
        return float(np.log(self.r_on / self.r_off))

    @property
    def linear_leak(self) -> float:
        """k(L*) = r_on + r_off, Hz: the leak of the filter linearised at the prior."""
        return self.r_on + self.r_off


def default_problem(n_variables: int = 4, n_inputs: int = 20, q_low: float = 5.0,
                    q_high: float = 30.0, r_on: float = 2.0, r_off: float = 2.0,
                    seed: int = 0) -> LogOddsProblem:
    """The Bayesian neuron's default setting, K times: q_on, q_off ~ U(q_low, q_high)."""
    if int(n_variables) < 1 or int(n_inputs) < 1:
        raise ValueError(f"n_variables and n_inputs must be >= 1, got {n_variables}, {n_inputs}")
    rng = np.random.default_rng(seed)
    shape = (int(n_variables), int(n_inputs))
    return LogOddsProblem(r_on, r_off, rng.uniform(q_low, q_high, shape),
                          rng.uniform(q_low, q_high, shape))


class LogOddsData(NamedTuple):
    """One trial of the K-variable problem on a grid of step ``dt`` (s).

    Fields:
        times: (T + 1,) grid 0, dt, ..., T dt.
        states: (K, T + 1) true hidden states.
        exact_log_odds: (K, T + 1) exact posterior log-odds (continuous-time filter).
        linear_log_odds: (K, T + 1) exact solution of the filter linearised at L*.
        jumps: (K, T) summed weights of the input spikes in step k, [k dt, (k+1) dt).
        spike_times, spike_channels: (K, capacity) input events (channel -1 = padding).
        n_input_spikes: (K,) number of input spikes.
        dt: grid step, s.
    """

    times: np.ndarray
    states: np.ndarray
    exact_log_odds: np.ndarray
    linear_log_odds: np.ndarray
    jumps: np.ndarray
    spike_times: list
    spike_channels: list
    n_input_spikes: np.ndarray
    dt: float


def linearised_log_odds(problem: LogOddsProblem, variable: int, spike_times, spike_channels,
                        times: np.ndarray) -> np.ndarray:
    """Exact solution of the linearised filter at ``times`` (a uniform grid from 0).

    :math:`y(t) = -\\theta/k\\,(1 - e^{-kt}) + \\sum_{t_j \\le t} w_j e^{-k(t - t_j)}`,
    k = r_on + r_off, y(0) = 0; returns L* + y. Spikes at the grid time t_n count at t_n.
    """
    times = np.asarray(times, float)
    step = times[1] - times[0]
    leak = problem.linear_leak
    theta = problem.theta[variable]
    spike_times = np.asarray(spike_times, float)
    spike_channels = np.asarray(spike_channels)
    real = spike_channels >= 0
    spike_times, spike_channels = spike_times[real], spike_channels[real]
    # Bin n collects spikes in (t_{n-1}, t_n], each decayed to t_n.
    index = np.clip(np.ceil(spike_times / step - 1e-12).astype(int), 1, len(times) - 1)
    drive = np.zeros(len(times))
    np.add.at(drive, index, problem.weights[variable, spike_channels]
              * np.exp(-leak * (times[index] - spike_times)))
    decay = np.exp(-leak * step)
    drive[1:] += -theta / leak * (1 - decay)
    # y_n = decay * y_{n-1} + drive_n with y_0 = 0
    linear = lfilter([1.0], [1.0, -decay], drive)
    return problem.prior_log_odds + linear


def sample_data(problem: LogOddsProblem, key: jax.Array, duration: float,
                dt: float = 1e-4) -> LogOddsData:
    """Sample the K hidden chains and their inputs (variable k uses ``fold_in(key, k)``)
    and compute the exact and exact-linearised log-odds on the grid."""
    duration = float(require_positive("duration", duration, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    n_steps = int(round(duration / dt))
    if n_steps < 2 or abs(n_steps * dt - duration) > 1e-9 * duration:
        raise ValueError(f"duration ({duration}) must be a multiple of dt ({dt}) of at least 2 steps")
    times = dt * np.arange(n_steps + 1)
    states, exact, linear, jumps, spike_times, spike_channels, counts = [], [], [], [], [], [], []
    for variable in range(problem.n_variables):
        trial = processes.sample_trial(jax.random.fold_in(key, variable), problem.r_on,
                                       problem.r_off, problem.q_on[variable],
                                       problem.q_off[variable], duration)
        states.append(np.asarray(processes.state_at(trial.initial_state, trial.switch_times, times)))
        reference = mmpp_filter(problem.r_on, problem.r_off, problem.q_on[variable],
                                problem.q_off[variable], trial.spike_times, trial.spike_channels,
                                duration, times[1:])
        exact.append(np.concatenate([[problem.prior_log_odds], np.asarray(reference.log_odds)]))
        linear.append(linearised_log_odds(problem, variable, trial.spike_times,
                                          trial.spike_channels, times))
        event_times = np.asarray(trial.spike_times)
        channels = np.asarray(trial.spike_channels)
        real = channels >= 0
        step_jumps = np.zeros(n_steps)
        bins = np.minimum((event_times[real] / dt).astype(int), n_steps - 1)
        np.add.at(step_jumps, bins, problem.weights[variable, channels[real]])
        jumps.append(step_jumps)
        spike_times.append(event_times)
        spike_channels.append(channels)
        counts.append(int(trial.n_spikes))
    return LogOddsData(times, np.array(states), np.array(exact), np.array(linear),
                       np.array(jumps), spike_times, spike_channels, np.array(counts), dt)


def decoder(n_variables: int, n_neurons: int, decoder_span: float = 8.0) -> np.ndarray:
    """(K, N) decoder: per variable N/K neurons, half +gamma, half -gamma on that axis,
    gamma = decoder_span / (N / K)."""
    if n_neurons % (2 * n_variables):
        raise ValueError(f"n_neurons must be a multiple of 2 * n_variables = {2 * n_variables}, "
                         f"got {n_neurons}")
    per_variable = n_neurons // n_variables
    gamma = float(require_positive("decoder_span", decoder_span, ndim=0)) / per_variable
    kernels = np.zeros((n_variables, n_neurons))
    for variable in range(n_variables):
        block = slice(variable * per_variable, (variable + 1) * per_variable)
        kernels[variable, block] = np.repeat([gamma, -gamma], per_variable // 2)
    return kernels


class PopulationRun(NamedTuple):
    """A log-odds population run, compared with exact Bayes.

    Fields:
        mode: "tracking" or "implementing".
        n_neurons: N.
        decoder_weight: gamma, the readout jump per spike (log-odds units).
        times: (R,) times of the recorded readout, s.
        log_odds: (K, R) spike-based log-odds (sigmoid of it is the posterior).
        target: (K, R) what the network tracks: exact L (tracking) or the exact
            linearised filter (implementing).
        spikes_per_second: population spikes per second (all K variables).
        kl_from_exact: time-averaged KL(exact || spike-based), nats, mean over K.
        kl_linearisation: KL(exact || exact linearised), nats (implementing; else 0).
        log_loss: mean -log P(true x | spike-based posterior), nats.
        max_error_to_target: max |log_odds - target| after ``transient`` s.
        rmse_to_target: RMSE of log_odds - target after the transient.
        box_half_width: T / gamma, the box half-width in log-odds units.
        max_error_to_network_target: max |log_odds - x| after the transient, where x is
            the target the network integrates step by step (its Euler-discretised
            input); the spike-coding error alone, bounded by the box.
        discretisation_gap: max |x - target| after the transient: the time-step part
            of the error (0 in tracking mode, where the input reproduces the target
            exactly at the grid points).
    """

    mode: str
    n_neurons: int
    decoder_weight: float
    times: np.ndarray
    log_odds: np.ndarray
    target: np.ndarray
    spikes_per_second: float
    kl_from_exact: float
    kl_linearisation: float
    log_loss: float
    max_error_to_target: float
    rmse_to_target: float
    box_half_width: float
    max_error_to_network_target: float
    discretisation_gap: float


def run_population(problem: LogOddsProblem, data: LogOddsData, n_neurons: int, mode: str,
                   decoder_span: float = 8.0, lambda_: float = 10.0, record_every: int = 10,
                   transient: float = 0.05, seed: int = 0) -> PopulationRun:
    """Run a log-odds population in ``mode`` on ``data`` and measure it against exact Bayes.

    Args:
        n_neurons: N, a multiple of 2K.
        decoder_span: gamma * N / K, log-odds units (gamma = readout jump per spike).
        lambda_: readout/membrane leak of the tracking network, s^-1 (the
            implementing network uses r_on + r_off).
        record_every: keep the readout every this many steps.
        transient: seconds excluded from the max/RMSE error (initial catch-up).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if data.exact_log_odds.shape[0] != problem.n_variables:
        raise ValueError(f"data has {data.exact_log_odds.shape[0]} variables, problem has "
                         f"{problem.n_variables}: K must agree")
    kernels = decoder(problem.n_variables, int(n_neurons), decoder_span)
    gamma = float(np.max(np.abs(kernels)))
    dt = data.dt
    n_steps = data.jumps.shape[1]
    if n_steps % record_every:
        raise ValueError(f"record_every ({record_every}) must divide the number of steps ({n_steps})")
    # A tiny linear cost opens a margin between opposite kernels' thresholds, which
    # keeps the greedy resolution free of net-zero +/- bursts (no voltage noise here).
    if mode == "tracking":
        nu = 1e-3 * gamma**2 / lambda_
        net = make_autoencoder(kernels, lambda_=lambda_, nu=nu, dt=dt)
        target = data.exact_log_odds
        drive = autoencoder_input(target.T, dt, lambda_)
        x0, offset = target[:, 0], 0.0
    else:
        leak = problem.linear_leak
        nu = 1e-3 * gamma**2 / leak
        net = make_autoencoder(kernels, lambda_=leak, nu=nu, dt=dt)
        target = data.linear_log_odds
        drive = (data.jumps / dt - problem.theta[:, None]).T
        x0, offset = np.zeros(problem.n_variables), problem.prior_log_odds
    # Greedy (sequential) resolution absorbs an input spike's jump within its step, so
    # the per-step drive may exceed the box margin by design: silence that warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        result = simulate_scn(net, drive, jax.random.PRNGKey(seed), x0=x0, spike_mode="greedy",
                              record_every=record_every, capacity=_capacity(data, gamma, n_steps))
    network_target = offset + lds_euler(net.A, drive, dt, x0).T  # (K, T + 1)
    log_odds = offset + np.asarray(result.readout).T           # (K, R)
    recorded = slice(record_every, n_steps + 1, record_every)   # readout after step k is x_{k+1}
    times = data.times[recorded]
    target = target[:, recorded]
    exact = data.exact_log_odds[:, recorded]
    states = data.states[:, recorded]
    error = log_odds - target
    after = times > transient
    duration = n_steps * dt
    kl_lin = mean_kl(exact, data.linear_log_odds[:, recorded]) if mode == "implementing" else 0.0
    network_target = network_target[:, recorded]
    return PopulationRun(mode, int(n_neurons), gamma, times, log_odds, target,
                         float(np.sum(result.spike_counts)) / duration, mean_kl(exact, log_odds),
                         kl_lin, log_loss(log_odds, states),
                         float(np.max(np.abs(error[:, after]))),
                         float(np.sqrt(np.mean(error[:, after] ** 2))),
                         float(np.max(np.asarray(net.thresholds))) / gamma,
                         float(np.max(np.abs(log_odds - network_target)[:, after])),
                         float(np.max(np.abs(network_target - target)[:, after])))


def _capacity(data: LogOddsData, gamma: float, n_steps: int) -> int:
    """Spike slots: total variation of the log-odds / gamma, with a margin."""
    variation = np.sum(np.abs(np.diff(data.exact_log_odds, axis=1))) + np.sum(np.abs(data.jumps))
    return int(2.0 * variation / gamma + n_steps // 10 + 1000)
