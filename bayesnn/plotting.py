"""Figures for Bayesian-neuron runs (matplotlib, in the style of :mod:`bayesnn.style`).

Every function returns a ``matplotlib.figure.Figure`` and draws nothing on screen;
save it with :func:`save_figure` (atomic PNG at :data:`bayesnn.style.DPI`) or
``fig.savefig(path)``. Times in seconds, log-odds in nats, spikes as
:class:`bayesnn.core.Spikes`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit

from bayesnn import style
from bayesnn.core.spikes import Spikes, spike_arrays
from bayesnn.metrics import CalibrationTable

__all__ = ["plot_neuron_trial", "plot_calibration", "save_figure"]


@style.styled
def plot_neuron_trial(times, states, inputs: Spikes, exact_log_odds, log_odds, prediction,
                      spikes: Spikes, g0: float,
                      window: tuple[float, float] | None = None, *,
                      caption: str | None = None) -> Figure:
    """Hidden state, posteriors, input raster, log-odds, the residual L - L_exact and
    the output spikes on one time axis.

    Args:
        times: (S,) sample times, s.
        states: (S,) true hidden state at the sample times (0/1).
        inputs: one trial's input spikes (:class:`bayesnn.core.Spikes`, sender = input).
        exact_log_odds: (S,) exact posterior log-odds (reference filter), nats.
        log_odds, prediction: (S,) the neuron's L and G, nats.
        spikes: the neuron's output spikes (:class:`bayesnn.core.Spikes`, count =
            multiplicity).
        g0: jump of G per output spike (to draw the threshold G + g0/2), nats.
        window: (start, stop) in seconds to zoom on; default the whole trial. The
            caption states it ("shown: 0-5 s of a 20 s run", the run ending at
            ``times[-1]``).
        caption: second caption line (key parameters and seed,
            :func:`bayesnn.style.describe`); default names g0 only.

    Raises:
        ValueError: if a spike container is batched or overflowed
            (:func:`bayesnn.core.spike_arrays`).
    """
    input_times, input_channels, _ = spike_arrays(inputs)
    spike_times, _, spike_counts = spike_arrays(spikes)
    times = np.asarray(times)
    start, stop = window if window is not None else (0.0, float(times[-1]))
    shown = (times >= start) & (times <= stop)
    t = times[shown]
    exact, L, G = (np.asarray(a)[shown] for a in (exact_log_odds, log_odds, prediction))
    figure = style.figure(13, 7.5)
    axes = figure.subplots(5, 1, sharex=True,
                           gridspec_kw={"height_ratios": [1.3, 1.0, 1.3, 0.9, 0.6]})

    axes[0].fill_between(t, 0, np.asarray(states)[shown], step="post",
                         color=style.COLORS["state"], label="hidden state x")
    axes[0].plot(t, expit(exact), color=style.COLORS["exact"], lw=2.0, label="exact posterior")
    axes[0].plot(t, expit(L), color=style.COLORS["model"], lw=1.2, ls="--",
                 label="neuron sigmoid(L)")
    axes[0].plot(t, expit(G), color=style.COLORS["decoded"], lw=1.0, label="decoded sigmoid(G)")
    axes[0].set_ylabel("P(x = 1)")
    axes[0].set_ylim(-0.02, 1.02)
    style.legend_outside(axes[0])

    real = (input_times >= start) & (input_times <= stop)
    axes[1].scatter(input_times[real], input_channels[real], s=6, marker="|", color="k")
    axes[1].set_ylabel("input channel")

    axes[2].plot(t, L, color=style.COLORS["model"], lw=1.0, label="L")
    axes[2].plot(t, G, color=style.COLORS["decoded"], lw=1.0, label="G")
    axes[2].plot(t, G + g0 / 2, color=style.COLORS["decoded"], lw=0.8, ls=":",
                 label="threshold G + g0/2")
    axes[2].set_ylabel(style.label("log-odds", "nats"))
    style.legend_outside(axes[2])

    style.residual_panel(axes[3], t, L, exact, quantity=None, unit="nats",
                         names=("L", "L_exact"))

    fired = (spike_times >= start) & (spike_times <= stop)
    axes[4].vlines(spike_times[fired], 0, spike_counts[fired], color=style.COLORS["decoded"],
                   lw=1.0)
    axes[4].set_ylabel("output\nspikes")
    axes[4].set_xlabel(style.label("time", "s"))
    axes[4].set_xlim(start, stop)
    style.caption(figure, "Bayesian neuron against the exact posterior on the same input spikes",
                  caption or style.describe(g0=(g0, "nats")),
                  shown=style.window(start, stop, float(times[-1])))
    return figure


@style.styled
def plot_calibration(table: CalibrationTable, *, caption: str | None = None) -> Figure:
    """Reliability diagram: observed frequency of x = 1 against mean prediction; the bars
    are the table's binomial intervals around each bin's mean prediction (where a
    calibrated posterior's observed frequency falls). ``caption``: key parameters and
    seed."""
    figure = style.figure(7.5, 5.0)
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="0.6", lw=1.0, ls="--", label="perfect calibration")
    axis.vlines(table.mean_predicted, table.lower, table.upper, color=style.COLORS["bound"],
                lw=4, alpha=0.5, label=f"{100 * table.confidence:.2f}% binomial interval\n"
                                       "if calibrated")
    axis.plot(table.mean_predicted, table.observed, "o", color=style.COLORS["model"], ms=6,
              label="observed frequency")
    axis.set_xlabel("predicted P(x = 1)")
    axis.set_ylabel("observed frequency of x = 1")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_aspect("equal")
    style.legend_outside(axis)
    style.caption(figure, "Calibration of the neuron's posterior", caption)
    return figure


def save_figure(figure: Figure, path, dpi: int = style.DPI):
    """Write ``figure`` as a PNG at ``path`` atomically (rendered in memory, then written
    through a temporary file and renamed, like every bayesnn result file); returns the
    path. Text sizes in points hold at the figure's size whatever ``dpi``."""
    import io as _bytes_io

    from bayesnn.io import write_atomic
    buffer = _bytes_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    return write_atomic(path, lambda target: target.write_bytes(data))
