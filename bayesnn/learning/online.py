r"""Online EM for the binned model: smoothed sufficient statistics by a forward-only
recursion (Cappé 2011; Mongillo & Denève 2008; docs/learning.md, Sec. 3).

For every statistic ``S_t = sum_{k <= t} s(x_{k-1}, x_k, y_k)`` keep the filter
``phi_t(j) = P(x_t = j | y_{1:t})`` and ``rho_t(j) = E[S_t | x_t = j, y_{1:t}]``. With the
backward kernel ``R_t(i | j) = phi_t(i) P_ij / sum_k phi_t(k) P_kj``::

    rho_{t+1}(j) = sum_i R_t(i | j) [gamma rho_t(i) + s(i, j, y_{t+1})],
    E[S_t | y_{1:t}] = sum_j phi_t(j) rho_t(j).

The statistics are those of the binned M-step (:mod:`bayesnn.learning.statistics`):
transition counts ``s = 1{x_{k-1} = i, x_k = j}``, occupancy ``1{x_k = j}`` and counts
``n_{k,i} 1{x_k = j}``. With ``gamma = 1`` and fixed parameters the read-out at T *is*
the forward-backward expectation ``E[S_T | y_{1:T}]`` (Cappé 2011, Sec. 2.2; tested to
1e-9). With ``gamma < 1`` it is an exponentially discounted sum with memory of about
``1 / (1 - gamma)`` bins, so parameters that drift are tracked (Mongillo & Denève 2008,
"discount factor"). Every ``update_every`` bins (after ``warmup`` bins) the parameters
are set to the M-step of the current read-out; the filter and the backward kernel use
the current parameters.

Sources: O. Cappé, "Online EM algorithm for hidden Markov models", J. Comput. Graph.
Stat. 20(3):728-749 (2011); G. Mongillo, S. Denève, "Online learning with hidden Markov
models", Neural Comput. 20(7):1706-1716 (2008).
"""
from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device
from bayesnn.core.stepping import scan_steps
from bayesnn.learning import checks
from bayesnn.learning.em import _binned_gradient
from bayesnn.learning.fit import FitResult, bin_inputs, finish
from bayesnn.learning.statistics import (
    BinnedStatistics,
    binned_log_likelihood,
    emission_log_likelihoods,
    m_step_binned,
    transition_matrix,
)
from bayesnn.processes.params import MMPPParams

__all__ = ["OnlineState", "online_init", "online_step", "online_readout",
           "online_statistics", "online_em"]


class OnlineState(NamedTuple):
    """State of the online E-step (a pytree; index 0 = OFF, 1 = ON).

    Fields:
        filtered: (2,) ``phi_t(j) = P(x_t = j | y_{1:t})``.
        conditional: :class:`BinnedStatistics` with a leading axis of 2 on every field:
            ``rho_t(j) = E[S_t | x_t = j, y_{1:t}]`` (discounted when gamma < 1).
    """

    filtered: jax.Array
    conditional: BinnedStatistics


def online_init(n_inputs: int, initial_prob_on) -> OnlineState:
    """phi_0 = (1 - p0, p0), rho_0 = 0."""
    dtype = jnp.result_type(float)
    # the initial-state statistic is not tracked: online EM drops the initial law's term
    # (one bin's worth of evidence in a stream; Cappé 2011 Sec. 2.2)
    zero = BinnedStatistics(jnp.zeros((2, 2, 2), dtype), jnp.zeros((2, 2), dtype),
                            jnp.zeros((2, 2, n_inputs), dtype), jnp.zeros((2, 2), dtype))
    p0 = jnp.asarray(initial_prob_on, dtype)
    return OnlineState(jnp.stack([1.0 - p0, p0]), zero)


def online_step(params: MMPPParams, state: OnlineState, counts, dt, discount) -> OnlineState:
    """One bin of the forward-only recursion (module docstring), traceable.

    Args: ``params`` in force, ``state``, ``counts`` (N,) of bin t + 1, ``dt`` (s),
    ``discount`` gamma in (0, 1].
    """
    transition = transition_matrix(params.r_on, params.r_off, dt)
    joint = state.filtered[:, None] * transition  # (i, j): phi(i) P_ij
    predicted = jnp.sum(joint, axis=0)
    backward = joint / predicted[None, :]  # R(i | j)
    log_lik = emission_log_likelihoods(params.q_on, params.q_off, counts[None, :], dt)[0]
    unnorm = predicted * jnp.exp(log_lik - jnp.max(log_lik))
    filtered = unnorm / jnp.sum(unnorm)

    rho = state.conditional
    mixed = jax.tree_util.tree_map(lambda a: discount * jnp.tensordot(backward, a, axes=(0, 0)), rho)
    eye = jnp.eye(2, dtype=filtered.dtype)
    # transitions[j][i, j'] gains R(i | j) 1{j' = j}; occupancy[j] gains e_j; counts[j] gain y at row j
    transitions = mixed.transitions + backward.T[:, :, None] * eye[:, None, :]
    occupancy = mixed.occupancy + eye
    counts_stat = mixed.counts + eye[:, :, None] * counts[None, None, :]
    return OnlineState(filtered, BinnedStatistics(transitions, occupancy, counts_stat,
                                                  mixed.initial))


def online_readout(state: OnlineState) -> BinnedStatistics:
    """``E[S_t | y_{1:t}] = sum_j phi_t(j) rho_t(j)``."""
    return jax.tree_util.tree_map(lambda a: jnp.tensordot(state.filtered, a, axes=(0, 0)),
                                  state.conditional)


@jax.jit
def _statistics(params, p0, counts, dt, discount):
    def step(state, y):
        return online_step(params, state, y, dt, discount), None

    state, _ = jax.lax.scan(step, online_init(counts.shape[1], p0), counts)
    return online_readout(state)


def online_statistics(params, inputs, *, duration: float, dt: float, discount: float = 1.0,
                      initial_prob_on: float | None = None) -> BinnedStatistics:
    """Read-out of the forward-only recursion after the last bin, parameters fixed.

    With ``discount = 1`` this equals the forward-backward statistics of
    :func:`bayesnn.learning.statistics.binned_e_step` (to rounding).

    Args:
        params: :class:`MMPPParams` (Hz).
        inputs: one trial of :class:`bayesnn.core.Spikes` on ``[0, duration]``.
        duration: s, a whole number of bins.
        dt: bin width, s.
        discount: gamma in (0, 1].
        initial_prob_on: ``None`` (stationary law, default) or P(x_0 = 1) in [0, 1].

    Raises:
        ValueError: naming the argument, before any work.
    """
    params = checks.check_initial(params, "params", start=False)
    data, dt = stream(inputs, duration, dt, params.n_inputs)
    discount = checks.check_discount(discount)
    p0 = initial_law(params, checks.check_initial_prob_on(initial_prob_on))
    return _statistics(params, p0, to_device(data), dt, discount)


# update_every and warmup are traced (int32): a new value reuses the compiled program
@partial(jax.jit, static_argnames=("record_every",))
def _online_em(params, p0, counts, dt, discount, update_every, warmup, *, record_every):
    def step(carry, y):
        current, state, k = carry
        state = online_step(current, state, y, dt, discount)
        k = k + 1
        update = (k >= warmup) & (k % update_every == 0)
        proposal = m_step_binned(online_readout(state), dt, checks.MIN_RATE, checks.MAX_RATE)
        current = jax.tree_util.tree_map(lambda new, old: jnp.where(update, new, old), proposal,
                                         current)
        return (current, state, k), current

    carry = (params, online_init(counts.shape[1], p0), jnp.zeros((), jnp.int32))
    n_recorded = counts.shape[0] - counts.shape[0] % record_every
    carry, trajectory = scan_steps(step, carry, counts[:n_recorded], record_every)
    carry, _ = jax.lax.scan(step, carry, counts[n_recorded:])
    return carry[0], trajectory, online_readout(carry[1])


def online_em(initial, inputs, *, duration: float, dt: float, discount: float = 1.0,
              update_every: int = 1, warmup: int = 0, record_every: int = 100,
              initial_prob_on: float | None = None, reference: MMPPParams | None = None,
              diagnostics: bool = True) -> FitResult:
    """Online EM on one stream of input spikes, binned with width dt (module docstring).

    Args:
        initial: starting :class:`MMPPParams` (Hz, q_on != q_off).
        inputs: one trial of :class:`bayesnn.core.Spikes` on ``[0, duration]``, binned
            inside by :func:`bayesnn.core.bin_index`'s rule.
        duration: s, a whole number of bins.
        dt: bin width, s, > 0.
        discount: gamma in (0, 1] per bin; memory ~ dt / (1 - gamma) s.
        update_every: bins between M-steps (>= 1).
        warmup: bins before the first M-step (>= 0), so the first estimates rest on
            enough data.
        record_every: bins between recorded parameters (>= 1).
        initial_prob_on: ``None`` (the stationary law of ``initial``, default) or
            P(x_0 = 1) in [0, 1]; it starts the filter (online EM drops the initial
            law's term from its M-step).
        reference: optional :class:`MMPPParams` fixing the labelling.
        diagnostics: compute the log-likelihoods and the final gradient norm (two extra
            passes over the stream; off to time the learner alone).

    Returns:
        :class:`bayesnn.learning.FitResult`: ``history`` and ``times`` hold the starting
        point (time 0) and the parameters in force every ``record_every`` bins,
        ``log_likelihoods`` (2,) the binned log-likelihood of the whole stream at the
        start and at the end, ``gradient_norm`` that of the final parameters; ``extra["statistics"]`` is the
        final read-out ``E[S_T | y_{1:T}]`` (:class:`BinnedStatistics`, in the learner's
        own labelling).

    Raises:
        ValueError: naming the argument (discount outside (0, 1], bad spikes or rates,
            a symmetric start, fewer spikes than parameters...), before any work.
    """
    start = time.perf_counter()
    params = checks.check_initial(initial)
    data, dt = stream(inputs, duration, dt, params.n_inputs)
    discount = checks.check_discount(discount)
    update_every = checks.check_positive_int("update_every", update_every)
    warmup = checks.check_positive_int("warmup", warmup, minimum=0)
    record_every = checks.check_positive_int("record_every", record_every)
    p0 = initial_law(params, checks.check_initial_prob_on(initial_prob_on))
    reference = checks.check_reference(reference, params.n_inputs)
    final, trajectory, stats = _online_em(params, p0, to_device(data), dt, discount,
                                          np.int32(update_every),
                                          np.int32(min(warmup, np.iinfo(np.int32).max)),
                                          record_every=record_every)
    return stream_result("online_em", params, final, trajectory, data, dt, record_every,
                         reference, start, {"statistics": stats}, bool(diagnostics))


def initial_law(params, p0):
    """P(x_0 = 1): the fixed value, or the stationary law of ``params`` (None)."""
    if p0 is not None:
        return p0
    # r_on / (r_on + r_off) in host floats (the same IEEE operations): no program
    r_on, r_off = float(np.asarray(params.r_on)), float(np.asarray(params.r_off))
    return r_on / (r_on + r_off)


def stream(inputs, duration, dt, n_inputs):
    """(T, N) counts of one checked trial of input spikes, binned with width dt."""
    inputs, duration, batched = checks.check_spikes(inputs, duration, n_inputs)
    if batched:
        raise ValueError("inputs must be one trial (C,) for a streaming learner, got a "
                         f"batch of shape {np.shape(inputs.times)}")
    dt = float(checks.require_positive("dt", dt, ndim=0))
    return bin_inputs(inputs, duration=duration, dt=dt, n_inputs=n_inputs)[0], dt


@jax.jit
def _diagnostics(initial, final, data, dt):
    def value(params):
        return binned_log_likelihood(params, params.r_on / (params.r_on + params.r_off),
                                     data[None], dt)

    return jnp.stack([value(initial), value(final)]), _binned_gradient(final, 0.0, data[None], dt,
                                                                     stationary=True)


def stream_result(method, initial, final, trajectory, data, dt, record_every, reference,
                  start, extra, diagnostics=True):
    """The :class:`FitResult` of a streaming learner: the starting point prepended to
    the recorded trajectory; the whole stream's binned log-likelihood (stationary
    initial law) at the start and at the end, and the final gradient norm (two passes
    over the stream; skipped with ``diagnostics=False``: then ``log_likelihoods`` is
    empty and ``gradient_norm`` is NaN, by request)."""
    # on the host (NumPy): a device concatenate compiles one program per length
    history = jax.tree_util.tree_map(lambda a, b: np.concatenate([np.asarray(a)[None],
                                                                  np.asarray(b)]),
                                     initial, trajectory)
    if diagnostics:
        log_liks, gradient = _diagnostics(initial, final, to_device(data), dt)
        log_liks, gradient = np.asarray(log_liks), float(gradient) / float(np.sum(data))
    else:
        log_liks, gradient = np.zeros(0), float("nan")
    final, history, swapped = finish(final, history, reference=reference)
    n_records = data.shape[0] // record_every
    times = np.arange(0, n_records + 1) * record_every * dt
    return FitResult(final, log_liks, history, times, int(data.shape[0]), False, gradient,
                     swapped, time.perf_counter() - start, method, extra)
