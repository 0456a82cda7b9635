"""Tests for bayesnn.exact.kalman and bayesnn.exact.kalman_bucy: linear-Gaussian references.

The brute force builds the joint Gaussian of (x_0, x_1..x_T, y_1..y_T) as an explicit
linear map of independent Gaussians and conditions it with dense linear algebra.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from bayesnn.core import PrecisionError, enable_x64
from bayesnn.exact import (
    discretize_lds,
    kalman_bucy_mean,
    kalman_filter,
    rts_smoother,
    steady_state_kalman_bucy,
)
from bayesnn.exact.kalman_bucy import kalman_bucy_posterior, sampled_lgssm
from bayesnn.processes.linear_gaussian import (
    LGSSMParams,
    LinearGaussianParams,
    oscillator_params,
    ou_params,
    sample_linear_gaussian,
)
from bayesnn.processes.linear_gaussian import _van_loan


def random_spd(rng, dim, scale=1.0):
    X = rng.normal(size=(dim, dim))
    return scale * (X @ X.T + dim * np.eye(dim)) / dim


def random_lgssm(rng, dim=2, obs_dim=2, n_steps=5):
    A = rng.normal(size=(dim, dim)) * 0.5 + 0.3 * np.eye(dim)
    Q, R, P0 = random_spd(rng, dim, 0.3), random_spd(rng, obs_dim, 0.5), random_spd(rng, dim)
    C = rng.normal(size=(obs_dim, dim))
    m0 = rng.normal(size=dim)
    ys = rng.normal(size=(n_steps, obs_dim))
    return A, Q, C, R, m0, P0, ys


def dense_joint(A, Q, C, R, m0, P0, n_steps):
    """Mean and covariance of z = (x_1..x_T, y_1..y_T) from z = G u + mean, u ~ N(0, I)."""
    dim, obs_dim = A.shape[0], C.shape[0]
    n_noise = dim * (n_steps + 1) + obs_dim * n_steps
    chol_q, chol_r, chol_p0 = (np.linalg.cholesky(M) for M in (Q, R, P0))
    x_map = np.zeros((n_steps, dim, n_noise))  # x_k as linear function of u
    x_mean = np.zeros((n_steps, dim))
    prev_map = np.zeros((dim, n_noise))
    prev_map[:, :dim] = chol_p0
    prev_mean = m0
    for k in range(n_steps):
        x_map[k] = A @ prev_map
        x_map[k][:, dim * (k + 1):dim * (k + 2)] += chol_q
        x_mean[k] = A @ prev_mean
        prev_map, prev_mean = x_map[k], x_mean[k]
    y_map = np.zeros((n_steps, obs_dim, n_noise))
    offset = dim * (n_steps + 1)
    for k in range(n_steps):
        y_map[k] = C @ x_map[k]
        y_map[k][:, offset + obs_dim * k:offset + obs_dim * (k + 1)] += chol_r
    G = np.concatenate([x_map.reshape(-1, n_noise), y_map.reshape(-1, n_noise)])
    mean = np.concatenate([x_mean.ravel(), (x_mean @ C.T).ravel()])
    return mean, G @ G.T


def condition(mean, cov, keep, observed, values):
    S_oo = cov[np.ix_(observed, observed)]
    S_ko = cov[np.ix_(keep, observed)]
    gain = np.linalg.solve(S_oo, S_ko.T).T
    return (mean[keep] + gain @ (values - mean[observed]),
            cov[np.ix_(keep, keep)] - gain @ S_ko.T)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dim, obs_dim", [(2, 2), (3, 1), (1, 2)])
def test_filter_and_smoother_equal_dense_gaussian_conditioning(seed, dim, obs_dim):
    rng = np.random.default_rng(seed)
    n_steps = 6
    A, Q, C, R, m0, P0, ys = random_lgssm(rng, dim, obs_dim, n_steps)
    mean, cov = dense_joint(A, Q, C, R, m0, P0, n_steps)
    n_x = dim * n_steps
    y_index = lambda k: n_x + np.arange(obs_dim * k)  # noqa: E731  y_1..y_k
    x_index = lambda k: dim * k + np.arange(dim)  # noqa: E731  x_{k+1} (0-based k)

    params = LGSSMParams(A, Q, C, R, m0, P0)
    kf = kalman_filter(params, ys)
    ks = rts_smoother(params, ys)
    # Both sides are exact in float64 arithmetic, so the tolerance is rounding only:
    # measured worst over the 9 cases |err| / (1 + |ref|) = 3e-14 (means) and 2.6e-13
    # (covariances: the dense side conditions an 18 x 18 joint); 1e-12 is ~4x that.
    for k in range(n_steps):
        m_f, P_f = condition(mean, cov, x_index(k), y_index(k + 1), ys[:k + 1].ravel())
        np.testing.assert_allclose(kf.means[k], m_f, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(kf.covariances[k], P_f, rtol=1e-12, atol=1e-12)
        m_s, P_s = condition(mean, cov, x_index(k), y_index(n_steps), ys.ravel())
        np.testing.assert_allclose(ks.means[k], m_s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ks.covariances[k], P_s, rtol=1e-12, atol=1e-12)
    obs = y_index(n_steps)
    log_ml = scipy.stats.multivariate_normal(mean[obs], cov[np.ix_(obs, obs)]).logpdf(ys.ravel())
    # measured 7e-16 relative (3 ulp); the bound, 1e-13, leaves room for a different
    # summation order (BLAS threads) without hiding a wrong term (those are O(1)).
    np.testing.assert_allclose(kf.log_marginal_likelihood, log_ml, rtol=1e-13)


def test_filter_handles_long_sequences(rng):
    A, Q, C, R, m0, P0, _ = random_lgssm(rng, 2, 1, 1)
    A = 0.9 * A / max(1.0, np.max(np.abs(np.linalg.eigvals(A))))
    ys = rng.normal(size=(20_000, 1))
    kf = kalman_filter(LGSSMParams(A, Q, C, R, m0, P0), ys)
    assert np.all(np.isfinite(kf.means)) and np.isfinite(kf.log_marginal_likelihood)
    np.testing.assert_allclose(kf.covariances[-1], kf.covariances[-1].T, atol=0)
    assert np.all(np.linalg.eigvalsh(np.asarray(kf.covariances[-1])) > 0)


# ----------------------------------------------------------------------------- continuous time


def test_discretize_scalar_ou_closed_form():
    a, sigma2, dt = 3.0, 0.7, 0.05  # dx = -a x dt + sqrt(sigma2) dW
    A, Q = discretize_lds([[-a]], [[sigma2]], dt)
    # float64 rounding of a 2 x 2 Van Loan expm: measured 0 and 4e-16 (2 ulp).
    np.testing.assert_allclose(A[0, 0], np.exp(-a * dt), rtol=1e-14)
    np.testing.assert_allclose(Q[0, 0], sigma2 * -np.expm1(-2 * a * dt) / (2 * a), rtol=1e-13)


def test_discretize_matches_lyapunov_identity_and_semigroup(rng):
    A_cont = np.array([[-1.0, 2.0], [-3.0, -0.5]])  # stable
    sigma = random_spd(rng, 2)
    dt = 0.1
    A, Q = (np.asarray(x) for x in discretize_lds(A_cont, sigma, dt))
    # Exact identities, so float64 rounding only (measured: A 0, Q 5.3e-15 against the
    # independent Lyapunov solver, semigroup 2.2e-16 / 4.6e-16); tolerances are >= 20x
    # that (different expm / Schur algorithms round differently), and a wrong term is O(1).
    np.testing.assert_allclose(A, scipy.linalg.expm(A_cont * dt), rtol=1e-13)
    # Stationary covariance P solves A_c P + P A_c^T + Sigma = 0, and Q = P - A P A^T.
    P = scipy.linalg.solve_continuous_lyapunov(A_cont, -sigma)
    np.testing.assert_allclose(Q, P - A @ P @ A.T, rtol=1e-13, atol=1e-13)
    # Two steps of dt equal one step of 2 dt.
    A2, Q2 = (np.asarray(x) for x in discretize_lds(A_cont, sigma, 2 * dt))
    np.testing.assert_allclose(A2, A @ A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Q2, A @ Q @ A.T + Q, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("a, q, c, r", [(-2.0, 0.5, 1.0, 0.1), (1.5, 2.0, 3.0, 0.4), (-0.1, 10.0, 0.2, 5.0)])
def test_steady_state_riccati_scalar_closed_form(a, q, c, r):
    """dx = a x dt + dW (var q), dy = c x dt + dV (var r): 2 a P - c^2 P^2 / r + q = 0,
    so c^2 P^2 - 2 a r P - q r = 0 and the positive root is
    P = (a r + sqrt(a^2 r^2 + q r c^2)) / c^2, with gain K = P c / r."""
    gain, cov = steady_state_kalman_bucy([[a]], [[q]], [[c]], [[r]])
    P = (a * r + np.sqrt(a * a * r * r + q * r * c * c)) / c ** 2
    # float64 rounding: measured <= 2.2e-16 (1 ulp) on all three; bound the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(cov[0, 0], P, rtol=1e-13)
    np.testing.assert_allclose(gain[0, 0], P * c / r, rtol=1e-13)
    assert a - gain[0, 0] * c < 0  # the filter dynamics are stable


def test_steady_state_riccati_matrix_residual(rng):
    A = np.array([[0.0, 1.0], [-4.0, -0.4]])
    sigma = np.diag([0.0, 1.0])
    C = np.array([[1.0, 0.0]])
    R = np.array([[0.05]])
    K, P = (np.asarray(x) for x in steady_state_kalman_bucy(A, sigma, C, R))
    residual = A @ P + P @ A.T - P @ C.T @ np.linalg.solve(R, C @ P) + sigma
    # Residual relative to the quadratic term: measured 1.3e-14 (float64 rounding of the
    # Schur-based solver); 1e-13 is ~8x that (rounding only, a wrong root gives O(1)).
    assert np.max(np.abs(residual)) < 1e-13 * np.max(np.abs(P @ C.T @ np.linalg.solve(R, C @ P)))
    assert np.all(np.linalg.eigvals(A - K @ C).real < 0)
    np.testing.assert_allclose(K, P @ C.T / R[0, 0], rtol=1e-13)  # measured 0 (same formula)


def test_kalman_bucy_mean_hold_equals_constant_input_solution():
    """Constant y: mu(t) = e^{Ft} mu0 + F^{-1}(e^{Ft} - I) K y, F = A - K C."""
    A = np.array([[0.0, 1.0], [-4.0, -0.4]])
    C = np.array([[1.0, 0.0]])
    K, _ = steady_state_kalman_bucy(A, np.diag([0.0, 1.0]), C, [[0.05]])
    K = np.asarray(K)
    dt, n_steps, y = 1e-3, 500, np.array([0.8])
    mu0 = np.array([0.3, -1.0])
    means = np.asarray(kalman_bucy_mean(A, K, C, np.tile(y * dt, (n_steps, 1)), dt, mu0))
    F = A - K @ C
    for k in (0, 9, 99, 499):
        t = (k + 1) * dt
        E = scipy.linalg.expm(F * t)
        want = E @ mu0 + np.linalg.solve(F, (E - np.eye(2)) @ K @ y)
        # Exact discretisation of a constant input, so rounding only: measured
        # |err| / (|want| + 0.1) <= 6.4e-15 over 500 steps; bounds 5e-14 / 1e-13.
        np.testing.assert_allclose(means[k], want, rtol=1e-13, atol=1e-13)


def test_kalman_bucy_mean_impulse_convention():
    A, C, K = np.array([[-2.0]]), np.array([[1.0]]), np.array([[3.0]])
    dt = 0.01
    increments = np.zeros((10, 1))
    increments[4, 0] = 1.0  # one unit impulse at the end of bin 5 (t = 0.05)
    means = np.asarray(kalman_bucy_mean(A, K, C, increments, dt, [0.0], input_convention="impulse"))
    F = -2.0 - 3.0
    np.testing.assert_allclose(means[:4, 0], 0.0, atol=0)
    # rounding only: measured 0 and 2.2e-16 (1 ulp of exp); 1e-15 / 1e-14 is 5-45 ulp.
    np.testing.assert_allclose(means[4, 0], 3.0, rtol=1e-15)
    np.testing.assert_allclose(means[9, 0], 3.0 * np.exp(F * 5 * dt), rtol=1e-13)


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("index, bad, name", [
    (0, np.ones((2, 3)), "A"),
    (1, np.array([[1.0, 0.5], [0.0, 1.0]]), "Q"),
    (1, -np.eye(2), "Q"),
    (2, np.ones((2, 3)), "C"),
    (3, np.zeros((2, 2)), "R"),
    (3, np.eye(3), "R"),
    (4, np.zeros(3), "m0"),
    (5, np.array([[1.0, np.nan], [np.nan, 1.0]]), "P0"),
])
def test_lgssm_record_rejects_bad_input(index, bad, name):
    args = list(random_lgssm(np.random.default_rng(0), 2, 2, 4))[:6]
    args[index] = bad
    with pytest.raises(ValueError, match=name):
        LGSSMParams(*args)


@pytest.mark.parametrize("bad", [np.ones((4, 3)), np.full((4, 2), np.inf), np.zeros((0, 2))])
def test_kalman_filter_rejects_bad_observations(bad):
    params = LGSSMParams(*random_lgssm(np.random.default_rng(0), 2, 2, 4)[:6])
    with pytest.raises(ValueError, match="ys"):
        kalman_filter(params, bad)
    with pytest.raises(ValueError, match="ys"):
        rts_smoother(params, bad)
    with pytest.raises(ValueError, match="params"):
        kalman_filter(tuple(random_lgssm(np.random.default_rng(0), 2, 2, 4)[:6]), bad)


def test_gradient_and_vmap_through_the_record(rng):
    """jax.grad of log p(y) with respect to the record's leaves matches central finite
    differences (rel 1e-6: step 1e-6 relative, truncation O(h^2) ~ 1e-12 and rounding
    ~1e-16 |log p| / h ~ 1e-9 relative), and vmap over stacked records equals the
    records run one by one (to 1e-12: batched and unbatched matrix products may round
    differently)."""
    from bayesnn.core import stack_params

    A, Q, C, R, m0, P0, ys = random_lgssm(rng, 2, 1, 30)
    params = LGSSMParams(0.5 * A, Q, C, R, m0, P0)

    def loglik(p):
        return kalman_filter(p, ys).log_marginal_likelihood

    grad = jax.grad(loglik)(params)
    for name in ("A", "Q", "R", "m0"):
        base = np.asarray(getattr(params, name))
        for index in np.ndindex(base.shape):
            h = 1e-6 * max(1.0, abs(base[index]))
            plus, minus = base.copy(), base.copy()
            plus[index] += h
            minus[index] -= h
            if name in ("Q", "R") and index[0] != index[1]:  # keep the matrix symmetric
                plus[index[::-1]] += h
                minus[index[::-1]] -= h
            fd = (float(loglik(params.replace(**{name: plus})))
                  - float(loglik(params.replace(**{name: minus})))) / (2 * h)
            g = float(np.asarray(getattr(grad, name))[index])
            if name in ("Q", "R") and index[0] != index[1]:
                g += float(np.asarray(getattr(grad, name))[index[::-1]])
            assert abs(g - fd) <= 1e-6 * max(abs(fd), 1.0), (name, index, g, fd)
    batch = stack_params([params, params.replace(m0=m0 + 1.0), params.replace(A=0.3 * A)])
    values = jax.vmap(loglik)(batch)
    for k, p in enumerate([params, params.replace(m0=m0 + 1.0), params.replace(A=0.3 * A)]):
        assert abs(float(values[k]) - float(loglik(p))) <= 1e-12 * abs(float(loglik(p)))


def test_exact_references_refuse_float32():
    params = LGSSMParams(*random_lgssm(np.random.default_rng(0), 2, 2, 4)[:6])
    ys = np.zeros((4, 2))
    enable_x64(False)
    try:
        for call in (lambda: kalman_filter(params, ys),
                     lambda: discretize_lds([[-1.0]], [[1.0]], 0.1),
                     lambda: steady_state_kalman_bucy([[-1.0]], [[1.0]], [[1.0]], [[1.0]]),
                     lambda: kalman_bucy_posterior(ou_params(), np.zeros((3, 1)), dt=1e-3)):
            with pytest.raises(PrecisionError):
                call()
    finally:
        enable_x64(True)
    assert jnp.zeros(()).dtype == jnp.float64


def test_continuous_functions_reject_bad_input():
    with pytest.raises(ValueError, match="dt"):
        discretize_lds([[-1.0]], [[1.0]], 0.0)
    with pytest.raises(ValueError, match="noise_cov_cont"):
        discretize_lds([[-1.0]], [[-1.0]], 0.1)
    with pytest.raises(ValueError, match="A_cont"):
        discretize_lds([[-1.0, 0.0]], [[1.0]], 0.1)
    with pytest.raises(ValueError, match="R_density"):
        steady_state_kalman_bucy([[-1.0]], [[1.0]], [[1.0]], [[0.0]])
    with pytest.raises(ValueError, match="B_noise_cov"):
        steady_state_kalman_bucy([[-1.0]], [[1.0, 0.0]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="C"):
        steady_state_kalman_bucy([[-1.0]], [[1.0]], [[1.0, 2.0]], [[1.0]])
    with pytest.raises(ValueError, match="dt"):
        kalman_bucy_mean([[-1.0]], [[1.0]], [[1.0]], np.zeros((3, 1)), -1.0, [0.0])
    with pytest.raises(ValueError, match="y_increments"):
        kalman_bucy_mean([[-1.0]], [[1.0]], [[1.0]], np.zeros((3, 2)), 0.1, [0.0])
    with pytest.raises(ValueError, match="input_convention"):
        kalman_bucy_mean([[-1.0]], [[1.0]], [[1.0]], np.zeros((3, 1)), 0.1, [0.0], input_convention="euler")
    with pytest.raises(ValueError, match="dy"):
        kalman_bucy_posterior(ou_params(), np.zeros((10, 2)), dt=DT)
    with pytest.raises(ValueError, match="params"):
        kalman_bucy_posterior(LGSSMParams([[0.5]], [[1.0]], [[1.0]], [[1.0]], [0.0], [[1.0]]),
                              np.zeros((10, 1)), dt=DT)


# ----------------------------------------------------------------------------- Kalman-Bucy posterior
DT = 1e-4


def test_kalman_bucy_posterior_closed_forms():
    """OU: F = -sqrt(1/tau^2 + sigma^2/obs^2), K = -F - 1/tau, P = obs^2 K (1e-14: exact
    up to the Riccati solver's rounding, measured <= 3.4e-16); oscillator: Riccati
    residual <= 1e-13 |Q| (measured 1.5e-14)."""
    tau, sigma, obs = 0.2, 2.0, 0.2
    ex = kalman_bucy_posterior(ou_params(tau, sigma, obs), np.zeros((3, 1)), dt=DT)
    a = 1 / tau
    F = -math.sqrt(a * a + sigma**2 / obs**2)
    K = -F - a
    P = obs**2 * K
    assert abs(ex.gain[0, 0] - K) <= 1e-13 * K
    assert abs(ex.covariance[0, 0] - P) <= 1e-13 * P
    assert abs(ex.generator[0, 0] - F) <= 1e-13 * abs(F)
    prob = oscillator_params()
    ex2 = kalman_bucy_posterior(prob, np.zeros((3, 1)), dt=DT)
    A, Q, C, R = (np.asarray(m) for m in (prob.A, prob.Q, prob.C, prob.R))
    P2 = ex2.covariance
    res = A @ P2 + P2 @ A.T - P2 @ C.T @ np.linalg.solve(R, C @ P2) + Q
    assert np.max(np.abs(res)) <= 1e-13 * np.max(np.abs(Q))
    assert np.max(np.real(np.linalg.eigvals(ex2.generator))) < 0


def first_order_mean_tol(ex, C, dt, scale):
    """Mean mismatch of the discrete filter vs the steady-gain KB mean: per-step
    O(dt^2 r^2) with r = ||F|| + ||K C||, accumulated over the filter memory
    1/|Re eig F| / dt steps, times the signal size ``scale``."""
    r = np.linalg.norm(ex.generator, 2) + np.linalg.norm(ex.gain @ C, 2)
    tau = 1.0 / -float(np.max(np.real(np.linalg.eigvals(ex.generator))))
    return dt * r**2 * tau * scale


@pytest.mark.parametrize("make", [ou_params, oscillator_params])
def test_time_varying_filter_reaches_steady_state(make):
    problem = make()
    n = int(round(4.0 / DT))
    s = sample_linear_gaussian(problem, key=jax.random.fold_in(jax.random.PRNGKey(20261128), 1),
                               dt=DT, n_steps=n)
    ex = kalman_bucy_posterior(problem, s.dy, dt=DT, time_varying=True)
    R, C = np.asarray(problem.R), np.asarray(problem.C)
    # covariance: filtered vs continuous differ by dt K R K^T / 2 to first order
    tol_P = DT * np.max(np.abs(ex.gain @ R @ ex.gain.T))
    assert np.max(np.abs(ex.tv_covariances[-1] - ex.covariance)) <= tol_P
    tau = 1.0 / -float(np.max(np.real(np.linalg.eigvals(ex.generator))))
    after = np.asarray(s.times) > 10 * tau  # transient e^-10
    dm = np.max(np.abs(ex.tv_means[after] - ex.means[after]))
    assert dm <= first_order_mean_tol(ex, C, DT, np.max(np.abs(ex.means[after])))


def test_sampler_discretisation_equals_the_reference():
    """The sampler's own Van Loan step (forward block) equals discretize_lds (backward
    block; independent code): 1e-13 relative to the largest entry (the oscillator's
    off-diagonal Q_d is exactly 0, so an elementwise rtol would compare rounding noise)."""
    for problem in (ou_params(), oscillator_params(3.0, 0.5, 2.0, 0.3)):
        for dt in (1e-4, 1e-2):
            Ad, Qd = _van_loan(np.asarray(problem.A), np.asarray(problem.Q), dt)
            A2, Q2 = discretize_lds(problem.A, problem.Q, dt)
            np.testing.assert_allclose(Ad, A2, rtol=0, atol=1e-13)
            np.testing.assert_allclose(Qd, Q2, rtol=0, atol=1e-13 * float(np.max(np.abs(Q2))))
    lgssm = sampled_lgssm(ou_params(), 1e-3)
    assert float(lgssm.R[0, 0]) == pytest.approx(0.04 / 1e-3, rel=1e-15)


def test_continuous_record_rejects_bad_input():
    with pytest.raises(ValueError, match="C"):
        LinearGaussianParams([[-1.0]], [[1.0]], [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="Q"):
        LinearGaussianParams(-np.eye(2), np.eye(3), [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="R"):
        LinearGaussianParams(-np.eye(2), np.eye(2), [[1.0, 0.0]], np.eye(2))
    with pytest.raises(ValueError, match="A"):
        LinearGaussianParams(np.ones((2, 3)), np.eye(2), [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="A must be Hurwitz"):
        LinearGaussianParams([[1.0]], [[1.0]], [[1.0]], [[0.1]])
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match="obs_noise"):
            ou_params(obs_noise=bad)
        with pytest.raises(ValueError, match="obs_noise"):
            oscillator_params(obs_noise=bad)
    for R in ([[0.0]], [[-0.04]]):
        with pytest.raises(ValueError, match="R"):
            LinearGaussianParams([[-5.0]], [[4.0]], [[1.0]], R)
    with pytest.raises(ValueError, match="z0"):
        sample_linear_gaussian(oscillator_params(), key=0, dt=DT, n_steps=10, z0=[0.0])
    with pytest.raises(ValueError, match="n_steps"):
        sample_linear_gaussian(oscillator_params(), key=0, dt=DT, n_steps=0)
