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
``(r_on + r_off) dt = -log(1 - a_on - a_off)``, ``r_on / r_off = a_on / a_off``.

**Initial law.** bayesnn's default initial law is the stationary law of the chain,
``pi_0(1) = r_on / (r_on + r_off)`` (as in :mod:`bayesnn.exact` and
:mod:`bayesnn.numpyro_models`). Its term ``m_1 log r_on + m_0 log r_off - B log(r_on +
r_off)`` (``m_j`` = expected number of the B trials that start in state j) couples the
two switching rates, and the M-step is still exact: with ``s = r_on + r_off`` the
stationarity conditions read ``r_on = (n_01 + m_1) / (T_0 + B / s)``, ``r_off = (n_10 +
m_0) / (T_1 + B / s)``, a scalar equation ``s = g(s)`` with ``g`` increasing and concave,
``g(0) = 0`` and ``g'(0) >= 1``; Newton's method from ``g(inf)`` converges monotonically
to its positive root. In the binned model the same term in ``(a_on, a_off)`` gives, for
a fixed ``u = a_on + a_off``, one quadratic per row; ``u`` is found by bisection on (0, 2).
A fixed ``initial_prob_on`` drops the term (the old closed form).

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
from bayesnn.exact.hmm import hmm_forward, hmm_smoother
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
        initial: (2,) expected number of trials starting in OFF, ON (sums to B).
    """

    dwell: jax.Array
    counts: jax.Array
    switches: jax.Array
    initial: jax.Array


class BinnedStatistics(NamedTuple):
    """Expected sufficient statistics of the binned model (index 0 = OFF, 1 = ON).

    Fields:
        transitions: (2, 2) E[# moves i -> j] over bins 1..T (self-moves included).
        occupancy: (2,) E[# bins in state j] over bins 1..T.
        counts: (2, N) E[sum_k n_{k,i} 1{x_k = j}].
        initial: (2,) expected number of trials with x_0 in OFF, ON (sums to B).
    """

    transitions: jax.Array
    occupancy: jax.Array
    counts: jax.Array
    initial: jax.Array


def _clip(value, low, high):
    return jnp.clip(value, low, high)


def _stationary_rate_sum(a, c, t0, t1, n_trials):
    """Root s > 0 of s = a / (t0 + B / s) + c / (t1 + B / s) by Newton from g(inf)
    (module docstring); 0 when there is no positive root (no switch at all)."""
    t0, t1 = jnp.maximum(t0, _TINY), jnp.maximum(t1, _TINY)

    def body(_, s):
        s = jnp.maximum(s, _TINY)
        d0, d1 = t0 + n_trials / s, t1 + n_trials / s
        h = a / d0 + c / d1 - s
        dh = n_trials / s**2 * (a / d0**2 + c / d1**2) - 1.0
        return jnp.maximum(s - h / jnp.minimum(dh, -1e-300), 0.0)

    return jax.lax.fori_loop(0, 100, body, a / t0 + c / t1)


def m_step_continuous(stats: ContinuousStatistics, min_rate: float, max_rate: float,
                      stationary: bool = False) -> MMPPParams:
    """Maximiser of the expected complete-data log-likelihood (module docstring);
    ``stationary=True`` includes the stationary initial law's term."""
    dwell = jnp.maximum(stats.dwell, _TINY)
    q = _clip(stats.counts / dwell[:, None], min_rate, max_rate)
    if stationary:
        a, c = stats.switches[0] + stats.initial[1], stats.switches[1] + stats.initial[0]
        n_trials = jnp.sum(stats.initial)
        total = _stationary_rate_sum(a, c, dwell[0], dwell[1], n_trials)
        scale = n_trials / jnp.maximum(total, _TINY)
        r_on, r_off = a / (dwell[0] + scale), c / (dwell[1] + scale)
    else:
        r_on, r_off = stats.switches[0] / dwell[0], stats.switches[1] / dwell[1]
    return unchecked(MMPPParams, r_on=_clip(r_on, min_rate, max_rate),
                     r_off=_clip(r_off, min_rate, max_rate), q_on=q[1], q_off=q[0])


def _row(a_count, stay, c):
    """Root in (0, 1) of a_count / x - stay / (1 - x) = c (stable quadratic formula)."""
    b = a_count + stay + c
    return 2.0 * a_count / jnp.maximum(b + jnp.sqrt(jnp.maximum(b * b - 4.0 * c * a_count, 0.0)),
                                       _TINY)


def m_step_binned(stats: BinnedStatistics, dt, min_rate: float, max_rate: float,
                  stationary: bool = False) -> MMPPParams:
    """Row-wise maximiser of the transition matrix mapped to rates, and Poisson rate
    maximisers (module docstring). If ``a_on + a_off >= 1`` (no CTMC has such a
    one-bin matrix) the sum is clipped just below 1. ``stationary=True`` includes the
    stationary initial law's term."""
    if stationary:
        xi = stats.transitions
        a_count, c_count = xi[0, 1] + stats.initial[1], xi[1, 0] + stats.initial[0]
        n_trials = jnp.sum(stats.initial)

        def excess(u):  # a_on(u) + a_off(u) - u: > 0 below the root, < 0 above
            c = n_trials / u
            return _row(a_count, xi[0, 0], c) + _row(c_count, xi[1, 1], c) - u

        def bisect(_, bounds):
            low, high = bounds
            mid = 0.5 * (low + high)
            above = excess(mid) < 0
            return jnp.where(above, low, mid), jnp.where(above, mid, high)

        low, high = jax.lax.fori_loop(0, 80, bisect, (jnp.asarray(0.0, xi.dtype),
                                                      jnp.asarray(2.0, xi.dtype)))
        u = jnp.maximum(0.5 * (low + high), _TINY)
        a_on, a_off = _row(a_count, xi[0, 0], n_trials / u), _row(c_count, xi[1, 1], n_trials / u)
    else:
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
    # x_0 emits nothing, so P(x_0 = i | y) = sum_j P(x_0 = i | x_1 = j) P(x_1 = j | y)
    joint = initial[:, None] * transition
    first = joint / jnp.maximum(jnp.sum(joint, axis=0), _TINY)[None, :] @ smoother.smoothed[0]
    stats = BinnedStatistics(smoother.expected_transitions, jnp.sum(smoother.smoothed, axis=0),
                             smoother.smoothed.T @ counts, first)
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
        switches=jnp.stack([jnp.sum(raw.switches_on), jnp.sum(raw.switches_off)]),
        initial=jnp.stack([jnp.sum(1.0 - raw.initial_prob_on), jnp.sum(raw.initial_prob_on)]))
    return stats, jnp.sum(raw.log_likelihood)


def binned_log_likelihood(params: MMPPParams, p0, counts, dt) -> jax.Array:
    """Summed log-likelihood of B trials ``counts`` (B, T, N) under the binned model
    (nats, without ``-sum log n!``), by the forward recursion of
    :func:`bayesnn.exact.hmm.hmm_forward`; traceable and differentiable."""
    transition = transition_matrix(params.r_on, params.r_off, dt)
    initial = jnp.stack([1.0 - p0, p0])

    def one(trial):
        emissions = emission_log_likelihoods(params.q_on, params.q_off, trial, dt)
        return hmm_forward(initial, transition, emissions).log_marginal_likelihood

    return jnp.sum(jax.vmap(one)(counts))


__all__ = ["ContinuousStatistics", "BinnedStatistics", "m_step_continuous",
           "m_step_binned", "transition_matrix", "emission_log_likelihoods",
           "binned_e_step", "continuous_e_step", "binned_log_likelihood"]
