r"""Exact filtering and smoothing for the discrete-time two-state HMM.

The discrete-time reference (Rabiner 1989, Sec. III; Denève 2004, Sec. 1): the
hidden state is sampled once per bin of width ``dt``, and the observations are the
Poisson spike counts per bin. Written from the math; it shares no code with
``bayesnn.neuron``.

Conventions
-----------
* State index 0 = OFF (x = 0), index 1 = ON (x = 1).
* ``x_0 ~ initial`` is the state *before* the first bin; bin ``k = 1..T`` first moves
  the chain (``x_k ~ P[x_{k-1}, :]``) and then emits ``y_k`` (predict-then-update for
  every bin, including the first).
* Seconds and Hz; float64 when JAX x64 is enabled (the test suite enables it).

Equations
---------
Exact one-bin propagator of the two-state CTMC (0 -> 1 at rate ``r_on``, 1 -> 0 at rate
``r_off``), with ``s = r_on + r_off``::

    a_on  = P(x_k = 1 | x_{k-1} = 0) = (r_on  / s) (1 - exp(-s dt)) = -(r_on / s) expm1(-s dt)
    a_off = P(x_k = 0 | x_{k-1} = 1) = (r_off / s) (1 - exp(-s dt))
    P = [[1 - a_on, a_on], [a_off, 1 - a_off]],   P[i, j] = P(x_k = j | x_{k-1} = i)

Poisson emission log-likelihood of the counts ``n_{k,i}`` of ``N`` channels::

    l_k(x) = sum_i [ n_{k,i} log(q_i(x) dt) - q_i(x) dt - log(n_{k,i}!) ],
    q_i(1) = q_on_i,  q_i(0) = q_off_i

Normalised forward (alpha) recursion, with ``alpha_0 = initial``, carried in log space
(``logsumexp``) so that states with zero probability (hard zeros in ``initial`` or
``transition``) stay exactly zero however unlikely the other state's data are (a shift
by ``max_x l_k(x)`` would underflow the normaliser to 0 and give NaN)::

    log u_k(j)  = logsumexp_i [log alpha_{k-1}(i) + log P[i, j]] + l_k(j)
    log Z_k     = logsumexp_j log u_k(j) = log p(y_k | y_1..y_{k-1})
    alpha_k     = exp(log u_k - log Z_k) = P(x_k | y_1..y_k)
    log p(y_1..y_T) = sum_k log Z_k

Scaled backward recursion (``beta_T = 1``), also in log space, and smoothed quantities::

    log beta_{k-1}(i) = logsumexp_j [log P[i, j] + l_k(j) + log beta_k(j)] - log Z_k
    gamma_k(j)    = alpha_k(j) beta_k(j) = P(x_k = j | y_1..y_T)
    xi_k(i, j)    = alpha_{k-1}(i) P[i, j] exp(l_k(j)) beta_k(j) / Z_k
                  = P(x_{k-1} = i, x_k = j | y_1..y_T),   k = 1..T

Observations with zero probability under the model (every path impossible) are refused
with a ``ValueError``.

``expected_transitions = sum_{k=1}^T xi_k`` (this includes the move out of ``x_0``).

One concern: the forward-backward recursions of one model (the scaled linear-space
fast path and the log-space path for hard zeros are two routes to the same numbers and
are tested against each other), so they stay together.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, logsumexp

from bayesnn.core import validation as v
from bayesnn.core.params import is_traced, to_device
from bayesnn.core.precision import require_x64

__all__ = [
    "HMMForward",
    "HMMSmoother",
    "BruteForceMarginals",
    "ctmc_transition_matrix",
    "poisson_log_likelihoods",
    "hmm_forward",
    "hmm_smoother",
    "brute_force_marginals",
]

# Probability vectors / stochastic matrices must sum to 1 within this (absolute) slack.
_SUM_TOL = 1e-9
_BRUTE_FORCE_MAX_T = 12


class HMMForward(NamedTuple):
    """Result of :func:`hmm_forward`.

    Fields:
        filtered: (T, 2) ``P(x_k = j | y_1..y_k)``; column 0 = OFF, 1 = ON.
        log_normalizers: (T,) ``log p(y_k | y_1..y_{k-1})`` (natural log; includes the
            ``-log n!`` and ``log dt`` terms of the emission model, if they were given).
        log_marginal_likelihood: () ``log p(y_1..y_T) = sum(log_normalizers)``.
    """

    filtered: jax.Array
    log_normalizers: jax.Array
    log_marginal_likelihood: jax.Array


class HMMSmoother(NamedTuple):
    """Result of :func:`hmm_smoother`.

    Fields:
        filtered: (T, 2) ``P(x_k = j | y_1..y_k)``.
        smoothed: (T, 2) ``P(x_k = j | y_1..y_T)``.
        expected_transitions: (2, 2) ``sum_{k=1}^T P(x_{k-1} = i, x_k = j | y_1..y_T)``,
            the expected number of ``i -> j`` moves over bins 1..T, counting the move
            out of ``x_0`` (self-moves ``i -> i`` included). Sums to T.
        log_marginal_likelihood: () ``log p(y_1..y_T)``.
    """

    filtered: jax.Array
    smoothed: jax.Array
    expected_transitions: jax.Array
    log_marginal_likelihood: jax.Array


class BruteForceMarginals(NamedTuple):
    """Result of :func:`brute_force_marginals` (exhaustive enumeration, NumPy float64).

    Fields:
        log_marginal_likelihood: () ``log p(y_1..y_T)``.
        filtered: (T, 2) ``P(x_k = j | y_1..y_k)``.
        smoothed: (T, 2) ``P(x_k = j | y_1..y_T)``.
        expected_transitions: (2, 2) as in :class:`HMMSmoother`.
    """

    log_marginal_likelihood: np.ndarray
    filtered: np.ndarray
    smoothed: np.ndarray
    expected_transitions: np.ndarray


# ----------------------------------------------------------------------------- checks


def _check_distribution(name: str, value) -> np.ndarray:
    array = v.require_nonnegative(name, value, ndim=1)
    v.require_shape(name, array, (2,))
    if abs(array.sum() - 1.0) > _SUM_TOL:
        raise ValueError(f"{name} must sum to 1, got sum {array.sum()!r}")
    return array


def _check_transition(name: str, value) -> np.ndarray:
    array = v.require_nonnegative(name, value, ndim=2)
    v.require_shape(name, array, (2, 2))
    if np.any(np.abs(array.sum(axis=1) - 1.0) > _SUM_TOL):
        raise ValueError(f"{name} rows must sum to 1, got row sums {array.sum(axis=1).tolist()}")
    return array


def _check_log_likelihoods(name: str, value) -> np.ndarray:
    array = v.as_array(name, value, ndim=2)
    v.require_shape(name, array, (None, 2))
    if array.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row (T >= 1), got shape {array.shape}")
    return array


def _check_hmm_args(initial, transition, log_likelihoods):
    return (
        _check_distribution("initial", initial),
        _check_transition("transition", transition),
        _check_log_likelihoods("log_likelihoods", log_likelihoods),
    )


# ----------------------------------------------------------------------------- model


def ctmc_transition_matrix(r_on: float, r_off: float, dt: float) -> jax.Array:
    """Exact one-bin transition matrix of the two-state CTMC.

    Args:
        r_on: 0 -> 1 (OFF -> ON) switching rate, Hz, > 0.
        r_off: 1 -> 0 (ON -> OFF) switching rate, Hz, > 0.
        dt: bin width, seconds, > 0.

    Returns:
        (2, 2) array ``P[i, j] = P(x_k = j | x_{k-1} = i)`` (index 0 = OFF, 1 = ON), with
        ``a_on = -(r_on/s) expm1(-s dt)``, ``a_off = -(r_off/s) expm1(-s dt)``,
        ``s = r_on + r_off``; the diagonal is computed as ``(r_off + r_on e^{-s dt})/s``
        and ``(r_on + r_off e^{-s dt})/s`` (no cancellation).
    """
    require_x64("bayesnn.exact.hmm")
    if not is_traced(r_on, r_off, dt):
        v.require_positive("r_on", r_on, ndim=0)
        v.require_positive("r_off", r_off, ndim=0)
        v.require_positive("dt", dt, ndim=0)
    # to_device: jnp.asarray of a host value compiles a copy program per call
    return _transition(*(to_device(x, float) for x in (r_on, r_off, dt)))


@jax.jit
def _transition(r_on, r_off, dt):
    s = r_on + r_off
    decay = jnp.exp(-s * dt)
    frac = -jnp.expm1(-s * dt) / s
    a_on, a_off = r_on * frac, r_off * frac
    stay_off = (r_off + r_on * decay) / s
    stay_on = (r_on + r_off * decay) / s
    return jnp.array([[stay_off, a_on], [a_off, stay_on]])


def poisson_log_likelihoods(counts, q_on, q_off, dt: float) -> jax.Array:
    """Per-bin Poisson log-likelihood of the counts in each state.

    Args:
        counts: (T, N) non-negative integer spike counts per bin and channel.
        q_on: (N,) channel rates in the ON state, Hz, > 0.
        q_off: (N,) channel rates in the OFF state, Hz, > 0.
        dt: bin width, seconds, > 0.

    Returns:
        (T, 2) ``log P(counts_k | x)`` with the full Poisson terms
        ``sum_i n log(q_i dt) - q_i dt - log(n!)``; column 0 uses ``q_off`` (OFF),
        column 1 uses ``q_on`` (ON).
    """
    require_x64("bayesnn.exact.hmm")
    if not is_traced(counts, q_on, q_off, dt):
        counts_np = v.require_integer_counts("counts", counts)
        if counts_np.ndim != 2:
            raise ValueError(f"counts must have 2 dimension(s), got shape {counts_np.shape}")
        q_on_np = v.require_positive("q_on", q_on, ndim=1)
        q_off_np = v.require_positive("q_off", q_off, ndim=1)
        n_channels = counts_np.shape[1]
        v.require_shape("q_on", q_on_np, (n_channels,))
        v.require_shape("q_off", q_off_np, (n_channels,))
        v.require_positive("dt", dt, ndim=0)
    return _poisson_log_likelihoods(to_device(counts, float), to_device(q_on, float),
                                    to_device(q_off, float), to_device(dt, float))


@jax.jit
def _poisson_log_likelihoods(counts, q_on, q_off, dt):
    rates = jnp.stack([q_off, q_on], axis=1) * dt  # (N, 2): column 0 OFF, 1 ON
    log_fact = jnp.sum(gammaln(counts + 1.0), axis=1, keepdims=True)  # (T, 1)
    return counts @ jnp.log(rates) - jnp.sum(rates, axis=0)[None, :] - log_fact


# ----------------------------------------------------------------------------- forward


def _log(array):
    """log with log(0) = -inf and no warning (hard zeros are legal probabilities)."""
    return jnp.where(array > 0, jnp.log(jnp.where(array > 0, array, 1.0)), -jnp.inf)


@jax.jit
def _forward(initial, transition, log_likelihoods):
    """Forward recursion in log space: no shift can underflow a state with zero
    predicted probability (log alpha = -inf stays exact)."""
    log_transition = _log(transition)

    def step(log_alpha, log_lik):
        log_pred = logsumexp(log_alpha[:, None] + log_transition, axis=0)
        joint = log_pred + log_lik
        log_norm = logsumexp(joint)
        return joint - log_norm, (joint - log_norm, log_norm)

    _, (log_filtered, log_norms) = jax.lax.scan(step, _log(initial), log_likelihoods)
    return log_filtered, log_norms


def hmm_forward(initial, transition, log_likelihoods) -> HMMForward:
    """Normalised forward (alpha) recursion for a two-state HMM.

    Args:
        initial: (2,) distribution of ``x_0`` (the state before bin 1).
        transition: (2, 2) row-stochastic ``P[i, j] = P(x_k = j | x_{k-1} = i)``.
        log_likelihoods: (T, 2) ``log p(y_k | x_k = j)``, finite.

    Returns:
        :class:`HMMForward` with ``filtered`` (T, 2), ``log_normalizers`` (T,) and
        ``log_marginal_likelihood`` (). Predict-then-update at every bin, including the
        first. Runs as one ``lax.scan`` (jittable; argument checks are skipped when the
        inputs are traced).
    """
    require_x64("bayesnn.exact.hmm")
    if not is_traced(initial, transition, log_likelihoods):
        _check_hmm_args(initial, transition, log_likelihoods)
    initial = jnp.asarray(initial, dtype=float)
    transition = jnp.asarray(transition, dtype=float)
    log_likelihoods = jnp.asarray(log_likelihoods, dtype=float)
    filtered, log_norms, log_ml = _forward_outputs(initial, transition, log_likelihoods)
    _refuse_impossible(log_ml)
    return HMMForward(filtered, log_norms, log_ml)


@jax.jit
def _forward_outputs(initial, transition, log_likelihoods):
    """The forward recursion and its readouts, one compiled program: the scaled
    linear-space recursion (:func:`_forward_linear`) when ``initial`` and ``transition``
    are strictly positive, else the log-space one (:func:`_forward`, exact with hard
    zeros). The branch is taken at run time (``lax.cond``), so jitted and direct calls
    run the same program."""
    def linear(operands):
        filtered, log_norms = _forward_linear(*operands)
        return filtered, log_norms

    def logarithmic(operands):
        log_filtered, log_norms = _forward(*operands)
        return jnp.exp(log_filtered), log_norms

    positive = jnp.all(initial > 0) & jnp.all(transition > 0)
    filtered, log_norms = jax.lax.cond(positive, linear, logarithmic,
                                       (initial, transition, log_likelihoods))
    return filtered, log_norms, jnp.sum(log_norms)


def _forward_linear(initial, transition, log_likelihoods):
    """Scaled forward recursion in linear space (Rabiner 1989, Sec. V.A), for strictly
    positive ``initial`` and ``transition``: u_k = (alpha_{k-1} P) * exp(l_k - m_k),
    m_k = max_j l_k(j), c_k = sum u_k, alpha_k = u_k / c_k, log Z_k = log c_k + m_k.
    With P > 0 every predicted probability is >= min P > 0, so c_k >= min P: the
    normaliser cannot underflow. A filtered probability below ~1e-308 underflows to 0
    here (log space keeps it), which changes the next steps by less than 1e-300
    relative. The exponentials are taken for all bins at once outside the scan, which
    then does one 2 x 2 product per bin (the log-space scan: two logsumexp)."""
    shift = jnp.max(log_likelihoods, axis=1)
    scaled = jnp.exp(log_likelihoods - shift[:, None])

    def step(alpha, likelihood):
        joint = (alpha @ transition) * likelihood
        total = jnp.sum(joint)
        alpha = joint / total
        return alpha, (alpha, total)

    _, (filtered, totals) = jax.lax.scan(step, initial, scaled)
    return filtered, jnp.log(totals) + shift


def _refuse_impossible(log_ml) -> None:
    if not is_traced(log_ml) and not np.isfinite(float(log_ml)):
        raise ValueError("log_likelihoods: the observations have zero probability under "
                         "initial and transition (every path is impossible)")


# ----------------------------------------------------------------------------- smoother


@jax.jit
def _smoother(initial, transition, log_likelihoods):
    """Forward-backward in log space (exact with hard zeros in initial/transition)."""
    log_filtered, log_norms = _forward(initial, transition, log_likelihoods)
    log_transition = _log(transition)

    def back(log_beta, inputs):
        log_lik, log_norm = inputs
        log_beta_prev = logsumexp(log_transition + (log_lik + log_beta)[None, :], axis=1) - log_norm
        return log_beta_prev, log_beta

    # log_betas[k] = log beta_k for k = 1..T (rows 0..T-1).
    _, log_betas = jax.lax.scan(back, jnp.zeros(2, dtype=log_filtered.dtype),
                                (log_likelihoods, log_norms), reverse=True)
    log_smoothed = log_filtered + log_betas
    smoothed = jnp.exp(log_smoothed - logsumexp(log_smoothed, axis=1, keepdims=True))
    log_previous = jnp.concatenate([_log(initial)[None, :], log_filtered[:-1]], axis=0)
    log_xi = (log_previous[:, :, None] + log_transition[None, :, :]
              + (log_likelihoods + log_betas - log_norms[:, None])[:, None, :])
    # Each xi_k sums to 1 exactly; normalising removes the rounding of terms ~ |l_k|.
    xi = jnp.sum(jnp.exp(log_xi - logsumexp(log_xi, axis=(1, 2), keepdims=True)), axis=0)
    return jnp.exp(log_filtered), smoothed, xi, log_norms


def hmm_smoother(initial, transition, log_likelihoods) -> HMMSmoother:
    """Forward-backward smoother for a two-state HMM.

    Args:
        initial: (2,) distribution of ``x_0``.
        transition: (2, 2) row-stochastic ``P[i, j] = P(x_k = j | x_{k-1} = i)``.
        log_likelihoods: (T, 2) ``log p(y_k | x_k = j)``, finite.

    Returns:
        :class:`HMMSmoother` with ``filtered`` (T, 2), ``smoothed`` (T, 2),
        ``expected_transitions`` (2, 2) and ``log_marginal_likelihood`` ().
    """
    require_x64("bayesnn.exact.hmm")
    if not is_traced(initial, transition, log_likelihoods):
        _check_hmm_args(initial, transition, log_likelihoods)
    initial = jnp.asarray(initial, dtype=float)
    transition = jnp.asarray(transition, dtype=float)
    log_likelihoods = jnp.asarray(log_likelihoods, dtype=float)
    filtered, smoothed, xi, log_norms = _smoother(initial, transition, log_likelihoods)
    log_ml = jnp.sum(log_norms)
    _refuse_impossible(log_ml)
    return HMMSmoother(filtered, smoothed, xi, log_ml)


# ----------------------------------------------------------------------------- brute force


def brute_force_marginals(initial, transition, log_likelihoods) -> BruteForceMarginals:
    """Exact marginals by enumerating all ``2^(T+1)`` paths ``(x_0, ..., x_T)``.

    For tests only (``T <= 12``). Works in log space with NumPy float64; shares no code
    with :func:`hmm_forward`.

    Args:
        initial: (2,) distribution of ``x_0``.
        transition: (2, 2) row-stochastic transition matrix.
        log_likelihoods: (T, 2) ``log p(y_k | x_k = j)``, ``1 <= T <= 12``.

    Returns:
        :class:`BruteForceMarginals`.
    """
    initial, transition, log_likelihoods = _check_hmm_args(initial, transition, log_likelihoods)
    n_bins = log_likelihoods.shape[0]
    if n_bins > _BRUTE_FORCE_MAX_T:
        raise ValueError(f"log_likelihoods must have at most {_BRUTE_FORCE_MAX_T} rows for "
                         f"brute force, got {n_bins}")
    paths = np.array(list(itertools.product((0, 1), repeat=n_bins + 1)))  # (2^(T+1), T+1)
    with np.errstate(divide="ignore"):
        log_init = np.log(initial)
        log_trans = np.log(transition)
    log_prior = log_init[paths[:, 0]] + log_trans[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    # log-likelihood of y_1..y_k along each path, k = 1..T
    emission = log_likelihoods[np.arange(n_bins)[None, :], paths[:, 1:]]  # (paths, T)
    cumulative = np.cumsum(emission, axis=1)
    log_joint_k = log_prior[:, None] + cumulative  # (paths, T): log p(path, y_1..y_k)

    def lse(a):
        a_max = np.max(a)
        if not np.isfinite(a_max):  # every path impossible
            return -np.inf
        return a_max + np.log(np.sum(np.exp(a - a_max)))

    filtered = np.empty((n_bins, 2))
    smoothed = np.empty((n_bins, 2))
    log_full = log_joint_k[:, -1]
    log_ml = lse(log_full)
    for k in range(n_bins):
        log_norm_k = lse(log_joint_k[:, k])
        for j in (0, 1):
            on_path = paths[:, k + 1] == j
            filtered[k, j] = np.exp(lse(log_joint_k[on_path, k]) - log_norm_k)
            smoothed[k, j] = np.exp(lse(log_full[on_path]) - log_ml)
    weights = np.exp(log_full - log_ml)
    xi = np.zeros((2, 2))
    for k in range(n_bins):
        np.add.at(xi, (paths[:, k], paths[:, k + 1]), weights)
    return BruteForceMarginals(np.asarray(log_ml), filtered, smoothed, xi)
