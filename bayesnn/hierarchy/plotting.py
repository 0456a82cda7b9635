"""Figures of the hierarchy: one trial on one time axis, and the accuracy frontier
(matplotlib, in the style of :mod:`bayesnn.style`)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit

from bayesnn import style

__all__ = ["plot_hierarchy_trial", "plot_frontier"]


@style.styled
def plot_hierarchy_trial(times, top, exact_log_odds, reader_log_odds, reader_prediction,
                         fed_log_odds, child_states, spike_times, spike_senders,
                         window: tuple[float, float] | None = None, *,
                         caption: str | None = None) -> Figure:
    """Top state, exact marginal P(y | inputs), the readers' posteriors and the layer-1
    rasters (over the children's states) on one time axis.

    Args:
        times: (S,) grid, s. top: (S,) true y. exact_log_odds: (S,) exact log-odds of y.
        reader_log_odds, reader_prediction: (S,) spike-fed reader's L and G.
        fed_log_odds: (S,) log-odds-fed reader. child_states: (K, S) true x_j.
        spike_times, spike_senders: layer-1 spikes (s, child index).
        window: (start, end) s to show (default: the whole grid).
        caption: second caption line (key parameters and seed).
    """
    times = np.asarray(times)
    window = window or (float(times[0]), float(times[-1]))
    show = (times >= window[0]) & (times <= window[1])
    t = times[show]
    figure = style.figure(11, 7)
    top_axis, raster = figure.subplots(2, 1, sharex=True, height_ratios=[1.3, 1])
    top_axis.fill_between(t, 0, np.asarray(top)[show], step="post", color=style.COLORS["state"],
                          label="true y")
    top_axis.plot(t, expit(np.asarray(exact_log_odds)[show]), color="k", lw=1.4,
                  label="exact P(y=1 | inputs)")
    top_axis.plot(t, expit(np.asarray(reader_log_odds)[show]), color="tab:red", lw=0.9,
                  label="layer 2: sigmoid(L)")
    top_axis.plot(t, expit(np.asarray(reader_prediction)[show]), color="tab:orange", lw=0.9,
                  ls="--", label="layer 2: sigmoid(G)")
    top_axis.plot(t, expit(np.asarray(fed_log_odds)[show]), color="tab:blue", lw=0.9,
                  label="log-odds-fed reader")
    top_axis.set_ylabel("P(y = 1)")
    top_axis.set_ylim(-0.02, 1.02)
    style.legend_outside(top_axis)
    states = np.asarray(child_states)
    spike_times, spike_senders = np.asarray(spike_times), np.asarray(spike_senders)
    for j in range(states.shape[0]):
        raster.fill_between(t, j + 0.1, j + 0.1 + 0.8 * states[j][show], step="post",
                            color="0.88", lw=0)
        pick = (spike_senders == j) & (spike_times >= window[0]) & (spike_times <= window[1])
        raster.vlines(spike_times[pick], j + 0.15, j + 0.85, color="k", lw=0.6)
    raster.set_yticks(np.arange(states.shape[0]) + 0.5)
    raster.set_yticklabels([f"x_{j}" for j in range(states.shape[0])])
    raster.set_ylabel("layer-1 spikes\n(grey: x_j = 1)")
    raster.set_xlabel(style.label("time", "s"))
    raster.set_xlim(*window)
    style.caption(figure, "Spiking hierarchy: readers of layer-1 spikes against the exact "
                  "marginal", caption)
    return figure


@style.styled
def plot_frontier(rows: Sequence[dict[str, Any]], *, caption: str | None = None) -> Figure:
    """KL(exact || reader) against layer-1 output rate, one line per K: the spike-fed
    reader's L (solid) and G (dashed) and the log-odds-fed reader (dotted).
    ``caption``: key parameters and seed."""
    figure = style.figure(10, 6)
    axis = figure.subplots()
    sizes = sorted({row["n_children"] for row in rows})
    colours = {k: f"C{i}" for i, k in enumerate(sizes)}
    for k in sizes:
        part = sorted((row for row in rows if row["n_children"] == k),
                      key=lambda row: row["layer1_rate"])
        rate = [row["layer1_rate"] for row in part]
        axis.errorbar(rate, [row["kl_L"] for row in part], [row["kl_L_sd"] for row in part],
                      color=colours[k], marker="o", capsize=2, label=f"K = {k}: L")
        axis.plot(rate, [row["kl_G"] for row in part], color=colours[k], ls="--", marker="s",
                  ms=3, label=f"K = {k}: G")
        axis.plot(rate, [row["kl_fed"] for row in part], color=colours[k], ls=":",
                  marker="^", ms=3, label=f"K = {k}: log-odds-fed")
    style.log_axes(axis)
    axis.set_xlabel(style.label("layer-1 output rate per neuron", "Hz"))
    axis.set_ylabel(style.label("KL(exact || reader), time average", "nats"))
    handles, labels = axis.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i])  # K = 1: L, G, fed; K = 2 ...
    style.legend_outside(axis, ncol=2 if len(sizes) > 3 else 1,
                         handles=[handles[i] for i in order], labels=[labels[i] for i in order])
    style.caption(figure, "Hierarchy: accuracy against layer-1 spikes (labels: K children)",
                  caption)
    return figure
