r"""Exact inference for linear-Gaussian state-space models (Kalman references).

Written from the math; shares no code with ``bayesnn.scn`` (the spike-coding networks
whose read-outs these references check).

Discrete time (``kalman_filter``, ``rts_smoother``; parameters as a
:class:`bayesnn.processes.LGSSMParams` record, the data-only record the NumPyro model
shares)
-------------------------------------------------------------------------------
::

    x_0 ~ N(m0, P0)
    x_k = A x_{k-1} + w_k,   w_k ~ N(0, Q)        k = 1..T   (state, D-dimensional)
    y_k = C x_k + v_k,       v_k ~ N(0, R)                   (observation, M-dimensional)

Predict-then-update at every step, including the first (``x_0`` is never observed)::

    predict:  m_k^- = A m_{k-1},          P_k^- = A P_{k-1} A^T + Q
    update:   S_k = C P_k^- C^T + R,      K_k = P_k^- C^T S_k^{-1}
              m_k = m_k^- + K_k (y_k - C m_k^-)
              P_k = (I - K_k C) P_k^- (I - K_k C)^T + K_k R K_k^T     (Joseph form)
    log p(y_1..y_T) = sum_k log N(y_k; C m_k^-, S_k)

Rauch-Tung-Striebel smoother (backwards from ``k = T``)::

    G_k = P_k A^T (P_{k+1}^-)^+      (Moore-Penrose inverse: exact for singular P^-)
    m_k^s = m_k + G_k (m_{k+1}^s - m_{k+1}^-),   P_k^s = P_k + G_k (P_{k+1}^s - P_{k+1}^-) G_k^T

Continuous time (``discretize_lds``, ``steady_state_kalman_bucy``, ``kalman_bucy_mean``)
-------------------------------------------------------------------------------------
::

    dx = A x dt + dW,   E[dW dW^T] = Sigma dt            (Sigma = B B^T, "noise_cov")
    dy = C x dt + dV,   E[dV dV^T] = R dt                (R = observation noise density)

Exact discretisation over a step ``dt`` (Van Loan 1978)::

    expm([[-A, Sigma], [0, A^T]] h) = [[., F12], [0, F22]]
    A_h = F22^T = expm(A h),   Q_h = A_h F12 = int_0^h expm(A s) Sigma expm(A s)^T ds

taken at ``h = dt / 2^s`` with ``||A||_1 h <= 1/2`` (the block holds ``e^{+|lambda| h}``,
which overflows for stiff modes or long steps if taken at ``h = dt``), then doubled
``s`` times: ``Q_{2h} = A_h Q_h A_h^T + Q_h`` (sums of PSD terms, no cancellation).

Steady-state Kalman-Bucy filter: ``P`` solves the continuous algebraic Riccati equation
``A P + P A^T - P C^T R^{-1} C P + Sigma = 0`` and ``K = P C^T R^{-1}``; the posterior
mean obeys ``d mu = (A - K C) mu dt + K dy``. With ``F = A - K C`` and the bin increments
``Delta y_k = y(k dt) - y((k-1) dt)``, the exact one-bin solution is::

    "hold"    (dy/dt constant within the bin):  mu_k = e^{F dt} mu_{k-1} + Phi_1 K Delta y_k / dt
    "impulse" (Delta y_k arrives at the bin end): mu_k = e^{F dt} mu_{k-1} + K Delta y_k

with ``Phi_1 = int_0^dt e^{F u} du`` taken from ``expm([[F, I], [0, 0]] dt)``.

The problem-level Kalman-Bucy posterior of a :class:`bayesnn.processes.LinearGaussianParams`
model (gain, stationary covariance, steady-gain mean, and the time-varying filter of
the sampled grid) is :func:`bayesnn.exact.kalman_bucy.kalman_bucy_posterior`.

Seconds and Hz. Every function here is an exactness claim and refuses float32
(:func:`bayesnn.core.require_x64` raises ``PrecisionError``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from bayesnn.core import validation as v
from bayesnn.core.params import is_traced, to_device
from bayesnn.core.precision import require_x64
from bayesnn.processes.linear_gaussian import LGSSMParams

__all__ = [
    "KalmanFilter",
    "KalmanSmoother",
    "KalmanBucySteadyState",
    "kalman_filter",
    "rts_smoother",
    "discretize_lds",
    "steady_state_kalman_bucy",
    "kalman_bucy_mean",
]

class KalmanFilter(NamedTuple):
    """Result of :func:`kalman_filter`.

    Fields:
        means: (T, D) ``E[x_k | y_1..y_k]``.
        covariances: (T, D, D) ``Cov[x_k | y_1..y_k]``.
        log_marginal_likelihood: () ``log p(y_1..y_T)`` (natural log, density in y).
        predicted_means: (T, D) ``E[x_k | y_1..y_{k-1}]``.
        predicted_covariances: (T, D, D) ``Cov[x_k | y_1..y_{k-1}]``.
    """

    means: jax.Array
    covariances: jax.Array
    log_marginal_likelihood: jax.Array
    predicted_means: jax.Array
    predicted_covariances: jax.Array


class KalmanSmoother(NamedTuple):
    """Result of :func:`rts_smoother`.

    Fields:
        means: (T, D) ``E[x_k | y_1..y_T]``.
        covariances: (T, D, D) ``Cov[x_k | y_1..y_T]``.
    """

    means: jax.Array
    covariances: jax.Array


class KalmanBucySteadyState(NamedTuple):
    """Result of :func:`steady_state_kalman_bucy` (unpacks as ``K, P``).

    Fields:
        gain: (D, M) ``K = P C^T R^{-1}``, units of state per unit of ``y``.
        covariance: (D, D) stabilising solution ``P`` of the filter Riccati equation.
    """

    gain: jax.Array
    covariance: jax.Array


# ----------------------------------------------------------------------------- checks


def _check_lgssm(params, ys) -> None:
    if not isinstance(params, LGSSMParams):
        raise ValueError(f"params must be an LGSSMParams record, got {type(params).__name__}")
    ys = v.as_array("ys", ys, ndim=2)
    v.require_shape("ys", ys, (None, params.n_obs))
    if ys.shape[0] < 1:
        raise ValueError(f"ys must have at least one row (T >= 1), got shape {ys.shape}")


# ----------------------------------------------------------------------------- discrete


@jax.jit
def _filter(A, Q, C, R, m0, P0, ys):
    eye = jnp.eye(A.shape[0], dtype=A.dtype)
    obs_dim = C.shape[0]

    def step(carry, y):
        m, P = carry
        m_pred = A @ m
        P_pred = A @ P @ A.T + Q
        P_pred = 0.5 * (P_pred + P_pred.T)
        S = C @ P_pred @ C.T + R
        S = 0.5 * (S + S.T)
        chol = jnp.linalg.cholesky(S)
        gain = jax.scipy.linalg.cho_solve((chol, True), C @ P_pred).T  # P^- C^T S^{-1}
        resid = y - C @ m_pred
        m_new = m_pred + gain @ resid
        IKC = eye - gain @ C
        P_new = IKC @ P_pred @ IKC.T + gain @ R @ gain.T
        P_new = 0.5 * (P_new + P_new.T)
        white = jax.scipy.linalg.solve_triangular(chol, resid, lower=True)
        log_lik = -0.5 * (obs_dim * jnp.log(2.0 * jnp.pi) + white @ white) - jnp.sum(jnp.log(jnp.diag(chol)))
        return (m_new, P_new), (m_new, P_new, m_pred, P_pred, log_lik)

    _, (means, covs, pred_means, pred_covs, log_liks) = jax.lax.scan(step, (m0, P0), ys)
    return KalmanFilter(means, covs, jnp.sum(log_liks), pred_means, pred_covs)


def _as_jnp(*arrays):
    return tuple(to_device(a, float) for a in arrays)


def kalman_filter(params: LGSSMParams, ys) -> KalmanFilter:
    """Kalman filter for ``x_k = A x_{k-1} + N(0, Q)``, ``y_k = C x_k + N(0, R)``.

    Args:
        params: :class:`bayesnn.processes.LGSSMParams` (A (D, D), Q (D, D) PSD,
            C (M, D), R (M, M) positive definite, m0 (D,), P0 (D, D) PSD).
        ys: (T, M) observations ``y_1..y_T``.

    Returns:
        :class:`KalmanFilter` (means (T, D), covariances (T, D, D),
        log_marginal_likelihood () nats, predicted_means, predicted_covariances).
        Predict-then-update at every step. One ``lax.scan``: jittable, and ``jax.grad`` /
        ``jax.vmap`` work with respect to the record (argument checks are skipped when
        the inputs are traced).

    Raises:
        ValueError: naming ``ys`` (shape, non-finite) or ``params``.
        PrecisionError: in float32 (an exact reference).
    """
    require_x64("kalman_filter")
    if not is_traced(params, ys):
        _check_lgssm(params, ys)
    return _filter(*_as_jnp(params.A, params.Q, params.C, params.R, params.m0, params.P0, ys))


@jax.jit
def _smooth(A, filtered: KalmanFilter):
    def back(carry, item):
        m_next_s, P_next_s = carry
        m, P, m_pred_next, P_pred_next = item
        # P A^T (P^-_{k+1})^+: the Moore-Penrose inverse is exact when P^- is singular (Q, P0
        # PSD): the cross-covariance A P lies in the range of P^- = A P A^T + Q.
        gain = (jnp.linalg.pinv(P_pred_next, hermitian=True) @ (A @ P)).T
        m_s = m + gain @ (m_next_s - m_pred_next)
        P_s = P + gain @ (P_next_s - P_pred_next) @ gain.T
        P_s = 0.5 * (P_s + P_s.T)
        return (m_s, P_s), (m_s, P_s)

    last = (filtered.means[-1], filtered.covariances[-1])
    items = (filtered.means[:-1], filtered.covariances[:-1],
             filtered.predicted_means[1:], filtered.predicted_covariances[1:])
    _, (means, covs) = jax.lax.scan(back, last, items, reverse=True)
    means = jnp.concatenate([means, last[0][None]], axis=0)
    covs = jnp.concatenate([covs, last[1][None]], axis=0)
    return KalmanSmoother(means, covs)


def rts_smoother(params: LGSSMParams, ys) -> KalmanSmoother:
    """Rauch-Tung-Striebel smoother; same arguments as :func:`kalman_filter`.

    Returns:
        :class:`KalmanSmoother` with means (T, D) ``E[x_k | y_1..y_T]`` and covariances
        (T, D, D). Singular predicted covariances (``Q``, ``P0`` only PSD) are handled
        exactly with the Moore-Penrose inverse (eigenvalues below ``10 D eps`` of the
        largest count as zero).
    """
    filtered = kalman_filter(params, ys)
    return _smooth(to_device(params.A, float), filtered)


# ----------------------------------------------------------------------------- continuous


_VAN_LOAN_NORM = 0.5
"""Largest ``||A||_1 h`` at which the Van Loan block is exponentiated directly: its
entries then carry at most ``e^{+0.5}`` (no overflow, rounding ~ e eps)."""


def _van_loan_doubling(A: np.ndarray, sigma: np.ndarray, dt: float) -> np.ndarray:
    """``Q_d = int_0^dt e^{As} Sigma e^{A^T s} ds`` without any ``e^{+|lambda| dt}``.

    The Van Loan block ``[[-A, Sigma], [0, A^T]]`` holds ``e^{+|lambda| dt}`` for every
    stable mode, which overflows for stiff modes or long steps (``A = -1000``,
    ``dt = 1`` s gives NaN). Scaling and squaring of the *pair* instead: Van Loan at
    ``h = dt / 2^s`` with ``||A||_1 h <= 0.5``, then ``s`` doublings
    ``Q_{2h} = e^{Ah} Q_h e^{A^T h} + Q_h``, ``e^{2Ah} = (e^{Ah})^2``. Each doubling adds
    two PSD terms (no cancellation), so the relative error stays O(s eps) for stable A
    (tested to 1e-9 relative against an eigen-decomposition in 60-digit arithmetic)."""
    dim = A.shape[0]
    norm = float(np.max(np.sum(np.abs(A), axis=0))) * dt
    squarings = 0 if norm <= _VAN_LOAN_NORM else int(math.ceil(math.log2(norm / _VAN_LOAN_NORM)))
    h = dt / 2.0 ** squarings
    block = np.zeros((2 * dim, 2 * dim))
    block[:dim, :dim] = -A
    block[:dim, dim:] = sigma
    block[dim:, dim:] = A.T
    F = scipy.linalg.expm(block * h)
    phi = F[dim:, dim:].T
    Q = phi @ F[:dim, dim:]
    for _ in range(squarings):
        Q = phi @ Q @ phi.T + Q
        Q = 0.5 * (Q + Q.T)
        phi = phi @ phi
    return 0.5 * (Q + Q.T)


def discretize_lds(A_cont, noise_cov_cont, dt: float) -> tuple[jax.Array, jax.Array]:
    """Exact discretisation of ``dx = A x dt + dW``, ``E[dW dW^T] = Sigma dt`` (Van Loan
    1978, evaluated by scaling and squaring so that stiff modes and long steps never
    overflow: see :func:`_van_loan_doubling`).

    Args:
        A_cont: (D, D) drift matrix, 1/s.
        noise_cov_cont: (D, D) symmetric PSD diffusion ``Sigma`` (state units^2 per s).
        dt: step, seconds, > 0.

    Returns:
        ``(A, Q)``: (D, D) ``A = expm(A_cont dt)`` and (D, D) ``Q = int_0^dt expm(A_cont s)
        Sigma expm(A_cont s)^T ds``, so that ``x_{k} = A x_{k-1} + N(0, Q)`` exactly.
        E.g. ``discretize_lds([[-1000.0]], [[1.0]], 1.0)`` gives ``Q = (1 - e^-2000)/2000``.

    Raises:
        ValueError: naming ``A_cont``, ``noise_cov_cont`` or ``dt``; ``A_cont`` whose
            growth overflows float64 over ``dt`` (``max Re eig(A) dt > 350``).
        PrecisionError: in float32.
    """
    require_x64("discretize_lds")
    A_cont = v.require_square("A_cont", A_cont)
    dim = A_cont.shape[0]
    sigma = v.require_psd("noise_cov_cont", noise_cov_cont, dim)
    dt = float(v.require_positive("dt", dt, ndim=0))
    growth = float(np.max(np.real(np.linalg.eigvals(A_cont)))) * dt
    if growth > 350.0:  # Q_d grows as e^{2 Re(lambda) dt}: float64 overflows past e^709
        raise ValueError(f"A_cont grows by e^{growth:.4g} over dt = {dt} s: the discretised "
                         "noise overflows float64 (max Re eig(A_cont) dt must be <= 350)")
    A_d = scipy.linalg.expm(A_cont * dt)
    Q_d = _van_loan_doubling(A_cont, sigma, dt)
    return to_device(A_d, float), to_device(Q_d, float)


def steady_state_kalman_bucy(A, B_noise_cov, C, R_density) -> KalmanBucySteadyState:
    """Steady-state Kalman-Bucy gain and covariance (continuous algebraic Riccati eq.).

    Solves ``A P + P A^T - P C^T R^{-1} C P + Sigma = 0`` for the stabilising ``P``
    (``scipy.linalg.solve_continuous_are`` on the dual problem) and returns
    ``K = P C^T R^{-1}``.

    Args:
        A: (D, D) drift, 1/s.
        B_noise_cov: (D, D) symmetric PSD process-noise density ``Sigma = B B^T``.
        C: (M, D) observation matrix.
        R_density: (M, M) symmetric positive-definite observation-noise density.

    Returns:
        :class:`KalmanBucySteadyState` ``(gain (D, M), covariance (D, D))``.
    """
    require_x64("steady_state_kalman_bucy")
    A = v.require_square("A", A)
    dim = A.shape[0]
    sigma = v.require_psd("B_noise_cov", B_noise_cov, dim)
    C = v.as_array("C", C, ndim=2)
    v.require_shape("C", C, (None, dim))
    R = v.require_pd("R_density", R_density, C.shape[0])
    try:
        P = scipy.linalg.solve_continuous_are(A.T, C.T, sigma, R)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise ValueError("A, C must be detectable and (A, B_noise_cov) stabilisable: "
                         f"no stabilising Riccati solution ({error})") from error
    P = 0.5 * (P + P.T)
    K = np.linalg.solve(R, C @ P).T  # P C^T R^{-1} (R symmetric)
    return KalmanBucySteadyState(to_device(K, float), to_device(P, float))


@jax.jit
def _linear_recursion(propagator, drive, mu0):
    def step(mu, u):
        mu = propagator @ mu + u
        return mu, mu

    _, means = jax.lax.scan(step, mu0, drive)
    return means


def kalman_bucy_mean(A, K, C, y_increments, dt: float, mu0, input_convention: str = "hold") -> jax.Array:
    """Steady-gain Kalman-Bucy mean ``d mu = (A - K C) mu dt + K dy``, exactly discretised.

    Args:
        A: (D, D) drift, 1/s.
        K: (D, M) gain (e.g. from :func:`steady_state_kalman_bucy`).
        C: (M, D) observation matrix.
        y_increments: (T, M) ``Delta y_k`` = integral of the observation over bin k
            (for a spike train: spike counts times the per-spike increment).
        dt: bin width, seconds, > 0.
        mu0: (D,) mean at time 0.
        input_convention: ``"hold"`` (default; ``dy/dt`` constant within each bin, exact
            for piecewise-constant ``y``) or ``"impulse"`` (the whole increment arrives at
            the end of the bin, exact for spikes at bin ends).

    Returns:
        (T, D) ``mu(k dt)`` for ``k = 1..T`` (after the bin-k input).
    """
    require_x64("kalman_bucy_mean")
    A = v.require_square("A", A)
    dim = A.shape[0]
    K = v.as_array("K", K, ndim=2)
    v.require_shape("K", K, (dim, None))
    obs_dim = K.shape[1]
    C = v.require_matrix("C", C, (obs_dim, dim))
    increments = v.as_array("y_increments", y_increments, ndim=2)
    v.require_shape("y_increments", increments, (None, obs_dim))
    dt = float(v.require_positive("dt", dt, ndim=0))
    mu0 = v.require_matrix("mu0", mu0, (dim,))
    if input_convention not in ("hold", "impulse"):
        raise ValueError(f"input_convention must be 'hold' or 'impulse', got {input_convention!r}")
    F = A - K @ C
    block = np.zeros((2 * dim, 2 * dim))
    block[:dim, :dim] = F
    block[:dim, dim:] = np.eye(dim)
    E = scipy.linalg.expm(block * dt)
    propagator, integral = E[:dim, :dim], E[:dim, dim:]  # e^{F dt}, int_0^dt e^{F u} du
    input_map = integral @ K / dt if input_convention == "hold" else K
    drive = to_device(increments, float) @ to_device(input_map.T, float)
    return _linear_recursion(*_as_jnp(propagator), drive, *_as_jnp(mu0))
