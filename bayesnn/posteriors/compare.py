"""Accuracy against spikes: one hidden variable, the same input spikes, several coders.

For a single binary hidden variable (K = 1) and one trial of its input spikes, this
measures, against the exact posterior on the same spikes:

* Denève's single Bayesian neuron, read out by a downstream decoder (sigmoid(G)),
  for several jump sizes g0;
* log-odds populations (tracking and implementing modes) of several sizes N;

each as (output spikes per second, time-averaged KL from the exact posterior, log-loss).
Plotted as KL against spikes per second, this is the energy argument for spiking
inference made measurable: how many spikes buy how much accuracy.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from matplotlib.figure import Figure

from bayesnn.metrics import log_loss, mean_kl
from bayesnn.posteriors.log_odds_data import (
    LogOddsReference,
    PopulationTrial,
    grid_steps,
    reference_log_odds,
)
from bayesnn.posteriors.log_odds_params import LogOddsPopulationParams, with_population_size

__all__ = ["AccuracyRow", "accuracy_vs_spikes", "format_rows", "plot_accuracy_vs_spikes"]


class AccuracyRow(NamedTuple):
    """One coder: ``method`` ("neuron", "tracking", "implementing"), its ``size``
    (g0 for the neuron, N for populations), ``spikes_per_second`` (Hz),
    ``kl_from_exact`` (nats, time-averaged) and ``log_loss`` (nats)."""

    method: str
    size: float
    spikes_per_second: float
    kl_from_exact: float
    log_loss: float


def accuracy_vs_spikes(params: LogOddsPopulationParams, trial: PopulationTrial, *,
                       dt: float = 1e-4, g0_values: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
                       population_sizes: Sequence[int] = (4, 8, 16, 32, 64),
                       record_every: int = 10,
                       reference: LogOddsReference | None = None) -> list[AccuracyRow]:
    """Rows for the single neuron (each g0) and both population modes (each N) on the
    input spikes of ``trial`` (one hidden variable, K = 1), compared on the grid of step
    ``dt`` decimated by ``record_every``.

    Raises:
        ValueError: unless K = 1; for a bad grid or ``reference``.
    """
    from bayesnn.neuron import NeuronParams, simulate as simulate_neuron
    from bayesnn.core.spikes import bucket_capacity
    from bayesnn.neuron.event_driven import drift_can_fire
    from bayesnn.posteriors.log_odds import simulate
    from bayesnn.posteriors.accuracy import population_accuracy

    if params.n_variables != 1:
        raise ValueError(f"params must have one hidden variable (K = 1), got K = {params.n_variables}")
    duration = float(trial.duration)
    grid_steps(duration, dt)
    if reference is None:
        reference = reference_log_odds(params, trial.inputs, duration=duration, dt=dt)
    grid = reference.times[record_every::record_every]
    exact = reference.exact[record_every::record_every, 0]
    states = trial.state_at(grid)[:, 0]
    rows = []
    q_on, q_off = np.asarray(params.q_on)[0], np.asarray(params.q_off)[0]  # host rows
    neurons = [NeuronParams(params.r_on, params.r_off, q_on, q_off, g0) for g0 in g0_values]
    # One event buffer for every g0, so one compiled program: at most one output event
    # per input event plus drift spikes (< |theta| / g0 Hz, only where drift can fire),
    # the bound bayesnn.neuron.simulate uses for each g0 alone. The buffer only stores:
    # the spikes are those of the per-g0 default.
    drift = max((max(-float(np.asarray(n.theta)), 0.0) / float(n.g0) if drift_can_fire(n)
                 else 0.0) for n in neurons) if neurons else 0.0
    capacity = bucket_capacity(int(np.asarray(trial.inputs.n_events)) + drift * duration)
    for g0, neuron in zip(g0_values, neurons):
        run = simulate_neuron(neuron, trial.inputs, duration=duration, method="exact",
                              sample_times=grid, capacity=capacity)
        decoded = np.asarray(run.prediction)
        n_spikes = int(np.sum(np.asarray(run.spikes.counts)))  # on the host
        rows.append(AccuracyRow("neuron", float(g0), float(n_spikes) / duration,
                                mean_kl(exact, decoded), log_loss(decoded, states)))
    for mode in ("tracking", "implementing"):
        for size in population_sizes:
            sized = with_population_size(params, int(size))
            result = simulate(sized, trial.inputs, duration=duration, dt=dt, mode=mode,
                              record_every=record_every, reference=reference)
            acc = population_accuracy(sized, result, trial, mode=mode, dt=dt)
            rows.append(AccuracyRow(mode, float(size), acc.spikes_per_second, acc.kl_from_exact,
                                    acc.log_loss))
    return rows


def format_rows(rows: list[AccuracyRow], exact_log_loss: float | None = None) -> str:
    """Plain-text table of :func:`accuracy_vs_spikes` rows."""
    lines = [f"{'coder':14s} {'g0 or N':>8s} {'spikes/s':>10s} {'KL (nats)':>11s} {'log-loss':>9s}"]
    for row in rows:
        lines.append(f"{row.method:14s} {row.size:8g} {row.spikes_per_second:10.1f} "
                     f"{row.kl_from_exact:11.3e} {row.log_loss:9.4f}")
    if exact_log_loss is not None:
        lines.append(f"{'exact':14s} {'-':>8s} {'-':>10s} {0.0:11.3e} {exact_log_loss:9.4f}")
    return "\n".join(lines)


def plot_accuracy_vs_spikes(rows: list[AccuracyRow], *, caption: str | None = None) -> Figure:
    """KL from the exact posterior against output spikes per second, log-log (in the
    style of :mod:`bayesnn.style`); ``caption``: key parameters and seed."""
    from bayesnn import style

    with style.context():
        figure = style.figure(9, 5.5)
        axis = figure.subplots()
        styles = {"neuron": ("tab:red", "o", "single Bayesian neuron\n(labels: g0, nats)"),
                  "tracking": ("tab:blue", "s", "population, tracking\n(labels: N)"),
                  "implementing": ("tab:green", "^", "population, implementing\n(labels: N)")}
        for method, (color, marker, label) in styles.items():
            chosen = [row for row in rows if row.method == method]
            if not chosen:
                continue
            rates = [row.spikes_per_second for row in chosen]
            kls = [max(row.kl_from_exact, 1e-12) for row in chosen]
            axis.plot(rates, kls, marker=marker, color=color, label=label)
            for row, rate, kl in zip(chosen, rates, kls):
                axis.annotate(f"{row.size:g}", (rate, kl), fontsize=style.MIN_FONT_PT,
                              xytext=(4, 4), textcoords="offset points", color=color)
        style.log_axes(axis)
        axis.set_xlabel(style.label("output spikes per second", "Hz"))
        axis.set_ylabel(style.label("KL(exact || spike-based)", "nats"))
        style.legend_outside(axis)
        style.caption(figure, "Accuracy against spikes: one hidden variable, same input spikes",
                      caption)
    return figure
