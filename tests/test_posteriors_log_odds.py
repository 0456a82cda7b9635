"""Spike-coding populations carrying binary posteriors (issue: log-odds populations)."""
import jax
import numpy as np
import pytest

from bayesnn.metrics import mean_kl
from bayesnn.posteriors.compare import accuracy_vs_spikes, format_rows
from bayesnn.posteriors.log_odds import (
    LogOddsProblem,
    decoder,
    default_problem,
    run_population,
    sample_data,
)

SIZES = (40, 80, 160, 320)


@pytest.fixture(scope="module")
def problem():
    return default_problem(n_variables=4)


@pytest.fixture(scope="module")
def data(problem):
    return sample_data(problem, jax.random.PRNGKey(41), 4.0, 1e-4)


def _slope(sizes, values):
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def test_tracking_error_falls_with_population_size(problem, data):
    runs = [run_population(problem, data, size, "tracking") for size in SIZES]
    kls = np.array([run.kl_from_exact for run in runs])
    rmses = np.array([run.rmse_to_target for run in runs])
    rates = np.array([run.spikes_per_second for run in runs])
    assert np.all(np.diff(kls) < 0)
    # Readout error uniform in a box of width gamma ~ 1/N: RMSE ~ 1/N, and
    # KL ~ sigma'(L) eps^2 / 2 ~ 1/N^2; spikes ~ N (module docstring). Measured slopes
    # here: KL -1.99, RMSE -1.00, spikes +1.00. Tolerance +-0.15 on the exponents.
    assert abs(_slope(SIZES, kls) + 2.0) < 0.15, kls
    assert abs(_slope(SIZES, rmses) + 1.0) < 0.15, rmses
    assert abs(_slope(SIZES, rates) - 1.0) < 0.15, rates
    for run in runs:
        # The network re-encodes the exact log-odds inside its box at every step.
        assert run.max_error_to_target <= run.box_half_width * (1 + 1e-9)
        assert run.discretisation_gap < 1e-9
        # RMSE of a uniform error in [-box, box] is box / sqrt(3) (within 15%).
        assert abs(run.rmse_to_target / (run.box_half_width / np.sqrt(3)) - 1) < 0.15


def test_implementing_mode_error_splits_into_its_parts(problem, data):
    runs = [run_population(problem, data, size, "implementing") for size in SIZES[::3]]
    for run in runs:
        # Spike coding: inside the box of the network's own (Euler) target at all times.
        assert run.max_error_to_network_target <= run.box_half_width * (1 + 1e-9)
        # ... hence within box + time-step gap of the exact linearised filter.
        assert run.max_error_to_target <= run.box_half_width + run.discretisation_gap + 1e-9
        # The time-step part is O(k dt) small against the box at these sizes.
        assert run.discretisation_gap < 0.2 * run.box_half_width
        # Linearisation dominates: r = 2 Hz lets L wander far from L* = 0.
        assert run.kl_linearisation > 10 * mean_kl(run.target, run.log_odds)
        assert run.kl_from_exact > 0.5 * run.kl_linearisation
    # The coding part shrinks with N while the linearisation part does not.
    assert runs[1].rmse_to_target < runs[0].rmse_to_target / 4
    assert abs(runs[1].kl_linearisation - runs[0].kl_linearisation) < 1e-12


def test_linearised_filter_is_exact_near_the_prior():
    # Weak evidence keeps L near L*, where the linearisation is accurate: the gap to the
    # exact filter must then be small (second order in L - L*).
    weak = LogOddsProblem(5.0, 5.0, np.full((1, 5), 10.5), np.full((1, 5), 10.0))
    data = sample_data(weak, jax.random.PRNGKey(42), 2.0, 1e-4)
    gap = np.max(np.abs(data.linear_log_odds - data.exact_log_odds))
    excursion = np.max(np.abs(data.exact_log_odds - weak.prior_log_odds))
    assert excursion < 0.5
    assert gap < 0.05 * excursion


def test_accuracy_against_spikes_table():
    problem = default_problem(n_variables=1, seed=3)
    data = sample_data(problem, jax.random.PRNGKey(43), 2.0, 1e-4)
    rows = accuracy_vs_spikes(problem, data, g0_values=(0.5, 2.0), population_sizes=(4, 16))
    table = format_rows(rows)
    assert "tracking" in table and "neuron" in table
    neuron = [row for row in rows if row.method == "neuron"]
    tracking = [row for row in rows if row.method == "tracking"]
    # Smaller g0 -> more output spikes; bigger populations -> more spikes, lower KL.
    assert neuron[0].spikes_per_second > neuron[1].spikes_per_second
    assert tracking[1].spikes_per_second > tracking[0].spikes_per_second
    assert tracking[1].kl_from_exact < tracking[0].kl_from_exact


def test_bad_input_is_rejected_before_simulation(problem, data):
    with pytest.raises(ValueError, match="n_neurons must be a multiple of 2 \\* n_variables"):
        run_population(problem, data, 42, "tracking")
    with pytest.raises(ValueError, match="mode must be one of"):
        run_population(problem, data, 40, "guessing")
    with pytest.raises(ValueError, match="K must agree"):
        run_population(default_problem(n_variables=2), data, 40, "tracking")
    with pytest.raises(ValueError, match="q_off must have shape"):
        LogOddsProblem(2.0, 2.0, np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="r_on must be > 0"):
        LogOddsProblem(0.0, 2.0, np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="decoder_span must be > 0"):
        decoder(2, 8, -1.0)
    with pytest.raises(ValueError, match="K = 1"):
        accuracy_vs_spikes(problem, data)
