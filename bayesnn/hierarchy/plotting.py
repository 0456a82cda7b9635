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
        window: (start, end) s to show (default: the whole grid); the caption states it
            ("shown: 0-6 s of a 20 s run", the run ending at ``times[-1]``).
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
                  "marginal", caption, shown=style.window(window[0], window[1], times[-1]))
    return figure


@style.styled
def plot_frontier(rows: Sequence[dict[str, Any]], *, caption: str | None = None) -> Figure:
    """KL(exact || reader) against layer-1 output rate: colour = number of children K,
    line style = reader (spike-fed reader's L solid, its G dashed, the log-odds-fed
    reader dotted), each in its own key. ``caption``: key parameters and seed."""
    from matplotlib.lines import Line2D

    figure = style.figure(10, 6)
    axis = figure.subplots()
    sizes = sorted({row["n_children"] for row in rows})
    colours = {k: f"C{i}" for i, k in enumerate(sizes)}
    readers = (("kl_L", "-", "o", "spike-fed reader: L"), ("kl_G", "--", "s", "spike-fed reader: G"),
               ("kl_fed", ":", "^", "log-odds-fed reader"))
    for k in sizes:
        part = sorted((row for row in rows if row["n_children"] == k),
                      key=lambda row: row["layer1_rate"])
        rate = [row["layer1_rate"] for row in part]
        axis.errorbar(rate, [row["kl_L"] for row in part], [row["kl_L_sd"] for row in part],
                      color=colours[k], ls="-", marker="o", capsize=2)
        for key, line, marker, _ in readers[1:]:
            axis.plot(rate, [row[key] for row in part], color=colours[k], ls=line,
                      marker=marker, ms=4)
    style.log_axes(axis)
    axis.set_xlabel(style.label("layer-1 output rate per neuron", "Hz"))
    axis.set_ylabel(style.label("KL(exact || reader), time average", "nats"))
    size = max(style.MIN_FONT_PT, float(style.RC["legend.fontsize"]))
    # two keys instead of one entry per (K, reader): colour and line style
    children = axis.legend([Line2D([], [], color=colours[k], lw=2) for k in sizes],
                           [f"K = {k}" for k in sizes], title="children", loc="upper left",
                           bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=size,
                           ncol=1 if len(sizes) <= 6 else 2)
    axis.add_artist(children)
    axis.legend([Line2D([], [], color="0.3", ls=line, marker=marker, ms=4)
                 for _, line, marker, _ in readers], [name for *_, name in readers],
                title="reader (bars: sd of L)", loc="lower left", bbox_to_anchor=(1.01, 0.0),
                borderaxespad=0.0, fontsize=size)
    style.caption(figure, "Hierarchy: accuracy against layer-1 spikes", caption)
    return figure
