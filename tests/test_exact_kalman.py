"""Tests for bayesnn.exact.kalman: linear-Gaussian references.

The brute force builds the joint Gaussian of (x_0, x_1..x_T, y_1..y_T) as an explicit
linear map of independent Gaussians and conditions it with dense linear algebra.
"""
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from bayesnn.exact import (
    discretize_lds,
    kalman_bucy_mean,
    kalman_filter,
    rts_smoother,
    steady_state_kalman_bucy,
)


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

    kf = kalman_filter(A, Q, C, R, m0, P0, ys)
    ks = rts_smoother(A, Q, C, R, m0, P0, ys)
    for k in range(n_steps):
        m_f, P_f = condition(mean, cov, x_index(k), y_index(k + 1), ys[:k + 1].ravel())
        np.testing.assert_allclose(kf.means[k], m_f, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(kf.covariances[k], P_f, rtol=1e-9, atol=1e-9)
        m_s, P_s = condition(mean, cov, x_index(k), y_index(n_steps), ys.ravel())
        np.testing.assert_allclose(ks.means[k], m_s, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ks.covariances[k], P_s, rtol=1e-9, atol=1e-9)
    obs = y_index(n_steps)
    log_ml = scipy.stats.multivariate_normal(mean[obs], cov[np.ix_(obs, obs)]).logpdf(ys.ravel())
    np.testing.assert_allclose(kf.log_marginal_likelihood, log_ml, rtol=1e-9)


def test_filter_handles_long_sequences(rng):
    A, Q, C, R, m0, P0, _ = random_lgssm(rng, 2, 1, 1)
    A = 0.9 * A / max(1.0, np.max(np.abs(np.linalg.eigvals(A))))
    ys = rng.normal(size=(20_000, 1))
    kf = kalman_filter(A, Q, C, R, m0, P0, ys)
    assert np.all(np.isfinite(kf.means)) and np.isfinite(kf.log_marginal_likelihood)
    np.testing.assert_allclose(kf.covariances[-1], kf.covariances[-1].T, atol=0)
    assert np.all(np.linalg.eigvalsh(np.asarray(kf.covariances[-1])) > 0)


# ----------------------------------------------------------------------------- continuous time


def test_discretize_scalar_ou_closed_form():
    a, sigma2, dt = 3.0, 0.7, 0.05  # dx = -a x dt + sqrt(sigma2) dW
    A, Q = discretize_lds([[-a]], [[sigma2]], dt)
    np.testing.assert_allclose(A[0, 0], np.exp(-a * dt), rtol=1e-14)
    np.testing.assert_allclose(Q[0, 0], sigma2 * -np.expm1(-2 * a * dt) / (2 * a), rtol=1e-12)


def test_discretize_matches_lyapunov_identity_and_semigroup(rng):
    A_cont = np.array([[-1.0, 2.0], [-3.0, -0.5]])  # stable
    sigma = random_spd(rng, 2)
    dt = 0.1
    A, Q = (np.asarray(x) for x in discretize_lds(A_cont, sigma, dt))
    np.testing.assert_allclose(A, scipy.linalg.expm(A_cont * dt), rtol=1e-13)
    # Stationary covariance P solves A_c P + P A_c^T + Sigma = 0, and Q = P - A P A^T.
    P = scipy.linalg.solve_continuous_lyapunov(A_cont, -sigma)
    np.testing.assert_allclose(Q, P - A @ P @ A.T, rtol=1e-10, atol=1e-12)
    # Two steps of dt equal one step of 2 dt.
    A2, Q2 = (np.asarray(x) for x in discretize_lds(A_cont, sigma, 2 * dt))
    np.testing.assert_allclose(A2, A @ A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Q2, A @ Q @ A.T + Q, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("a, q, c, r", [(-2.0, 0.5, 1.0, 0.1), (1.5, 2.0, 3.0, 0.4), (-0.1, 10.0, 0.2, 5.0)])
def test_steady_state_riccati_scalar_closed_form(a, q, c, r):
    """dx = a x dt + dW (var q), dy = c x dt + dV (var r): 2 a P - c^2 P^2 / r + q = 0,
    so c^2 P^2 - 2 a r P - q r = 0 and the positive root is
    P = (a r + sqrt(a^2 r^2 + q r c^2)) / c^2, with gain K = P c / r."""
    gain, cov = steady_state_kalman_bucy([[a]], [[q]], [[c]], [[r]])
    P = (a * r + np.sqrt(a * a * r * r + q * r * c * c)) / c ** 2
    np.testing.assert_allclose(cov[0, 0], P, rtol=1e-9)
    np.testing.assert_allclose(gain[0, 0], P * c / r, rtol=1e-9)
    assert a - gain[0, 0] * c < 0  # the filter dynamics are stable


def test_steady_state_riccati_matrix_residual(rng):
    A = np.array([[0.0, 1.0], [-4.0, -0.4]])
    sigma = np.diag([0.0, 1.0])
    C = np.array([[1.0, 0.0]])
    R = np.array([[0.05]])
    K, P = (np.asarray(x) for x in steady_state_kalman_bucy(A, sigma, C, R))
    residual = A @ P + P @ A.T - P @ C.T @ np.linalg.solve(R, C @ P) + sigma
    assert np.max(np.abs(residual)) < 1e-9 * np.max(np.abs(P @ C.T @ np.linalg.solve(R, C @ P)))
    assert np.all(np.linalg.eigvals(A - K @ C).real < 0)
    np.testing.assert_allclose(K, P @ C.T / R[0, 0], rtol=1e-12)


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
        np.testing.assert_allclose(means[k], want, rtol=1e-11, atol=1e-12)


def test_kalman_bucy_mean_impulse_convention():
    A, C, K = np.array([[-2.0]]), np.array([[1.0]]), np.array([[3.0]])
    dt = 0.01
    increments = np.zeros((10, 1))
    increments[4, 0] = 1.0  # one unit impulse at the end of bin 5 (t = 0.05)
    means = np.asarray(kalman_bucy_mean(A, K, C, increments, dt, [0.0], input_convention="impulse"))
    F = -2.0 - 3.0
    np.testing.assert_allclose(means[:4, 0], 0.0, atol=0)
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
    (6, np.ones((4, 3)), "ys"),
    (6, np.full((4, 2), np.inf), "ys"),
    (6, np.zeros((0, 2)), "ys"),
])
def test_kalman_filter_rejects_bad_input(index, bad, name):
    args = list(random_lgssm(np.random.default_rng(0), 2, 2, 4))
    args[index] = bad
    with pytest.raises(ValueError, match=name):
        kalman_filter(*args)
    with pytest.raises(ValueError, match=name):
        rts_smoother(*args)


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
