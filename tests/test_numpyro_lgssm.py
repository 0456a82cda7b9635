"""Linear-Gaussian NumPyro references: dense NumPyro posterior, JAX Kalman, closed forms."""
import numpy as np
import pytest

from bayesnn.exact import kalman as exact_kalman
from bayesnn.numpyro_models import lgssm
from bayesnn.processes.linear_gaussian import LGSSMParams

# All quantities are exact, so float64 rounding only: every check against EXACT passed at
# 1e-14 (relative or absolute as written), so 3e-14 is a >= 3x margin (it was 1e-9).
EXACT = 3e-14
DENSE_STEPS = 120  # >= the steps the slowest Riccati case below needs (119)


def _simulate(rng, ssm, n_steps):
    A, Q, C, R = (np.asarray(m) for m in (ssm.A, ssm.Q, ssm.C, ssm.R))
    x = rng.multivariate_normal(np.asarray(ssm.m0), np.asarray(ssm.P0))
    ys = []
    for _ in range(n_steps):
        x = A @ x + rng.multivariate_normal(np.zeros(len(x)), Q)
        ys.append(C @ x + rng.multivariate_normal(np.zeros(C.shape[0]), R))
    return np.array(ys)


# The OU series has DENSE_STEPS steps so that its dense posterior (D = 1) shares one
# compiled function with test_scalar_steady_state_riccati.
@pytest.mark.parametrize("make, n_steps", [
    (lambda: lgssm.ou_lgssm(tau=0.05, sigma=2.0, dt=1e-2, obs_std=0.5), DENSE_STEPS),
    (lambda: lgssm.oscillator_lgssm(frequency=4.0, decay=3.0, sigma=1.0, dt=1e-2,
                                    obs_std=0.3), 40),
])
def test_numpyro_dense_equals_kalman(rng, make, n_steps):
    ssm = make()
    ys = _simulate(rng, ssm, n_steps)
    dense = lgssm.lgssm_posterior(ssm, ys)
    filt = lgssm.kalman_filter(ssm, ys)
    smooth = lgssm.rts_smoother(ssm, ys)
    np.testing.assert_allclose(dense.means, smooth.means, rtol=0, atol=EXACT)
    np.testing.assert_allclose(dense.covariances, smooth.covariances, rtol=0, atol=EXACT)
    assert abs(dense.log_marginal_likelihood - filt.log_marginal_likelihood) <= EXACT * abs(
        filt.log_marginal_likelihood)
    prefix = lgssm.lgssm_filtered_dense(ssm, ys[:15])
    np.testing.assert_allclose(prefix.means, filt.means[:15], rtol=0, atol=EXACT)
    np.testing.assert_allclose(prefix.covariances, filt.covariances[:15], rtol=0, atol=EXACT)
    # and helper-1's independent Kalman implementation
    ref = exact_kalman.kalman_filter(ssm, ys)
    np.testing.assert_allclose(filt.means, ref.means, rtol=0, atol=EXACT)
    assert abs(filt.log_marginal_likelihood - ref.log_marginal_likelihood) <= EXACT * abs(
        ref.log_marginal_likelihood)


@pytest.mark.parametrize("a, q, c, r", [(0.9, 0.5, 1.0, 0.2), (0.99, 0.01, 2.0, 3.0),
                                        (-0.5, 1.0, 0.5, 1.0), (1.2, 0.3, 1.0, 0.5)])
def test_scalar_steady_state_riccati(rng, a, q, c, r):
    ssm = LGSSMParams([[a]], [[q]], [[c]], [[r]], [0.0], [[1.0]])
    ys = rng.normal(size=(400, 1))
    filt = lgssm.kalman_filter(ssm, ys)
    steady = lgssm.scalar_steady_state(a, q, c, r)
    # the Riccati map contracts geometrically; after 400 steps it sits at its fixed point
    assert abs(float(filt.predicted_covariances[-1, 0, 0]) - steady.predicted_variance) <= (
        EXACT * steady.predicted_variance)
    assert abs(float(filt.covariances[-1, 0, 0]) - steady.filtered_variance) <= (
        EXACT * steady.filtered_variance)
    # the root solves the DARE
    p = steady.predicted_variance
    assert abs(a * a * p * r / (c * c * p + r) + q - p) <= 1e-12 * p
    # NumPyro's dense posterior: its last filtered variance reaches the steady state once
    # the Riccati contraction (a (1 - K c))^2 per step has shrunk the start error below 1e-12
    # (a common length DENSE_STEPS >= n_steps for all cases: one compiled dense posterior;
    # extra steps only shrink the start error further)
    contraction = (a * (1.0 - steady.gain * c)) ** 2
    n_steps = int(np.ceil(np.log(1e-12) / np.log(contraction)))
    assert n_steps <= DENSE_STEPS
    dense = lgssm.lgssm_posterior(ssm, ys[:DENSE_STEPS])
    # basis: the start error shrinks below 1e-12 (relative to |P0 - P*|, not to P*):
    # measured 1.44e-12 of P* on the slowest case (a = 0.99), bound 5e-12 (~3.5x).
    assert abs(float(dense.covariances[-1, 0, 0]) - steady.filtered_variance) <= (
        5e-12 * steady.filtered_variance)


def test_ou_discretisation_matches_closed_form():
    ssm = lgssm.ou_lgssm(tau=0.1, sigma=1.5, dt=0.01, obs_std=1.0)
    A, Q = exact_kalman.discretize_lds(np.array([[-10.0]]), np.array([[1.5 ** 2]]), 0.01)
    assert abs(float(ssm.A[0, 0]) - float(A[0, 0])) <= 1e-14
    assert abs(float(ssm.Q[0, 0]) - float(Q[0, 0])) <= EXACT * float(Q[0, 0])


def test_bad_lgssm_input():
    with pytest.raises(ValueError, match="tau"):
        lgssm.ou_lgssm(tau=0.0, sigma=1.0, dt=0.01, obs_std=1.0)
    with pytest.raises(ValueError, match="dt"):
        lgssm.oscillator_lgssm(1.0, 1.0, 1.0, -0.01, 1.0)
    with pytest.raises(ValueError, match="Q"):
        LGSSMParams([[1.0]], [[-1.0]], [[1.0]], [[1.0]], [0.0], [[1.0]])
    with pytest.raises(ValueError, match="C"):
        LGSSMParams([[1.0]], [[1.0]], [[1.0, 2.0]], [[1.0]], [0.0], [[1.0]])
    ssm = lgssm.ou_lgssm(0.1, 1.0, 0.01, 1.0)
    with pytest.raises(ValueError, match="ys"):
        lgssm.kalman_filter(ssm, np.zeros((5, 2)))
    # the dense NumPyro posterior needs Q and P0 positive definite (MultivariateNormal)
    singular = LGSSMParams([[1.0]], [[0.0]], [[1.0]], [[1.0]], [0.0], [[1.0]])
    with pytest.raises(ValueError, match="Q must be positive definite"):
        lgssm.lgssm_posterior(singular, np.zeros((5, 1)))
    with pytest.raises(ValueError, match="params"):
        lgssm.kalman_filter((ssm.A, ssm.Q), np.zeros((5, 1)))


# ----------------------------------------------------------------------------- continuous time
def _kb_cases():
    from bayesnn.processes.linear_gaussian import oscillator_params, ou_params
    return [ou_params(), oscillator_params()]


@pytest.mark.parametrize("problem", _kb_cases(), ids=["ou", "oscillator"])
def test_steady_state_kalman_bucy_against_numpyro_posterior(problem):
    """NumPyro's dense LGSSM posterior (no Kalman recursion) on a short run of the
    sampled grid: the last step's posterior is the filtered one. (a) It equals the
    time-varying discrete filter of bayesnn.exact to round-off; (b) with the prior at the
    stationary posterior N(0, P) it matches the steady-gain Kalman-Bucy mean and
    covariance to first order in dt (tolerances of test_exact_kalman)."""
    import jax

    from bayesnn.exact.kalman_bucy import kalman_bucy_posterior, sampled_lgssm
    from bayesnn.processes.linear_gaussian import sample_linear_gaussian
    from tests.test_exact_kalman import first_order_mean_tol

    dt, n = 1e-3, 20
    s = sample_linear_gaussian(problem, key=jax.random.fold_in(jax.random.PRNGKey(20261128), 2),
                               dt=dt, n_steps=n)
    ex = kalman_bucy_posterior(problem, s.dy, dt=dt, time_varying=True)
    grid = sampled_lgssm(problem, dt)
    post = lgssm.lgssm_posterior(grid, s.dy / dt)
    # dense conditioning of 20 steps (observation noise R / dt: ill-conditioned) vs the
    # recursion, both exact: measured means 5.0e-14 (ou) and 1.16e-13 (oscillator),
    # covariances 1.1e-12 (oscillator, |P| ~ 0.5) absolute; bounds 3e-13 and 3e-12 (~2.7x).
    assert np.max(np.abs(np.asarray(post.means[-1]) - ex.tv_means[-1])) <= 3e-13
    assert np.max(np.abs(np.asarray(post.covariances[-1]) - ex.tv_covariances[-1])) <= 3e-12
    post_ss = lgssm.lgssm_posterior(grid.replace(P0=ex.covariance), s.dy / dt)
    R, C = np.asarray(problem.R), np.asarray(problem.C)
    tol_P = dt * np.max(np.abs(ex.gain @ R @ ex.gain.T))
    assert np.max(np.abs(np.asarray(post_ss.covariances[-1]) - ex.covariance)) <= tol_P
    tol_m = first_order_mean_tol(ex, C, dt, np.max(np.abs(ex.means)))
    assert np.max(np.abs(np.asarray(post_ss.means[-1]) - ex.means[-1])) <= tol_m


def test_continuous_models_match_numpyro_conventions():
    """ou_lgssm / oscillator_lgssm (closed forms) are the exact discretisations of
    ou_params / oscillator_params (Van Loan), with the same stationary prior."""
    import math

    from bayesnn.exact.kalman_bucy import sampled_lgssm
    from bayesnn.processes.linear_gaussian import oscillator_params, ou_params

    dt = 1e-3
    grid = sampled_lgssm(ou_params(0.2, 2.0, 0.2), dt)
    ou = lgssm.ou_lgssm(0.2, 2.0, dt, math.sqrt(0.04 / dt))
    for name in ("A", "Q", "P0", "R"):
        # closed form vs Van Loan, float64 rounding (a wrong term is O(dt) or larger)
        np.testing.assert_allclose(getattr(ou, name), getattr(grid, name), rtol=1e-12, atol=1e-14)
    grid = sampled_lgssm(oscillator_params(1.0, 1.0, 1.0, 0.1), dt)
    osc = lgssm.oscillator_lgssm(1.0, 1.0, 1.0, dt, math.sqrt(0.01 / dt))
    for name in ("A", "Q", "P0", "C", "R"):
        np.testing.assert_allclose(getattr(osc, name), getattr(grid, name), rtol=1e-12, atol=1e-14)
