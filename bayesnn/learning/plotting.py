"""Figures of the ``learning`` scenario (matplotlib ``Figure`` objects, nothing shown,
in the style of :mod:`bayesnn.style`).

Each function takes the data gathered by :mod:`bayesnn.learning.validation`; times in
s, rates in Hz, log-likelihoods in nats. ``caption`` is the second caption line (key
parameters and seed, :func:`bayesnn.style.describe`).
"""
from __future__ import annotations

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from bayesnn import style
from bayesnn.learning.experiments import PARAMETERS


@style.styled
def plot_em_log_likelihood(continuous, binned, *, caption: str | None = None) -> Figure:
    """Gap to the final log-likelihood per EM iteration (log scale)."""
    figure = style.figure(9, 5)
    axis = figure.subplots()
    for values, label in ((continuous, "continuous-time EM"), (binned, "binned EM (10 ms)")):
        values = np.asarray(values)
        gap = values[-1] - values[:-1]
        axis.plot(np.arange(gap.size), np.maximum(gap, 1e-12), marker=".", label=label)
    style.log_axes(axis, x=False)
    axis.set_xlabel("EM iteration")
    axis.set_ylabel(style.label("log p(final) - log p(iteration)", "nats"))
    style.legend_outside(axis)
    style.caption(figure, "EM increases the log-likelihood at every step", caption)
    return figure


@style.styled
def plot_learning_over_time(online, local, filtered, true, *, caption: str | None = None) -> Figure:
    """Learned rates over time (online EM, local rule, filtered-only rule) vs the truth."""
    figure = style.figure(12, 7)
    axes = figure.subplots(2, 2, sharex=True).ravel()
    names = ("r_on", "r_off", "q_on", "q_off")
    for axis, name in zip(axes, names):
        truth = np.asarray(getattr(true, name))
        for result, label, line in ((online, "online EM", "-"), (local, "local rule (L)", "--"),
                                    (filtered, "filtered-only rule", ":")):
            values = np.asarray(getattr(result.history, name))
            values = values if values.ndim == 1 else values[:, 0]
            axis.plot(result.times, values, line, label=label)
        axis.axhline(float(np.atleast_1d(truth)[0]), color="k", lw=1.0, label="truth")
        style.log_axes(axis, x=False)
        axis.set_ylabel(style.label(name if name.startswith("r") else f"{name}[0]", "Hz"))
    style.legend_outside(axes[1])
    for axis in axes[2:]:
        axis.set_xlabel(style.label("time", "s"))
    end = float(np.asarray(online.times)[-1])
    style.caption(figure, "Rates learned from input spikes (4x-wrong start)", caption,
                  shown=style.window(0.0, end, end))
    return figure


@style.styled
def plot_tracking(times, ratio, switch, *, caption: str | None = None) -> Figure:
    """Mean q_on estimate / old q_on through a halving of q_on (discounted online EM)."""
    figure = style.figure(10, 4.5)
    axis = figure.subplots()
    axis.plot(times, ratio, label="online EM,\nmemory 10 s")
    axis.step([0, switch, times[-1]], [1, 0.5, 0.5], where="post", color="k", lw=1.0,
              label="truth")
    axis.axvline(switch, color="0.6", ls=":", label="q_on halves")
    axis.set_ylim(0, 1.6)
    axis.set_xlabel(style.label("time", "s"))
    axis.set_ylabel("mean q_on estimate /\ninitial q_on")
    style.legend_outside(axis)
    end = float(np.asarray(times)[-1])
    style.caption(figure, "Discounted online EM tracks a change of the input rates", caption,
                  shown=style.window(0.0, end, end))
    return figure


@style.styled
def plot_duration_sweep(durations, errors, kls, *, caption: str | None = None) -> Figure:
    """RMS relative error of EM's rates and the learned neuron's posterior KL vs length."""
    figure = style.figure(12, 5.5)
    left, right = figure.subplots(1, 2)
    durations = np.asarray(durations, float)
    for row in np.asarray(errors).T:
        left.loglog(durations, row, color="0.7", lw=0.8)
    mean = np.asarray(errors).mean(axis=1)
    left.loglog(durations, mean, "o-", label="mean (grey: data sets)")
    left.loglog(durations, mean[0] * (durations / durations[0]) ** -0.5, "k--", label="slope -1/2")
    left.set_ylabel("RMS relative error of the rates")
    right.loglog(durations, kls, "o-", label="KL(exact || learned)")
    right.loglog(durations, kls[0] * (durations / durations[0]) ** -1.0, "k--", label="slope -1")
    right.set_ylabel(style.label("mean KL per sample", "nats"))
    for axis in (left, right):
        style.log_axes(axis)
        # a tick at every recording length: the ends are labelled too
        axis.set_xticks(durations, [f"{d:g}" for d in durations])
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlabel(style.label("recording length", "s"))
        style.legend_outside(axis, where="top")
    style.caption(figure, "Learning error against recording length", caption)
    return figure


@style.styled
def plot_coverage(coverage, *, caption: str | None = None) -> Figure:
    """NUTS 90 % HDIs (relative to the truth) with the ML estimates, per data set."""
    n_sets, n_rates = coverage.ml.shape
    figure = style.figure(max(10.0, 0.35 * n_rates + 4), 5.5)
    axis = figure.subplots()
    for k in range(n_sets):
        x = np.arange(n_rates) + (k - n_sets / 2) * 0.12
        axis.vlines(x, coverage.low[k] / coverage.truth, coverage.high[k] / coverage.truth,
                    color=f"C{k}", lw=2, alpha=0.6, label=f"data set {k}: 90 % HDI")
        axis.plot(x, coverage.ml[k] / coverage.truth, "o", color=f"C{k}", ms=3)
    axis.plot([], [], "o", color="0.4", ms=3, label="ML estimates")
    axis.axhline(1.0, color="k", lw=1.0, label="truth")
    labels = [f"{name}" if name.startswith("r") else f"{name}[{i}]" for name in PARAMETERS
              for i in (range(1) if name.startswith("r") else range((n_rates - 2) // 2))]
    axis.set_xticks(np.arange(n_rates), labels, rotation=90)
    axis.set_xlabel("rate")
    axis.set_ylabel("rate / true rate")
    style.legend_outside(axis)
    style.caption(figure, f"NUTS 90 % HDIs and ML: ML inside {coverage.ml_inside.mean():.0%}, "
                  f"truth inside {coverage.truth_inside.mean():.0%}", caption)
    return figure


def learning_figures(data: dict, *, caption: str | None = None) -> dict:
    """All figures available in ``data`` (keys as gathered by the validation stages)."""
    figures = {}
    if "em" in data:
        figures["em_log_likelihood"] = plot_em_log_likelihood(*data["em"], caption=caption)
    if "learning" in data:
        figures["learned_over_time"] = plot_learning_over_time(*data["learning"], caption=caption)
    if "tracking" in data:
        figures["tracking"] = plot_tracking(*data["tracking"], caption=caption)
    if "sweep" in data:
        figures["error_vs_duration"] = plot_duration_sweep(*data["sweep"], caption=caption)
    if "coverage" in data:
        figures["coverage"] = plot_coverage(data["coverage"], caption=caption)
    return figures


__all__ = ["plot_em_log_likelihood", "plot_learning_over_time", "plot_tracking",
           "plot_duration_sweep", "plot_coverage", "learning_figures"]
