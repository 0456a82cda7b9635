"""Log-odds populations measured against exact Bayes, and their validate scenarios.

(One run's measures: :func:`bayesnn.posteriors.accuracy.population_accuracy`.)
* :func:`log_odds_scenario` (``bayesnn validate --scenario log_odds``): K = 4 variables,
  both modes at several N; checks the box and the 1/N^2 law of the KL.
* :func:`accuracy_scenario` (``--scenario accuracy``): KL against output spikes per
  second for the single Bayesian neuron and both population modes
  (:mod:`bayesnn.posteriors.compare`).
"""
from __future__ import annotations

import numpy as np

from bayesnn.metrics import log_loss
from bayesnn.posteriors.accuracy import population_accuracy
from bayesnn.posteriors.log_odds_data import PopulationTrial, reference_log_odds, sample_population
from bayesnn.posteriors.log_odds_params import (
    default_population,
    with_population_size,
)
from bayesnn.report import Check, ScenarioResult, silent

__all__ = ["accuracy_scenario", "log_odds_scenario"]


def _loglog_slope(sizes, values) -> float:
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def log_odds_scenario(*, seed: int = 0, duration: float = 4.0, n_variables: int = 4,
                      sizes: tuple = (40, 80, 160), progress=silent,
                      figures: bool = True) -> ScenarioResult:
    """K binary posteriors carried by spike-coding populations (tracking and
    implementing modes) against the exact filter, at population sizes ``sizes``.

    Checks: the readout stays inside the box around the network's own target (max error
    / box half-width <= 1 + 1e-9, after 50 ms); tracking KL slope against N in
    (-2.3, -1.7) (theory -2) and falling at every size step.
    """
    from bayesnn.posteriors.log_odds import simulate

    params = default_population(n_variables=n_variables, seed=seed)
    progress(f"log-odds populations: sampling {n_variables} hidden variables, {duration:g} s")
    trial = sample_population(params, key=seed, duration=duration)
    reference = reference_log_odds(params, trial.inputs, duration=duration, dt=1e-4)
    checks, numbers, largest = [], {"sizes": list(sizes)}, {}
    for mode in ("tracking", "implementing"):
        progress(f"log-odds populations: {mode} mode, N = {list(sizes)}")
        runs = []
        for size in sizes:
            sized = with_population_size(params, int(size))
            result = simulate(sized, trial.inputs, key=seed, duration=duration, mode=mode,
                              reference=reference)
            runs.append(population_accuracy(sized, result, trial, mode=mode))
        largest[mode] = (result, runs[-1])
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
            numbers[mode]["coding_rmse_slope"] = _loglog_slope(sizes, [r.rmse_to_target for r in runs])
    settings = dict(K=n_variables, duration=(float(duration), "s"), seed=seed)
    built = _log_odds_figures(largest, trial, sizes, numbers, settings) if figures else {}
    return ScenarioResult("log_odds", checks, numbers, built, _log_odds_traces(largest, trial, seed))


def _log_odds_figures(largest: dict, trial: PopulationTrial, sizes, numbers: dict,
                      settings: dict) -> dict:
    from bayesnn.posteriors.plotting import plot_kl_vs_size, plot_log_odds_run
    from bayesnn.style import describe

    built = {}
    for mode, (result, accuracy) in largest.items():
        built[mode] = plot_log_odds_run(
            result.times, trial.state_at(result.times), result.exact_log_odds, result.log_odds,
            result.target, result.network_target, accuracy.box_half_width, mode=mode,
            caption=describe(N=accuracy.n_neurons, **settings))
    built["kl_vs_size"] = plot_kl_vs_size(
        sizes, {mode: numbers[mode]["kl_from_exact_nats"] for mode in largest},
        caption=describe(**settings))
    return built


def _log_odds_traces(largest: dict, trial: PopulationTrial, seed: int):
    """Both modes' runs at the largest N in one Dataset (variables and dims prefixed
    with the mode), with the hidden states."""
    import xarray as xr

    parts = []
    for mode, (result, accuracy) in largest.items():
        part = result.to_xarray()
        part["state"] = (("time", "variable"), np.asarray(trial.state_at(result.times), np.int8))
        part["state"].attrs.update(description="true hidden states x^k at the record times")
        part.attrs = {}
        names = set(part.variables) | set(part.dims)
        parts.append(part.rename({name: f"{mode}_{name}" for name in names}))
    traces = xr.merge(parts, combine_attrs="drop")
    traces.attrs.update(scenario="log_odds", seed=seed,
                        n_neurons=int(next(iter(largest.values()))[1].n_neurons))
    return traces


def accuracy_scenario(*, seed: int = 0, duration: float = 10.0,
                      g0_values: tuple = (0.5, 1.0, 2.0, 4.0),
                      population_sizes: tuple = (4, 8, 16, 32), progress=silent,
                      figures: bool = True) -> ScenarioResult:
    """KL from the exact posterior against output spikes per second: the single Bayesian
    neuron (``g0_values``, nats) and log-odds populations (``population_sizes`` N), one
    hidden variable, the same input spikes. Check: tracking populations' KL falls with
    N. Figure: the frontier; traces: its rows."""
    from bayesnn.posteriors.compare import accuracy_vs_spikes, plot_accuracy_vs_spikes

    params = default_population(n_variables=1, n_neurons=4, seed=seed)
    progress(f"accuracy vs spikes: one hidden variable, {duration:g} s")
    trial = sample_population(params, key=seed, duration=duration)
    reference = reference_log_odds(params, trial.inputs, duration=duration, dt=1e-4)
    rows = accuracy_vs_spikes(params, trial, g0_values=tuple(g0_values),
                              population_sizes=tuple(population_sizes), reference=reference)
    grid = reference.times[10::10]
    exact_loss = log_loss(reference.exact[10::10], trial.state_at(grid))
    numbers = {"rows": [row._asdict() for row in rows], "exact_log_loss_nats": exact_loss}
    tracking = [row for row in rows if row.method == "tracking"]
    checks = [Check("accuracy_tracking_kl_monotone",
                    float(np.all(np.diff([row.kl_from_exact for row in tracking]) < 0)), 1.0, ">=",
                    "tracking populations: more spikes, lower KL")]
    figure_set = {}
    if figures:
        from bayesnn.style import describe
        figure_set["vs_spikes"] = plot_accuracy_vs_spikes(
            rows, caption=describe(K=1, duration=(float(duration), "s"), seed=seed))
    return ScenarioResult("accuracy", checks, numbers, figure_set,
                          _accuracy_traces(rows, exact_loss, seed, duration))


def _accuracy_traces(rows, exact_loss: float, seed: int, duration: float):
    """The frontier as a Dataset over ``coder`` (method, size, spikes/s, KL, log-loss)."""
    import xarray as xr

    traces = xr.Dataset(
        {"method": ("coder", [row.method for row in rows]),
         "size": ("coder", [row.size for row in rows]),
         "spikes_per_second": ("coder", [row.spikes_per_second for row in rows]),
         "kl_from_exact": ("coder", [row.kl_from_exact for row in rows]),
         "log_loss": ("coder", [row.log_loss for row in rows])},
        attrs={"scenario": "accuracy", "seed": seed, "duration_s": float(duration),
               "exact_log_loss_nats": float(exact_loss)})
    for name, units, text in (("size", "1", "g0 (nats) for the neuron, N for populations"),
                              ("spikes_per_second", "Hz", "output spikes per second"),
                              ("kl_from_exact", "nats", "time-averaged KL(exact || coder)"),
                              ("log_loss", "nats", "mean -log P(true x | coder)")):
        traces[name].attrs.update(units=units, description=text)
    return traces
