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

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.stepping import scan_steps
from bayesnn.learning import checks
from bayesnn.learning.statistics import (
    BinnedStatistics,
    emission_log_likelihoods,
    m_step_binned,
    transition_matrix,
)
from bayesnn.processes.params import MMPPParams

__all__ = ["OnlineState", "OnlineEMResult", "online_init", "online_step", "online_readout",
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


class OnlineEMResult(NamedTuple):
    """Result of :func:`online_em`.

    Fields:
        params: final :class:`MMPPParams` (Hz).
        times: (R,) end time of each recorded bin, s.
        trajectory: :class:`MMPPParams` with a leading axis R, the parameters in force at
            ``times``.
        statistics: :class:`BinnedStatistics`, the final read-out ``E[S_T | y_{1:T}]``.
    """

    params: MMPPParams
    times: np.ndarray
    trajectory: MMPPParams
    statistics: BinnedStatistics


def online_init(n_inputs: int, initial_prob_on) -> OnlineState:
    """phi_0 = (1 - p0, p0), rho_0 = 0."""
    dtype = jnp.result_type(float)
    zero = BinnedStatistics(jnp.zeros((2, 2, 2), dtype), jnp.zeros((2, 2), dtype),
                            jnp.zeros((2, 2, n_inputs), dtype))
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
    return OnlineState(filtered, BinnedStatistics(transitions, occupancy, counts_stat))


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


def online_statistics(params, counts, dt: float, *, discount: float = 1.0,
                      initial_prob_on: float = 0.5) -> BinnedStatistics:
    """Read-out of the forward-only recursion after the last bin, parameters fixed.

    With ``discount = 1`` this equals the forward-backward statistics of
    :func:`bayesnn.learning.statistics.binned_e_step` (to rounding).

    Args:
        params: :class:`MMPPParams` (Hz). counts: (T, N) integer counts. dt: bin width, s.
        discount: gamma in (0, 1]. initial_prob_on: P(x_0 = 1) in [0, 1].

    Raises:
        ValueError: naming the argument, before any work.
    """
    params = checks.check_initial(params, "params")
    data, dt = _check_stream(counts, dt, params.n_inputs)
    discount = checks.check_discount(discount)
    p0 = checks.check_initial_prob_on(initial_prob_on)
    return _statistics(params, p0, jnp.asarray(data), dt, discount)


@partial(jax.jit, static_argnames=("update_every", "warmup", "record_every"))
def _online_em(params, p0, counts, dt, discount, *, update_every, warmup, record_every):
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


def online_em(initial, counts, dt: float, *, discount: float = 1.0, update_every: int = 1,
              warmup: int = 0, record_every: int = 100, initial_prob_on: float = 0.5
              ) -> OnlineEMResult:
    """Online EM on one stream of binned counts (module docstring).

    Args:
        initial: starting :class:`MMPPParams` (Hz).
        counts: (T, N) non-negative integer counts per bin.
        dt: bin width, s, > 0.
        discount: gamma in (0, 1] per bin; memory ~ dt / (1 - gamma) s.
        update_every: bins between M-steps (>= 1).
        warmup: bins before the first M-step (>= 0), so the first estimates rest on
            enough data.
        record_every: bins between recorded parameters (>= 1).
        initial_prob_on: P(x_0 = 1) in [0, 1].

    Returns:
        :class:`OnlineEMResult`.

    Raises:
        ValueError: naming the argument (discount outside (0, 1], bad counts or rates,
            fewer spikes than parameters...), before any work.
    """
    params = checks.check_initial(initial)
    data, dt = _check_stream(counts, dt, params.n_inputs)
    discount = checks.check_discount(discount)
    update_every = checks.check_positive_int("update_every", update_every)
    warmup = checks.check_positive_int("warmup", warmup, minimum=0)
    record_every = checks.check_positive_int("record_every", record_every)
    p0 = checks.check_initial_prob_on(initial_prob_on)
    final, trajectory, stats = _online_em(params, p0, jnp.asarray(data), dt, discount,
                                          update_every=update_every, warmup=warmup,
                                          record_every=record_every)
    n_records = data.shape[0] // record_every
    times = (np.arange(1, n_records + 1) * record_every) * dt
    return OnlineEMResult(final, times, trajectory, stats)


def _check_stream(counts, dt, n_inputs):
    data, dt = checks.check_counts(counts, dt, n_inputs)
    if data.shape[0] != 1 or np.ndim(counts) != 2:
        raise ValueError(f"counts must be one stream of shape (T, N), got {np.shape(counts)}")
    return data[0], dt
