"""``bayesnn validate``: spike-based inference next to exact Bayes, with numbers.

A *scenario* simulates data, runs the spiking model(s) on it, runs independent exact
references on the *same* spikes, and returns :class:`bayesnn.report.Check` rows
(exact agreement where exactness is claimed, measured distances where it is not)
plus a dict of reported numbers, figures and labelled traces.

Scenarios:

``neuron`` (default)
    Denève's Bayesian neuron on the default reference setting (N = 20 inputs,
    q_on, q_off ~ U(5, 30) Hz, r_on = r_off = 2 Hz, g0 = 1, one 20 s trial plus
    ``calibration_trials`` x 20 s for calibration), checked against the exact
    continuous-time filter, the probability-domain HMM forward filter and the
    NumPyro enumerated model.
``scn``
    Balanced spike-coding networks (Boerlin et al. 2013): loss identity, voltage
    closed form, bounding box and the ping-pong regression.
``log_odds``
    K = 4 binary posteriors carried by spike-coding populations (tracking and
    implementing modes), KL from the exact posterior against N.
``kalman``
    Spiking Kalman filters (A_net = A - K C, input K dy): readout inside the box of
    the exact Kalman-Bucy mean, z-score calibration of the exact posterior.
``accuracy``
    One hidden variable: KL from the exact posterior against output spikes per second
    for the single Bayesian neuron (several g0) and populations (several N).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
from scipy.special import expit

from bayesnn import processes
from bayesnn.core.events import events_to_counts
from bayesnn.exact.hmm import ctmc_transition_matrix, hmm_forward, poisson_log_likelihoods
from bayesnn.exact.mmpp import mmpp_filter
from bayesnn.metrics import (
    calibration_table,
    expand_counts,
    fano_factor,
    firing_rate,
    isi_cv,
    log_loss,
    mean_kl,
)
from bayesnn.neuron import NeuronParams, decode_prediction, filter_counts, simulate, spikes_of
from bayesnn.report import Check

Progress = Callable[[str], None]


@dataclass(frozen=True)
class NeuronScenario:
    """Settings of the ``neuron`` scenario (seconds, Hz).

    Fields:
        n_inputs: number of Poisson inputs N.
        q_low, q_high: q_on and q_off are drawn independently from U(q_low, q_high).
        r_on, r_off: switching rates of the hidden state.
        g0: jump of the prediction G per output spike.
        duration: length of the main trial.
        dt: grid on which posteriors are compared, and bin width of the binned model.
        calibration_trials: extra trials of ``duration`` for calibration/log-loss.
        seed: seeds the rates (NumPy) and the trials (JAX keys).
    """

    n_inputs: int = 20
    q_low: float = 5.0
    q_high: float = 30.0
    r_on: float = 2.0
    r_off: float = 2.0
    g0: float = 1.0
    duration: float = 20.0
    dt: float = 1e-3
    calibration_trials: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if int(self.n_inputs) < 1:
            raise ValueError(f"n_inputs must be >= 1, got {self.n_inputs}")
        if not 0 < self.q_low < self.q_high:
            raise ValueError(f"q_low and q_high must satisfy 0 < q_low < q_high, got {self.q_low}, {self.q_high}")
        for name in ("r_on", "r_off", "g0", "duration", "dt"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if int(self.calibration_trials) < 1:
            raise ValueError(f"calibration_trials must be >= 1, got {self.calibration_trials}")

    def params(self) -> NeuronParams:
        rng = np.random.default_rng(self.seed)
        q_on = rng.uniform(self.q_low, self.q_high, self.n_inputs)
        q_off = rng.uniform(self.q_low, self.q_high, self.n_inputs)
        return NeuronParams(self.r_on, self.r_off, q_on, q_off, self.g0)


class ValidationResult(NamedTuple):
    """Outcome of one scenario.

    Fields:
        scenario: its name.
        checks: the pass/fail rows.
        numbers: reported values (floats, lists) for the JSON file.
        figures: name -> matplotlib Figure.
        traces: an ``xarray.Dataset`` of time series, or None.
    """

    scenario: str
    checks: list[Check]
    numbers: dict[str, Any]
    figures: dict[str, Any]
    traces: Any

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def _silent(message: str) -> None:
    pass


def _loglog_slope(steps, errors) -> float:
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def validate_neuron(scenario: NeuronScenario = NeuronScenario(), progress: Progress = _silent,
                    figures: bool = True, numpyro: bool = True) -> ValidationResult:
    """Run the ``neuron`` scenario (see the module docstring)."""
    params = scenario.params()
    duration, dt = float(scenario.duration), float(scenario.dt)
    n_bins = int(round(duration / dt))
    grid = dt * np.arange(1, n_bins + 1)
    base_key = jax.random.PRNGKey(scenario.seed)
    checks: list[Check] = []
    numbers: dict[str, Any] = {"theta_hz": params.theta, "weights_max_abs": float(np.max(np.abs(params.weights)))}

    progress("sampling the hidden state and input spikes")
    trial = processes.sample_trial(jax.random.fold_in(base_key, 0), params.r_on, params.r_off,
                                   params.q_on, params.q_off, duration)
    states = np.asarray(processes.state_at(trial.initial_state, trial.switch_times, grid))
    numbers["input_spikes"] = int(trial.n_spikes)

    progress("exact event-driven neuron vs the continuous-time filter")
    run = simulate(params, trial, "exact", sample_times=grid)
    log_odds, prediction = np.asarray(run.log_odds), np.asarray(run.prediction)
    reference = mmpp_filter(params.r_on, params.r_off, params.q_on, params.q_off,
                            trial.spike_times, trial.spike_channels, duration, grid)
    exact_log_odds = np.asarray(reference.log_odds)
    checks.append(Check("event_driven_vs_continuous_filter", np.max(np.abs(log_odds - exact_log_odds)),
                        1e-9, "<=", "max |L - L_exact| over the trial (exact method)"))
    spike_times, spike_counts = spikes_of(run)
    decoded = decode_prediction(spike_times, spike_counts, grid, params.r_on, params.r_off, params.g0)
    checks.append(Check("decoder_rebuilds_prediction", np.max(np.abs(decoded - prediction)), 1e-12,
                        "<=", "max |G_decoded - G| from output spikes alone"))
    checks.append(Check("gap_below_half_jump", np.max(log_odds - prediction) - params.g0 / 2, 1e-12,
                        "<=", "max (L - G) - g0/2 at every sample"))

    progress("binned model: discrete neuron vs probability-domain forward filter")
    counts = np.asarray(events_to_counts(trial.spike_times, trial.spike_channels,
                                         params.n_inputs, dt, n_bins))
    binned = filter_counts(params, counts, dt, method="discrete")
    prior = params.stationary_prob_on
    forward = hmm_forward(np.array([1 - prior, prior]),
                          ctmc_transition_matrix(params.r_on, params.r_off, dt),
                          poisson_log_likelihoods(counts, params.q_on, params.q_off, dt))
    checks.append(Check("discrete_vs_forward_filter",
                        np.max(np.abs(expit(np.asarray(binned.log_odds)) - np.asarray(forward.filtered)[:, 1])),
                        1e-12, "<=", "max |sigmoid(L_k) - p_k| over all bins"))
    total = float(np.sum(binned.log_normalizers))
    checks.append(Check("discrete_log_likelihood", abs(total - float(forward.log_marginal_likelihood)) / abs(total),
                        1e-9, "<=", "relative error of sum_k log Z_k vs the forward filter"))
    numbers["binned_log_marginal_likelihood"] = total

    progress("time-stepped errors against the exact filter (dt convergence)")
    steps = (dt, dt / 2, dt / 4)
    stepped_errors = {}
    for method in ("euler", "discrete"):
        errors = []
        for step in steps:
            stepped = simulate(params, trial, method, dt=step, duration=duration,
                               record_every=int(round(dt / step)))
            errors.append(float(np.mean(np.abs(np.asarray(stepped.log_odds) - exact_log_odds))))
        stepped_errors[method] = errors
        checks.append(Check(f"{method}_dt_slope", _loglog_slope(steps, errors), (0.8, 1.2), "in",
                            f"log-log slope of mean |L_{method} - L_exact| over dt = {steps}"))
    numbers["stepped_mean_abs_error"] = {"dt_s": list(steps), **stepped_errors}

    progress(f"calibration over {scenario.calibration_trials} x {duration:g} s")
    keys = processes.split_trial_keys(jax.random.fold_in(base_key, 1), scenario.calibration_trials)
    trials = processes.sample_trials(keys, params.r_on, params.r_off, params.q_on, params.q_off, duration)
    # One sample per second: four correlation times 1/(r_on + r_off) apart at the
    # default rates, so the binomial intervals apply.
    spacing = max(1.0, 4.0 / (params.r_on + params.r_off))
    sparse = np.arange(spacing, duration + 1e-9, spacing)
    sparse_run = simulate(params, trials, "exact", sample_times=sparse)
    sparse_states = np.asarray(jax.vmap(processes.state_at, in_axes=(0, 0, None))(
        trials.initial_state, trials.switch_times, sparse))
    table = calibration_table(sparse_run.log_odds, sparse_states, n_bins=10, confidence=0.99)
    checks.append(Check("calibration_bins_inside", float(np.mean(table.inside)), 1.0, ">=",
                        f"fraction of probability bins inside their binomial interval ({len(table.inside)} bins, family-wise 99%)"))
    numbers["calibration"] = {"mean_predicted": table.mean_predicted.tolist(),
                              "observed": table.observed.tolist(), "counts": table.counts.tolist()}

    progress("log-loss against mis-specified filters")
    loss_grid = np.arange(1, int(round(duration / 1e-2)) + 1) * 1e-2
    loss_states = np.asarray(jax.vmap(processes.state_at, in_axes=(0, 0, None))(
        trials.initial_state, trials.switch_times, loss_grid))
    contenders = {
        "exact": (params, "exact"),
        "r_on_x2": (params.replace(r_on=2 * params.r_on), "exact"),
        "q_swapped": (params.replace(q_on=params.q_off, q_off=params.q_on), "exact"),
        "euler_1ms": (params, "euler"),
    }
    losses = {}
    for name, (contender, method) in contenders.items():
        if method == "exact":
            result = simulate(contender, trials, "exact", sample_times=loss_grid)
        else:
            result = simulate(contender, trials, "euler", dt=1e-3, duration=duration, record_every=10)
        losses[name] = log_loss(result.log_odds, loss_states)
    numbers["log_loss_nats"] = losses
    for name in ("r_on_x2", "q_swapped", "euler_1ms"):
        checks.append(Check(f"log_loss_gain_vs_{name}", losses[name] - losses["exact"], 0.0, ">=",
                            f"log-loss({name}) - log-loss(exact filter), nats per sample"))

    progress("distances and spike statistics")
    all_spikes = expand_counts(spike_times, spike_counts)
    numbers["kl_exact_to_decoded_G_nats"] = mean_kl(exact_log_odds, prediction)
    numbers["kl_exact_to_neuron_L_nats"] = mean_kl(exact_log_odds, log_odds)
    numbers["log_loss_trial_nats"] = {"exact": log_loss(exact_log_odds, states),
                                      "decoded_G": log_loss(prediction, states)}
    # Stability of the decoded posterior's distance across seeds (same rates, 5 trials).
    seed_trials = processes.sample_trials(
        processes.split_trial_keys(jax.random.fold_in(base_key, 2), 5), params.r_on,
        params.r_off, params.q_on, params.q_off, duration)
    seed_runs = simulate(params, seed_trials, "exact", sample_times=grid)
    seed_kls = []
    for index in range(5):
        seed_exact = mmpp_filter(params.r_on, params.r_off, params.q_on, params.q_off,
                                 seed_trials.spike_times[index], seed_trials.spike_channels[index],
                                 duration, grid)
        seed_kls.append(mean_kl(np.asarray(seed_exact.log_odds), np.asarray(seed_runs.prediction[index])))
    numbers["kl_exact_to_decoded_G_over_5_trials"] = {
        "values": seed_kls, "mean": float(np.mean(seed_kls)), "std": float(np.std(seed_kls, ddof=1))}
    numbers["output_rate_hz"] = firing_rate(all_spikes.size, duration)
    numbers["isi_cv"] = isi_cv(all_spikes) if all_spikes.size >= 3 else None
    numbers["fano_factor_1s"] = fano_factor(all_spikes, duration, 1.0) if all_spikes.size else None

    if numpyro:
        progress("NumPyro references (enumerated binned model, continuous-time likelihood)")
        from bayesnn.numpyro_models.checks import numpyro_checks
        numpyro_rows, numpyro_numbers = numpyro_checks(
            params.r_on, params.r_off, params.q_on, params.q_off, trial.spike_times,
            trial.spike_channels, duration, dt)
        checks.extend(numpyro_rows)
        numbers["numpyro"] = numpyro_numbers

    figure_set = {}
    if figures:
        progress("figures")
        from bayesnn.plotting import plot_calibration, plot_neuron_trial
        figure_set["neuron_trial"] = plot_neuron_trial(
            grid, states, trial.spike_times, trial.spike_channels, exact_log_odds, log_odds,
            prediction, spike_times, spike_counts, params.g0, window=(0.0, min(duration, 5.0)))
        figure_set["calibration"] = plot_calibration(table)

    from bayesnn.io import neuron_traces
    traces = neuron_traces(grid, states, exact_log_odds, log_odds, prediction, spike_times,
                           spike_counts, attrs={"scenario": "neuron", **_plain(dataclasses.asdict(scenario))})
    return ValidationResult("neuron", checks, numbers, figure_set, traces)


def validate_scn(seed: int = 0, quick: bool = True, progress: Progress = _silent,
                 figures: bool = True) -> ValidationResult:
    """Run the ``scn`` scenario (spike-coding network checks)."""
    from bayesnn.scn.validation import scn_checks
    progress("spike-coding networks: loss identity, voltage, box, ping-pong")
    checks, numbers = scn_checks(seed=seed, quick=quick)
    return ValidationResult("scn", checks, numbers, {}, None)


def validate_log_odds(seed: int = 0, duration: float = 4.0, n_variables: int = 4,
                      sizes: tuple = (40, 80, 160), progress: Progress = _silent,
                      figures: bool = True) -> ValidationResult:
    """Run the ``log_odds`` scenario: K binary posteriors carried by spike-coding
    populations (tracking and implementing modes) against the exact filter."""
    from bayesnn.posteriors.log_odds import default_problem, run_population, sample_data
    problem = default_problem(n_variables=n_variables, seed=seed)
    progress(f"log-odds populations: sampling {n_variables} hidden variables, {duration:g} s")
    data = sample_data(problem, jax.random.PRNGKey(seed), duration, 1e-4)
    checks, numbers = [], {"sizes": list(sizes)}
    for mode in ("tracking", "implementing"):
        progress(f"log-odds populations: {mode} mode, N = {list(sizes)}")
        runs = [run_population(problem, data, size, mode) for size in sizes]
        kls = [run.kl_from_exact for run in runs]
        numbers[mode] = {
            "kl_from_exact_nats": kls,
            "spikes_per_second": [run.spikes_per_second for run in runs],
            "rmse_to_target": [run.rmse_to_target for run in runs],
            "box_half_width": [run.box_half_width for run in runs],
            "kl_linearisation_nats": runs[0].kl_linearisation,
            "log_loss_nats": [run.log_loss for run in runs],
        }
        worst = max(run.max_error_to_network_target / run.box_half_width for run in runs)
        checks.append(Check(f"{mode}_inside_box", worst, 1.0 + 1e-9, "<=",
                            "max |readout - network target| / box half-width, after 50 ms"))
        if mode == "tracking":
            slope = _loglog_slope(sizes, kls)
            numbers[mode]["kl_slope"] = slope
            checks.append(Check("tracking_kl_slope_vs_N", slope, (-2.3, -1.7), "in",
                                "log-log slope of KL(exact || population) against N (theory -2)"))
            checks.append(Check("tracking_kl_monotone", float(np.all(np.diff(kls) < 0)), 1.0, ">=",
                                "KL falls at every size step"))
        else:
            numbers[mode]["discretisation_gap"] = [run.discretisation_gap for run in runs]
            coding = [run.rmse_to_target for run in runs]
            numbers[mode]["coding_rmse_slope"] = _loglog_slope(sizes, coding)
    return ValidationResult("log_odds", checks, numbers, {}, None)


def validate_accuracy(seed: int = 0, duration: float = 10.0, progress: Progress = _silent,
                      figures: bool = True) -> ValidationResult:
    """Run the ``accuracy`` scenario: KL from exact against output spikes per second for
    the single Bayesian neuron (several g0) and log-odds populations (several N)."""
    from bayesnn.posteriors.compare import accuracy_vs_spikes, plot_accuracy_vs_spikes
    from bayesnn.posteriors.log_odds import default_problem, sample_data
    problem = default_problem(n_variables=1, seed=seed)
    progress(f"accuracy vs spikes: one hidden variable, {duration:g} s")
    data = sample_data(problem, jax.random.PRNGKey(seed), duration, 1e-4)
    rows = accuracy_vs_spikes(problem, data, g0_values=(0.5, 1.0, 2.0, 4.0),
                              population_sizes=(4, 8, 16, 32))
    exact_loss = log_loss(data.exact_log_odds[0, 10::10], data.states[0, 10::10])
    numbers = {"rows": [row._asdict() for row in rows], "exact_log_loss_nats": exact_loss}
    tracking = [row for row in rows if row.method == "tracking"]
    checks = [Check("accuracy_tracking_kl_monotone",
                    float(np.all(np.diff([row.kl_from_exact for row in tracking]) < 0)), 1.0, ">=",
                    "tracking populations: more spikes, lower KL")]
    figure_set = {"accuracy_vs_spikes": plot_accuracy_vs_spikes(rows)} if figures else {}
    return ValidationResult("accuracy", checks, numbers, figure_set, None)


def validate_kalman(seed: int = 0, quick: bool = True, progress: Progress = _silent,
                    figures: bool = True) -> ValidationResult:
    """Run the ``kalman`` scenario: spiking Kalman filters (1-D OU, 2-D oscillator)
    against the exact Kalman-Bucy posterior."""
    from bayesnn.posteriors.kalman import kalman_checks
    progress("spiking Kalman filter: 1-D Ornstein-Uhlenbeck and 2-D oscillator")
    checks, numbers = kalman_checks(seed=seed, quick=quick)
    return ValidationResult("kalman", checks, numbers, {}, None)


SCENARIOS = ("neuron", "scn", "log_odds", "accuracy", "kalman")


def run(names: list[str], config: dict[str, dict[str, Any]] | None = None, seed: int | None = None,
        duration: float | None = None, progress: Progress = _silent,
        figures: bool = True) -> list[ValidationResult]:
    """Run the named scenarios with settings from ``config`` (a parsed TOML file:
    one table per scenario) and the command-line overrides ``seed`` and ``duration``."""
    config = config or {}
    unknown = set(config) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"config has unknown scenario tables {sorted(unknown)}; known: {SCENARIOS}")
    results = []
    for name in names:
        if name not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {name!r}")
        settings = dict(config.get(name, {}))
        if seed is not None:
            settings["seed"] = seed
        if name == "neuron":
            if duration is not None:
                settings["duration"] = duration
            _check_settings(name, settings, {field.name for field in dataclasses.fields(NeuronScenario)})
            results.append(validate_neuron(NeuronScenario(**settings), progress, figures))
        elif name == "scn":
            _check_settings(name, settings, {"seed", "quick"})
            results.append(validate_scn(progress=progress, figures=figures, **settings))
        elif name == "kalman":
            _check_settings(name, settings, {"seed", "quick"})
            results.append(validate_kalman(progress=progress, figures=figures, **settings))
        elif name == "log_odds":
            if duration is not None:
                settings["duration"] = duration
            _check_settings(name, settings, {"seed", "duration", "n_variables", "sizes"})
            if "sizes" in settings:
                settings["sizes"] = tuple(int(size) for size in settings["sizes"])
            results.append(validate_log_odds(progress=progress, figures=figures, **settings))
        else:
            if duration is not None:
                settings["duration"] = duration
            _check_settings(name, settings, {"seed", "duration"})
            results.append(validate_accuracy(progress=progress, figures=figures, **settings))
    return results


def _check_settings(name: str, settings: dict[str, Any], known: set[str]) -> None:
    extra = set(settings) - known
    if extra:
        raise ValueError(f"[{name}] has unknown settings {sorted(extra)}; known: {sorted(known)}")


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {key: (float(value) if isinstance(value, float) else value) for key, value in values.items()}


class StageTimer:
    """Progress printer: numbered stages with elapsed wall time, for runs of seconds."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.start = time.perf_counter()
        self.stage = 0

    def __call__(self, message: str) -> None:
        self.stage += 1
        self.write(f"[{self.stage:2d}] {time.perf_counter() - self.start:6.1f} s  {message}")
