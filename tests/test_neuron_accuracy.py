"""Approximation error and optimality of the Bayesian neuron on model data
(Denève 2004's model; calibration and log-loss of the exact filter).

Default setting: tests/neuron_setup.py (asymmetric switching, r_on = 1 Hz, r_off = 3 Hz).
"""
import numpy as np
import pytest

from bayesnn import processes
from bayesnn.core import spike_arrays
from bayesnn.metrics import calibration_table, log_loss
from bayesnn.neuron import simulate, simulate_trials
from tests.neuron_setup import default_params

DTS = (1e-3, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5)


def _loglog_slope(dts, errors):
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


def test_time_stepped_errors_shrink_linearly_in_dt():
    params = default_params()
    duration = 20.0
    trial = processes.sample_trial(params, key=31, duration=duration)
    grid = 1e-3
    exact = np.asarray(simulate(params, trial.inputs, dt=grid, duration=duration).log_odds)
    errors = {"euler": [], "discrete": []}
    for dt in DTS:
        every = int(round(grid / dt))
        for method in errors:
            run = simulate(params, trial.inputs, method=method, dt=dt, duration=duration,
                           record_every=every)
            errors[method].append(float(np.mean(np.abs(np.asarray(run.log_odds) - exact))))
    for method, values in errors.items():
        # Mean, not max: the max is dominated by steep-leak episodes.
        # Measured at 1 ms (default r_on = 1, r_off = 3 Hz, key 31, deterministic): Euler
        # 5.4e-2, discrete (HMM) 6.0e-2; the band (0.02, 0.15) is ~2.5x either side (was
        # (5e-3, 0.2), 11x below). Slope: first order in dt (theory); measured 1.017 / 1.020.
        assert 0.02 < values[0] < 0.15, (method, values)
        assert 0.8 <= _loglog_slope(DTS, values) <= 1.2, (method, values)


@pytest.mark.slow
def test_exact_neuron_is_calibrated_and_beats_misspecified_filters():
    params = default_params()
    n_trials, duration = 100, 20.0  # 2000 s of model data
    trials = processes.sample_trials(params, key=32, n_trials=n_trials, duration=duration)
    # Calibration needs (nearly) independent samples: one per second, i.e. four
    # correlation times 1/(r_on + r_off) apart (state correlation e^-4 = 0.02).
    sparse = np.arange(1.0, duration + 0.5, 1.0)
    run = simulate_trials(params, trials.inputs, duration=duration, sample_times=sparse)
    states = np.asarray(trials.state_at(sparse))
    table = calibration_table(run.log_odds, states, n_bins=10, confidence=0.99)
    # Binomial: each bin's count against its predicted probability, Bonferroni-corrected
    # (family_wise default) so a calibrated filter has all bins inside w.p. >= 0.99
    # (samples 1 s = 4 correlation times apart: nearly independent; key 32 is fixed)
    assert table.inside.all(), table

    # Log-loss on a 10 ms grid: the exact filter beats mis-specified ones.
    grid = np.arange(1, int(duration / 1e-2) + 1) * 1e-2
    states = np.asarray(trials.state_at(grid))
    exact = lambda p: simulate_trials(p, trials.inputs, duration=duration, sample_times=grid)
    losses = {
        "exact": exact(params),
        "r_on x 2": exact(params.replace(r_on=2 * params.r_on)),
        "r_on <-> r_off": exact(params.replace(r_on=params.r_off, r_off=params.r_on)),
        "q swapped": exact(params.replace(q_on=params.q_off, q_off=params.q_on)),
        "euler 1 ms": simulate_trials(params, trials.inputs, method="euler", dt=1e-3,
                                      duration=duration, record_every=10),
    }
    losses = {name: log_loss(run.log_odds, states) for name, run in losses.items()}
    for name, value in losses.items():
        if name != "exact":
            # ordering only: the exact posterior minimises the expected log-loss (proper
            # scoring rule), so any mis-specified filter is worse in expectation
            assert losses["exact"] < value, losses


def test_sampled_inputs_have_the_model_rates():
    # Counts of input spikes per channel while x = 1 and x = 0 against q * time spent
    # in that state: a Poisson count, so a 4-sigma band (all 40 comparisons).
    params = default_params()
    duration = 400.0
    trial = processes.sample_trial(params, key=33, duration=duration)
    times, channels, _ = spike_arrays(trial.inputs)
    states = np.asarray(trial.state_at(times))
    switches = np.asarray(trial.switch_times)
    edges = np.concatenate([[0.0], switches[np.isfinite(switches)], [duration]])
    dwell_states = (int(trial.initial_state) + np.arange(len(edges) - 1)) % 2
    time_on = np.sum(np.diff(edges)[dwell_states == 1])
    # The fraction of time in x = 1 has sd ~ sqrt(2 p (1 - p) / ((r_on + r_off) T))
    # = 0.015 here (p = 1/4, T = 400 s), so 0.1 is a 6-sigma band.
    assert abs(time_on / duration - float(params.stationary_prob_on)) < 0.1
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    for state, rates, time_in in ((1, q_on, time_on), (0, q_off, duration - time_on)):
        counts = np.bincount(channels[states == state], minlength=params.n_inputs)
        expected = rates * time_in
        assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected)), (state, counts, expected)
