"""Spike-coding populations carrying binary posteriors (bayesnn.posteriors.log_odds)."""
import jax
import numpy as np
import pytest

from bayesnn import io
from bayesnn.core import spike_arrays
from bayesnn.metrics import mean_kl
from bayesnn.posteriors.compare import accuracy_vs_spikes, format_rows
from bayesnn.posteriors.log_odds import simulate, simulate_trials
from bayesnn.posteriors.log_odds_data import (
    reference_log_odds,
    sample_population,
    sample_population_trials,
)
from bayesnn.posteriors.log_odds_params import (
    LogOddsPopulationParams,
    decoder,
    default_population,
    make_log_odds_population,
    with_population_size,
)
from bayesnn.posteriors.accuracy import population_accuracy

SIZES = (40, 80, 160, 320)
DURATION = 4.0


@pytest.fixture(scope="module")
def params():
    return default_population(n_variables=4)


@pytest.fixture(scope="module")
def trial(params):
    return sample_population(params, key=41, duration=DURATION)


@pytest.fixture(scope="module")
def reference(params, trial):
    return reference_log_odds(params, trial.inputs, duration=DURATION, dt=1e-4)


def _runs(params, trial, reference, mode, sizes):
    out = []
    for size in sizes:
        sized = with_population_size(params, size)
        result = simulate(sized, trial.inputs, duration=DURATION, mode=mode, reference=reference)
        out.append(population_accuracy(sized, result, trial, mode=mode))
    return out


def _slope(sizes, values):
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def test_tracking_error_falls_with_population_size(params, trial, reference):
    runs = _runs(params, trial, reference, "tracking", SIZES)
    kls = np.array([run.kl_from_exact for run in runs])
    rmses = np.array([run.rmse_to_target for run in runs])
    rates = np.array([run.spikes_per_second for run in runs])
    assert np.all(np.diff(kls) < 0)
    # Readout error uniform in a box of width gamma ~ 1/N: RMSE ~ 1/N, and
    # KL ~ sigma'(L) eps^2 / 2 ~ 1/N^2; spikes ~ N (module docstring). Measured exponents
    # (fixed key): -1.983, -0.995, 1.010, i.e. at most 0.017 off; tolerance +-0.05 (~3x;
    # was +-0.15).
    assert abs(_slope(SIZES, kls) + 2.0) < 0.05, kls
    assert abs(_slope(SIZES, rmses) + 1.0) < 0.05, rmses
    assert abs(_slope(SIZES, rates) - 1.0) < 0.05, rates
    for run in runs:
        # The network re-encodes the exact log-odds inside its box at every step.
        assert run.max_error_to_target <= run.box_half_width * (1 + 1e-9)
        assert run.discretisation_gap < 1e-13  # measured 6.7e-15 (rounding); was 1e-9
        # RMSE of a uniform error in [-box, box] is box / sqrt(3): measured within 1.6%
        # (0.2-1.6% over the sizes), bound 5% (~3x; was 15%).
        assert abs(run.rmse_to_target / (run.box_half_width / np.sqrt(3)) - 1) < 0.05


def test_implementing_mode_error_splits_into_its_parts(params, trial, reference):
    sizes = SIZES[::3]
    runs = _runs(params, trial, reference, "implementing", sizes)
    for size, run in zip(sizes, runs):
        # Spike coding: inside the box of the network's own (Euler) target at all times.
        assert run.max_error_to_network_target <= run.box_half_width * (1 + 1e-9)
        # ... hence within box + time-step gap of the exact linearised filter.
        assert run.max_error_to_target <= run.box_half_width + run.discretisation_gap + 1e-9
        # The time-step part is O(k dt) small against the box at these sizes.
        assert run.discretisation_gap < 0.2 * run.box_half_width
        # Linearisation dominates: r = 2 Hz lets L wander far from L* = 0.
        sized = with_population_size(params, size)
        result = simulate(sized, trial.inputs, duration=DURATION, mode="implementing",
                          reference=reference)
        assert run.kl_linearisation > 10 * mean_kl(np.asarray(result.target),
                                                   np.asarray(result.log_odds))
        assert run.kl_from_exact > 0.5 * run.kl_linearisation
    # The coding part shrinks with N while the linearisation part does not.
    assert runs[1].rmse_to_target < runs[0].rmse_to_target / 4
    assert abs(runs[1].kl_linearisation - runs[0].kl_linearisation) < 1e-12


def test_linearised_filter_is_exact_near_the_prior():
    # Weak evidence keeps L near L*, where the linearisation is accurate: the gap to the
    # exact filter must then be small (second order in L - L*).
    weak = make_log_odds_population(5.0, 5.0, np.full((1, 5), 10.5), np.full((1, 5), 10.0),
                                    n_neurons=4)
    trial = sample_population(weak, key=42, duration=2.0)
    ref = reference_log_odds(weak, trial.inputs, duration=2.0, dt=1e-4)
    gap = np.max(np.abs(ref.linear - ref.exact))
    excursion = np.max(np.abs(ref.exact - float(weak.prior_log_odds)))
    assert excursion < 0.5
    assert gap < 0.05 * excursion


def test_accuracy_against_spikes_table():
    params = default_population(n_variables=1, n_neurons=4, seed=3)
    trial = sample_population(params, key=43, duration=2.0)
    rows = accuracy_vs_spikes(params, trial, g0_values=(0.5, 2.0), population_sizes=(4, 16))
    table = format_rows(rows)
    assert "tracking" in table and "neuron" in table
    neuron = [row for row in rows if row.method == "neuron"]
    tracking = [row for row in rows if row.method == "tracking"]
    # Smaller g0 -> more output spikes; bigger populations -> more spikes, lower KL.
    assert neuron[0].spikes_per_second > neuron[1].spikes_per_second
    assert tracking[1].spikes_per_second > tracking[0].spikes_per_second
    assert tracking[1].kl_from_exact < tracking[0].kl_from_exact


def test_trials_determinism_overflow_and_xarray(tmp_path):
    """Per-trial inputs: trial k of simulate_trials equals simulate with key
    fold_in(key, k); the same key gives the same run; a too-small capacity is grown to
    the same spikes; the result reloads from NetCDF."""
    params = default_population(n_variables=2, n_inputs=5, n_neurons=8, seed=1)
    trials = sample_population_trials(params, key=5, n_trials=2, duration=0.2)
    for mode in ("tracking", "implementing"):
        batch = simulate_trials(params, trials.inputs, key=9, duration=0.2, mode=mode)
        assert batch.log_odds.shape == (2, 200, 2)
        for k in range(2):
            one_inputs = jax.tree_util.tree_map(lambda a: a[k], trials.inputs)
            one = simulate(params, one_inputs, key=jax.random.fold_in(jax.random.PRNGKey(9), k),
                           duration=0.2, mode=mode)
            for name in ("times", "log_odds", "target", "network_target", "exact_log_odds",
                         "spike_counts", "max_spikes_per_step"):
                np.testing.assert_array_equal(np.asarray(getattr(one, name)),
                                              np.asarray(getattr(batch, name))[k])
            for got, want in zip(spike_arrays(one.spikes), spike_arrays(batch.spikes, trial=k)):
                np.testing.assert_array_equal(got, want)
    inputs = jax.tree_util.tree_map(lambda a: a[0], trials.inputs)
    full = simulate(params, inputs, key=3, duration=0.2)
    small = simulate(params, inputs, key=3, duration=0.2, capacity=2)
    assert int(full.spikes.n_events) > 2
    for got, want in zip(spike_arrays(small.spikes), spike_arrays(full.spikes)):
        np.testing.assert_array_equal(got, want)
    path = io.write_netcdf(tmp_path / "log_odds.nc", batch.to_xarray())
    loaded = io.load_dataset(path)
    np.testing.assert_array_equal(loaded["log_odds"].values, np.asarray(batch.log_odds))
    assert loaded["time"].attrs["units"] == "s"
    assert loaded["log_odds"].dims == ("trial", "time", "variable")


def test_bad_input_is_rejected_before_simulation(params, trial):
    with pytest.raises(ValueError, match="n_neurons must be a multiple of 2 \\* n_variables"):
        with_population_size(params, 42)
    with pytest.raises(ValueError, match="mode must be one of"):
        simulate(params, trial.inputs, duration=DURATION, mode="guessing")
    with pytest.raises(ValueError, match="senders"):
        simulate(default_population(n_variables=2), trial.inputs, duration=DURATION)
    with pytest.raises(ValueError, match="record_every"):
        simulate(params, trial.inputs, duration=DURATION, record_every=7)
    with pytest.raises(ValueError, match="duration"):
        simulate(params, trial.inputs, duration=DURATION + 0.5e-4)
    with pytest.raises(ValueError, match="q_off must have shape"):
        make_log_odds_population(2.0, 2.0, np.ones((2, 3)), np.ones((2, 4)), n_neurons=4)
    with pytest.raises(ValueError, match="r_on must be > 0"):
        make_log_odds_population(0.0, 2.0, np.ones((2, 3)), np.ones((2, 3)), n_neurons=4)
    with pytest.raises(ValueError, match="decoder_span must be > 0"):
        decoder(2, 8, -1.0)
    with pytest.raises(ValueError, match="decoder"):
        LogOddsPopulationParams(2.0, 2.0, np.ones((2, 3)), np.ones((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="K = 1"):
        accuracy_vs_spikes(params, trial)
