r"""Exact continuous-time forward-backward smoother of the Markov-modulated Poisson process.

Gives the expected complete-data sufficient statistics that batch EM needs (Rydén
1996; Roberts, Ephraim & Dieguez 2006): expected dwell times, expected spike counts of
every input per hidden state and expected numbers of switches, given *all* spikes on
``[0, T]``. Written from the math: it imports no model code (parameters are read from
any record with ``r_on``, ``r_off``, ``q_on``, ``q_off`` attributes, e.g.
:class:`bayesnn.processes.MMPPParams`).

Model and notation
------------------
Hidden CTMC ``x_t`` in {0 = OFF, 1 = ON} (0 -> 1 at rate ``r_on``, 1 -> 0 at ``r_off``,
Hz); N inputs, conditionally independent Poisson processes with rates ``q_on[i]``
(x = 1) or ``q_off[i]`` (x = 0). State order is (OFF, ON). With
``Q_on = sum_i q_on[i]``, ``Q_off = sum_i q_off[i]``::

    D = [[-r_on - Q_off,  r_on        ],      (generator minus total input rates)
         [ r_off,         -r_off - Q_on]]
    F_i = diag(q_off[i], q_on[i])             (rate factor of a spike of input i)

For events at ``0 <= t_1 <= ... <= t_K <= T`` (gaps ``g_k = t_k - t_{k-1}``,
``t_0 = 0``, plus a final gap to ``T`` with ``F = I``) the density of the spike train is
(Rydén 1996, Eq. 2)::

    p(spikes) = pi0^T exp(D g_1) F_{i_1} exp(D g_2) ... F_{i_K} exp(D g_{K+1}) 1.

Forward row vectors ``a_k`` (after item k) and backward column vectors ``b_k`` give
``p = a_k b_k`` for every k; numerically they are scaled (``alpha_k`` sums to 1, the
normalisers ``z_k`` accumulate the log-likelihood, ``beta_k = b_k a_k 1 / p`` so that
``alpha_k . beta_k = 1``)::

    alpha_k = alpha_{k-1} E_k F_k / z_k,      beta_{k-1} = E_k F_k beta_k / z_k,
    E_k = exp(S g_k),  S = D - lambda I,      log p = sum_k log z_k + lambda T

(``lambda`` = the dominant eigenvalue of D; any scalar shift is exact and only keeps
``exp`` far from underflow on long gaps).

Expected statistics
-------------------
Smoothed state at an event: ``P(x_{t_k} = j | all) = alpha_k(j) beta_k(j)``, so
``E[N^i_on] = sum over spikes of i of P(x_{t_k} = 1 | all)`` (times the event's count).
Inside gap k the smoothed joint of "state i at s, state j at s + ds" integrates to the
2 x 2 matrix (Rydén 1996 Sec. 3; Roberts, Ephraim & Dieguez 2006)::

    W_k = (1/z_k) int_0^{g_k} exp(S^T s) alpha_{k-1}^T c_k^T exp(S^T (g_k - s)) ds,
    c_k = F_k beta_k,

evaluated exactly as the upper-right block of one 4 x 4 matrix exponential (Van Loan
1978, Theorem 1)::

    expm([[S^T, alpha_{k-1}^T c_k^T], [0, S^T]] g_k) = [[., W_k z_k], [0, .]].

Then ``E[T_off] = sum_k W_k[0, 0]``, ``E[T_on] = sum_k W_k[1, 1]``,
``E[n_01] = r_on sum_k W_k[0, 1]`` (OFF -> ON switches) and
``E[n_10] = r_off sum_k W_k[1, 0]``.

Exact identities (tested): ``E[T_on] + E[T_off] = T``; ``E[N^i_on] + E[N^i_off]`` is the
spike count of input i; Fisher's identity ``d log p / d log q_on[i] = E[N^i_on] -
q_on[i] E[T_on]`` and ``d log p / d log r_on = E[n_01] - r_on E[T_off]`` (Cappé,
Moulines & Rydén 2005, Prop. 10.1.6).

Sources: T. Rydén, "An EM algorithm for estimation in Markov-modulated Poisson
processes", Comput. Stat. Data Anal. 21:431-447 (1996); J. Roberts, Y. Ephraim,
E. Dieguez, "On Rydén's EM algorithm for estimating MMPPs", IEEE Signal Process. Lett.
13(6):373-376 (2006); C. Van Loan, "Computing integrals involving the matrix
exponential", IEEE Trans. Autom. Control 23(3):395-404 (1978).

Conventions: seconds and Hz; float64 required (:func:`bayesnn.core.require_x64`).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import require_in_range, require_positive, require_shape

__all__ = ["MMPPExpectedStatistics", "mmpp_expected_statistics", "mmpp_smoothed_prob_on",
           "expected_statistics_kernel", "log_likelihood_kernel"]


class MMPPExpectedStatistics(NamedTuple):
    """Smoothed expectations of the complete-data sufficient statistics on ``[0, T]``
    (a leading trial axis on every field when the inputs are batched).

    Fields:
        dwell_on: () E[T_on | spikes], time spent with x = 1, s.
        dwell_off: () E[T_off | spikes], s.
        counts_on: (N,) E[N^i_on | spikes], spikes of input i while x = 1.
        counts_off: (N,) E[N^i_off | spikes].
        switches_on: () E[n_01 | spikes], number of OFF -> ON switches.
        switches_off: () E[n_10 | spikes], number of ON -> OFF switches.
        initial_prob_on: () P(x_0 = 1 | spikes), smoothed.
        log_likelihood: () log density of the spike train (w.r.t. Lebesgue measure on
            the event times; nats).
    """

    dwell_on: jax.Array
    dwell_off: jax.Array
    counts_on: jax.Array
    counts_off: jax.Array
    switches_on: jax.Array
    switches_off: jax.Array
    initial_prob_on: jax.Array
    log_likelihood: jax.Array


# ----------------------------------------------------------------------------- kernel


def _spectral(r_on, r_off, q_on_sum, q_off_sum):
    """Spectral split of D (2 x 2, positive off-diagonal): eigenvalues l1 > l2 and the
    projectors P1, P2 = I - P1 with ``exp(D g) = exp(l1 g) (P1 + exp(-kappa g) P2)``,
    ``kappa = l1 - l2 = 2 sqrt(h^2 + bc)``. Written without cancellation:
    ``l2 = m - sqrt(.)``, ``l1 = det(D) / l2`` and ``sqrt(.) -+ h`` via ``bc / (sqrt(.) +
    |h|)``."""
    a, b = -r_on - q_off_sum, r_on
    c, d = r_off, -r_off - q_on_sum
    half = 0.5 * (a - d)
    root = jnp.sqrt(half ** 2 + b * c)
    big = root + jnp.abs(half)
    small = b * c / big
    plus, minus = jnp.where(half >= 0, big, small), jnp.where(half >= 0, small, big)
    lam2 = 0.5 * (a + d) - root
    det = r_on * q_on_sum + r_off * q_off_sum + q_on_sum * q_off_sum
    lam1 = det / lam2
    proj1 = jnp.stack([jnp.stack([plus, b]), jnp.stack([c, minus])]) / (2.0 * root)
    return lam1, 2.0 * root, proj1


def _items(times, senders, counts, duration, q_on, q_off):
    """Gaps (n,), factors (n, 2) (OFF, ON) and event weights (n,) of the item list:
    the events (padding -> unit factor at ``duration``) followed by the end point."""
    valid = senders >= 0
    safe = jnp.where(valid, senders, 0)
    item_times = jnp.concatenate([jnp.where(valid, times, duration), duration[None]])
    gaps = jnp.diff(item_times, prepend=jnp.zeros(1, item_times.dtype))
    weight = jnp.where(valid, counts, 0).astype(item_times.dtype)
    factor_off = jnp.where(valid, q_off[safe] ** weight, 1.0)
    factor_on = jnp.where(valid, q_on[safe] ** weight, 1.0)
    ones = jnp.ones(1, item_times.dtype)
    factors = jnp.stack([jnp.concatenate([factor_off, ones]), jnp.concatenate([factor_on, ones])], 1)
    return gaps, factors, jnp.concatenate([weight, jnp.zeros(1, weight.dtype)]), safe


def _passes(r_on, r_off, q_on, q_off, p0, gaps, factors):
    lam1, kappa, proj1 = _spectral(r_on, r_off, jnp.sum(q_on), jnp.sum(q_off))
    proj2 = jnp.eye(2, dtype=proj1.dtype) - proj1
    decay = jnp.exp(-kappa * gaps)
    props = proj1[None] + decay[:, None, None] * proj2[None]  # exp(S g), S = D - l1 I

    def forward(alpha, item):
        prop, factor = item
        unnorm = (alpha @ prop) * factor
        z = jnp.sum(unnorm)
        return unnorm / z, (unnorm / z, z)

    alpha0 = jnp.stack([1.0 - p0, p0])
    _, (alphas, norms) = jax.lax.scan(forward, alpha0, (props, factors))

    def backward(beta, item):
        prop, factor, z = item
        return prop @ (factor * beta) / z, beta

    beta0, betas = jax.lax.scan(backward, jnp.ones(2, alphas.dtype), (props, factors, norms),
                                reverse=True)
    log_lik = jnp.sum(jnp.log(norms)) + lam1 * jnp.sum(gaps)
    return (kappa, proj1, proj2), alpha0, alphas, betas, beta0, norms, log_lik


def _gap_integrals(spectral, alpha_prev, c, gaps, norms):
    """W_k = (1/z_k) int_0^g exp(S^T s) alpha^T c^T exp(S^T (g - s)) ds for every gap,
    from the spectral split ``exp(S s) = P1 + exp(-kappa s) P2``::

        W = sum_{a,b} psi_ab(g) (alpha P_a)^T (P_b c)^T / z,
        psi_11 = g,  psi_22 = g exp(-kappa g),  psi_12 = psi_21 = (1 - exp(-kappa g)) / kappa
    """
    kappa, proj1, proj2 = spectral
    u1, u2 = alpha_prev @ proj1, alpha_prev @ proj2  # (n, 2) row vectors alpha P_a
    v1, v2 = c @ proj1.T, c @ proj2.T  # (n, 2): P_b c
    psi11 = gaps
    psi22 = gaps * jnp.exp(-kappa * gaps)
    psi12 = -jnp.expm1(-kappa * gaps) / kappa
    outer = lambda u, v: u[:, :, None] * v[:, None, :]  # noqa: E731
    total = (psi11[:, None, None] * outer(u1, v1) + psi22[:, None, None] * outer(u2, v2)
             + psi12[:, None, None] * (outer(u1, v2) + outer(u2, v1)))
    return total / norms[:, None, None]


def expected_statistics_kernel(r_on, r_off, q_on, q_off, p0, times, senders, counts,
                               duration) -> MMPPExpectedStatistics:
    """Traceable core of :func:`mmpp_expected_statistics` (no checks; jit/vmap/grad).

    Args: rates (Hz) as arrays (``q_on``, ``q_off`` of shape (N,)), ``p0`` = P(x_0 = 1),
    one trial's padded event arrays ``times`` (C,) s, ``senders`` (C,) int (-1 =
    padding), ``counts`` (C,) int, and ``duration`` () s.
    """
    duration = jnp.asarray(duration, dtype=jnp.result_type(float))
    gaps, factors, weight, safe = _items(times, senders, counts, duration, q_on, q_off)
    spectral, alpha0, alphas, betas, beta0, norms, log_lik = _passes(
        r_on, r_off, q_on, q_off, p0, gaps, factors)
    previous = jnp.concatenate([alpha0[None], alphas[:-1]], axis=0)
    integrals = _gap_integrals(spectral, previous, factors * betas, gaps, norms)
    total = jnp.sum(integrals, axis=0)
    smoothed_on = (alphas * betas)[:, 1] / jnp.sum(alphas * betas, axis=1)
    n_inputs = q_on.shape[0]
    counts_on = jnp.zeros(n_inputs, smoothed_on.dtype).at[safe].add(weight[:-1] * smoothed_on[:-1])
    spikes_per_input = jnp.zeros(n_inputs, smoothed_on.dtype).at[safe].add(weight[:-1])
    smoothed0 = alpha0 * beta0
    return MMPPExpectedStatistics(
        dwell_on=total[1, 1], dwell_off=total[0, 0],
        counts_on=counts_on, counts_off=spikes_per_input - counts_on,
        switches_on=r_on * total[0, 1], switches_off=r_off * total[1, 0],
        initial_prob_on=smoothed0[1] / jnp.sum(smoothed0), log_likelihood=log_lik)


@partial(jax.jit, static_argnames=("batched",))
def _statistics(r_on, r_off, q_on, q_off, p0, times, senders, counts, duration, *, batched):
    one = partial(expected_statistics_kernel, r_on, r_off, q_on, q_off, p0)
    if batched:
        return jax.vmap(one, in_axes=(0, 0, 0, None))(times, senders, counts, duration)
    return one(times, senders, counts, duration)


# ----------------------------------------------------------------------------- checks


def _check(params, inputs, duration, initial_prob_on):
    require_x64("mmpp_expected_statistics")
    for name in ("r_on", "r_off", "q_on", "q_off"):
        if not hasattr(params, name):
            raise ValueError(f"params must hold r_on, r_off, q_on, q_off (e.g. an MMPPParams), "
                             f"got {type(params).__name__}")
    r_on = float(require_positive("r_on", params.r_on, ndim=0))
    r_off = float(require_positive("r_off", params.r_off, ndim=0))
    q_on = require_positive("q_on", params.q_on, ndim=1)
    q_off = require_positive("q_off", params.q_off, ndim=1)
    require_shape("q_off", q_off, q_on.shape)
    duration = float(require_positive("duration", duration, ndim=0))
    if initial_prob_on is None:
        p0 = r_on / (r_on + r_off)
    else:
        p0 = require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0, True, True)
    if not isinstance(inputs, Spikes):
        raise ValueError(f"inputs must be a bayesnn.core.Spikes, got {type(inputs).__name__}")
    times, senders = np.asarray(inputs.times), np.asarray(inputs.senders)
    if times.ndim not in (1, 2):
        raise ValueError(f"inputs must be one trial (C,) or a batch (B, C), got {times.shape}")
    if np.any(np.asarray(inputs.n_events) > inputs.capacity):
        raise ValueError("inputs overflowed its buffer (n_events > capacity)")
    valid = senders >= 0
    if np.any(senders >= q_on.size):
        raise ValueError(f"inputs senders must be < N = {q_on.size}, got {int(senders.max())}")
    if np.any(valid & ~np.isfinite(times)):
        raise ValueError("inputs times must be finite for every valid event")
    if np.any(valid & ((times < 0) | (times > duration))):
        raise ValueError(f"inputs times must lie in [0, duration = {duration}] s")
    ordered = np.where(valid, times, np.inf)
    # Adjacent comparison, not np.diff: inf - inf (two padding slots) is NaN and warns.
    if np.any(ordered[..., 1:] < ordered[..., :-1]):
        raise ValueError("inputs times must be sorted in time, with padding at the end")
    as_float = lambda x: jnp.asarray(x, dtype=float)  # noqa: E731
    return (as_float(r_on), as_float(r_off), as_float(q_on), as_float(q_off), as_float(p0),
            as_float(duration), times.ndim == 2)


def mmpp_expected_statistics(params, inputs: Spikes, *, duration: float,
                             initial_prob_on: float | None = None) -> MMPPExpectedStatistics:
    """Smoothed expected sufficient statistics of the continuous-time MMPP (module
    docstring for the equations).

    Args:
        params: record with ``r_on``, ``r_off`` (Hz, > 0) and ``q_on``, ``q_off`` ((N,),
            Hz, > 0), e.g. :class:`bayesnn.processes.MMPPParams`.
        inputs: :class:`bayesnn.core.Spikes` of one trial (C,) or a batch (B, C) (sender
            = input index; times in ``[0, duration]`` s, sorted).
        duration: observation window ``T``, s, > 0 (shared by the trials).
        initial_prob_on: P(x_0 = 1) in [0, 1]; default the stationary
            ``r_on / (r_on + r_off)``.

    Returns:
        :class:`MMPPExpectedStatistics` (leading axis B for a batch).

    Raises:
        ValueError: naming the argument, on bad parameters or inputs.
        PrecisionError: if JAX runs in float32.
    """
    r_on, r_off, q_on, q_off, p0, duration, batched = _check(params, inputs, duration,
                                                             initial_prob_on)
    return _statistics(r_on, r_off, q_on, q_off, p0, inputs.times, inputs.senders,
                       inputs.counts, duration, batched=batched)


@jax.jit
def _smoothed_at(r_on, r_off, q_on, q_off, p0, times, senders, counts, duration, queries):
    # Queries enter as events of a virtual input whose factor is 1 in both states.
    n_events = times.shape[0]
    all_times = jnp.concatenate([jnp.where(senders >= 0, times, duration), queries])
    kind = jnp.concatenate([jnp.zeros(n_events), jnp.ones(queries.shape[0])])
    order = jnp.lexsort((kind, all_times))
    extra_q = jnp.concatenate([q_on, jnp.ones(1)]), jnp.concatenate([q_off, jnp.ones(1)])
    all_senders = jnp.concatenate([senders, jnp.full(queries.shape[0], q_on.shape[0])])
    all_counts = jnp.concatenate([counts, jnp.ones(queries.shape[0], counts.dtype)])
    gaps, factors, _, _ = _items(all_times[order], all_senders[order], all_counts[order], duration,
                                 *extra_q)
    _, _, alphas, betas, _, _, _ = _passes(r_on, r_off, *extra_q, p0, gaps, factors)
    smoothed = alphas * betas
    smoothed_on = smoothed[:-1, 1] / jnp.sum(smoothed[:-1], axis=1)
    position = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0]))
    return smoothed_on[position[n_events:]]


def mmpp_smoothed_prob_on(params, inputs: Spikes, *, duration: float, query_times,
                          initial_prob_on: float | None = None) -> jax.Array:
    """Smoothed posterior ``P(x_t = 1 | all spikes on [0, T])`` at ``query_times``.

    Args: as :func:`mmpp_expected_statistics` for one trial, plus ``query_times`` (S,)
    in ``[0, duration]`` s (any order). Returns (S,). The same forward-backward
    recursions, with each query inserted as an event whose rate factor is 1.
    """
    r_on, r_off, q_on, q_off, p0, duration_, batched = _check(params, inputs, duration,
                                                              initial_prob_on)
    if batched:
        raise ValueError("inputs must be one trial here, got a batch")
    queries = np.asarray(query_times, dtype=float)
    if queries.ndim != 1 or not np.all(np.isfinite(queries)):
        raise ValueError(f"query_times must be a finite (S,) array, got shape {queries.shape}")
    if queries.size and (queries.min() < 0 or queries.max() > float(duration_)):
        raise ValueError(f"query_times must lie in [0, duration = {float(duration_)}] s")
    return _smoothed_at(r_on, r_off, q_on, q_off, p0, inputs.times, inputs.senders,
                        inputs.counts, duration_, jnp.asarray(queries))


def log_likelihood_kernel(r_on, r_off, q_on, q_off, p0, times, senders, counts, duration):
    """Forward pass only: log density of one padded trial (nats), traceable and
    differentiable in the rates (the spectral propagator of :func:`_spectral`; no
    backward pass). Arguments as :func:`expected_statistics_kernel`."""
    duration = jnp.asarray(duration, dtype=jnp.result_type(float))
    gaps, factors, _, _ = _items(times, senders, counts, duration, q_on, q_off)
    lam1, kappa, proj1 = _spectral(r_on, r_off, jnp.sum(q_on), jnp.sum(q_off))
    proj2 = jnp.eye(2, dtype=proj1.dtype) - proj1

    def forward(carry, item):
        alpha, log_norm = carry
        gap, factor = item
        unnorm = (alpha @ proj1 + jnp.exp(-kappa * gap) * (alpha @ proj2)) * factor
        z = jnp.sum(unnorm)
        return (unnorm / z, log_norm + jnp.log(z)), None

    alpha0 = jnp.stack([1.0 - p0, p0])
    (_, log_norm), _ = jax.lax.scan(forward, (alpha0, jnp.zeros((), alpha0.dtype)), (gaps, factors))
    return log_norm + lam1 * duration
