r"""Linear-Gaussian state-space model in NumPyro, with exact posteriors.

Model (same convention as ``bayesnn.exact.kalman``; ``x_0`` is never observed)::

    x_0 ~ N(m0, P0)
    x_k = A x_{k-1} + w_k,   w_k ~ N(0, Q)        k = 1..T   (D-dimensional state)
    y_k = C x_k + v_k,       v_k ~ N(0, R)                   (M-dimensional observation)

:func:`lgssm_model` writes it with :func:`numpyro.contrib.control_flow.scan`. Parameters
come as the shared data-only record :class:`bayesnn.processes.LGSSMParams` (first
argument of every function); the exact-claim functions refuse float32.

**Exact posterior from NumPyro's own log density** (:func:`lgssm_posterior`). The joint
log density ``f(z) = log p(z, y)`` of all latents ``z = (x_0, x_1..x_T)`` (dimension
``n = (T+1) D``), as returned by :func:`numpyro.infer.util.log_density`, is exactly
quadratic, so with ``g = grad f(0)`` and ``H = hess f`` (constant):

.. math::

    p(z \mid y) = \mathcal N\bigl(z^*, (-H)^{-1}\bigr), \quad z^* = (-H)^{-1} g, \qquad
    \log p(y) = f(z^*) + \tfrac n2 \log 2\pi - \tfrac12 \log\det(-H)

(Laplace's formula is exact for a Gaussian). This uses no Kalman recursion at all, so it
is an independent check of one; cost ``O(n^3)``, for short series. Filtered moments are
the last-step moments of each prefix (later observations masked out).

**Kalman filter and RTS smoother in JAX** (:func:`kalman_filter`, :func:`rts_smoother`),
for long series: predict ``m^- = A m``, ``P^- = A P A^T + Q``; update with
``S = C P^- C^T + R``, ``K = P^- C^T S^{-1}``, ``m = m^- + K (y - C m^-)``,
``P = (I - K C) P^- (I - K C)^T + K R K^T`` (Joseph form);
``log p(y) = sum_k log N(y_k; C m_k^-, S_k)``. RTS: ``G_k = P_k A^T (P_{k+1}^-)^+`` (Moore-Penrose: exact for singular ``P^-``),
``m^s_k = m_k + G_k (m^s_{k+1} - m^-_{k+1})``, ``P^s_k = P_k + G_k (P^s_{k+1} - P^-_{k+1}) G_k^T``.

**Scalar steady state** (:func:`scalar_steady_state`): for ``D = M = 1`` the predicted
variance converges to the positive root of the discrete algebraic Riccati equation

.. math::

    c^2 P^2 + \bigl(r (1 - a^2) - q c^2\bigr) P - q r = 0, \qquad
    P_{filt} = \frac{P r}{c^2 P + r}, \quad K = \frac{P c}{c^2 P + r}.

**Latent processes.** OU: ``dx = -x/tau dt + sigma dW`` gives ``A = exp(-dt/tau)``,
``Q = sigma^2 tau/2 (1 - exp(-2 dt/tau))``. Damped oscillator (rotation at ``omega =
2 pi f`` with decay ``lam``): ``dx = [[-lam, -omega], [omega, -lam]] x dt + sigma dW``
gives ``A = exp(-lam dt) Rot(omega dt)``, ``Q = sigma^2 (1 - exp(-2 lam dt)) / (2 lam) I``
(exact discretisations; the stationary covariances are ``sigma^2 tau / 2`` and
``sigma^2 / (2 lam) I``). Units: seconds, Hz, state units arbitrary.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.contrib.control_flow import scan
from numpyro.infer.util import log_density

from bayesnn.core.params import is_traced
from bayesnn.core.precision import require_x64
from bayesnn.core.validation import as_array, require_pd, require_positive
from bayesnn.processes.linear_gaussian import LGSSMParams

__all__ = [
    "LGSSMFilter",
    "LGSSMPosterior",
    "LGSSMSmoother",
    "ScalarSteadyState",
    "kalman_filter",
    "lgssm_filtered_dense",
    "lgssm_model",
    "lgssm_posterior",
    "oscillator_lgssm",
    "ou_lgssm",
    "rts_smoother",
    "scalar_steady_state",
]


class LGSSMPosterior(NamedTuple):
    """Posterior marginals of ``x_1..x_T``: ``means (T, D)``, ``covariances (T, D, D)``,
    and ``log_marginal_likelihood`` log p(y_1..y_T) (nats)."""

    means: jax.Array
    covariances: jax.Array
    log_marginal_likelihood: jax.Array


class LGSSMFilter(NamedTuple):
    """Kalman filter: filtered ``means (T, D)``, ``covariances (T, D, D)``, predicted
    ``predicted_means (T, D)``, ``predicted_covariances (T, D, D)``, and
    ``log_marginal_likelihood``."""

    means: jax.Array
    covariances: jax.Array
    predicted_means: jax.Array
    predicted_covariances: jax.Array
    log_marginal_likelihood: jax.Array


class LGSSMSmoother(NamedTuple):
    """RTS smoother: smoothed ``means (T, D)`` and ``covariances (T, D, D)``."""

    means: jax.Array
    covariances: jax.Array


class ScalarSteadyState(NamedTuple):
    """Scalar steady state: ``predicted_variance``, ``filtered_variance``, ``gain``."""

    predicted_variance: float
    filtered_variance: float
    gain: float


# --------------------------------------------------------------------------- construction
def ou_lgssm(tau: float, sigma: float, dt: float, obs_std: float) -> LGSSMParams:
    """Scalar OU latent (time constant ``tau`` s, diffusion ``sigma`` per sqrt(s)) seen
    directly in Gaussian noise of std ``obs_std``; stationary start ``N(0, sigma^2 tau/2)``."""
    tau = float(require_positive("tau", tau, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    obs_std = float(require_positive("obs_std", obs_std, ndim=0))
    a = math.exp(-dt / tau)
    q = sigma ** 2 * tau / 2.0 * -math.expm1(-2.0 * dt / tau)
    return LGSSMParams([[a]], [[q]], [[1.0]], [[obs_std ** 2]], [0.0],
                       [[sigma ** 2 * tau / 2.0]])


def oscillator_lgssm(frequency: float, decay: float, sigma: float, dt: float,
                     obs_std: float) -> LGSSMParams:
    """2-D damped stochastic oscillator (``frequency`` Hz, ``decay`` 1/s, diffusion
    ``sigma``), first coordinate observed with noise std ``obs_std``; stationary start."""
    frequency = float(require_positive("frequency", frequency, ndim=0))
    decay = float(require_positive("decay", decay, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    obs_std = float(require_positive("obs_std", obs_std, ndim=0))
    angle = 2.0 * math.pi * frequency * dt
    shrink = math.exp(-decay * dt)
    A = shrink * np.array([[math.cos(angle), -math.sin(angle)],
                           [math.sin(angle), math.cos(angle)]])
    q = sigma ** 2 * -math.expm1(-2.0 * decay * dt) / (2.0 * decay)
    stationary = sigma ** 2 / (2.0 * decay)
    return LGSSMParams(A, q * np.eye(2), [[1.0, 0.0]], [[obs_std ** 2]], np.zeros(2),
                       stationary * np.eye(2))


def _check(params, ys, dense: bool) -> jax.Array:
    """Validated observations (T >= 1, M) as a JAX array; ``dense`` also needs Q and P0
    positive definite (NumPyro's MultivariateNormal sites). Skipped when traced."""
    require_x64("bayesnn.numpyro_models.lgssm")
    if not isinstance(params, LGSSMParams):
        raise ValueError(f"params must be an LGSSMParams record, got {type(params).__name__}")
    if is_traced(params, ys):
        return ys
    ys = as_array("ys", ys, ndim=2)
    if ys.shape[1] != params.n_obs or ys.shape[0] < 1:
        raise ValueError(f"ys must have shape (T >= 1, M = {params.n_obs}), got {ys.shape}")
    if dense:
        require_pd("Q", params.Q, params.n_dims)
        require_pd("P0", params.P0, params.n_dims)
    return jnp.asarray(ys)


# --------------------------------------------------------------------------- NumPyro model
def lgssm_model(params: LGSSMParams, ys, obs_mask=None) -> None:
    """NumPyro model; sites ``x_0 (D,)``, scanned ``x (T, D)`` and observed ``y (T, M)``.

    ``obs_mask`` ``(T,)`` bool drops the likelihood of masked steps (prefixes).
    """
    n_steps = ys.shape[0]
    if obs_mask is None:
        obs_mask = jnp.ones(n_steps, dtype=bool)
    x_0 = numpyro.sample("x_0", dist.MultivariateNormal(params.m0, params.P0))

    def step(x_prev, inputs):
        y, mask = inputs
        x = numpyro.sample("x", dist.MultivariateNormal(params.A @ x_prev, params.Q))
        with handlers.mask(mask=mask):
            numpyro.sample("y", dist.MultivariateNormal(params.C @ x, params.R), obs=y)
        return x, None

    scan(step, x_0, (ys, obs_mask))


def _dense_posterior(params, ys, obs_mask):
    n_steps, dim = ys.shape[0], params.A.shape[0]
    size = (n_steps + 1) * dim

    def joint(z):
        latents = {"x_0": z[:dim], "x": z[dim:].reshape(n_steps, dim)}
        value, _ = log_density(lgssm_model, (params, ys, obs_mask), {}, latents)
        return value

    zero = jnp.zeros(size, dtype=ys.dtype)
    gradient = jax.grad(joint)(zero)
    precision = -jax.hessian(joint)(zero)
    precision = 0.5 * (precision + precision.T)
    factor = jax.scipy.linalg.cho_factor(precision, lower=True)
    mode = jax.scipy.linalg.cho_solve(factor, gradient)
    covariance = jax.scipy.linalg.cho_solve(factor, jnp.eye(size, dtype=ys.dtype))
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(factor[0])))
    log_evidence = joint(mode) + 0.5 * size * jnp.log(2.0 * jnp.pi) - 0.5 * log_det
    blocks = covariance.reshape(n_steps + 1, dim, n_steps + 1, dim)
    index = jnp.arange(1, n_steps + 1)
    covs = blocks[index, :, index, :]
    return mode.reshape(n_steps + 1, dim)[1:], covs, log_evidence


_dense_posterior_jit = jax.jit(_dense_posterior)


def lgssm_posterior(params: LGSSMParams, ys) -> LGSSMPosterior:
    """Exact smoothed posterior of ``x_1..x_T`` from NumPyro's joint log density.

    Args:
        params: :class:`bayesnn.processes.LGSSMParams` (Q and P0 positive definite).
        ys: (T, M) observations.
    Dense, O((T D)^3). Raises ValueError naming the argument; PrecisionError in float32.
    """
    ys = _check(params, ys, dense=True)
    means, covs, log_evidence = _dense_posterior_jit(params, ys, None)
    return LGSSMPosterior(means, covs, log_evidence)


def lgssm_filtered_dense(params: LGSSMParams, ys) -> LGSSMPosterior:
    """Exact filtered moments ``p(x_k | y_1..y_k)`` from NumPyro's log density, one
    masked prefix per ``k``; ``log_marginal_likelihood`` is that of the full series.
    Cost ``O(T (T D)^3)``: for short series (tests)."""
    ys = _check(params, ys, dense=True)
    means, covs, evidences = _dense_prefixes(params, ys)
    return LGSSMPosterior(means, covs, evidences[-1])


@jax.jit
def _dense_prefixes(params, ys):
    """Dense posterior of every masked prefix (module level: compiled once per shape)."""
    n_steps = ys.shape[0]

    def prefix(k):
        mask = jnp.arange(n_steps) <= k
        means, covs, log_evidence = _dense_posterior(params, ys, mask)
        return means[k], covs[k], log_evidence

    return jax.vmap(prefix)(jnp.arange(n_steps))


# --------------------------------------------------------------------------- recursions
@jax.jit
def _kalman(params, ys):
    A, Q, C, R = params.A, params.Q, params.C, params.R
    eye = jnp.eye(A.shape[0], dtype=ys.dtype)

    def step(carry, y):
        mean, cov, total = carry
        pred_mean = A @ mean
        pred_cov = A @ cov @ A.T + Q
        innovation_cov = C @ pred_cov @ C.T + R
        gain = jnp.linalg.solve(innovation_cov, C @ pred_cov).T
        innovation = y - C @ pred_mean
        new_mean = pred_mean + gain @ innovation
        joseph = eye - gain @ C
        new_cov = joseph @ pred_cov @ joseph.T + gain @ R @ gain.T
        total = total + dist.MultivariateNormal(C @ pred_mean, innovation_cov).log_prob(y)
        return (new_mean, new_cov, total), (new_mean, new_cov, pred_mean, pred_cov)

    init = (params.m0, params.P0, jnp.zeros((), dtype=ys.dtype))
    (_, _, total), outputs = jax.lax.scan(step, init, ys)
    return LGSSMFilter(*outputs, total)


def kalman_filter(params: LGSSMParams, ys) -> LGSSMFilter:
    """Kalman filter (JAX scan) of ``ys (T, M)`` under ``params`` (module docstring);
    jittable and differentiable with respect to the record."""
    return _kalman(params, _check(params, ys, dense=False))


@jax.jit
def _rts(params, filtered: LGSSMFilter):
    def step(carry, inputs):
        next_mean, next_cov = carry
        mean, cov, pred_mean_next, pred_cov_next = inputs
        # Moore-Penrose inverse: exact when the predicted covariance is singular (Q, P0 PSD).
        gain = (jnp.linalg.pinv(pred_cov_next, hermitian=True) @ (params.A @ cov)).T
        mean_s = mean + gain @ (next_mean - pred_mean_next)
        cov_s = cov + gain @ (next_cov - pred_cov_next) @ gain.T
        return (mean_s, 0.5 * (cov_s + cov_s.T)), (mean_s, cov_s)

    last = (filtered.means[-1], filtered.covariances[-1])
    inputs = (filtered.means[:-1], filtered.covariances[:-1], filtered.predicted_means[1:],
              filtered.predicted_covariances[1:])
    _, (means, covs) = jax.lax.scan(step, last, inputs, reverse=True)
    return LGSSMSmoother(jnp.concatenate([means, last[0][None]]),
                         jnp.concatenate([covs, last[1][None]]))


def rts_smoother(params: LGSSMParams, ys) -> LGSSMSmoother:
    """Rauch-Tung-Striebel smoother (JAX scan) of ``ys (T, M)`` under ``params``."""
    return _rts(params, kalman_filter(params, ys))


def scalar_steady_state(a: float, q: float, c: float, r: float) -> ScalarSteadyState:
    """Closed-form steady state of the scalar Kalman filter (module docstring).

    ``a`` any real, ``q, r > 0`` variances, ``c != 0``. Positive root
    ``P = (sqrt(b^2 + 4 c^2 q r) - b) / (2 c^2)``, ``b = r (1 - a^2) - q c^2``, evaluated as
    ``2 q r / (sqrt(b^2 + 4 c^2 q r) + b)`` when ``b > 0`` (no cancellation).
    """
    a = float(as_array("a", a, ndim=0))
    q = float(require_positive("q", q, ndim=0))
    r = float(require_positive("r", r, ndim=0))
    c = float(as_array("c", c, ndim=0))
    if c == 0.0:
        raise ValueError("c must be non-zero")
    b = r * (1.0 - a * a) - q * c * c
    disc = math.sqrt(b * b + 4.0 * c * c * q * r)
    predicted = (disc - b) / (2.0 * c * c) if b <= 0 else 2.0 * q * r / (disc + b)
    filtered = predicted * r / (c * c * predicted + r)
    gain = predicted * c / (c * c * predicted + r)
    return ScalarSteadyState(predicted, filtered, gain)
