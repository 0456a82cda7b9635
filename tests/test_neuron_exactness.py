"""Exactness of the Bayesian neuron's integrators (Denève 2004, Sec. 1.1; Snyder 1972).

Default setting: tests/neuron_setup.py (N = 20, q ~ U(5, 30) Hz, r_on = 1 Hz,
r_off = 3 Hz). Tolerances are float64 rounding over the lengths used (exact claims),
or the bounds stated with each test.
"""
import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import expit

from bayesnn import processes
from bayesnn.exact.hmm import ctmc_transition_matrix, hmm_forward, poisson_log_likelihoods
from bayesnn.exact.mmpp import mmpp_filter
from bayesnn.neuron import NeuronParams, filter_counts, simulate
from tests.neuron_setup import default_params, input_spikes


def _expm_log_odds(params, log_odds0, times, theta):
    """Reference: propagate (rho1, rho0) with scipy's matrix exponential."""
    r_on, r_off, theta = float(params.r_on), float(params.r_off), float(theta)
    generator = np.array([[-r_off - theta, r_on], [r_off, -r_on]])
    start = np.array([expit(log_odds0), expit(-log_odds0)])
    values = []
    for t in times:
        rho = expm(generator * t) @ start
        values.append(np.log(rho[0]) - np.log(rho[1]))
    return np.array(values)


def _forward_reference(params, log_liks, dt):
    prior = float(params.stationary_prob_on)
    return hmm_forward(np.array([1 - prior, prior]),
                       ctmc_transition_matrix(float(params.r_on), float(params.r_off), dt),
                       log_liks)


def test_default_setting_is_asymmetric():
    # Swapped switching rates must change every number the tests compare.
    params = default_params()
    assert float(params.r_on) == 1.0 and float(params.r_off) == 3.0
    assert abs(float(params.prior_log_odds) + np.log(3.0)) < 1e-15


def test_discrete_neuron_equals_probability_forward_filter():
    params = default_params()
    dt, n_steps = 1e-3, 20_000
    binned = processes.sample_binned(params, key=1, dt=dt, n_steps=n_steps)
    run = filter_counts(params, binned.counts, dt=dt, method="discrete")
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    reference = _forward_reference(params, poisson_log_likelihoods(binned.counts, q_on, q_off, dt), dt)
    # float64 rounding over 20,000 bins: measured 3.0e-15 (probability) and 0 (log p,
    # |log p| ~ 3.5e4); bounds 1e-13 absolute and relative (conftest floor; were 1e-12, 1e-9)
    assert np.max(np.abs(expit(np.asarray(run.log_odds)) - np.asarray(reference.filtered)[:, 1])) < 1e-13
    total = float(np.sum(run.log_normalizers))
    assert abs(total - float(reference.log_marginal_likelihood)) <= 1e-13 * abs(total)


def test_discrete_bernoulli_bins_equal_forward_filter():
    params = default_params()
    dt, n_steps = 5e-4, 10_000
    binned = processes.sample_binned(params, key=2, dt=dt, n_steps=n_steps, observation="bernoulli")
    run = filter_counts(params, binned.counts, dt=dt, observation="bernoulli")
    counts = np.asarray(binned.counts)
    p_on, p_off = np.asarray(params.q_on) * dt, np.asarray(params.q_off) * dt
    log_lik = np.stack([counts @ np.log(p_off) + (1 - counts) @ np.log1p(-p_off),
                        counts @ np.log(p_on) + (1 - counts) @ np.log1p(-p_on)], axis=1)
    reference = _forward_reference(params, log_lik, dt)
    # measured 2.6e-15 (probability) and 0 (log p); bounds as in the Poisson case
    assert np.max(np.abs(expit(np.asarray(run.log_odds)) - np.asarray(reference.filtered)[:, 1])) < 1e-13
    total = float(np.sum(run.log_normalizers))
    assert abs(total - float(reference.log_marginal_likelihood)) <= 1e-13 * abs(total)


def test_event_driven_equals_continuous_time_filter():
    params = default_params()
    trial = processes.sample_trial(params, key=3, duration=20.0)
    sample_times = np.linspace(0.001, 20.0, 20_000)
    run = simulate(params, trial.inputs, duration=20.0, sample_times=sample_times)
    reference = mmpp_filter(params.model, trial.inputs, duration=20.0, query_times=sample_times)
    # both exact: measured 8.7e-15 (|L| <= 7.9, 20 s); bound 1e-13 (conftest floor; was 1e-9)
    assert np.max(np.abs(np.asarray(run.log_odds) - np.asarray(reference.log_odds))) < 1e-13



def test_few_sample_times_equal_the_filter_and_the_scatter_merge(monkeypatch):
    # Up to 64 sample times, event_kernel merges them with the inputs by gathers; more
    # take the scatter merge (used by the test above). Samples on input spikes (a query
    # there sees the spike, in both), a repeated one and both ends.
    import jax
    import jax.numpy as jnp
    from bayesnn.neuron import kernels
    params = default_params()
    trial = processes.sample_trial(params, key=5, duration=5.0)
    spikes = np.asarray(trial.inputs.times)[:int(trial.inputs.n_events)]
    sample_times = np.sort(np.concatenate([spikes[[0, 3, 40, 41]], [0.0, 1.0, 1.0, 2.5, 5.0],
                                           np.linspace(0.3, 4.7, 4)]))
    assert len(sample_times) <= kernels._GATHER_SAMPLES
    run = simulate(params, trial.inputs, duration=5.0, sample_times=sample_times)
    reference = mmpp_filter(params.model, trial.inputs, duration=5.0, query_times=sample_times)
    # both exact: float64 rounding over 5 s; bound 1e-13 (conftest floor)
    assert np.max(np.abs(np.asarray(run.log_odds) - np.asarray(reference.log_odds))) < 1e-13

    def kernel_run():  # a fresh trace each call, so the merge threshold is read again
        prior = params.prior_log_odds
        return jax.jit(lambda inputs: kernels.event_kernel(
            params, inputs, jnp.asarray(sample_times), prior, prior, capacity=1024,
            drift_spikes=False))(trial.inputs)

    gathered = kernel_run()
    monkeypatch.setattr(kernels, "_GATHER_SAMPLES", -1)
    scattered = kernel_run()
    # the same merged stream, so the same operations on the same numbers: bit for bit
    for mine, theirs in zip(jax.tree_util.tree_leaves(gathered),
                            jax.tree_util.tree_leaves(scattered)):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))

def test_no_input_relaxation_matches_closed_form():
    params = NeuronParams(3.0, 1.5, np.array([10.0]), np.array([10.0]), g0=1.0)  # theta = 0
    times = np.linspace(0.0, 3.0, 301)
    run = simulate(params, input_spikes(params), duration=3.0, sample_times=times,
                   initial_log_odds=-4.0)
    p_inf = float(params.stationary_prob_on)
    p0 = expit(-4.0)
    expected = p_inf + (p0 - p_inf) * np.exp(-float(params.r_on + params.r_off) * times)
    # float64 rounding: measured 6.7e-16; bound 1e-13 (conftest floor; was 1e-12)
    assert np.max(np.abs(expit(np.asarray(run.log_odds)) - expected)) < 1e-13


@pytest.mark.parametrize("theta_sign", [1.0, -1.0])
def test_constant_drift_matches_matrix_exponential(theta_sign):
    q_on, q_off = (np.array([30.0, 8.0]), np.array([12.0, 5.0]))
    if theta_sign < 0:
        q_on, q_off = q_off, q_on
    params = NeuronParams(2.0, 5.0, q_on, q_off, g0=1.0)
    times = np.linspace(0.0, 2.0, 201)
    run = simulate(params, input_spikes(params), duration=2.0, sample_times=times,
                   initial_log_odds=1.5)
    expected = _expm_log_odds(params, 1.5, times, params.theta)
    # closed-form flow vs scipy expm: measured 2.0e-13 (theta > 0) and 4.9e-15 (theta < 0);
    # bound 6e-13 (~3x the larger; was 1e-12)
    assert np.max(np.abs(np.asarray(run.log_odds) - expected)) < 6e-13


def test_isolated_and_simultaneous_spikes_jump_by_weights():
    params = default_params()
    spike_time, weights = 0.37, np.asarray(params.weights)
    quiet = simulate(params, input_spikes(params), duration=1.0, sample_times=[spike_time])
    one = simulate(params, input_spikes(params, [spike_time], [4]), duration=1.0,
                   sample_times=[spike_time])
    assert abs(float(one.log_odds[0] - quiet.log_odds[0]) - weights[4]) < 1e-14
    channels = np.array([1, 7, 12])
    three = simulate(params, input_spikes(params, np.full(3, spike_time), channels),
                     duration=1.0, sample_times=[spike_time])
    # measured 1.7e-16 and 1.1e-16 (1 ulp); bounds 1e-13 (conftest floor)
    assert abs(float(three.log_odds[0] - quiet.log_odds[0]) - weights[channels].sum()) < 1e-13


def test_stiff_jump_is_stable_for_default_integrator():
    params = NeuronParams(10.0, 10.0, np.array([10.0]), np.array([10.0]), g0=1.0)
    run = simulate(params, input_spikes(params), duration=1e-3, sample_times=np.array([1e-3]),
                   initial_log_odds=12.0)
    reference = _expm_log_odds(params, 12.0, [1e-3], 0.0)[0]
    assert abs(reference - 4.6046) < 1e-3  # an independent scipy expm value, about 4.61
    assert np.isfinite(float(run.log_odds[0]))
    # exact closed form vs expm: measured 8.9e-16 (1 ulp of 4.6); bound 1e-13 (conftest floor; was 1e-6)
    assert abs(float(run.log_odds[0]) - reference) < 1e-13


def test_euler_stability_guard_engages_instead_of_blowing_up():
    # Plain Euler at dt = 0.1 ms sends 12 -> 12 + dt * phi(12) = -150 and then overflows.
    params = NeuronParams(10.0, 10.0, np.array([10.0]), np.array([10.0]), g0=1.0)
    reference = _expm_log_odds(params, 12.0, [1e-3], 0.0)[0]
    errors = []
    for dt in (1e-4, 5e-5, 2.5e-5, 1.25e-5):
        counts = np.zeros((int(round(1e-3 / dt)), 1), int)
        run = filter_counts(params, counts, dt=dt, method="euler", initial_log_odds=12.0)
        assert int(run.n_guarded) > 0
        assert np.all(np.isfinite(np.asarray(run.log_odds)))
        errors.append(abs(float(run.log_odds[-1]) - reference))
    # After the guard hands back to Euler the error is first order: halving dt must
    # shrink it (ratio 2 asymptotically).
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 1.5), ratios


@pytest.mark.parametrize("method", ["exact", "discrete", "euler"])
@pytest.mark.parametrize("start", [700.0, -700.0])
def test_log_odds_stay_finite_at_extreme_values(method, start):
    params = default_params()
    trial = processes.sample_trial(params, key=4, duration=0.5)
    run = simulate(params, trial.inputs, method=method, dt=1e-4, duration=0.5,
                   initial_log_odds=start, initial_prediction=start)
    assert np.all(np.isfinite(np.asarray(run.log_odds)))
    assert np.all(np.isfinite(np.asarray(run.prediction)))
