r"""Exact Kalman-Bucy posterior of a continuous-time linear-Gaussian model.

Model (:class:`bayesnn.processes.LinearGaussianParams`, time in s)::

    dz = A z dt + dW,  E[dW dW^T] = Q dt;     dy = C z dt + dV,  E[dV dV^T] = R dt

observed through the bin increments ``dy_k = y(k dt) - y((k-1) dt)``.

**Steady state.** ``P`` is the stabilising solution of
``A P + P A^T - P C^T R^{-1} C P + Q = 0`` (the stationary posterior covariance, data
independent), ``K = P C^T R^{-1}`` and the mean obeys ``d mu = F mu dt + K dy`` with
``F = A - K C`` (Hurwitz), discretised exactly for increments arriving at bin ends
(the "impulse" convention of :func:`bayesnn.exact.kalman.kalman_bucy_mean`)::

    mu_k = e^{F dt} mu_{k-1} + K dy_k .

**Time-varying filter of the sampled grid** (``time_varying=True``): the discrete model
:func:`sampled_lgssm` (``A_d, Q_d`` the exact Van Loan discretisation,
``y_k = dy_k / dt`` with covariance ``R / dt``, prior ``N(m0, P0)``) filtered by
:func:`bayesnn.exact.kalman.kalman_filter`: exact Bayes for the grid, O(T D^3). It
converges to the steady-state mean and covariance up to O(dt).

References: Kalman & Bucy (1961); Van Loan (1978) for the discretisation. This module
imports no model code (it is the reference the spiking Kalman filter of
:mod:`bayesnn.posteriors.kalman` is checked against).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayesnn.core import validation as v
from bayesnn.core.precision import require_x64
from bayesnn.exact.kalman import (
    discretize_lds,
    kalman_bucy_mean,
    kalman_filter,
    steady_state_kalman_bucy,
)
from bayesnn.processes.linear_gaussian import LGSSMParams, LinearGaussianParams

__all__ = ["KalmanBucyPosterior", "kalman_bucy_posterior", "sampled_lgssm"]


class KalmanBucyPosterior(NamedTuple):
    """Output of :func:`kalman_bucy_posterior` (grid ``t_k = k dt``, k = 1..T).

    Fields:
        gain: (D, M) steady-state gain K, [z] / [y].
        covariance: (D, D) stationary posterior covariance P, [z]^2.
        generator: (D, D) F = A - K C, 1/s (Hurwitz).
        means: (T, D) steady-gain posterior mean mu_k, [z].
        tv_means: (T, D) time-varying discrete Kalman filter means, or None.
        tv_covariances: (T, D, D) its covariances, or None.
    """

    gain: np.ndarray
    covariance: np.ndarray
    generator: np.ndarray
    means: np.ndarray
    tv_means: np.ndarray | None
    tv_covariances: np.ndarray | None


def _check_params(params) -> LinearGaussianParams:
    if not isinstance(params, LinearGaussianParams):
        raise ValueError("params must be a LinearGaussianParams record (bayesnn.processes), "
                         f"got {type(params).__name__}")
    return params


def sampled_lgssm(params: LinearGaussianParams, dt: float) -> LGSSMParams:
    """The discrete model of the grid ``t_k = k dt`` with observations ``y_k = dy_k / dt``:
    ``A_d = expm(A dt)``, ``Q_d`` (Van Loan), ``C``, ``R / dt``, prior ``(m0, P0)``.

    Raises:
        ValueError: naming ``params`` or ``dt``. PrecisionError: in float32.
    """
    require_x64("sampled_lgssm")
    params = _check_params(params)
    dt = float(v.require_positive("dt", dt, ndim=0))
    Ad, Qd = discretize_lds(params.A, params.Q, dt)
    return LGSSMParams(Ad, Qd, params.C, np.asarray(params.R) / dt, params.m0, params.P0)


def kalman_bucy_posterior(params: LinearGaussianParams, dy, *, dt: float, mu0=None,
                          time_varying: bool = False) -> KalmanBucyPosterior:
    """Exact steady-state Kalman-Bucy posterior (and optionally the time-varying filter).

    Args:
        params: :class:`bayesnn.processes.LinearGaussianParams`.
        dy: (T, M) observation increments (e.g. ``LinearGaussianTrial.dy``), [y].
        dt: bin width, s, > 0.
        mu0: (D,) mean at t = 0 (default ``params.m0``).
        time_varying: also run the discrete Kalman filter of the sampled model
            (:func:`sampled_lgssm`): exact Bayes for the grid, O(T D^3).

    Returns:
        :class:`KalmanBucyPosterior`.

    Raises:
        ValueError: naming the argument (``params``, ``dy``, ``dt``, ``mu0``), or if no
            stabilising Riccati solution exists. PrecisionError: in float32.
    """
    require_x64("kalman_bucy_posterior")
    params = _check_params(params)
    dt = float(v.require_positive("dt", dt, ndim=0))
    dy = v.require_matrix("dy", dy, (None, params.n_obs))
    if dy.shape[0] < 1:
        raise ValueError("dy must have at least one row (T >= 1)")
    mu0 = np.asarray(params.m0) if mu0 is None else v.require_matrix("mu0", mu0, (params.n_dims,))
    A, C = np.asarray(params.A), np.asarray(params.C)
    K, P = (np.asarray(a) for a in steady_state_kalman_bucy(A, params.Q, C, params.R))
    F = A - K @ C
    means = np.asarray(kalman_bucy_mean(A, K, C, dy, dt, mu0, input_convention="impulse"))
    tv_m = tv_P = None
    if time_varying:
        filtered = kalman_filter(sampled_lgssm(params, dt), dy / dt)
        tv_m, tv_P = np.asarray(filtered.means), np.asarray(filtered.covariances)
    return KalmanBucyPosterior(K, P, F, means, tv_m, tv_P)

