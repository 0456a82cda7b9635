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

The initial law is the stationary law of the current parameters by default
(``initial_prob_on=None``, as in :mod:`bayesnn.exact`), with its term in the exact
M-step (:mod:`bayesnn.learning.statistics`), or a fixed ``initial_prob_on``. EM stops by
the test of :mod:`bayesnn.learning.fit` (estimated distance to the fixed point, not the
log-likelihood change), refuses a symmetric start (``q_on == q_off``) and returns the
fit in bayesnn's labelling (:func:`bayesnn.processes.canonical_labelling`).
"""
from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device
from bayesnn.learning import checks
from bayesnn.learning.fit import Convergence, FitResult, bin_inputs, finish, log_rate_change, stack
from bayesnn.learning.statistics import (
    binned_e_step,
    binned_log_likelihood,
    continuous_e_step,
    m_step_binned,
    m_step_continuous,
)
from bayesnn.exact.mmpp_smoother import log_likelihood_kernel
from bayesnn.processes.params import MMPPParams

__all__ = ["em_binned", "em_continuous"]


def _loop(step, params, max_iterations, xtol):
    start = time.perf_counter()
    history, log_liks = [params], []
    test = Convergence(xtol)
    converged = False
    for _ in range(max_iterations):
        new, log_lik = step(params)
        log_liks.append(float(log_lik))
        params = new
        history.append(params)
        if test.update(log_rate_change(new, history[-2])):
            converged = True
            break
    log_liks.append(float(step(params)[1]))
    return params, stack(history), np.asarray(log_liks), len(history) - 1, converged, start


def _result(method, params, history, log_liks, n_iterations, converged, start, gradient,
            n_spikes, reference):
    params, history, swapped = finish(params, history, reference=reference)
    return FitResult(params, log_liks, history, None, n_iterations, converged,
                     float(gradient) / n_spikes, swapped, time.perf_counter() - start, method,
                     {})


def em_binned(initial, inputs, *, duration: float, dt: float, max_iterations: int = 200,
              xtol: float = 1e-9, initial_prob_on: float | None = None,
              min_rate: float = checks.MIN_RATE, max_rate: float = checks.MAX_RATE,
              reference: MMPPParams | None = None) -> FitResult:
    """Batch EM for the binned model (Baum-Welch with the CTMC-parameterised transition
    matrix; statistics and M-step in :mod:`bayesnn.learning.statistics`).

    Args:
        initial: starting :class:`MMPPParams` (rates in Hz, > 0, q_on != q_off).
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C) on
            ``[0, duration]``, binned inside by :func:`bayesnn.core.bin_index`'s rule.
        duration: trial length, s, a whole number of bins.
        dt: bin width, s, > 0.
        max_iterations: most EM iterations (>= 1).
        xtol: convergence tolerance on the log-rates (:mod:`bayesnn.learning.fit`).
        initial_prob_on: ``None`` (stationary law, default) or a fixed P(x_0 = 1).
        min_rate, max_rate: box (Hz) the M-step maximises over.
        reference: optional :class:`MMPPParams` fixing the labelling
            (:func:`bayesnn.processes.canonical_labelling`).

    Returns:
        :class:`bayesnn.learning.FitResult` (log-likelihoods of the binned model without
        the parameter-free ``-sum log n!``).

    Raises:
        ValueError: naming the argument (bad rates, a symmetric start, bad spikes, dt,
            settings, or fewer spikes than the 2N + 2 parameters), before any work.
    """
    params = checks.check_initial(initial)
    inputs, duration, _ = checks.check_spikes(inputs, duration, params.n_inputs)
    dt = float(checks.require_positive("dt", dt, ndim=0))
    host = bin_inputs(inputs, duration=duration, dt=dt, n_inputs=params.n_inputs)
    data = to_device(host)
    p0, low, high, max_iterations, xtol = _settings(initial_prob_on, min_rate, max_rate,
                                                    max_iterations, xtol)
    reference = checks.check_reference(reference, params.n_inputs)
    stationary, p0 = p0 is None, np.float64(0.0 if p0 is None else p0)
    program = partial(_binned_program, p0=p0, counts=data, dt=dt, low=low, high=high,
                      stationary=stationary)
    run = _loop(lambda current: program(np.bool_(False), current)[:2], params,
                max_iterations, xtol)
    gradient = program(np.bool_(True), run[0])[2]
    return _result("em_binned", *run, gradient, float(np.sum(host)), reference)


def em_continuous(initial, inputs, *, duration: float, max_iterations: int = 200,
                  xtol: float = 1e-9, initial_prob_on: float | None = None,
                  min_rate: float = checks.MIN_RATE, max_rate: float = checks.MAX_RATE,
                  reference: MMPPParams | None = None) -> FitResult:
    """Batch EM for the continuous-time model (Rydén 1996), E-step by the exact smoother.

    Args:
        initial: starting :class:`MMPPParams` (Hz, q_on != q_off).
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C) of trials
            of equal ``duration`` (sender = input index, count = multiplicity >= 1).
        duration: trial length, s, > 0.
        Other arguments as :func:`em_binned`.

    Returns:
        :class:`bayesnn.learning.FitResult` (log-likelihoods are log densities of the
        spike trains).

    Raises:
        ValueError: naming the argument, before any work.
    """
    params = checks.check_initial(initial)
    inputs, duration, batched = checks.check_spikes(inputs, duration, params.n_inputs)
    p0, low, high, max_iterations, xtol = _settings(initial_prob_on, min_rate, max_rate,
                                                    max_iterations, xtol)
    reference = checks.check_reference(reference, params.n_inputs)
    arrays = (inputs.times, inputs.senders, inputs.counts)
    stationary, p0 = p0 is None, np.float64(0.0 if p0 is None else p0)
    program = partial(_continuous_program, p0=p0, arrays=arrays, duration=duration, low=low,
                      high=high, batched=batched, stationary=stationary)
    run = _loop(lambda current: program(np.bool_(False), current)[:2], params,
                max_iterations, xtol)
    gradient = program(np.bool_(True), run[0])[2]
    n_spikes = float(np.sum(np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.counts), 0)))
    return _result("em_continuous", *run, gradient, n_spikes, reference)


def _p0(params, p0, stationary):
    return params.r_on / (params.r_on + params.r_off) if stationary else p0


# One compiled program per data shape (capacities are powers of two), shared by calls:
# data, parameters and a fixed initial_prob_on are traced (only the law's kind is static).
@partial(jax.jit, static_argnames=("stationary",))
def _binned_step(params, p0, counts, dt, low, high, *, stationary):
    stats, log_lik = binned_e_step(params, _p0(params, p0, stationary), counts, dt)
    return m_step_binned(stats, dt, low, high, stationary=stationary), log_lik


@partial(jax.jit, static_argnames=("stationary", "batched"))
def _continuous_step(params, p0, times, senders, counts, duration, low, high, *, batched,
                     stationary):
    stats, log_lik = continuous_e_step(params, _p0(params, p0, stationary), times, senders,
                                       counts, duration, batched=batched)
    return m_step_continuous(stats, low, high, stationary=stationary), log_lik


# The EM step and the final gradient norm share one compiled program per data shape
# (lax.cond on a traced flag: only the branch asked for runs).
@partial(jax.jit, static_argnames=("stationary",))
def _binned_program(gradient, params, *, p0, counts, dt, low, high, stationary):
    def step(_):
        new, log_lik = _binned_step.__wrapped__(params, p0, counts, dt, low, high,
                                                stationary=stationary)
        return new, log_lik, jnp.zeros((), log_lik.dtype)

    def norm(_):
        value = _binned_gradient.__wrapped__(params, p0, counts, dt, stationary=stationary)
        return params, jnp.zeros((), value.dtype), value

    return jax.lax.cond(gradient, norm, step, None)


@partial(jax.jit, static_argnames=("stationary", "batched"))
def _continuous_program(gradient, params, *, p0, arrays, duration, low, high, batched,
                        stationary):
    def step(_):
        new, log_lik = _continuous_step.__wrapped__(params, p0, *arrays, duration, low, high,
                                                    batched=batched, stationary=stationary)
        return new, log_lik, jnp.zeros((), log_lik.dtype)

    def norm(_):
        value = _continuous_gradient.__wrapped__(params, p0, *arrays, duration,
                                                 stationary=stationary)
        return params, jnp.zeros((), value.dtype), value

    return jax.lax.cond(gradient, norm, step, None)


def _log_rates(params):
    return jax.tree_util.tree_map(jnp.log, params)


def _norm(grad):
    return jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree_util.tree_leaves(grad)))


@partial(jax.jit, static_argnames=("stationary",))
def _binned_gradient(params, p0, counts, dt, *, stationary):
    def objective(u):
        rates = jax.tree_util.tree_map(jnp.exp, u)
        return binned_log_likelihood(rates, _p0(rates, p0, stationary), counts, dt)

    return _norm(jax.grad(objective)(_log_rates(params)))


@partial(jax.jit, static_argnames=("stationary",))
def _continuous_gradient(params, p0, times, senders, counts, duration, *, stationary):
    def objective(u):
        rates = jax.tree_util.tree_map(jnp.exp, u)
        one = partial(log_likelihood_kernel, rates.r_on, rates.r_off, rates.q_on, rates.q_off,
                      _p0(rates, p0, stationary))
        if times.ndim == 1:
            return one(times, senders, counts, duration)
        return jnp.sum(jax.vmap(one, in_axes=(0, 0, 0, None))(times, senders, counts, duration))

    return _norm(jax.grad(objective)(_log_rates(params)))


def _settings(initial_prob_on, min_rate, max_rate, max_iterations, xtol):
    p0 = checks.check_initial_prob_on(initial_prob_on)
    low, high = checks.check_rate_bounds(min_rate, max_rate)
    return (p0, low, high, checks.check_positive_int("max_iterations", max_iterations),
            checks.check_tolerance(xtol, "xtol"))
