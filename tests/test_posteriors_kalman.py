"""Spiking Kalman filter vs the exact Kalman-Bucy posterior (bayesnn.posteriors.kalman).

Tolerances come from theory (module docstring of bayesnn.posteriors.kalman):
- box: ||x_hat - mu_K|| <= box_radius * amplification (+1e-9 round-off), rigorous in
  the greedy spike mode with mu = sigma_v = 0;
- z-scores: 99% binomial band around 0.95 (scipy.stats), samples 5 correlation times apart;
- steady state vs the discrete Kalman filter of the sampled grid: first-order in dt.
Seeds are fixed and were not tuned.
"""
import math

import jax
import numpy as np
import pytest

from bayesnn.exact.kalman import discretize_lds
from bayesnn.numpyro_models import lgssm as L
from bayesnn.posteriors import kalman as pk

KEY = jax.random.PRNGKey(20261128)
DT = 1e-4


def _problems():
    return [("ou", pk.ou_problem(), 20), ("oscillator", pk.oscillator_problem(), 50)]


# ----------------------------------------------------------------------------- exact
def test_scalar_steady_state_closed_form():
    tau, sigma, obs = 0.2, 2.0, 0.2
    ex = pk.exact_kalman_bucy(pk.ou_problem(tau, sigma, obs), np.zeros((3, 1)), DT)
    a = 1 / tau
    F = -math.sqrt(a * a + sigma**2 / obs**2)
    K = -F - a
    P = obs**2 * K
    assert abs(ex.gain[0, 0] - K) <= 1e-9 * K
    assert abs(ex.covariance[0, 0] - P) <= 1e-9 * P
    assert abs(ex.generator[0, 0] - F) <= 1e-9 * abs(F)
    # Riccati residual of the 2-D problem
    prob = pk.oscillator_problem()
    ex2 = pk.exact_kalman_bucy(prob, np.zeros((3, 1)), DT)
    P2 = ex2.covariance
    res = prob.A @ P2 + P2 @ prob.A.T - P2 @ prob.C.T @ np.linalg.solve(prob.R, prob.C @ P2) + prob.Q
    assert np.max(np.abs(res)) <= 1e-9 * np.max(np.abs(prob.Q))
    assert np.max(np.real(np.linalg.eigvals(ex2.generator))) < 0


def _first_order_mean_tol(ex, problem, dt, scale):
    """Mean mismatch of the discrete filter vs the steady-gain KB mean: per-step
    O(dt^2 r^2) with r = ||F|| + ||K C||, accumulated over the filter memory
    1/|Re eig F| / dt steps, times the signal size ``scale``."""
    r = np.linalg.norm(ex.generator, 2) + np.linalg.norm(ex.gain @ problem.C, 2)
    return dt * r**2 * pk.correlation_time(ex.generator) * scale


@pytest.mark.parametrize("label,problem,N", _problems())
def test_time_varying_filter_reaches_steady_state(label, problem, N):
    n = int(round(4.0 / DT))
    s = pk.sample_latent_and_observations(jax.random.fold_in(KEY, 1), problem, DT, n)
    ex = pk.exact_kalman_bucy(problem, s.dy, DT, time_varying=True)
    # covariance: filtered vs continuous differ by dt K R K^T / 2 to first order
    tol_P = DT * np.max(np.abs(ex.gain @ problem.R @ ex.gain.T))
    assert np.max(np.abs(ex.tv_covariances[-1] - ex.covariance)) <= tol_P
    after = s.times > 10 * pk.correlation_time(ex.generator)  # transient e^-10
    dm = np.max(np.abs(ex.tv_means[after] - ex.means[after]))
    assert dm <= _first_order_mean_tol(ex, problem, DT, np.max(np.abs(ex.means[after])))


@pytest.mark.parametrize("label,problem,N", _problems())
def test_steady_state_against_numpyro_posterior(label, problem, N):
    """NumPyro's dense LGSSM posterior (no Kalman recursion) on a short run: the last
    step's posterior is the filtered one. (a) equals the time-varying discrete filter to
    round-off; (b) with the prior at the stationary posterior N(0, P) it matches the
    steady-gain Kalman-Bucy mean and covariance to first order in dt."""
    dt, n = 1e-3, 20
    s = pk.sample_latent_and_observations(jax.random.fold_in(KEY, 2), problem, dt, n)
    Ad, Qd = discretize_lds(problem.A, problem.Q, dt)
    ex = pk.exact_kalman_bucy(problem, s.dy, dt, time_varying=True)
    post = L.lgssm_posterior(s.dy / dt, L.make_lgssm(Ad, Qd, problem.C, problem.R / dt,
                                                     problem.m0, problem.P0))
    assert np.max(np.abs(np.asarray(post.means[-1]) - ex.tv_means[-1])) <= 1e-9
    assert np.max(np.abs(np.asarray(post.covariances[-1]) - ex.tv_covariances[-1])) <= 1e-9
    post_ss = L.lgssm_posterior(s.dy / dt, L.make_lgssm(Ad, Qd, problem.C, problem.R / dt,
                                                        problem.m0, ex.covariance))
    tol_P = dt * np.max(np.abs(ex.gain @ problem.R @ ex.gain.T))
    assert np.max(np.abs(np.asarray(post_ss.covariances[-1]) - ex.covariance)) <= tol_P
    tol_m = _first_order_mean_tol(ex, problem, dt, np.max(np.abs(ex.means)))
    assert np.max(np.abs(np.asarray(post_ss.means[-1]) - ex.means[-1])) <= tol_m


def test_problem_conventions_match_numpyro_models():
    dt = 1e-3
    Ad, Qd = discretize_lds(pk.ou_problem(0.2, 2.0, 0.2).A, pk.ou_problem(0.2, 2.0, 0.2).Q, dt)
    ou = L.ou_lgssm(0.2, 2.0, dt, math.sqrt(0.04 / dt))
    assert np.allclose(ou.A, Ad, atol=1e-14) and np.allclose(ou.Q, Qd, atol=1e-14)
    assert np.allclose(ou.P0, pk.ou_problem(0.2, 2.0, 0.2).P0, atol=1e-14)
    prob = pk.oscillator_problem(1.0, 1.0, 1.0, 0.1)
    Ad, Qd = discretize_lds(prob.A, prob.Q, dt)
    osc = L.oscillator_lgssm(1.0, 1.0, 1.0, dt, math.sqrt(0.01 / dt))
    assert np.allclose(osc.A, Ad, atol=1e-14) and np.allclose(osc.Q, Qd, atol=1e-14)
    assert np.allclose(osc.P0, prob.P0, atol=1e-14)
    assert np.allclose(osc.C, prob.C)


# ----------------------------------------------------------------------------- bounds
def test_box_radius_closed_forms():
    from bayesnn.scn.network import circular_decoder, pm_decoder
    g, T = 0.1, 0.00505
    assert pk.box_radius(pm_decoder(10, g), np.full(10, T)) == pytest.approx(T / g, rel=1e-12)
    for N in (8, 50):
        r = pk.box_radius(circular_decoder(N, g), np.full(N, T))
        assert r == pytest.approx(T / g / math.cos(math.pi / N), rel=1e-9)
    with pytest.raises(ValueError, match="Gamma"):
        pk.box_radius(np.ones((1, 4)), np.full(4, T))
    with pytest.raises(ValueError, match="Gamma"):
        pk.box_radius(circular_decoder(8, g)[:, :3], np.full(3, T))  # three kernels in a half plane


def test_error_amplification_exact_in_1d_and_matches_brute_force():
    assert pk.error_amplification([[-11.0]], 11.0, DT) == 1.0
    A = np.array([[-6.0, -8.0], [5.0, -7.0]])
    lam, dt = 6.5, 1e-2
    Phi, B = np.eye(2) + dt * A, A + lam * np.eye(2)
    total, X = 0.0, B.copy()
    for _ in range(20000):  # ||Phi^m|| ~ e^{-6.5 m dt}: tail < 1e-50
        total += np.linalg.norm(X, 2)
        X = Phi @ X
    assert pk.error_amplification(A, lam, dt) == pytest.approx(1 + dt * total, rel=1e-8)


def test_network_target_is_exact_mean():
    """A_net = (e^{F dt} - I)/dt: the Euler target x_{k+1} = x_k + dt (A_net x_k + K dy/dt)
    reproduces the exact impulse-convention Kalman-Bucy mean to round-off."""
    prob = pk.oscillator_problem()
    net = pk.spiking_kalman_network(prob, n_neurons=50)
    s = pk.sample_latent_and_observations(jax.random.fold_in(KEY, 3), prob, DT, 2000)
    ex = pk.exact_kalman_bucy(prob, s.dy, DT)
    x = np.zeros(2)
    out = []
    for dy in s.dy:
        x = x + DT * (net.A_net @ x + net.gain @ dy / DT)
        out.append(x)
    assert np.max(np.abs(np.array(out) - ex.means)) <= 1e-12


# ----------------------------------------------------------------------------- spiking
@pytest.mark.parametrize("label,problem,N", _problems())
def test_readout_within_box_after_transients(label, problem, N):
    net = pk.spiking_kalman_network(problem, n_neurons=N, decoder_norm=0.1, dt=DT)
    assert net.bound_is_rigorous
    res = pk.run_spiking_kalman(net, jax.random.fold_in(KEY, 4), 3.0)
    assert res.n_cap_hits == 0
    assert res.max_error <= net.error_bound + pk.ROUNDOFF
    if problem.n_dims == 1:  # exact network: the bound is the box half-width T/|Gamma|
        T = float(np.asarray(net.net.thresholds)[0])
        assert net.amplification == 1.0
        assert net.error_bound == pytest.approx(T / 0.1, rel=1e-12)
    # the readout must actually track: its error is far below the posterior spread
    assert np.all(res.rmse < 0.2 * np.sqrt(np.diag(res.exact_covariance)))
    assert res.spikes_per_second > 0


def test_greedy_absorbs_large_increments_one_per_step_does_not():
    """Pitfall 6: per-step |K dy| (sd 0.039) above the kernel norm 0.02. Greedy keeps
    the rigorous box; one spike per step falls behind and leaves it."""
    prob = pk.ou_problem()
    net = pk.spiking_kalman_network(prob, n_neurons=20, decoder_norm=0.02, dt=1e-3)
    key = jax.random.fold_in(KEY, 5)
    greedy = pk.run_spiking_kalman(net, key, 5.0, spike_mode="greedy")
    one = pk.run_spiking_kalman(net, key, 5.0, spike_mode="one")
    assert greedy.max_error <= net.error_bound + pk.ROUNDOFF
    assert greedy.max_spikes_per_step > 1
    assert one.max_error > net.error_bound


@pytest.mark.parametrize("label,problem,N", _problems())
def test_exact_posterior_zscores_calibrated(label, problem, N):
    z, cov, S = pk.exact_zscore_coverage(problem, jax.random.fold_in(KEY, 6), DT, 400.0)
    assert S >= 250
    lo, hi = pk.binomial_band(S, 0.95, 0.99)
    for d in range(problem.n_dims):
        assert lo <= cov[d] <= hi, (d, cov[d], (lo, hi))
    # the same z-scores are roughly N(0, 1): mean within 4 standard errors
    assert np.all(np.abs(np.mean(z, axis=0)) <= 4 / math.sqrt(S))


def test_binomial_band_matches_scipy():
    n, p = 400, 0.95
    lo, hi = pk.binomial_band(n, p, 0.99)
    half = 2.5758 * math.sqrt(p * (1 - p) / n)  # normal approximation of the 99% band
    assert abs(lo - (p - half)) <= 2 / n and abs(hi - (p + half)) <= 2 / n


# ----------------------------------------------------------------------------- bad input
def test_bad_shapes():
    with pytest.raises(ValueError, match="C"):
        pk.make_kalman_problem([[-1.0]], [[1.0]], [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="Q"):
        pk.make_kalman_problem(-np.eye(2), np.eye(3), [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="R"):
        pk.make_kalman_problem(-np.eye(2), np.eye(2), [[1.0, 0.0]], np.eye(2))
    with pytest.raises(ValueError, match="A"):
        pk.make_kalman_problem(np.ones((2, 3)), np.eye(2), [[1.0, 0.0]], [[0.1]])
    with pytest.raises(ValueError, match="dy"):
        pk.exact_kalman_bucy(pk.ou_problem(), np.zeros((10, 2)), DT)
    with pytest.raises(ValueError, match="gain"):
        pk.spiking_kalman_network(pk.oscillator_problem(), n_neurons=20, gain=np.ones((1, 2)))
    with pytest.raises(ValueError, match="z0"):
        pk.sample_latent_and_observations(KEY, pk.oscillator_problem(), DT, 10, z0=[0.0])


def test_nonpositive_observation_noise():
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match="obs_noise"):
            pk.ou_problem(obs_noise=bad)
        with pytest.raises(ValueError, match="obs_noise"):
            pk.oscillator_problem(obs_noise=bad)
    for R in ([[0.0]], [[-0.04]]):
        with pytest.raises(ValueError, match="R"):
            pk.make_kalman_problem([[-5.0]], [[4.0]], [[1.0]], R)


def test_unstable_gain_rejected_before_simulation(monkeypatch):
    import importlib

    sim = importlib.import_module("bayesnn.scn.simulate")  # the module, not the function

    def boom(*args, **kwargs):
        raise AssertionError("simulate must not run")

    monkeypatch.setattr(sim, "simulate", boom)
    prob = pk.ou_problem()  # A = -5: A - K C = -5 - K is unstable for K <= -5
    with pytest.raises(ValueError, match="gain"):
        pk.spiking_kalman_network(prob, n_neurons=20, gain=[[-6.0]])
    osc = pk.oscillator_problem()  # trace(A - K C) = -2 - K_1 > 0 for K_1 = -3
    with pytest.raises(ValueError, match="gain"):
        pk.spiking_kalman_network(osc, n_neurons=20, gain=[[-3.0], [0.0]])
    net = pk.spiking_kalman_network(prob, n_neurons=20)
    bad = pk.sample_latent_and_observations(KEY, prob, DT, 10)
    with pytest.raises(ValueError, match="sample"):
        pk.run_spiking_kalman(net, KEY, 0.01 + DT, sample=bad, burn_in=0.0)
    with pytest.raises(ValueError, match="spike_mode"):
        pk.run_spiking_kalman(net, KEY, 1.0, spike_mode="all")
    with pytest.raises(ValueError, match="burn_in"):
        pk.run_spiking_kalman(net, KEY, 0.1, burn_in=0.2)


# ----------------------------------------------------------------------------- validate
@pytest.mark.slow
def test_kalman_checks_pass():
    checks, numbers = pk.kalman_checks(seed=0, quick=True)
    failed = [(c.name, c.value, c.bound) for c in checks if not c.passed]
    assert not failed, failed
    assert set(numbers) == {"ou", "oscillator"}
