r"""A spiking Kalman filter, measured against the exact Kalman-Bucy posterior.

Generative model (time in seconds; ``D`` latent dimensions, ``M`` observations)::

    latent        dz = A z dt + dW,       E[dW dW^T] = Q dt       (Q: density, [z]^2 / s)
    observation   dy = C z dt + dV,       E[dV dV^T] = R dt       (R > 0: density, [y]^2 s)

Sampling on a grid ``t_k = k dt`` uses the exact (Van Loan) discretisation
``z_k = A_d z_{k-1} + N(0, Q_d)`` (:func:`bayesnn.exact.kalman.discretize_lds`) and the
bin increments ``dy_k = C z_k dt + sqrt(dt) R^{1/2} xi_k``, ``xi_k ~ N(0, I)``.

**Exact posterior.** The steady-state Kalman-Bucy filter has the stabilising solution
``P`` of ``A P + P A^T - P C^T R^{-1} C P + Q = 0`` (the stationary posterior covariance,
data independent), gain ``K = P C^T R^{-1}`` and mean::

    d mu = F mu dt + K dy,        F = A - K C   (Hurwitz)

discretised exactly for increments arriving at bin ends ("impulse" convention of
:func:`bayesnn.exact.kalman.kalman_bucy_mean`)::

    mu_k = e^{F dt} mu_{k-1} + K dy_k .

The time-varying discrete Kalman filter of the sampled model (``y_k = dy_k / dt`` with
covariance ``R / dt``) converges to the same mean and covariance up to O(dt); the tests
show it, and NumPyro's dense LGSSM posterior (:mod:`bayesnn.numpyro_models.lgssm`) gives
the same filtered moments on a short run.

**Spiking network.** A B13 network (:mod:`bayesnn.scn`) tracks the target
``dx/dt = A_net x + c(t)`` in the discrete form ``x_{k+1} = x_k + dt (A_net x_k + c_k)``.
We use::

    A_net = (e^{F dt} - I) / dt      (= F + O(dt F^2): the Euler-consistent generator)
    c_k   = K dy_{k+1} / dt           (the observation increments, not a rate estimate)

so the network's own target *is* ``mu_k`` to round-off (plain ``A_net = F`` would add an
O(dt |F|) Euler error to the comparison). Its readout ``x_hat`` estimates the posterior
mean; the stationary ``P`` is its (data-independent) uncertainty.

**Bounding box (error bound used by the checks).** With ``mu = 0`` (no quadratic cost)
and ``sigma_v = 0``, the voltage stays ``V = Gamma^T delta`` for a unique ``delta``
(Gamma has rank D), and one step of :func:`bayesnn.scn.simulate` gives exactly::

    x'_k = x_hat_k + delta_k,
    x'_{k+1} = x'_k + dt (A_net x'_k + c_k - B delta_k),      B = A_net + lambda_V I.

So ``e_k = x'_k - x_k`` obeys ``e_{k+1} = (I + dt A_net) e_k - dt B delta_k`` with
``e_0 = 0`` when ``x_hat_0 = 0`` and ``V_0 = Gamma^T x_0`` (closed form), and::

    x_hat_k - mu_k = -delta_k - dt sum_{j<k} (I + dt A_net)^{k-1-j} B delta_j
    ||x_hat_k - mu_k|| <= rho (1 + dt sum_{m>=0} ||(I + dt A_net)^m B||_2) = rho * amplification

with ``rho = max ||delta||`` over the box polytope ``{delta: Gamma_i^T delta <= T_i}``
(:func:`box_radius`). In the "greedy" spike mode (sequential spikes within a step,
:mod:`bayesnn.scn.simulate`) every ``V_i <= T_i`` after every step unless the per-step
cap is hit (``n_cap_hits`` reports it), so ``delta_k`` is in the box at every recorded
step and the bound is rigorous. ``lambda_V`` defaults to ``-trace(A_net) / D``, the
scalar that minimises ``||B||_F``: in 1-D ``B = 0``, the amplification is exactly 1
and the bound is the box half-width ``max_i T_i / |Gamma_i|``
(= ``|Gamma|/2 + nu lambda_d / (2 |Gamma|)`` for ``+/-`` kernels). In 2-D the
rotational part of ``A_net`` cannot be cancelled; :func:`error_amplification` sums the
series exactly (with a rigorous geometric tail).

**Pitfall 6 (white-noise increments).** ``K dy_k`` has standard deviation
``||K R^{1/2}|| sqrt(dt)`` per step, far above the box margin ``nu lambda_d``. With
one spike per step (``spike_mode="one"``) a large increment may leave several
neurons above threshold for a step, and the bound above is then not guaranteed;
``spike_mode="greedy"`` absorbs each increment within its step. The greedy loop cannot
ping-pong: each spike lowers the loss by ``2 (V_i - T_i) > 0`` and (with margin
``nu lambda_d > 0``) a spike never pushes the antipodal neuron over its threshold.
Both modes are measured in docs/spiking_kalman.md.

**z-scores.** ``(z_k - mu_k) / sqrt(P_dd)`` at times spaced by ``5`` correlation times
``1 / min |Re eig F|`` of the filter error (autocorrelation ``e^{-5}``), after the same
burn-in, are nearly independent N(0, 1) draws if the posterior is calibrated.
"""
from __future__ import annotations

import itertools
import math
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.spatial
import scipy.stats

from bayesnn.core.validation import as_array, require_nonnegative, require_positive, require_shape
from bayesnn.exact.kalman import (
    discretize_lds,
    kalman_bucy_mean,
    kalman_filter,
    steady_state_kalman_bucy,
)

__all__ = [
    "SpikingKalmanProblem",
    "LatentSample",
    "ExactKalman",
    "SpikingKalmanNetwork",
    "SpikingKalmanResult",
    "make_kalman_problem",
    "ou_problem",
    "oscillator_problem",
    "sample_latent_and_observations",
    "exact_kalman_bucy",
    "box_radius",
    "error_amplification",
    "spiking_kalman_network",
    "run_spiking_kalman",
    "correlation_time",
    "zscore_coverage",
    "exact_zscore_coverage",
    "binomial_band",
    "kalman_checks",
    "Z95",
    "N_EFOLDS",
    "ROUNDOFF",
]

Z95 = float(scipy.stats.norm.ppf(0.975))  # 1.959963984540054
N_EFOLDS = 5.0  # burn-in and z-sample spacing, in filter correlation times (e^-5 = 0.7%)
ROUNDOFF = 1e-9  # absolute slack on the box bound for float64 round-off ([z]; errors ~1e-13)


# ----------------------------------------------------------------------------- problem
class SpikingKalmanProblem(NamedTuple):
    """A continuous-time linear-Gaussian filtering problem (module docstring).

    Fields:
        A: (D, D) latent drift, 1/s (Hurwitz unless ``P0`` is given).
        Q: (D, D) symmetric PSD process-noise density, [z]^2 / s.
        C: (M, D) observation matrix, [y] / [z].
        R: (M, M) symmetric positive-definite observation-noise density, [y]^2 s.
        m0: (D,) prior mean of ``z(0)``.
        P0: (D, D) prior covariance of ``z(0)`` (default: stationary, ``A P0 + P0 A^T + Q = 0``).
        name: label used in reports.
    """

    A: np.ndarray
    Q: np.ndarray
    C: np.ndarray
    R: np.ndarray
    m0: np.ndarray
    P0: np.ndarray
    name: str = ""

    @property
    def n_dims(self) -> int:
        return int(self.A.shape[0])

    @property
    def n_obs(self) -> int:
        return int(self.C.shape[0])


def _square(name: str, value) -> np.ndarray:
    array = as_array(name, value, ndim=2)
    if array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {array.shape}")
    return array


def _symmetric_psd(name: str, array: np.ndarray, strict: bool) -> np.ndarray:
    scale = max(1.0, float(np.max(np.abs(array))))
    if np.max(np.abs(array - array.T)) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric")
    low = float(np.min(np.linalg.eigvalsh(0.5 * (array + array.T))))
    if strict and low <= 0:
        raise ValueError(f"{name} must be positive definite (noise density > 0), "
                         f"smallest eigenvalue {low:.3g}")
    if not strict and low < -1e-10 * scale:
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue {low:.3g}")
    return 0.5 * (array + array.T)


def _max_real_eig(M: np.ndarray) -> float:
    return float(np.max(np.real(np.linalg.eigvals(M))))


def make_kalman_problem(A, Q, C, R, m0=None, P0=None, name: str = "") -> SpikingKalmanProblem:
    """Validated :class:`SpikingKalmanProblem`.

    Args:
        A: (D, D) drift (1/s). Q: (D, D) PSD process-noise density. C: (M, D).
        R: (M, M) positive-definite observation-noise density. m0: (D,) prior mean
        (default 0). P0: (D, D) PSD prior covariance (default stationary; then A must be
        Hurwitz).

    Raises:
        ValueError naming the parameter, for shapes that do not agree, R not > 0, ...
    """
    A = _square("A", A)
    D = A.shape[0]
    Q = require_shape("Q", as_array("Q", Q, ndim=2), (D, D))
    Q = _symmetric_psd("Q", Q, strict=False)
    C = require_shape("C", as_array("C", C, ndim=2), (None, D))
    M = C.shape[0]
    if M < 1:
        raise ValueError(f"C must have at least one row, got shape {C.shape}")
    R = require_shape("R", as_array("R", R, ndim=2), (M, M))
    R = _symmetric_psd("R", R, strict=True)
    m0 = np.zeros(D) if m0 is None else require_shape("m0", as_array("m0", m0, ndim=1), (D,))
    if P0 is None:
        if _max_real_eig(A) >= 0:
            raise ValueError("A must be Hurwitz (all Re eig < 0) for the default stationary "
                             "prior P0; pass P0 explicitly otherwise")
        P0 = scipy.linalg.solve_continuous_lyapunov(A, -Q)
    else:
        P0 = require_shape("P0", as_array("P0", P0, ndim=2), (D, D))
    P0 = _symmetric_psd("P0", P0, strict=False)
    return SpikingKalmanProblem(A, Q, C, R, m0, P0, str(name))


def ou_problem(tau: float = 0.2, sigma: float = 2.0, obs_noise: float = 0.2) -> SpikingKalmanProblem:
    """1-D Ornstein-Uhlenbeck latent seen directly in white noise.

    ``dz = -z / tau dt + sigma dW``, ``dy = z dt + obs_noise dV`` (same convention as
    :func:`bayesnn.numpyro_models.lgssm.ou_lgssm`): ``A = -1/tau``, ``Q = sigma^2``,
    ``C = 1``, ``R = obs_noise^2``; stationary prior ``N(0, sigma^2 tau / 2)``.

    Closed form: ``F = -sqrt(1/tau^2 + sigma^2 / obs_noise^2)``, ``K = -F - 1/tau``,
    ``P = obs_noise^2 K``. Defaults (tau = 0.2 s, sigma = 2, obs_noise = 0.2): F = -sqrt(125)
    = -11.18 1/s, K = 6.18, P = 0.247 (posterior std 0.50 vs prior std 0.63).
    """
    tau = float(require_positive("tau", tau, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    obs_noise = float(require_positive("obs_noise", obs_noise, ndim=0))
    return make_kalman_problem([[-1.0 / tau]], [[sigma**2]], [[1.0]], [[obs_noise**2]],
                               name=f"OU(tau={tau:g} s)")


def oscillator_problem(frequency: float = 1.0, decay: float = 1.0, sigma: float = 1.0,
                       obs_noise: float = 0.1) -> SpikingKalmanProblem:
    """2-D damped stochastic oscillator, first coordinate observed.

    ``A = [[-decay, -omega], [omega, -decay]]`` with ``omega = 2 pi frequency``,
    ``Q = sigma^2 I``, ``C = [[1, 0]]``, ``R = obs_noise^2`` (the convention of
    :func:`bayesnn.numpyro_models.lgssm.oscillator_lgssm`); stationary prior
    ``N(0, sigma^2 / (2 decay) I)``.

    Why this A and not B13's ``[[-4.8, -22.4], [40, 0]]``: it is a normal matrix
    (``||e^{At}|| = e^{-decay t}``, no transient amplification), it is the NumPyro model's
    own oscillator (so the cross-check uses the same process), it is observable from
    the first coordinate for any ``omega > 0``, and at 1 Hz ``max|eig| dt = 6e-4`` at
    ``dt = 1e-4`` s. Defaults: ``eig F = -6.59 +/- 5.65i`` 1/s, posterior std
    (0.33, 0.44) vs prior std 0.71.
    """
    frequency = float(require_positive("frequency", frequency, ndim=0))
    decay = float(require_positive("decay", decay, ndim=0))
    sigma = float(require_positive("sigma", sigma, ndim=0))
    obs_noise = float(require_positive("obs_noise", obs_noise, ndim=0))
    w = 2 * math.pi * frequency
    return make_kalman_problem([[-decay, -w], [w, -decay]], sigma**2 * np.eye(2), [[1.0, 0.0]],
                               [[obs_noise**2]], name=f"oscillator({frequency:g} Hz)")


def _check_problem(problem) -> SpikingKalmanProblem:
    if not isinstance(problem, SpikingKalmanProblem):
        raise ValueError("problem must be a SpikingKalmanProblem (see make_kalman_problem), "
                         f"got {type(problem).__name__}")
    return problem


def _check_dt(dt) -> float:
    return float(require_positive("dt", dt, ndim=0))


def _n_steps(n_steps) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


# ----------------------------------------------------------------------------- sampling
class LatentSample(NamedTuple):
    """Output of :func:`sample_latent_and_observations`.

    Fields:
        times: (T,) ``t_k = k dt``, s, k = 1..T.
        latent: (T, D) ``z(t_k)``.
        dy: (T, M) observation increments over ``(t_{k-1}, t_k]``.
        z0: (D,) ``z(0)``.
        dt: step, s.
    """

    times: np.ndarray
    latent: np.ndarray
    dy: np.ndarray
    z0: np.ndarray
    dt: float


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return V * np.sqrt(np.clip(w, 0.0, None))


@partial(jax.jit, static_argnames=("n_steps",))
def _sample_core(Ad, Lq, C, Lr, z0, key, dt, *, n_steps: int):
    kw, kv = jax.random.split(key)
    D, M = Ad.shape[0], C.shape[0]
    w = jax.random.normal(kw, (n_steps, D), Ad.dtype) @ Lq.T
    v = jax.random.normal(kv, (n_steps, M), Ad.dtype) @ (jnp.sqrt(dt) * Lr).T

    def step(z, wk):
        z = Ad @ z + wk
        return z, z

    _, zs = jax.lax.scan(step, z0, w)
    return zs, zs @ C.T * dt + v


def sample_latent_and_observations(key, problem: SpikingKalmanProblem, dt: float, n_steps: int,
                                   z0=None) -> LatentSample:
    """Sample the latent exactly on the grid and the observation increments.

    Args:
        key: JAX PRNG key (one per trial).
        problem: :class:`SpikingKalmanProblem`.
        dt: step, s (> 0). n_steps: number of steps T (>= 1).
        z0: (D,) initial latent; default a draw from ``N(m0, P0)`` (stationary prior).

    Returns:
        :class:`LatentSample` (times (T,), latent (T, D), dy (T, M), z0 (D,), dt).
    """
    problem = _check_problem(problem)
    dt = _check_dt(dt)
    n_steps = _n_steps(n_steps)
    D = problem.n_dims
    k0, k1 = jax.random.split(key)
    if z0 is None:
        xi = np.asarray(jax.random.normal(k0, (D,), jnp.result_type(float)), float)
        z0 = problem.m0 + _psd_sqrt(problem.P0) @ xi
    else:
        z0 = require_shape("z0", as_array("z0", z0, ndim=1), (D,))
    Ad, Qd = discretize_lds(problem.A, problem.Q, dt)
    f = jnp.result_type(float)
    zs, dy = _sample_core(jnp.asarray(Ad, f), jnp.asarray(_psd_sqrt(np.asarray(Qd)), f),
                          jnp.asarray(problem.C, f), jnp.asarray(np.linalg.cholesky(problem.R), f),
                          jnp.asarray(z0, f), k1, jnp.asarray(dt, f), n_steps=n_steps)
    return LatentSample(np.arange(1, n_steps + 1) * dt, np.asarray(zs), np.asarray(dy),
                        np.asarray(z0, float), dt)


# ----------------------------------------------------------------------------- exact
class ExactKalman(NamedTuple):
    """Output of :func:`exact_kalman_bucy`.

    Fields:
        gain: (D, M) steady-state Kalman-Bucy gain K.
        covariance: (D, D) stationary posterior covariance P (Riccati solution).
        generator: (D, D) F = A - K C (Hurwitz).
        means: (T, D) steady-gain mean mu_k at t_k = k dt (impulse convention).
        tv_means: (T, D) time-varying discrete Kalman filter means, or None.
        tv_covariances: (T, D, D) its covariances, or None.
    """

    gain: np.ndarray
    covariance: np.ndarray
    generator: np.ndarray
    means: np.ndarray
    tv_means: np.ndarray | None
    tv_covariances: np.ndarray | None


def exact_kalman_bucy(problem: SpikingKalmanProblem, dy, dt: float, mu0=None,
                      time_varying: bool = False) -> ExactKalman:
    """Exact steady-state Kalman-Bucy posterior (and optionally the time-varying filter).

    Args:
        problem: :class:`SpikingKalmanProblem`.
        dy: (T, M) observation increments (``LatentSample.dy``).
        dt: bin width, s.
        mu0: (D,) mean at t = 0 (default ``problem.m0``).
        time_varying: also run the discrete Kalman filter of the sampled model
            (``A_d, Q_d`` exact, ``y_k = dy_k / dt`` with covariance ``R / dt``, prior
            ``N(m0, P0)``): exact Bayes for the grid, O(T D^3).

    Returns:
        :class:`ExactKalman`.
    """
    problem = _check_problem(problem)
    dt = _check_dt(dt)
    dy = as_array("dy", dy, ndim=2)
    require_shape("dy", dy, (None, problem.n_obs))
    if dy.shape[0] < 1:
        raise ValueError("dy must have at least one row")
    mu0 = problem.m0 if mu0 is None else require_shape("mu0", as_array("mu0", mu0, ndim=1),
                                                       (problem.n_dims,))
    K, P = (np.asarray(a) for a in steady_state_kalman_bucy(problem.A, problem.Q, problem.C, problem.R))
    F = problem.A - K @ problem.C
    means = np.asarray(kalman_bucy_mean(problem.A, K, problem.C, dy, dt, mu0, input_convention="impulse"))
    tv_m = tv_P = None
    if time_varying:
        Ad, Qd = discretize_lds(problem.A, problem.Q, dt)
        kf = kalman_filter(Ad, Qd, problem.C, problem.R / dt, problem.m0, problem.P0, dy / dt)
        tv_m, tv_P = np.asarray(kf.means), np.asarray(kf.covariances)
    return ExactKalman(K, P, F, means, tv_m, tv_P)


# ----------------------------------------------------------------------------- bounds
def box_radius(Gamma, thresholds) -> float:
    """Largest ``||delta||_2`` over the box polytope ``{delta: Gamma_i^T delta <= T_i}``.

    Exact: the maximum of a convex function over a bounded polytope is attained at a
    vertex; vertices are enumerated from D-subsets of the faces (D = 1: ``T_i/Gamma_i``;
    D = 2: pairwise intersections, O(N^3)). For ``N`` evenly spaced 2-D kernels of norm
    g and equal T this is ``(T / g) / cos(pi / N)``.

    Args:
        Gamma: (D, N) decoder. thresholds: (N,) T_i > 0.

    Raises:
        ValueError if the kernels do not positively span R^D (the box is unbounded) or
        there are too many vertex candidates (> 2e6 D-subsets).
    """
    G = as_array("Gamma", Gamma, ndim=2)
    D, N = G.shape
    T = require_shape("thresholds", require_positive("thresholds", thresholds, ndim=1), (N,))
    if D == 1:
        g = G[0]
        if not (np.any(g > 0) and np.any(g < 0)):
            raise ValueError("Gamma must contain kernels of both signs (unbounded box)")
        return float(max(np.min(T[g > 0] / g[g > 0]), np.min(T[g < 0] / -g[g < 0])))
    if N <= D:
        raise ValueError(f"Gamma needs more than D = {D} kernels for a bounded box, got N = {N}")
    hull = scipy.spatial.ConvexHull(G.T)  # 0 strictly inside conv(Gamma) <=> box bounded
    if np.any(hull.equations[:, -1] >= -1e-12):
        raise ValueError("Gamma kernels must positively span R^D (0 inside their convex hull); "
                         "the box is unbounded")
    if math.comb(N, D) > 2_000_000:
        raise ValueError(f"box_radius: too many vertex candidates C({N}, {D})")
    tol = 1e-9 * float(np.max(T))
    if D == 2:  # all pairwise face intersections at once (Cramer's rule)
        i, j = np.triu_indices(N, 1)
        det = G[0, i] * G[1, j] - G[1, i] * G[0, j]
        ok = np.abs(det) > 1e-12 * np.linalg.norm(G[:, i], axis=0) * np.linalg.norm(G[:, j], axis=0)
        i, j, det = i[ok], j[ok], det[ok]
        verts = np.stack([(T[i] * G[1, j] - T[j] * G[1, i]) / det,
                          (G[0, i] * T[j] - G[0, j] * T[i]) / det], axis=1)
        feasible = np.all(verts @ G <= T + tol, axis=1)
        return float(np.max(np.linalg.norm(verts[feasible], axis=1)))
    best = 0.0
    for idx in itertools.combinations(range(N), D):
        sub = G[:, idx].T
        if abs(np.linalg.det(sub)) < 1e-12 * float(np.prod(np.linalg.norm(sub, axis=1))):
            continue
        vertex = np.linalg.solve(sub, T[list(idx)])
        if np.all(G.T @ vertex <= T + tol):
            best = max(best, float(np.linalg.norm(vertex)))
    return best


def error_amplification(A_net, lambda_v: float, dt: float) -> float:
    """``1 + dt sum_{m>=0} ||(I + dt A_net)^m (A_net + lambda_v I)||_2`` (module docstring).

    Summed in blocks of L steps (L dt ~ 1 / min|Re eig|) with the rigorous tail bound
    ``block_sum * r / (1 - r)``, ``r = ||(I + dt A_net)^L||_2 < 1``; stops when the tail is
    below 1e-9 of the sum. Equals 1 exactly when ``A_net = -lambda_v I``.
    """
    A = _square("A_net", A_net)
    lam = float(require_nonnegative("lambda_v", lambda_v, ndim=0))
    dt = _check_dt(dt)
    D = A.shape[0]
    B = A + lam * np.eye(D)
    if np.max(np.abs(B)) == 0:
        return 1.0
    Phi = np.eye(D) + dt * A
    rate = -float(np.max(np.real(np.log(np.linalg.eigvals(Phi).astype(complex))))) / dt
    if not rate > 0:
        raise ValueError("A_net must be stable (spectral radius of I + dt A_net < 1)")
    L = max(64, int(math.ceil(1.0 / (rate * dt))))
    while np.linalg.norm(np.linalg.matrix_power(Phi, L), 2) >= 0.9:
        L *= 2
        if L * rate * dt > 1e3:
            raise ValueError("error_amplification: (I + dt A_net)^L does not contract")
    PL = np.linalg.matrix_power(Phi, L)
    r = float(np.linalg.norm(PL, 2))
    block = np.empty((L, D, D))
    X = B.copy()
    for j in range(L):
        block[j] = X
        X = Phi @ X
    total = 0.0
    for _ in range(100_000):
        s = float(np.sum(np.linalg.norm(block, 2, axis=(1, 2))))
        total += s
        tail = s * r / (1 - r)
        if tail <= 1e-9 * total:
            return 1.0 + dt * (total + tail)
        block = np.einsum("ij,mjk->mik", PL, block)
    return 1.0 + dt * (total + tail)  # pragma: no cover - series converges geometrically


# ----------------------------------------------------------------------------- network
class SpikingKalmanNetwork(NamedTuple):
    """Output of :func:`spiking_kalman_network`.

    Fields:
        problem: the :class:`SpikingKalmanProblem`.
        net: :class:`bayesnn.scn.SCNParams` with ``A = A_net``.
        gain: (D, M) K fed as ``c_k = K dy_k / dt``.
        generator: (D, D) F = A - K C.
        A_net: (D, D) ``(e^{F dt} - I) / dt`` (network target dynamics, 1/s).
        box_radius: max ||delta|| over the box polytope ([z]).
        amplification: :func:`error_amplification` of (A_net, lambda_v, dt) (>= 1).
        error_bound: box_radius * amplification, the bound on ||x_hat - mu_K|| ([z]).
        bound_is_rigorous: True when mu == 0 and sigma_v == 0 (module docstring);
            the bound additionally needs the "greedy" spike mode without cap hits.
    """

    problem: SpikingKalmanProblem
    net: object
    gain: np.ndarray
    generator: np.ndarray
    A_net: np.ndarray
    box_radius: float
    amplification: float
    error_bound: float
    bound_is_rigorous: bool

    @property
    def dt(self) -> float:
        return float(self.net.dt)


def spiking_kalman_network(problem: SpikingKalmanProblem, n_neurons: int = 100,
                           decoder_norm: float = 0.1, dt: float = 1e-4, lambda_d: float = 10.0,
                           lambda_v: float | None = None, mu: float = 0.0, nu: float = 1e-5,
                           sigma_v: float = 0.0, decoder: str = "auto", seed: int = 0,
                           gain=None) -> SpikingKalmanNetwork:
    """B13 network whose readout is the Kalman-Bucy posterior mean (module docstring).

    Args:
        problem: :class:`SpikingKalmanProblem`.
        n_neurons: N (even for the 1-D "pm" decoder).
        decoder_norm: ||Gamma_i||, [z]; the box half-width is about decoder_norm / 2.
        dt: step, s. lambda_d: readout leak, 1/s. lambda_v: membrane leak, 1/s (default
            ``-trace(A_net)/D``, which makes the 1-D network exact).
        mu, nu: B13 costs (mu = 0 keeps the error bound rigorous; nu > 0 sets the box
            margin nu lambda_d that stops greedy ping-pong). sigma_v: voltage noise.
        decoder: "pm" (+/-, 1-D), "circular" (2-D, evenly spaced), "random" (Gaussian
            directions, ``seed``) or "auto" (pm for D = 1, circular for D = 2, else random).
        gain: (D, M) gain to use instead of the steady-state K (e.g. to study a
            mis-tuned filter); ``A - gain C`` must be Hurwitz.

    Raises:
        ValueError before any simulation: bad shapes, R not > 0 (in the problem), a
        gain that makes A - K C unstable (message names 'gain'), bad network parameters.
    """
    from bayesnn.scn.network import circular_decoder, make_network, pm_decoder, random_decoder

    problem = _check_problem(problem)
    D, M = problem.n_dims, problem.n_obs
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)) or n_neurons < 2:
        raise ValueError(f"n_neurons must be an integer >= 2, got {n_neurons!r}")
    decoder_norm = float(require_positive("decoder_norm", decoder_norm, ndim=0))
    dt = _check_dt(dt)
    if decoder not in ("auto", "pm", "circular", "random"):
        raise ValueError(f"decoder must be 'auto', 'pm', 'circular' or 'random', got {decoder!r}")
    if gain is None:
        K = np.asarray(steady_state_kalman_bucy(problem.A, problem.Q, problem.C, problem.R).gain)
    else:
        K = require_shape("gain", as_array("gain", gain, ndim=2), (D, M))
    F = problem.A - K @ problem.C
    worst = _max_real_eig(F)
    if worst >= 0:
        raise ValueError(f"gain: A - K C must be Hurwitz (stable), but its largest real "
                         f"eigenvalue is {worst:.4g} 1/s")
    A_net = (scipy.linalg.expm(F * dt) - np.eye(D)) / dt
    lam_v = -float(np.trace(A_net)) / D if lambda_v is None else float(
        require_nonnegative("lambda_v", lambda_v, ndim=0))
    kind = decoder if decoder != "auto" else ("pm" if D == 1 else "circular" if D == 2 else "random")
    if kind == "pm":
        if D != 1:
            raise ValueError(f"decoder 'pm' needs D = 1, got D = {D}")
        Gamma = pm_decoder(int(n_neurons), decoder_norm)
    elif kind == "circular":
        if D != 2:
            raise ValueError(f"decoder 'circular' needs D = 2, got D = {D}")
        Gamma = circular_decoder(int(n_neurons), decoder_norm)
    else:
        Gamma = random_decoder(D, int(n_neurons), decoder_norm, seed=seed)
    net = make_network(Gamma, A=A_net, lambda_d=lambda_d, lambda_v=lam_v, mu=mu, nu=nu,
                       sigma_v=sigma_v, dt=dt)
    rho = box_radius(Gamma, np.asarray(net.thresholds))
    amp = error_amplification(A_net, lam_v, dt)
    rigorous = float(mu) == 0.0 and float(sigma_v) == 0.0
    return SpikingKalmanNetwork(problem, net, K, F, A_net, rho, amp, rho * amp, rigorous)


# ----------------------------------------------------------------------------- run
class SpikingKalmanResult(NamedTuple):
    """Output of :func:`run_spiking_kalman` (arrays on the grid t_k = k dt, k = 1..T).

    Fields:
        times: (T,) s.
        latent: (T, D) true latent z(t_k).
        exact_mean: (T, D) exact Kalman-Bucy mean mu_K.
        exact_covariance: (D, D) stationary posterior covariance P.
        readout: (T, D) network readout x_hat (the spiking posterior-mean estimate).
        spikes_per_second: population spike rate, Hz (all spikes / duration).
        rate_per_neuron: mean rate per neuron, Hz.
        n_spikes: total spikes.
        burn_in: s; errors and z-scores use t > burn_in only.
        max_error: max_t ||x_hat - mu_K||_2 after burn-in, [z].
        max_abs_error: (D,) per-coordinate max |x_hat - mu_K| after burn-in.
        rmse: (D,) per-coordinate RMS of x_hat - mu_K after burn-in.
        box_radius: max ||delta|| over the box polytope, [z].
        error_bound: box_radius * amplification (see :class:`SpikingKalmanNetwork`).
        z_exact: (S, D) (z - mu_K) / sqrt(P_dd) at S times spaced by 5 correlation times.
        z_readout: (S, D) (z - x_hat) / sqrt(P_dd) at the same times.
        coverage_exact: (D,) fraction of |z_exact| <= 1.96.
        coverage_readout: (D,) fraction of |z_readout| <= 1.96.
        time_coverage_exact: (D,) fraction of post-burn-in steps with |z - mu_K| <= 1.96
            sqrt(P_dd) (all steps: unbiased for the coverage, but correlated samples).
        time_coverage_readout: (D,) the same for the readout x_hat.
        spike_mode: the spike-resolution mode used.
        max_spikes_per_step: most spikes in one step.
        n_cap_hits: steps where the greedy loop hit its cap (bound not guaranteed there).
    """

    times: np.ndarray
    latent: np.ndarray
    exact_mean: np.ndarray
    exact_covariance: np.ndarray
    readout: np.ndarray
    spikes_per_second: float
    rate_per_neuron: float
    n_spikes: int
    burn_in: float
    max_error: float
    max_abs_error: np.ndarray
    rmse: np.ndarray
    box_radius: float
    error_bound: float
    z_exact: np.ndarray
    z_readout: np.ndarray
    coverage_exact: np.ndarray
    coverage_readout: np.ndarray
    time_coverage_exact: np.ndarray
    time_coverage_readout: np.ndarray
    spike_mode: str
    max_spikes_per_step: int
    n_cap_hits: int


def correlation_time(generator) -> float:
    """``1 / min |Re eig F|``, s: the slowest decay time of the filter error."""
    return 1.0 / -_max_real_eig(np.asarray(generator))


def zscore_coverage(latent, mean, covariance, times, burn_in: float, spacing: float,
                    level_z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """z-scores ``(latent - mean) / sqrt(diag P)`` at ``t > burn_in`` every ``spacing`` s.

    Returns ``(z (S, D), coverage (D,))`` with coverage the fraction ``|z| <= level_z``.
    """
    latent = np.asarray(latent)
    times = np.asarray(times)
    dt = float(times[1] - times[0]) if times.size > 1 else float(times[0])
    stride = max(1, int(round(spacing / dt)))
    start = int(np.searchsorted(times, burn_in, side="right"))
    idx = np.arange(start, times.size, stride)
    sd = np.sqrt(np.diag(np.asarray(covariance)))
    z = (latent[idx] - np.asarray(mean)[idx]) / sd
    return z, np.mean(np.abs(z) <= level_z, axis=0) if idx.size else np.full(sd.shape, np.nan)


def binomial_band(n: int, p: float = 0.95, confidence: float = 0.99) -> tuple[float, float]:
    """Central ``confidence`` interval of a Binomial(n, p) fraction (scipy.stats)."""
    lo, hi = scipy.stats.binom.interval(confidence, int(n), p)
    return float(lo) / n, float(hi) / n


def run_spiking_kalman(network: SpikingKalmanNetwork, key, duration: float, *,
                       spike_mode: str = "greedy", burn_in: float | None = None,
                       sample: LatentSample | None = None, capacity: int = 0) -> SpikingKalmanResult:
    """Sample a latent and observations, run the exact filter and the spiking network.

    Args:
        network: from :func:`spiking_kalman_network`.
        key: JAX PRNG key for this trial; split into the data key and the network key.
        duration: simulated time, s (T = round(duration / dt) steps).
        spike_mode: "greedy" (default; rigorous box) or "one" (pitfall 6).
        burn_in: transient discarded from errors and z-scores, s (default
            ``N_EFOLDS`` correlation times of F).
        sample: use these data (from :func:`sample_latent_and_observations` at the
            network's dt) instead of drawing new ones.
        capacity: spike-event slots (0: T).

    Returns:
        :class:`SpikingKalmanResult`.
    """
    from bayesnn.scn.network import DriveMarginWarning
    from bayesnn.scn.simulate import simulate

    if not isinstance(network, SpikingKalmanNetwork):
        raise ValueError(f"network must be a SpikingKalmanNetwork, got {type(network).__name__}")
    if spike_mode not in ("greedy", "one"):
        raise ValueError(f"spike_mode must be 'greedy' or 'one', got {spike_mode!r}")
    problem, dt = network.problem, network.dt
    duration = float(require_positive("duration", duration, ndim=0))
    n = int(round(duration / dt))
    if n < 2:
        raise ValueError(f"duration must cover at least 2 steps of dt = {dt}, got {duration}")
    tau = correlation_time(network.generator)
    burn = N_EFOLDS * tau if burn_in is None else float(require_nonnegative("burn_in", burn_in, ndim=0))
    if burn >= n * dt:
        raise ValueError(f"burn_in ({burn:.3g} s) must be shorter than duration ({n * dt:.3g} s)")
    k_data, k_net = jax.random.split(key)
    if sample is None:
        sample = sample_latent_and_observations(k_data, problem, dt, n)
    else:
        if not isinstance(sample, LatentSample) or abs(sample.dt - dt) > 1e-12 * dt:
            raise ValueError(f"sample must be a LatentSample drawn at dt = {dt}")
        require_shape("sample.dy", np.asarray(sample.dy), (n, problem.n_obs))
    mu0 = problem.m0
    exact = exact_kalman_bucy(problem, sample.dy, dt, mu0=mu0)
    c = sample.dy @ network.gain.T / dt
    with warnings.catch_warnings():
        if spike_mode == "greedy":  # greedy absorbs large increments within the step
            warnings.simplefilter("ignore", DriveMarginWarning)
        res = simulate(network.net, c, k_net, x0=mu0, spike_mode=spike_mode, capacity=capacity,
                       allow_overflow=True)
    readout = np.asarray(res.readout)
    times = sample.times
    after = times > burn
    err = readout[after] - exact.means[after]
    n_spikes = int(np.sum(np.asarray(res.spike_counts)))
    z_e, cov_e = zscore_coverage(sample.latent, exact.means, exact.covariance, times, burn, N_EFOLDS * tau)
    z_r, cov_r = zscore_coverage(sample.latent, readout, exact.covariance, times, burn, N_EFOLDS * tau)
    sd = np.sqrt(np.diag(exact.covariance))
    tc_e = np.mean(np.abs(sample.latent[after] - exact.means[after]) <= Z95 * sd, axis=0)
    tc_r = np.mean(np.abs(sample.latent[after] - readout[after]) <= Z95 * sd, axis=0)
    return SpikingKalmanResult(
        times=times, latent=sample.latent, exact_mean=exact.means, exact_covariance=exact.covariance,
        readout=readout, spikes_per_second=n_spikes / (n * dt),
        rate_per_neuron=n_spikes / (n * dt) / network.net.n_neurons, n_spikes=n_spikes,
        burn_in=burn, max_error=float(np.max(np.linalg.norm(err, axis=1))),
        max_abs_error=np.max(np.abs(err), axis=0), rmse=np.sqrt(np.mean(err**2, axis=0)),
        box_radius=network.box_radius, error_bound=network.error_bound, z_exact=z_e,
        z_readout=z_r, coverage_exact=cov_e, coverage_readout=cov_r, time_coverage_exact=tc_e,
        time_coverage_readout=tc_r, spike_mode=spike_mode,
        max_spikes_per_step=int(res.max_spikes_per_step), n_cap_hits=int(res.n_cap_hits))


def exact_zscore_coverage(problem: SpikingKalmanProblem, key, dt: float, duration: float,
                          burn_in: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """z-score coverage of the exact steady-state posterior on one long run.

    Returns ``(z (S, D), coverage (D,), S)``; samples every ``N_EFOLDS`` correlation
    times after a burn-in of the same length (default).
    """
    problem = _check_problem(problem)
    dt = _check_dt(dt)
    duration = float(require_positive("duration", duration, ndim=0))
    n = int(round(duration / dt))
    sample = sample_latent_and_observations(key, problem, dt, n)
    exact = exact_kalman_bucy(problem, sample.dy, dt)
    tau = correlation_time(exact.generator)
    burn = N_EFOLDS * tau if burn_in is None else float(burn_in)
    z, cov = zscore_coverage(sample.latent, exact.means, exact.covariance, sample.times, burn,
                             N_EFOLDS * tau)
    return z, cov, int(z.shape[0])


# ----------------------------------------------------------------------------- checks
def kalman_checks(seed: int = 0, quick: bool = True):
    """Rows for ``bayesnn validate``: spiking Kalman filter vs exact Kalman-Bucy.

    For the 1-D OU and the 2-D oscillator problems (defaults of :func:`ou_problem`,
    :func:`oscillator_problem`; N = 20 +/- kernels and N = 50 circular kernels of norm
    0.1, dt = 1e-4 s, greedy spikes):

    - ``max ||x_hat - mu_K||`` after burn-in <= ``error_bound`` (box radius times the
      exact amplification; 1-D: the box half-width ``T/|Gamma|``);
    - the greedy loop never hit its cap (the bound's premise);
    - z-score coverage of the exact posterior (one long exact run, samples 5 correlation
      times apart) inside the 99% binomial band around 0.95, per coordinate.

    Reported only: readout z-score coverage (exact variance), spikes per second, RMSE.

    Returns:
        ``(checks, numbers)``.
    """
    from bayesnn.report import Check

    duration = 3.0 if quick else 10.0
    z_duration = 300.0 if quick else 1500.0
    checks: list = []
    numbers: dict = {}
    setups = (("ou", ou_problem(), 20), ("oscillator", oscillator_problem(), 50))
    for i, (label, problem, N) in enumerate(setups):
        network = spiking_kalman_network(problem, n_neurons=N, decoder_norm=0.1, dt=1e-4)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        res = run_spiking_kalman(network, jax.random.fold_in(key, 0), duration)
        checks.append(Check(f"kalman_{label}_box", res.max_error, network.error_bound + ROUNDOFF, "<=",
                            f"{problem.name}: max ||x_hat - mu_K|| after {res.burn_in:.2f} s "
                            f"<= box radius {network.box_radius:.4g} x amplification "
                            f"{network.amplification:.3f}"))
        checks.append(Check(f"kalman_{label}_greedy_cap_hits", res.n_cap_hits, 0, "<=",
                            "steps where the greedy spike loop hit its cap (box premise)"))
        _, cov, S = exact_zscore_coverage(problem, jax.random.fold_in(key, 1), 1e-4, z_duration)
        band = binomial_band(S)
        for d in range(problem.n_dims):
            checks.append(Check(f"kalman_{label}_exact_z_coverage_{d}", float(cov[d]), band, "in",
                                f"{problem.name}: fraction of |z| <= 1.96 of the true latent under "
                                f"the exact posterior, {S} samples 5 corr. times apart "
                                "(99% binomial band around 0.95)"))
        numbers[label] = {
            "max_error": res.max_error, "error_bound": network.error_bound,
            "box_radius": network.box_radius, "amplification": network.amplification,
            "rmse": res.rmse.tolist(), "max_abs_error": res.max_abs_error.tolist(),
            "spikes_per_second": res.spikes_per_second, "rate_per_neuron_hz": res.rate_per_neuron,
            "readout_z_coverage_spaced": res.coverage_readout.tolist(),
            "readout_z_samples_spaced": int(res.z_readout.shape[0]),
            "readout_z_coverage_all_steps": res.time_coverage_readout.tolist(),
            "exact_z_coverage_all_steps": res.time_coverage_exact.tolist(),
            "exact_z_coverage_long": cov.tolist(), "exact_z_samples_long": S,
            "max_spikes_per_step": res.max_spikes_per_step,
        }
    return checks, numbers
