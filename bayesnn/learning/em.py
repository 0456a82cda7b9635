r"""Batch EM for the parameters (r_on, r_off, q_on, q_off) of the Bayesian neuron's
generative model, from input spikes.

Each iteration computes the smoothed expected sufficient statistics under the current
parameters (E-step: forward-backward; :mod:`bayesnn.learning.statistics`) and sets the
parameters to their maximiser (M-step). EM never decreases the log-likelihood
(Dempster, Laird & Rubin 1977, Theorem 1), and its fixed points are stationary points
of the log-likelihood (the gradient there is ``E[N]/q - E[T]`` etc., which the M-step
zeroes; Fisher's identity, Cappé, Moulines & Rydén 2005 Sec. 10.1).

* :func:`em_binned`: the binned model (bin width dt, Poisson counts) with the discrete
  forward-backward of :mod:`bayesnn.exact.hmm` (Baum et al. 1970; derivation in
  docs/learning.md, Sec. 1).
* :func:`em_continuous`: the continuous-time model with the exact continuous-time
  smoother (:mod:`bayesnn.exact.mmpp_smoother`; Rydén 1996).

The initial law ``P(x_0 = 1) = initial_prob_on`` is fixed (default 1/2) and is part of
the likelihood that EM maximises (:mod:`bayesnn.learning.statistics`).
"""
from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.learning import checks
from bayesnn.learning.statistics import (
    binned_e_step,
    continuous_e_step,
    m_step_binned,
    m_step_continuous,
)
from bayesnn.processes.params import MMPPParams

__all__ = ["EMResult", "em_binned", "em_continuous"]


class EMResult(NamedTuple):
    """Result of batch EM.

    Fields:
        params: :class:`MMPPParams`, the last parameters (Hz).
        log_likelihoods: (I + 1,) log-likelihood (nats) of ``history[k]``, k = 0..I (the
            binned model omits the parameter-free ``-sum log n!``).
        history: :class:`MMPPParams` with a leading iteration axis (I + 1): the initial
            parameters followed by each iterate.
        n_iterations: I, the number of EM iterations run.
        converged: whether the relative log-likelihood gain fell below ``tol``.
        wall_time: seconds spent (including compilation on the first call).
    """

    params: MMPPParams
    log_likelihoods: np.ndarray
    history: MMPPParams
    n_iterations: int
    converged: bool
    wall_time: float


def _loop(step, params, max_iterations, tol):
    start = time.perf_counter()
    history, log_liks = [params], []
    converged = False
    for _ in range(max_iterations):
        new, log_lik = step(params)
        log_liks.append(float(log_lik))
        if len(log_liks) > 1 and abs(log_liks[-1] - log_liks[-2]) <= tol * abs(log_liks[-1]):
            converged = True
            break
        params = new
        history.append(params)
    else:
        log_liks.append(float(step(params)[1]))
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *history)
    return EMResult(params, np.asarray(log_liks[:len(history)]), stacked, len(history) - 1,
                    converged, time.perf_counter() - start)


def em_binned(initial, counts, dt: float, *, max_iterations: int = 200, tol: float = 1e-10,
              initial_prob_on: float = 0.5, min_rate: float = checks.MIN_RATE,
              max_rate: float = checks.MAX_RATE) -> EMResult:
    """Batch EM for the binned model (Baum-Welch with the CTMC-parameterised transition
    matrix; statistics and M-step in :mod:`bayesnn.learning.statistics`).

    Args:
        initial: starting :class:`MMPPParams` (rates in Hz, > 0).
        counts: (T, N) or (B, T, N) non-negative integer input counts per bin (B trials,
            each starting from ``initial_prob_on``).
        dt: bin width, s, > 0.
        max_iterations: most EM iterations (>= 1).
        tol: stop when the relative change of the log-likelihood is <= tol (> 0).
        initial_prob_on: P(x_0 = 1), fixed, in [0, 1].
        min_rate, max_rate: box (Hz) the M-step maximises over.

    Returns:
        :class:`EMResult`.

    Raises:
        ValueError: naming the argument (bad rates, counts, dt, settings, or fewer spikes
            than the 2N + 2 parameters), before any work.
    """
    params = checks.check_initial(initial)
    data, dt = checks.check_counts(counts, dt, params.n_inputs)
    p0, low, high, max_iterations, tol = _settings(initial_prob_on, min_rate, max_rate,
                                                   max_iterations, tol)
    data = jnp.asarray(data)
    return _loop(lambda current: _binned_step(current, p0, data, dt, low, high), params,
                 max_iterations, tol)


def em_continuous(initial, inputs, duration: float, *, max_iterations: int = 200,
                  tol: float = 1e-10, initial_prob_on: float = 0.5,
                  min_rate: float = checks.MIN_RATE, max_rate: float = checks.MAX_RATE
                  ) -> EMResult:
    """Batch EM for the continuous-time model (Rydén 1996), E-step by the exact smoother.

    Args:
        initial: starting :class:`MMPPParams` (Hz).
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C) of trials
            of equal ``duration`` (sender = input index).
        duration: trial length, s, > 0.
        Other arguments as :func:`em_binned`.

    Returns:
        :class:`EMResult` (log-likelihoods are log densities of the spike trains).

    Raises:
        ValueError: naming the argument, before any work.
    """
    params = checks.check_initial(initial)
    inputs, duration, batched = checks.check_spikes(inputs, duration, params.n_inputs)
    p0, low, high, max_iterations, tol = _settings(initial_prob_on, min_rate, max_rate,
                                                   max_iterations, tol)
    arrays = (inputs.times, inputs.senders, inputs.counts)
    return _loop(lambda current: _continuous_step(current, p0, *arrays, duration, low, high,
                                                  batched=batched), params, max_iterations, tol)


# One compiled program per data shape (capacities are powers of two), shared by calls.
@jax.jit
def _binned_step(params, p0, counts, dt, low, high):
    stats, log_lik = binned_e_step(params, p0, counts, dt)
    return m_step_binned(stats, dt, low, high), log_lik


@partial(jax.jit, static_argnames=("batched",))
def _continuous_step(params, p0, times, senders, counts, duration, low, high, *, batched):
    stats, log_lik = continuous_e_step(params, p0, times, senders, counts, duration,
                                       batched=batched)
    return m_step_continuous(stats, low, high), log_lik


def _settings(initial_prob_on, min_rate, max_rate, max_iterations, tol):
    p0 = checks.check_initial_prob_on(initial_prob_on)
    low, high = checks.check_rate_bounds(min_rate, max_rate)
    return (p0, low, high, checks.check_positive_int("max_iterations", max_iterations),
            checks.check_tolerance(tol))
