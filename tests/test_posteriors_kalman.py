"""Spiking Kalman filter vs the exact Kalman-Bucy posterior (bayesnn.posteriors.kalman).

Tolerances come from theory (docstrings of bayesnn.posteriors.kalman_bounds and
kalman_validation):
- box: ||x_hat - mu_K|| <= box_radius * amplification (+1e-9 round-off), rigorous in
  the greedy spike mode with mu = sigma_v = 0;
- z-scores: 99% binomial band around 0.95 (scipy.stats), samples 5 correlation times apart.
Seeds are fixed and were not tuned.
"""
import math

import jax
import numpy as np
import pytest

from bayesnn import io
from bayesnn.core import spike_arrays
from bayesnn.exact.kalman_bucy import kalman_bucy_posterior
from bayesnn.posteriors import kalman as pk
from bayesnn.posteriors import kalman_bounds as kb
from bayesnn.posteriors import kalman_validation as kv
from bayesnn.processes.linear_gaussian import (
    oscillator_params,
    ou_params,
    sample_linear_gaussian,
    sample_linear_gaussian_trials,
)

KEY = jax.random.PRNGKey(20261128)
DT = 1e-4


def _problems():
    return [("ou", ou_params(), 20), ("oscillator", oscillator_params(), 50)]


# ----------------------------------------------------------------------------- bounds
def test_box_radius_closed_forms():
    from bayesnn.scn.network.params import circular_decoder, pm_decoder
    g, T = 0.1, 0.00505
    assert kb.box_radius(pm_decoder(10, g), np.full(10, T)) == pytest.approx(T / g, rel=1e-12)
    for N in (8, 50):
        r = kb.box_radius(circular_decoder(N, g), np.full(N, T))
        # float64 rounding: measured <= 6.7e-16 relative; bound 1e-13 (conftest floor; was 1e-9)
        assert r == pytest.approx(T / g / math.cos(math.pi / N), rel=1e-13)
    with pytest.raises(ValueError, match="Gamma"):
        kb.box_radius(np.ones((1, 4)), np.full(4, T))
    with pytest.raises(ValueError, match="Gamma"):
        kb.box_radius(circular_decoder(8, g)[:, :3], np.full(3, T))  # three kernels in a half plane


def test_error_amplification_exact_in_1d_and_matches_brute_force():
    assert kb.error_amplification([[-11.0]], 11.0, DT) == 1.0
    A = np.array([[-6.0, -8.0], [5.0, -7.0]])
    lam, dt = 6.5, 1e-2
    Phi, B = np.eye(2) + dt * A, A + lam * np.eye(2)
    total, X = 0.0, B.copy()
    for _ in range(20000):  # ||Phi^m|| ~ e^{-6.5 m dt}: tail < 1e-50
        total += np.linalg.norm(X, 2)
        X = Phi @ X
    # the brute sum of 20,000 norms rounds at ~2e4 x 1e-16: measured 2.8e-12 relative,
    # rel 1e-11 (~3.6x; was 1e-8)
    assert kb.error_amplification(A, lam, dt) == pytest.approx(1 + dt * total, rel=1e-11)


def test_network_target_is_exact_mean():
    """A_net = (e^{F dt} - I)/dt: the Euler target x_{k+1} = x_k + dt (A_net x_k + K dy/dt)
    reproduces the exact impulse-convention Kalman-Bucy mean to round-off."""
    params = pk.make_spiking_kalman(oscillator_params(), n_neurons=50)
    s = sample_linear_gaussian(params.model, key=jax.random.fold_in(KEY, 3), dt=DT, n_steps=2000)
    ex = kalman_bucy_posterior(params.model, s.dy, dt=DT)
    A_net, c = np.asarray(params.network.A), pk.network_input(params, s.dy)
    x = np.zeros(2)
    out = []
    for ck in c:
        x = x + DT * (A_net @ x + ck)
        out.append(x)
    # measured 1.4e-15 over 2000 steps (|mean| <= 0.98); bound 1e-13 (conftest floor; was 1e-12)
    assert np.max(np.abs(np.array(out) - ex.means)) <= 1e-13


# ----------------------------------------------------------------------------- spiking
@pytest.mark.parametrize("label,problem,N", _problems())
def test_readout_within_box_after_transients(label, problem, N):
    params = pk.make_spiking_kalman(problem, n_neurons=N, decoder_norm=0.1, dt=DT)
    bound = kb.error_bound(params)
    assert bound.rigorous
    _, res, acc = kv.kalman_trial(params, key=jax.random.fold_in(KEY, 4), duration=3.0)
    assert int(res.n_cap_hits) == 0
    assert acc.max_error <= bound.error_bound + kb.ROUNDOFF
    if problem.n_dims == 1:  # exact network: the bound is the box half-width T/|Gamma|
        T = float(np.asarray(params.network.thresholds)[0])
        assert bound.amplification == 1.0
        assert bound.error_bound == pytest.approx(T / 0.1, rel=1e-12)
    # the readout must actually track: its error is far below the posterior spread
    # (measured rmse / sd 0.058 (ou), 0.082 and 0.038 (oscillator); 0.2 is ~2.4x)
    assert np.all(acc.rmse < 0.2 * np.sqrt(np.diag(acc.exact.covariance)))
    assert acc.spikes_per_second > 0


def test_greedy_absorbs_large_increments_one_per_step_does_not():
    """Pitfall 6: per-step |K dy| (sd 0.039) above the kernel norm 0.02. Greedy keeps
    the rigorous box; one spike per step falls behind and leaves it."""
    params = pk.make_spiking_kalman(ou_params(), n_neurons=20, decoder_norm=0.02, dt=1e-3)
    key = jax.random.fold_in(KEY, 5)
    _, greedy, acc_greedy = kv.kalman_trial(params, key=key, duration=5.0, spike_mode="greedy")
    _, _, acc_one = kv.kalman_trial(params, key=key, duration=5.0, spike_mode="one")
    bound = kb.error_bound(params).error_bound
    assert acc_greedy.max_error <= bound + kb.ROUNDOFF
    assert int(greedy.max_spikes_per_step) > 1
    assert acc_one.max_error > bound


@pytest.mark.parametrize("label,problem,N", _problems())
def test_exact_posterior_zscores_calibrated(label, problem, N):
    z, cov, S = kv.exact_zscore_coverage(problem, key=jax.random.fold_in(KEY, 6), dt=DT,
                                         duration=400.0)
    assert S >= 250
    lo, hi = kv.binomial_band(S, 0.95, 0.99)
    for d in range(problem.n_dims):
        assert lo <= cov[d] <= hi, (d, cov[d], (lo, hi))
    # the same z-scores are roughly N(0, 1): mean within 4 standard errors
    assert np.all(np.abs(np.mean(z, axis=0)) <= 4 / math.sqrt(S))


def test_binomial_band_matches_scipy():
    n, p = 400, 0.95
    lo, hi = kv.binomial_band(n, p, 0.99)
    half = 2.5758 * math.sqrt(p * (1 - p) / n)  # normal approximation of the 99% band
    assert abs(lo - (p - half)) <= 2 / n and abs(hi - (p + half)) <= 2 / n


# ----------------------------------------------------------------------------- call convention
def test_trials_determinism_overflow_and_xarray(tmp_path):
    """Per-trial increments: trial k of simulate_trials equals simulate with key
    fold_in(key, k) bit for bit; the same key gives the same run; a too-small capacity
    is grown (run_growing) to the same spikes; the result reloads from NetCDF."""
    params = pk.make_spiking_kalman(oscillator_params(), n_neurons=20, dt=1e-3)
    data = sample_linear_gaussian_trials(params.model, key=7, n_trials=3, dt=1e-3, n_steps=400)
    batch = pk.simulate_trials(params, data.dy, key=11, record_every=4)
    assert batch.readout.shape == (3, 100, 2)
    for k in range(3):
        one = pk.simulate(params, data.dy[k], key=jax.random.fold_in(jax.random.PRNGKey(11), k),
                          record_every=4)
        for name in ("times", "readout", "spike_counts", "max_spikes_per_step", "n_cap_hits"):
            np.testing.assert_array_equal(np.asarray(getattr(one, name)),
                                          np.asarray(getattr(batch, name))[k])
        for got, want in zip(spike_arrays(one.spikes), spike_arrays(batch.spikes, trial=k)):
            np.testing.assert_array_equal(got, want)  # capacities may differ, events not
    again = pk.simulate(params, data.dy[0], key=5)
    small = pk.simulate(params, data.dy[0], key=5, capacity=16)
    assert int(again.spikes.n_events) > 16
    for got, want in zip(spike_arrays(small.spikes), spike_arrays(again.spikes)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(small.readout), np.asarray(again.readout))
    path = io.write_netcdf(tmp_path / "kalman.nc", batch.to_xarray())
    loaded = io.load_dataset(path)
    np.testing.assert_array_equal(loaded["readout"].values, np.asarray(batch.readout))
    assert loaded["time"].attrs["units"] == "s" and loaded["readout"].dims == ("trial", "time", "dim")


# ----------------------------------------------------------------------------- bad input
def test_bad_input_rejected_before_simulation(monkeypatch):
    import importlib

    sim = importlib.import_module("bayesnn.scn.network.simulation")

    def boom(*args, **kwargs):
        raise AssertionError("simulate must not run")

    monkeypatch.setattr(sim, "simulate", boom)
    prob = ou_params()  # A = -5: A - K C = -5 - K is unstable for K <= -5
    with pytest.raises(ValueError, match="gain"):
        pk.make_spiking_kalman(prob, n_neurons=20, gain=[[-6.0]])
    osc = oscillator_params()  # trace(A - K C) = -2 - K_1 > 0 for K_1 = -3
    with pytest.raises(ValueError, match="gain"):
        pk.make_spiking_kalman(osc, n_neurons=20, gain=[[-3.0], [0.0]])
    with pytest.raises(ValueError, match="gain"):
        pk.make_spiking_kalman(osc, n_neurons=20, gain=np.ones((1, 2)))
    params = pk.make_spiking_kalman(prob, n_neurons=20)
    with pytest.raises(ValueError, match="gain"):
        params.replace(gain=np.array([[-6.0]]))
    with pytest.raises(ValueError, match="network.A"):
        params.replace(gain=np.array([[2.0]]))  # a different gain needs its own network
    with pytest.raises(ValueError, match="inputs"):
        pk.simulate(params, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="spike_mode"):
        pk.simulate(params, np.zeros((10, 1)), spike_mode="all")
    with pytest.raises(ValueError, match="dt"):
        pk.simulate(params, np.zeros((10, 1)), dt=1e-3)
    with pytest.raises(ValueError, match="decoder"):
        pk.make_spiking_kalman(osc, n_neurons=20, decoder="pm")
    with pytest.raises(ValueError, match="n_neurons"):
        pk.make_spiking_kalman(osc, n_neurons=1)
    with pytest.raises(ValueError, match="burn_in"):
        kv.kalman_trial(params, key=0, duration=0.1, burn_in=0.2)
    with pytest.raises(ValueError, match="duration"):
        kv.kalman_trial(params, key=0, duration=DT / 2)


# ----------------------------------------------------------------------------- validate
@pytest.mark.slow
def test_kalman_checks_pass():
    checks, numbers = kv.kalman_checks(seed=0, quick=True)
    failed = [(c.name, c.value, c.bound) for c in checks if not c.passed]
    assert not failed, failed
    assert set(numbers) == {"ou", "oscillator"}
