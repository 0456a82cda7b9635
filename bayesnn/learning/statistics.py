r"""Expected sufficient statistics (E-step) and their maximisers (M-step).

Complete-data sufficient statistics of the MMPP on ``[0, T]`` (Rydén 1996, Eq. 3;
derivation in docs/learning.md, Sec. 1): time spent in each state ``T_j``, spikes of
input i while in state j ``N^i_j``, switches ``n_01`` (OFF -> ON) and ``n_10``
(ON -> OFF). The complete-data log-likelihood is

.. math::

    \log p(x, s) = \sum_i \sum_j (N^i_j \log q^i_j - q^i_j T_j)
        + n_{01}\log r_{on} - r_{on} T_0 + n_{10}\log r_{off} - r_{off} T_1
        + \log \pi_0(x_0),

so the M-step (maximiser of its smoothed expectation) is

.. math::

    q^i_{on} = E[N^i_1]/E[T_1],\quad q^i_{off} = E[N^i_0]/E[T_0],\quad
    r_{on} = E[n_{01}]/E[T_0],\quad r_{off} = E[n_{10}]/E[T_1].

For the binned model (bin width dt, Poisson counts, exact one-bin transition matrix
``P = [[1 - a_on, a_on], [a_off, 1 - a_off]]``) the statistics are the expected
transition counts ``xi[i, j]`` (bins 1..T, including the move out of x_0), the expected
number of bins in each state and the expected counts per state; the M-step maximises
each row of P (``a_on = xi_01 / (xi_00 + xi_01)``) and maps back to rates through the
bijection ``(r_on, r_off) <-> (a_on, a_off)``:
``(r_on + r_off) dt = -log(1 - a_on - a_off)``, ``r_on / r_off = a_on / a_off``. The
initial law ``pi_0`` is held fixed (``initial_prob_on``); learning it, or tying it to the
stationary law of (r_on, r_off), would make the M-step non-closed-form (Rydén 1996 Sec. 3).

Every learned rate is clipped to ``[min_rate, max_rate]``: each rate's term in the
expected log-likelihood is concave in that rate, so clipping is the exact maximiser over
the box and EM stays monotone (continuous model; in the binned model when no bound is
active). Safe division keeps 0/0 (a state never visited) finite: it lands on a bound.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.params import unchecked
from bayesnn.exact.hmm import hmm_smoother
from bayesnn.exact.mmpp_smoother import expected_statistics_kernel
from bayesnn.processes.params import MMPPParams

_TINY = 1e-300


class ContinuousStatistics(NamedTuple):
    """Expected sufficient statistics of the continuous-time model (index 0 = OFF,
    1 = ON).

    Fields:
        dwell: (2,) E[T_0], E[T_1], s.
        counts: (2, N) E[N^i_0], E[N^i_1].
        switches: (2,) E[n_01] (leaving OFF), E[n_10] (leaving ON).
    """

    dwell: jax.Array
    counts: jax.Array
    switches: jax.Array


class BinnedStatistics(NamedTuple):
    """Expected sufficient statistics of the binned model (index 0 = OFF, 1 = ON).

    Fields:
        transitions: (2, 2) E[# moves i -> j] over bins 1..T (self-moves included).
        occupancy: (2,) E[# bins in state j] over bins 1..T.
        counts: (2, N) E[sum_k n_{k,i} 1{x_k = j}].
    """

    transitions: jax.Array
    occupancy: jax.Array
    counts: jax.Array


def _clip(value, low, high):
    return jnp.clip(value, low, high)


def m_step_continuous(stats: ContinuousStatistics, min_rate: float, max_rate: float) -> MMPPParams:
    """Maximiser of the expected complete-data log-likelihood (module docstring)."""
    dwell = jnp.maximum(stats.dwell, _TINY)
    q = _clip(stats.counts / dwell[:, None], min_rate, max_rate)
    r_on = _clip(stats.switches[0] / dwell[0], min_rate, max_rate)
    r_off = _clip(stats.switches[1] / dwell[1], min_rate, max_rate)
    return unchecked(MMPPParams, r_on=r_on, r_off=r_off, q_on=q[1], q_off=q[0])


def m_step_binned(stats: BinnedStatistics, dt, min_rate: float, max_rate: float) -> MMPPParams:
    """Row-wise maximiser of the transition matrix mapped to rates, and Poisson rate
    maximisers (module docstring). If ``a_on + a_off >= 1`` (no CTMC has such a
    one-bin matrix) the sum is clipped just below 1."""
    rows = jnp.maximum(jnp.sum(stats.transitions, axis=1), _TINY)
    a_on = stats.transitions[0, 1] / rows[0]
    a_off = stats.transitions[1, 0] / rows[1]
    total = jnp.clip(a_on + a_off, _TINY, 1.0 - 1e-12)
    rate_sum = -jnp.log1p(-total) / dt
    share = jnp.where(a_on + a_off > 0, a_on / jnp.maximum(a_on + a_off, _TINY), 0.5)
    occupancy = jnp.maximum(stats.occupancy, _TINY) * dt
    q = _clip(stats.counts / occupancy[:, None], min_rate, max_rate)
    return unchecked(MMPPParams, r_on=_clip(share * rate_sum, min_rate, max_rate),
                     r_off=_clip((1.0 - share) * rate_sum, min_rate, max_rate),
                     q_on=q[1], q_off=q[0])


# ----------------------------------------------------------------------------- E-steps


def transition_matrix(r_on, r_off, dt):
    """Exact one-bin transition matrix ``P[i, j] = P(x_k = j | x_{k-1} = i)`` (traceable)."""
    s = r_on + r_off
    frac = -jnp.expm1(-s * dt) / s
    decay = jnp.exp(-s * dt)
    return jnp.stack([jnp.stack([(r_off + r_on * decay) / s, r_on * frac]),
                      jnp.stack([r_off * frac, (r_on + r_off * decay) / s])])


def emission_log_likelihoods(q_on, q_off, counts, dt):
    """(T, 2) Poisson log-likelihood of each bin's counts in each state, without the
    parameter-free ``-log n!`` term (it cancels in every ratio and in EM)."""
    rates = jnp.stack([q_off, q_on], axis=1) * dt  # (N, 2)
    return counts @ jnp.log(rates) - jnp.sum(rates, axis=0)[None, :]


def _binned_one(params, p0, counts, dt):
    transition = transition_matrix(params.r_on, params.r_off, dt)
    initial = jnp.stack([1.0 - p0, p0])
    smoother = hmm_smoother(initial, transition, emission_log_likelihoods(params.q_on, params.q_off,
                                                                          counts, dt))
    stats = BinnedStatistics(smoother.expected_transitions, jnp.sum(smoother.smoothed, axis=0),
                             smoother.smoothed.T @ counts)
    return stats, smoother.log_marginal_likelihood


@jax.jit
def binned_e_step(params: MMPPParams, p0, counts, dt) -> tuple[BinnedStatistics, jax.Array]:
    """Summed smoothed statistics of B trials ``counts`` (B, T, N) and the summed log
    marginal likelihood (nats, without the ``-sum log n!`` constant); forward-backward
    of :func:`bayesnn.exact.hmm.hmm_smoother`."""
    stats, log_lik = jax.vmap(_binned_one, in_axes=(None, None, 0, None))(params, p0, counts, dt)
    return jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), stats), jnp.sum(log_lik)


@partial(jax.jit, static_argnames=("batched",))
def continuous_e_step(params: MMPPParams, p0, times, senders, counts, duration, *, batched: bool
                      ) -> tuple[ContinuousStatistics, jax.Array]:
    """Smoothed statistics of the continuous-time model from the exact smoother
    (:mod:`bayesnn.exact.mmpp_smoother`), summed over trials, and the log-likelihood."""
    one = partial(expected_statistics_kernel, params.r_on, params.r_off, params.q_on,
                  params.q_off, p0)
    raw = (jax.vmap(one, in_axes=(0, 0, 0, None))(times, senders, counts, duration) if batched
           else jax.tree_util.tree_map(lambda a: a[None], one(times, senders, counts, duration)))
    stats = ContinuousStatistics(
        dwell=jnp.stack([jnp.sum(raw.dwell_off), jnp.sum(raw.dwell_on)]),
        counts=jnp.stack([jnp.sum(raw.counts_off, axis=0), jnp.sum(raw.counts_on, axis=0)]),
        switches=jnp.stack([jnp.sum(raw.switches_on), jnp.sum(raw.switches_off)]))
    return stats, jnp.sum(raw.log_likelihood)


__all__ = ["ContinuousStatistics", "BinnedStatistics", "m_step_continuous",
           "m_step_binned", "transition_matrix", "emission_log_likelihoods",
           "binned_e_step", "continuous_e_step"]
