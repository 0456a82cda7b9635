"""Figures of the ``learning`` scenario (matplotlib ``Figure`` objects, nothing shown).

Each function takes the data gathered by :mod:`bayesnn.learning.validation`; times in
s, rates in Hz, log-likelihoods in nats.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesnn.learning.experiments import PARAMETERS


def plot_em_log_likelihood(continuous, binned) -> Figure:
    """Gap to the final log-likelihood per EM iteration (log scale)."""
    figure = Figure(figsize=(6, 4), constrained_layout=True)
    axis = figure.subplots()
    for values, label in ((continuous, "continuous-time EM"), (binned, "binned EM (10 ms)")):
        values = np.asarray(values)
        gap = values[-1] - values[:-1]
        axis.semilogy(np.arange(gap.size), np.maximum(gap, 1e-12), marker=".", label=label)
    axis.set_xlabel("EM iteration")
    axis.set_ylabel("log p(final) - log p(iteration)  [nats]")
    axis.set_title("EM increases the log-likelihood at every step")
    axis.legend()
    return figure


def plot_learning_over_time(online, local, filtered, true) -> Figure:
    """Learned rates over time (online EM, local rule, filtered-only rule) vs the truth."""
    figure = Figure(figsize=(10, 6), constrained_layout=True)
    axes = figure.subplots(2, 2, sharex=True).ravel()
    names = ("r_on", "r_off", "q_on", "q_off")
    for axis, name in zip(axes, names):
        truth = np.asarray(getattr(true, name))
        for result, label, style in ((online, "online EM", "-"), (local, "local rule (L)", "--"),
                                     (filtered, "filtered-only rule", ":")):
            values = np.asarray(getattr(result.trajectory, name))
            values = values if values.ndim == 1 else values[:, 0]
            axis.plot(result.times, values, style, label=label)
        axis.axhline(float(np.atleast_1d(truth)[0]), color="k", lw=0.8, label="truth")
        axis.set_yscale("log")
        axis.set_ylabel(f"{name}{'' if name.startswith('r') else '[0]'}  [Hz]")
    axes[0].legend(fontsize=8)
    for axis in axes[2:]:
        axis.set_xlabel("time  [s]")
    figure.suptitle("Rates learned from input spikes (4x-wrong start)")
    return figure


def plot_tracking(times, ratio, switch) -> Figure:
    """Mean q_on estimate / old q_on through a halving of q_on (discounted online EM)."""
    figure = Figure(figsize=(7, 3.5), constrained_layout=True)
    axis = figure.subplots()
    axis.plot(times, ratio, label="online EM, memory 10 s")
    axis.step([0, switch, times[-1]], [1, 0.5, 0.5], where="post", color="k", lw=0.8, label="truth")
    axis.axvline(switch, color="0.6", ls=":")
    axis.set_ylim(0, 1.6)
    axis.set_xlabel("time  [s]")
    axis.set_ylabel("mean q_on estimate / initial q_on")
    axis.legend()
    return figure


def plot_duration_sweep(durations, errors, kls) -> Figure:
    """RMS relative error of EM's rates and the learned neuron's posterior KL vs length."""
    figure = Figure(figsize=(10, 4), constrained_layout=True)
    left, right = figure.subplots(1, 2)
    durations = np.asarray(durations)
    for row in np.asarray(errors).T:
        left.loglog(durations, row, color="0.7", lw=0.8)
    mean = np.asarray(errors).mean(axis=1)
    left.loglog(durations, mean, "o-", label="mean over data sets")
    left.loglog(durations, mean[0] * (durations / durations[0]) ** -0.5, "k--", label="slope -1/2")
    left.set_xlabel("recording length  [s]")
    left.set_ylabel("RMS relative error of the rates")
    left.legend()
    right.loglog(durations, kls, "o-", label="KL(exact || learned)")
    right.loglog(durations, kls[0] * (durations / durations[0]) ** -1.0, "k--", label="slope -1")
    right.set_xlabel("recording length  [s]")
    right.set_ylabel("mean KL per sample  [nats]")
    right.legend()
    return figure


def plot_coverage(coverage) -> Figure:
    """NUTS 90 % HDIs (relative to the truth) with the ML estimates, per data set."""
    n_sets, n_rates = coverage.ml.shape
    figure = Figure(figsize=(10, 4), constrained_layout=True)
    axis = figure.subplots()
    for k in range(n_sets):
        x = np.arange(n_rates) + (k - n_sets / 2) * 0.12
        axis.vlines(x, coverage.low[k] / coverage.truth, coverage.high[k] / coverage.truth,
                    color=f"C{k}", lw=2, alpha=0.6)
        axis.plot(x, coverage.ml[k] / coverage.truth, "o", color=f"C{k}", ms=3)
    axis.axhline(1.0, color="k", lw=0.8)
    labels = [f"{name}" if name.startswith("r") else f"{name}[{i}]" for name in PARAMETERS
              for i in (range(1) if name.startswith("r") else range((n_rates - 2) // 2))]
    axis.set_xticks(np.arange(n_rates), labels, rotation=45)
    axis.set_ylabel("rate / true rate")
    axis.set_title(f"NUTS 90 % HDIs (bars) and ML (dots): ML inside {coverage.ml_inside.mean():.0%}, "
                   f"truth inside {coverage.truth_inside.mean():.0%}")
    return figure


def learning_figures(data: dict) -> dict:
    """All figures available in ``data`` (keys as gathered by the validation stages)."""
    figures = {}
    if "em" in data:
        figures["em_log_likelihood"] = plot_em_log_likelihood(*data["em"])
    if "learning" in data:
        figures["learned_over_time"] = plot_learning_over_time(*data["learning"])
    if "tracking" in data:
        figures["tracking"] = plot_tracking(*data["tracking"])
    if "sweep" in data:
        figures["error_vs_duration"] = plot_duration_sweep(*data["sweep"])
    if "coverage" in data:
        figures["coverage"] = plot_coverage(data["coverage"])
    return figures


__all__ = ["plot_em_log_likelihood", "plot_learning_over_time", "plot_tracking",
           "plot_duration_sweep", "plot_coverage", "learning_figures"]
