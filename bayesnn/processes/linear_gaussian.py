r"""Linear-Gaussian generative models: parameter records and exact sampling.

**Continuous time** (:class:`LinearGaussianParams`; time in s, ``D`` latent dimensions,
``M`` observations)::

    latent        dz = A z dt + dW,   E[dW dW^T] = Q dt     (Q: density, [z]^2 / s)
    observation   dy = C z dt + dV,   E[dV dV^T] = R dt     (R > 0: density, [y]^2 s)
    z(0) ~ N(m0, P0)                                        (default: stationary prior)

**Discrete time** (:class:`LGSSMParams`)::

    x_0 ~ N(m0, P0),   x_k = A x_{k-1} + N(0, Q),   y_k = C x_k + N(0, R),   k = 1..T

Like :class:`bayesnn.processes.MMPPParams` these records hold data and checks only, so
the samplers, the exact references (:mod:`bayesnn.exact.kalman`,
:mod:`bayesnn.exact.kalman_bucy`), the NumPyro model (:mod:`bayesnn.numpyro_models.lgssm`)
and the spiking Kalman filter (:mod:`bayesnn.posteriors.kalman`) share the parameters
without sharing computation.

**Sampling** (:func:`sample_linear_gaussian`) on the grid ``t_k = k dt``: the exact
(Van Loan 1978) discretisation ``z_k = A_d z_{k-1} + N(0, Q_d)`` with
``expm([[A, Q], [0, -A^T]] h) = [[e^{Ah}, G], [0, .]]``, ``Q_h = G e^{A^T h}`` at a step
``h = dt / 2^s`` short enough that no block entry overflows, doubled s times
(``Q_{2h} = e^{Ah} Q_h e^{A^T h} + Q_h``), and the bin increments ``dy_k = C z_k dt + sqrt(dt) R^{1/2} xi_k``.
This discretisation is written here independently of
:func:`bayesnn.exact.kalman.discretize_lds` (tests compare the two to 1e-13).
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from bayesnn.core.keys import KeyLike, as_key, trial_keys
from bayesnn.core.params import as_leaf, is_traced, params_record, to_device
from bayesnn.core.precision import warn_if_float32
from bayesnn.core.validation import (
    require_hurwitz,
    require_int,
    require_matrix,
    require_pd,
    require_positive,
    require_psd,
    require_square,
)

__all__ = ["LGSSMParams", "LinearGaussianParams", "LinearGaussianTrial", "ou_params",
           "oscillator_params", "sample_linear_gaussian", "sample_linear_gaussian_trials"]


def _check_fields(A, Q, C, R, m0, P0, stationary_default: bool) -> dict:
    A = require_square("A", A)
    dim = A.shape[0]
    Q = require_psd("Q", Q, dim)
    C = require_matrix("C", C, (None, dim))
    if C.shape[0] < 1:
        raise ValueError(f"C must have at least one row, got shape {C.shape}")
    R = require_pd("R", R, C.shape[0])
    m0 = np.zeros(dim) if m0 is None else require_matrix("m0", m0, (dim,))
    if P0 is None:
        if not stationary_default:
            raise ValueError("P0 must be given (the prior covariance of x_0)")
        require_hurwitz("A", A)  # the stationary prior exists only for a stable latent
        P0 = scipy.linalg.solve_continuous_lyapunov(A, -Q)
    P0 = require_psd("P0", P0, dim)
    return {name: as_leaf(value) for name, value in
            (("A", A), ("Q", Q), ("C", C), ("R", R), ("m0", m0), ("P0", P0))}


class _Dims:
    A: jax.Array
    C: jax.Array

    @property
    def n_dims(self) -> int:
        """D, the latent dimension (static)."""
        return int(self.A.shape[-1])

    @property
    def n_obs(self) -> int:
        """M, the observation dimension (static)."""
        return int(self.C.shape[-2])


@params_record
class LinearGaussianParams(_Dims):
    """Continuous-time linear-Gaussian latent observed in white noise (module docstring).

    Fields:
        A: (D, D) latent drift, 1/s (Hurwitz if ``P0`` is not given).
        Q: (D, D) symmetric PSD process-noise density, [z]^2 / s.
        C: (M, D) observation matrix, [y] / [z].
        R: (M, M) symmetric positive-definite observation-noise density, [y]^2 s.
        m0: (D,) prior mean of z(0) (default 0).
        P0: (D, D) PSD prior covariance of z(0) (default: stationary,
            ``A P0 + P0 A^T + Q = 0``).

    Raises:
        ValueError: naming the field, for shapes that do not agree, a Q / P0 not
            symmetric PSD, an R not positive definite, or (default P0) A not Hurwitz.
    """

    A: jax.Array
    Q: jax.Array
    C: jax.Array
    R: jax.Array
    m0: jax.Array = None
    P0: jax.Array = None

    def _validate(self) -> dict:
        return _check_fields(self.A, self.Q, self.C, self.R, self.m0, self.P0, True)


@params_record
class LGSSMParams(_Dims):
    """Discrete-time linear-Gaussian state-space model (module docstring).

    Fields:
        A: (D, D) transition. Q: (D, D) symmetric PSD process-noise covariance.
        C: (M, D) observation matrix. R: (M, M) symmetric positive-definite
        observation-noise covariance. m0: (D,) mean of x_0. P0: (D, D) PSD covariance
        of x_0.

    Raises:
        ValueError: naming the field, for shapes that do not agree, Q / P0 not
            symmetric PSD or R not positive definite.
    """

    A: jax.Array
    Q: jax.Array
    C: jax.Array
    R: jax.Array
    m0: jax.Array
    P0: jax.Array

    def _validate(self) -> dict:
        return _check_fields(self.A, self.Q, self.C, self.R, self.m0, self.P0, False)


def ou_params(tau: float = 0.2, sigma: float = 2.0, obs_noise: float = 0.2) -> LinearGaussianParams:
    """1-D Ornstein-Uhlenbeck latent seen directly in white noise.

    ``dz = -z / tau dt + sigma dW``, ``dy = z dt + obs_noise dV``: ``A = -1/tau`` (1/s),
    ``Q = sigma^2``, ``C = 1``, ``R = obs_noise^2``; stationary prior
    ``N(0, sigma^2 tau / 2)``. The Kalman-Bucy filter has the closed form
    ``F = -sqrt(1/tau^2 + sigma^2 / obs_noise^2)``, ``K = -F - 1/tau``,
    ``P = obs_noise^2 K``; defaults (tau = 0.2 s, sigma = 2, obs_noise = 0.2):
    F = -11.18 1/s, K = 6.18, P = 0.247 (posterior std 0.50 vs prior std 0.63).
    """
    tau = float(require_positive("tau", tau, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    obs_noise = float(require_positive("obs_noise", obs_noise, ndim=0))
    return LinearGaussianParams([[-1.0 / tau]], [[sigma**2]], [[1.0]], [[obs_noise**2]])


def oscillator_params(frequency: float = 1.0, decay: float = 1.0, sigma: float = 1.0,
                      obs_noise: float = 0.1) -> LinearGaussianParams:
    """2-D damped stochastic oscillator, first coordinate observed.

    ``A = [[-decay, -omega], [omega, -decay]]`` (1/s) with ``omega = 2 pi frequency``,
    ``Q = sigma^2 I``, ``C = [[1, 0]]``, ``R = obs_noise^2``; stationary prior
    ``N(0, sigma^2 / (2 decay) I)``. A normal matrix (``||e^{At}|| = e^{-decay t}``, no
    transient amplification), observable from the first coordinate for any
    ``omega > 0``; the NumPyro model's ``oscillator_lgssm`` is its exact discretisation.
    Defaults: eig F = -6.59 +/- 5.65i 1/s, posterior std (0.33, 0.44) vs prior 0.71.
    """
    frequency = float(require_positive("frequency", frequency, ndim=0))
    decay = float(require_positive("decay", decay, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    obs_noise = float(require_positive("obs_noise", obs_noise, ndim=0))
    w = 2 * math.pi * frequency
    return LinearGaussianParams([[-decay, -w], [w, -decay]], sigma**2 * np.eye(2), [[1.0, 0.0]],
                                [[obs_noise**2]])


# ----------------------------------------------------------------------------- sampling
class LinearGaussianTrial(NamedTuple):
    """One sampled trial on the grid ``t_k = k dt``, k = 1..T (a leading trial axis on
    every field when batched).

    Fields:
        times: (T,) grid times, s.
        latent: (T, D) z(t_k).
        dy: (T, M) observation increments over ``(t_{k-1}, t_k]``, [y].
        z0: (D,) z(0).
        dt: () grid step, s.
    """

    times: jax.Array
    latent: jax.Array
    dy: jax.Array
    z0: jax.Array
    dt: jax.Array


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    """L with L L^T = S for a PSD S (eigen-decomposition; Cholesky fails on singular S)."""
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return V * np.sqrt(np.clip(w, 0.0, None))


def _van_loan(A: np.ndarray, Q: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """``(A_d, Q_d)`` by the forward Van Loan block at a short step, then doubling.

    ``expm([[A, Q], [0, -A^T]] h) = [[e^{Ah}, G], [0, e^{-A^T h}]]``, ``Q_h = G e^{A^T h}``,
    at ``h = dt / 2^s`` with ``max_i sum_j |A_ij| h <= 1/4`` (so ``e^{-A^T h}`` never
    overflows, whatever the stiffness or the step), then ``Q_{2h} = e^{Ah} Q_h e^{A^T h}
    + Q_h`` s times (PSD sums, no cancellation)."""
    dim = A.shape[0]
    norm = float(np.max(np.sum(np.abs(A), axis=1))) * dt
    squarings = 0 if norm <= 0.25 else int(math.ceil(math.log2(norm / 0.25)))
    h = dt / 2.0 ** squarings
    block = np.zeros((2 * dim, 2 * dim))
    block[:dim, :dim] = A
    block[:dim, dim:] = Q
    block[dim:, dim:] = -A.T
    F = scipy.linalg.expm(block * h)
    step = F[:dim, :dim]
    Q_d = F[:dim, dim:] @ step.T
    for _ in range(squarings):
        Q_d = step @ Q_d @ step.T + Q_d
        step = step @ step
    return scipy.linalg.expm(A * dt), 0.5 * (Q_d + Q_d.T)


@partial(jax.jit, static_argnames=("n_steps",))
def _sample_core(key, Ad, Lq, C, Lr, m0, L0, z0_given, use_given, dt, *, n_steps: int):
    k0, kw, kv = jax.random.split(key, 3)
    D, M = Ad.shape[0], C.shape[0]
    drawn = m0 + L0 @ jax.random.normal(k0, (D,), Ad.dtype)
    z0 = jnp.where(use_given, z0_given, drawn)
    w = jax.random.normal(kw, (n_steps, D), Ad.dtype) @ Lq.T
    v = jax.random.normal(kv, (n_steps, M), Ad.dtype) @ (jnp.sqrt(dt) * Lr).T

    def step(z, wk):
        z = Ad @ z + wk
        return z, z

    _, zs = jax.lax.scan(step, z0, w)
    times = dt * jnp.arange(1, n_steps + 1, dtype=Ad.dtype)
    return LinearGaussianTrial(times, zs, zs @ C.T * dt + v, z0, dt)


def _prepare(params, dt, n_steps, z0):
    if not isinstance(params, LinearGaussianParams) or is_traced(params):
        raise ValueError("params must be a concrete LinearGaussianParams record, got "
                         f"{type(params).__name__}")
    warn_if_float32("linear-Gaussian sampling")
    dt = float(require_positive("dt", dt, ndim=0))
    n_steps = require_int("n_steps", n_steps, minimum=1)
    A, Q, C, R = (np.asarray(a, float) for a in (params.A, params.Q, params.C, params.R))
    Ad, Qd = _van_loan(A, Q, dt)
    f = jnp.result_type(float)
    use_given = z0 is not None
    z0 = np.zeros(params.n_dims) if z0 is None else require_matrix("z0", z0, (params.n_dims,))
    arrays = (Ad, _psd_sqrt(Qd), C, np.linalg.cholesky(R), np.asarray(params.m0),
              _psd_sqrt(np.asarray(params.P0)), z0)
    # to_device: host arrays in without an XLA program each (jnp.asarray compiles one)
    return tuple(to_device(a, f) for a in arrays) + (use_given, to_device(dt, f)), n_steps


def sample_linear_gaussian(params: LinearGaussianParams, *, key: KeyLike, dt: float,
                           n_steps: int, z0=None) -> LinearGaussianTrial:
    """Sample the latent exactly on the grid ``t_k = k dt`` and the observation
    increments (module docstring).

    Args:
        params: :class:`LinearGaussianParams`.
        key: int seed or JAX PRNG key (one per trial).
        dt: grid step, s, > 0.
        n_steps: T >= 1.
        z0: (D,) initial latent; default a draw from ``N(m0, P0)``.

    Returns:
        :class:`LinearGaussianTrial` (times (T,), latent (T, D), dy (T, M), z0 (D,), dt).

    Raises:
        ValueError: naming the argument, for bad input.
    """
    arrays, n_steps = _prepare(params, dt, n_steps, z0)
    return _sample_core(as_key(key), *arrays, n_steps=n_steps)


def sample_linear_gaussian_trials(params: LinearGaussianParams, *, key: KeyLike, n_trials: int,
                                  dt: float, n_steps: int) -> LinearGaussianTrial:
    """``n_trials`` trials; trial k equals ``sample_linear_gaussian(params,
    key=fold_in(key, k), ...)`` bit for bit. Fields gain a leading trial axis."""
    arrays, n_steps = _prepare(params, dt, n_steps, None)
    keys = trial_keys(key, n_trials)
    return jax.vmap(lambda k: _sample_core(k, *arrays, n_steps=n_steps))(keys)
