r"""The Bayesian neuron's validation scenario (``bayesnn validate --scenario neuron``).

Denève's neuron (Denève 2004; Denève 2008 I) on one sampled trial of the reference
setting, run next to independent exact references on the *same* input spikes:

========================================= =============================================
check                                     against (bound and its basis)
========================================= =============================================
``event_driven_vs_continuous_filter``     :func:`bayesnn.exact.mmpp_filter` (matrix
                                          exponential); both exact: 1e-9 nats
``decoder_rebuilds_prediction``           G rebuilt from the output spikes alone
                                          (:func:`bayesnn.neuron.decode_prediction`);
                                          same flow, rounding: 1e-12 nats
``gap_below_half_jump``                   max (L - G) - g0/2 <= 0 (spiking rule)
``discrete_vs_forward_filter``            probability-domain HMM forward filter on the
``discrete_log_likelihood``               binned counts (:mod:`bayesnn.exact.hmm`): 1e-12
                                          in probability, 1e-9 relative in log Z
``euler_dt_slope``, ``discrete_dt_slope`` first order in dt: log-log slope in [0.8, 1.2]
``calibration_bins_inside``               every probability bin inside its binomial
                                          interval (family-wise 99 %)
``log_loss_gain_vs_*``                    the exact filter's log-loss beats filters with
                                          r_on doubled, r_on and r_off swapped, q_on and
                                          q_off swapped, and Euler at 1 ms
``numpyro_*``                             NumPyro references (enumerated binned model,
                                          continuous-time likelihood): 1e-9
========================================= =============================================

Default rates are asymmetric (r_on = 1 Hz, r_off = 3 Hz) so that a swap of r_on and
r_off anywhere changes the numbers and fails the exact checks. Model: Denève 2004,
Sec. 1.1. Units: s, Hz, nats.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from scipy.special import expit

from bayesnn import processes
from bayesnn.core.binning import bin_counts
from bayesnn.core.keys import as_key
from bayesnn.core.precision import require_x64
from bayesnn.core.params import to_device
from bayesnn.core.spikes import Spikes, spike_times_of
from bayesnn.core.validation import require_int
from bayesnn.exact.hmm import ctmc_transition_matrix, hmm_forward, poisson_log_likelihoods
from bayesnn.exact.mmpp import mmpp_filter, mmpp_filter_batch
from bayesnn.metrics import calibration_table, fano_factor, firing_rate, isi_cv, log_loss, mean_kl
from bayesnn.io import spikes_to_dataset
from bayesnn.neuron.output import decode_prediction
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.binned import filter_counts
from bayesnn.neuron.checks import chunk_length, default_capacity
from bayesnn.neuron.kernels import chunk_window
from bayesnn.neuron.runs import _simulate, simulate_trials
from bayesnn.report import Check, Progress, ScenarioResult, silent


@dataclass(frozen=True)
class NeuronScenario:
    """Settings of the ``neuron`` scenario (s, Hz).

    Fields:
        n_inputs: number of Poisson inputs N (>= 1).
        q_low, q_high: q_on and q_off are drawn independently from U(q_low, q_high), Hz.
        r_on, r_off: switching rates of the hidden state, Hz (default 1 and 3:
            asymmetric, so swapped rates are caught).
        g0: jump of the prediction G per output spike, nats.
        duration: length of each trial, s.
        dt: grid on which posteriors are compared, and bin width of the binned model, s.
        calibration_trials: extra trials of ``duration`` for calibration and log-loss.
        seed: seeds the rates (NumPy) and the trials (JAX keys).

    Raises:
        ValueError: naming the setting, for a non-positive rate, time or count.
    """

    n_inputs: int = 20
    q_low: float = 5.0
    q_high: float = 30.0
    r_on: float = 1.0
    r_off: float = 3.0
    g0: float = 1.0
    duration: float = 20.0
    dt: float = 1e-3
    calibration_trials: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        require_int("n_inputs", self.n_inputs, minimum=1)
        require_int("calibration_trials", self.calibration_trials, minimum=2)
        require_int("seed", self.seed, minimum=0)
        for name in ("q_low", "q_high", "r_on", "r_off", "g0", "duration", "dt"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        if not self.q_low < self.q_high:
            raise ValueError(f"q_low must be < q_high, got {self.q_low} and {self.q_high}")
        n_bins = round(self.duration / self.dt)
        if n_bins < 4 or abs(n_bins * self.dt - self.duration) > 1e-9 * self.duration:
            raise ValueError(f"duration ({self.duration} s) must be a multiple of dt "
                             f"({self.dt} s) of at least 4 bins")

    def params(self) -> NeuronParams:
        """The neuron's parameters: q_on, q_off ~ U(q_low, q_high) from NumPy ``seed``."""
        rng = np.random.default_rng(self.seed)
        q_on = rng.uniform(self.q_low, self.q_high, self.n_inputs)
        q_off = rng.uniform(self.q_low, self.q_high, self.n_inputs)
        return NeuronParams(self.r_on, self.r_off, q_on, q_off, self.g0)


_DEFAULT = NeuronScenario()


def neuron_scenario(*, n_inputs: int = _DEFAULT.n_inputs, q_low: float = _DEFAULT.q_low,
                    q_high: float = _DEFAULT.q_high, r_on: float = _DEFAULT.r_on,
                    r_off: float = _DEFAULT.r_off, g0: float = _DEFAULT.g0,
                    duration: float = _DEFAULT.duration, dt: float = _DEFAULT.dt,
                    calibration_trials: int = _DEFAULT.calibration_trials,
                    seed: int = _DEFAULT.seed, numpyro: bool = True,
                    progress: Progress = silent, figures: bool = True) -> ScenarioResult:
    """Run the ``neuron`` scenario (see the module docstring); settings as in
    :class:`NeuronScenario`, ``numpyro=False`` skips the NumPyro references.

    Raises:
        ValueError: naming the setting, before any work.
        bayesnn.core.PrecisionError: in float32 (the checks claim 1e-9 accuracy).
    """
    settings = NeuronScenario(n_inputs=n_inputs, q_low=q_low, q_high=q_high, r_on=r_on,
                              r_off=r_off, g0=g0, duration=duration, dt=dt,
                              calibration_trials=calibration_trials, seed=seed)
    return validate_neuron(settings, progress=progress, figures=figures, numpyro=bool(numpyro))


def _loglog_slope(steps, errors) -> float:
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def _states(trials: processes.Trial, times) -> np.ndarray:
    return np.asarray(trials.state_at(np.asarray(times)))


def validate_neuron(scenario: NeuronScenario = _DEFAULT, *, progress: Progress = silent,
                    figures: bool = True, numpyro: bool = True) -> ScenarioResult:
    """Run the ``neuron`` scenario with the settings of ``scenario``."""
    require_x64("the neuron validation scenario")
    params = scenario.params()
    duration, dt = float(scenario.duration), float(scenario.dt)
    n_bins = int(round(duration / dt))
    grid = dt * np.arange(1, n_bins + 1)
    base_key = as_key(scenario.seed)
    checks: list[Check] = []
    numbers: dict[str, Any] = {"theta_hz": float(params.theta),
                               "weights_max_abs": float(np.max(np.abs(np.asarray(params.weights))))}

    progress("sampling the hidden state and input spikes")
    trial = processes.sample_trial(params, key=jax.random.fold_in(base_key, 0), duration=duration)
    states = np.asarray(trial.state_at(grid))
    numbers["input_spikes"] = int(trial.inputs.n_events)

    progress("exact event-driven neuron vs the continuous-time filter")
    # The main trial and the 5 seed-spread trials run as one batch on the same grid:
    # one compiled program, and each trial's result equals its own run bit for bit
    # (simulate_trials' contract; padding events are no-ops at the horizon).
    spread_trials = processes.sample_trials(params, key=jax.random.fold_in(base_key, 2),
                                            n_trials=5, duration=duration)
    stacked = _host_stack(trial.inputs, spread_trials.inputs)
    batch = simulate_trials(params, stacked, duration=duration, sample_times=grid)
    run = _lane(batch, 0)
    log_odds, prediction = np.asarray(run.log_odds), np.asarray(run.prediction)
    # (the exact filter runs unbatched: vmapped, it differs from mmpp_filter by ulps)
    exact_log_odds = np.asarray(mmpp_filter(params, trial.inputs, duration=duration,
                                            query_times=grid).log_odds)
    checks.append(Check("event_driven_vs_continuous_filter", np.max(np.abs(log_odds - exact_log_odds)),
                        1e-9, "<=", "max |L - L_exact| over the trial (exact method), nats"))
    decoded = decode_prediction(params, run.spikes, grid)
    checks.append(Check("decoder_rebuilds_prediction", np.max(np.abs(decoded - prediction)), 1e-12,
                        "<=", "max |G_decoded - G| from output spikes alone, nats"))
    checks.append(Check("gap_below_half_jump", np.max(log_odds - prediction) - scenario.g0 / 2,
                        1e-12, "<=", "max (L - G) - g0/2 at every sample, nats"))

    progress("binned model: discrete neuron vs probability-domain forward filter")
    counts = np.asarray(bin_counts(trial.inputs, params.n_inputs, dt, n_bins))
    binned = filter_counts(params, counts, dt=dt, method="discrete")
    prior = float(params.stationary_prob_on)
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    forward = hmm_forward(np.array([1 - prior, prior]),
                          ctmc_transition_matrix(scenario.r_on, scenario.r_off, dt),
                          poisson_log_likelihoods(counts, q_on, q_off, dt))
    checks.append(Check("discrete_vs_forward_filter",
                        np.max(np.abs(expit(np.asarray(binned.log_odds))
                                      - np.asarray(forward.filtered)[:, 1])),
                        1e-12, "<=", "max |sigmoid(L_k) - p_k| over all bins"))
    total = float(np.sum(np.asarray(binned.log_normalizers)))
    checks.append(Check("discrete_log_likelihood",
                        abs(total - float(forward.log_marginal_likelihood)) / abs(total), 1e-9,
                        "<=", "relative error of sum_k log Z_k vs the forward filter"))
    numbers["binned_log_marginal_likelihood"] = total

    progress("time-stepped errors against the exact filter (dt convergence)")
    steps = (dt, dt / 2, dt / 4)
    stepped_errors = {}
    sweep = _dt_sweep(params, trial.inputs, duration, dt, steps)
    for method in ("euler", "discrete"):
        errors = []
        for step in steps:
            stepped = sweep(method, step)
            errors.append(float(np.mean(np.abs(stepped - exact_log_odds))))
        stepped_errors[method] = errors
        checks.append(Check(f"{method}_dt_slope", _loglog_slope(steps, errors), (0.8, 1.2), "in",
                            f"log-log slope of mean |L_{method} - L_exact| over dt = {steps} s"))
    numbers["stepped_mean_abs_error"] = {"dt_s": list(steps), **stepped_errors}

    progress(f"calibration over {scenario.calibration_trials} x {duration:g} s")
    trials = processes.sample_trials(params, key=jax.random.fold_in(base_key, 1),
                                     n_trials=scenario.calibration_trials, duration=duration)
    # Samples four correlation times 1/(r_on + r_off) apart (1 s at the defaults), so
    # that the binomial intervals apply.
    spacing = max(dt, 4.0 / (scenario.r_on + scenario.r_off))
    sparse = np.arange(spacing, duration + 1e-9, spacing)
    # Padded with trailing samples at the last sample time (after every sample kept, so
    # the kept ones are unchanged) to the log-loss grid's length: one compiled program.
    loss_grid = _loss_grid(duration)
    padded = np.concatenate([sparse, np.full(max(loss_grid.size - sparse.size, 0), sparse[-1])])
    sparse_run = simulate_trials(params, trials.inputs, duration=duration, sample_times=padded)
    sparse_log_odds = np.asarray(sparse_run.log_odds)[:, :sparse.size]
    table = calibration_table(sparse_log_odds, _states(trials, padded)[:, :sparse.size], n_bins=10,
                              confidence=0.99)
    checks.append(Check("calibration_bins_inside", float(np.mean(table.inside)), 1.0, ">=",
                        f"fraction of probability bins inside their binomial interval "
                        f"({len(table.inside)} bins, family-wise 99%)"))
    numbers["calibration"] = {"mean_predicted": table.mean_predicted.tolist(),
                              "observed": table.observed.tolist(), "counts": table.counts.tolist()}

    progress("log-loss against mis-specified filters")
    numbers["log_loss_nats"] = _log_loss_contenders(params, trials, duration, checks)

    progress("distances and spike statistics")
    all_spikes = spike_times_of(run.spikes, 0)
    numbers["kl_exact_to_decoded_G_nats"] = mean_kl(exact_log_odds, prediction)
    numbers["kl_exact_to_neuron_L_nats"] = mean_kl(exact_log_odds, log_odds)
    numbers["log_loss_trial_nats"] = {"exact": log_loss(exact_log_odds, states),
                                      "decoded_G": log_loss(prediction, states)}
    numbers["kl_exact_to_decoded_G_over_5_trials"] = _seed_spread(
        params, spread_trials, np.asarray(batch.prediction)[1:], duration, grid)
    numbers["output_rate_hz"] = firing_rate(all_spikes.size, duration)
    numbers["isi_cv"] = isi_cv(all_spikes) if all_spikes.size >= 3 else None
    windows = duration >= 2.0 and all_spikes.size > 0
    numbers["fano_factor_1s"] = fano_factor(all_spikes, duration, 1.0) if windows else None

    if numpyro:
        progress("NumPyro references (enumerated binned model, continuous-time likelihood)")
        from bayesnn.numpyro_models.checks import numpyro_checks
        rows, numpyro_numbers = numpyro_checks(params.model, trial.inputs, duration=duration,
                                               dt=dt)
        checks.extend(rows)
        numbers["numpyro"] = numpyro_numbers

    figure_set = {}
    if figures:
        progress("figures")
        from bayesnn.plotting import plot_calibration, plot_neuron_trial
        from bayesnn.style import describe
        caption = describe(N=scenario.n_inputs, r_on=(scenario.r_on, "Hz"),
                           r_off=(scenario.r_off, "Hz"), g0=(scenario.g0, "nats"),
                           duration=(duration, "s"), seed=scenario.seed)
        figure_set["trial"] = plot_neuron_trial(
            grid, states, trial.inputs, exact_log_odds, log_odds, prediction, run.spikes,
            scenario.g0, window=(0.0, min(duration, 5.0)), caption=caption)
        figure_set["calibration"] = plot_calibration(
            table, caption=f"{scenario.calibration_trials} trials x {duration:g} s, {caption}")

    traces = _traces(run, trial, states, exact_log_odds, scenario)
    return ScenarioResult("neuron", checks, numbers, figure_set, traces)


def _log_loss_contenders(params: NeuronParams, trials, duration: float, checks: list) -> dict:
    """Log-loss (nats per sample, 10 ms grid) of the exact filter and of mis-specified
    ones on the calibration trials; appends one check per contender."""
    loss_grid = _loss_grid(duration)
    loss_states = _states(trials, loss_grid)
    contenders = {
        "exact": params,
        "r_on_x2": params.replace(r_on=2 * float(params.r_on)),
        "rates_swapped": params.replace(r_on=params.r_off, r_off=params.r_on),
        "q_swapped": params.replace(q_on=params.q_off, q_off=params.q_on),
    }
    losses = {}
    for name, contender in contenders.items():
        result = simulate_trials(contender, trials.inputs, duration=duration, sample_times=loss_grid)
        losses[name] = log_loss(result.log_odds, loss_states)
    euler = simulate_trials(params, trials.inputs, duration=duration, method="euler", dt=1e-3,
                            record_every=10)
    losses["euler_1ms"] = log_loss(euler.log_odds, loss_states)
    for name in ("r_on_x2", "rates_swapped", "q_swapped", "euler_1ms"):
        checks.append(Check(f"log_loss_gain_vs_{name}", losses[name] - losses["exact"], 0.0, ">=",
                            f"log-loss({name}) - log-loss(exact filter), nats per sample"))
    return losses


def _dt_sweep(params: NeuronParams, inputs, duration: float, dt: float, steps):
    """``run(method, step)``: L of a stepped method at bin width ``step`` on the ``dt``
    grid, (n_bins,), with every step size run by one compiled program per method.

    Each run is ``n_max`` = duration / min(steps) steps long (the bin width is traced,
    the step count static): the run at a coarser step goes on past ``duration`` with no
    inputs, and only its records up to ``duration`` are kept. A step's records depend
    only on the steps before it, so the kept ones equal those of a run of ``duration``
    (inputs are continuous-time samples: none lies exactly at ``duration``, the one
    time binned differently, into the last bin, by a run that ends there). Every run
    records every step (kept: every ``dt / step``-th) and shares the event window and
    output capacity, the other static sizes."""
    n_bins = int(round(duration / dt))
    n_max = int(round(duration / min(steps)))
    ratios = [int(round(dt / step)) for step in steps]
    valid = np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.times), np.inf)
    chunk = chunk_length(n_max, 1, 2000)
    window = max(chunk_window(valid, step, n_max, chunk) for step in steps)
    longest = n_max * max(steps)
    capacity = default_capacity(params, longest, int(np.max(np.asarray(inputs.n_events))))

    def run(method: str, step: float) -> np.ndarray:
        ratio = ratios[list(steps).index(step)]
        result = _simulate(params, inputs, n_max * step, method, step, None, 1, capacity,
                           None, None, 2000, False, window_at_least=window)
        return np.asarray(result.log_odds)[ratio - 1::ratio][:n_bins]

    return run


def _loss_grid(duration: float) -> np.ndarray:
    """The 10 ms grid of the log-loss comparison, s."""
    return np.arange(1, int(round(duration / 1e-2)) + 1) * 1e-2


def _host_stack(one: Spikes, many: Spikes) -> Spikes:
    """One trial's inputs followed by a batch's, padded to a common capacity (sender -1,
    time +inf), stacked on the host and moved with ``to_device`` (no XLA program)."""
    one = [np.asarray(a)[None] for a in one]
    many = [np.asarray(a) for a in many]
    capacity = max(one[0].shape[-1], many[0].shape[-1])
    fills = (np.inf, -1, 0)

    def pad(a, fill):
        return np.pad(a, [(0, 0), (0, capacity - a.shape[-1])], constant_values=fill)

    fields = [np.concatenate([pad(a, f), pad(b, f)]) for a, b, f in zip(one[:3], many[:3], fills)]
    fields.append(np.concatenate([one[3], many[3]]))
    return Spikes(*(to_device(a) for a in fields))


def _lane(batch, k: int):
    """Trial ``k`` of a batched :class:`NeuronResult`, sliced on the host."""
    take = lambda tree: jax.tree_util.tree_map(lambda a: np.asarray(a)[k], tree)
    return batch._replace(log_odds=take(batch.log_odds), prediction=take(batch.prediction),
                          spikes=take(batch.spikes), n_guarded=take(batch.n_guarded),
                          final=take(batch.final))


def _seed_spread(params: NeuronParams, trials, predictions: np.ndarray, duration: float,
                 grid) -> dict:
    """KL(exact || decoded G) over 5 further trials (``predictions``: their decoded G,
    (5, S)): its spread across seeds."""
    exact = mmpp_filter_batch(params, trials.inputs, duration=duration, query_times=grid)
    exact_log_odds = np.asarray(exact.log_odds)
    values = [mean_kl(exact_log_odds[k], predictions[k]) for k in range(5)]
    return {"values": values, "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))}


def _traces(run, trial, states, exact_log_odds, scenario: NeuronScenario):
    """The main trial as an ``xarray.Dataset``: the run's L, G and output spikes
    (:meth:`NeuronResult.to_xarray`) plus the hidden state, the exact log-odds and the
    input spikes (``input_*`` on ``input_event``)."""
    attrs = {"scenario": "neuron", **{key: (float(value) if isinstance(value, float) else value)
                                      for key, value in dataclasses.asdict(scenario).items()}}
    dataset = run.to_xarray(attrs=attrs)
    dataset["state"] = ("time", np.asarray(states, dtype=np.int8))
    dataset["state"].attrs["description"] = "hidden state x (0 or 1) at the record times"
    dataset["exact_log_odds"] = ("time", exact_log_odds)
    dataset["exact_log_odds"].attrs.update(
        units="nats", description="exact posterior log-odds (bayesnn.exact.mmpp_filter)")
    inputs = spikes_to_dataset(trial.inputs).rename({"event": "input_event"})
    inputs = inputs.rename({name: name.replace("spike_", "input_", 1) for name in inputs.data_vars})
    return dataset.merge(inputs)


__all__ = ["NeuronScenario", "neuron_scenario", "validate_neuron"]
