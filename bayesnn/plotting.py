"""Figures for Bayesian-neuron runs (matplotlib).

Every function returns a ``matplotlib.figure.Figure`` and draws nothing on screen;
save it with :func:`save_figure` (atomic PNG) or ``fig.savefig(path)``. Times in
seconds, spikes as :class:`bayesnn.core.Spikes`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit

from bayesnn.core.spikes import Spikes, spike_arrays
from bayesnn.metrics import CalibrationTable


def plot_neuron_trial(times, states, inputs: Spikes, exact_log_odds, log_odds, prediction,
                      spikes: Spikes, g0: float,
                      window: tuple[float, float] | None = None) -> Figure:
    """Hidden state, input raster, posteriors, log-odds and output spikes on one time axis.

    Args:
        times: (S,) sample times, s.
        states: (S,) true hidden state at the sample times (0/1).
        inputs: one trial's input spikes (:class:`bayesnn.core.Spikes`, sender = input).
        exact_log_odds: (S,) exact posterior log-odds (reference filter), nats.
        log_odds, prediction: (S,) the neuron's L and G, nats.
        spikes: the neuron's output spikes (:class:`bayesnn.core.Spikes`, count =
            multiplicity).
        g0: jump of G per output spike (to draw the threshold G + g0/2), nats.
        window: (start, stop) in seconds to zoom on; default the whole trial.

    Raises:
        ValueError: if a spike container is batched or overflowed
            (:func:`bayesnn.core.spike_arrays`).
    """
    input_times, input_channels, _ = spike_arrays(inputs)
    spike_times, _, spike_counts = spike_arrays(spikes)
    times = np.asarray(times)
    start, stop = window if window is not None else (0.0, float(times[-1]))
    shown = (times >= start) & (times <= stop)
    figure = Figure(figsize=(10, 8), constrained_layout=True)
    axes = figure.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1.5, 1.5, 0.5]})

    axes[0].fill_between(times[shown], 0, np.asarray(states)[shown], step="post", color="0.85",
                         label="hidden state x")
    axes[0].plot(times[shown], expit(np.asarray(exact_log_odds)[shown]), color="k", lw=1.2,
                 label="exact posterior")
    axes[0].plot(times[shown], expit(np.asarray(log_odds)[shown]), color="tab:blue", lw=0.8,
                 ls="--", label="neuron sigmoid(L)")
    axes[0].plot(times[shown], expit(np.asarray(prediction)[shown]), color="tab:red", lw=0.8,
                 label="decoded sigmoid(G)")
    axes[0].set_ylabel("P(x = 1)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(loc="upper right", fontsize=7, ncol=4)

    real = (input_times >= start) & (input_times <= stop)
    axes[1].scatter(input_times[real], input_channels[real], s=2, marker="|", color="k")
    axes[1].set_ylabel("input")

    axes[2].plot(times[shown], np.asarray(log_odds)[shown], color="tab:blue", lw=0.8, label="L")
    axes[2].plot(times[shown], np.asarray(prediction)[shown], color="tab:red", lw=0.8, label="G")
    axes[2].plot(times[shown], np.asarray(prediction)[shown] + g0 / 2, color="tab:red", lw=0.5,
                 ls=":", label="threshold G + g0/2")
    axes[2].set_ylabel("log-odds")
    axes[2].legend(loc="upper right", fontsize=7, ncol=3)

    fired = (spike_times >= start) & (spike_times <= stop)
    axes[3].vlines(spike_times[fired], 0, spike_counts[fired], color="tab:red", lw=0.8)
    axes[3].set_ylabel("output\nspikes")
    axes[3].set_xlabel("time (s)")
    axes[3].set_xlim(start, stop)
    return figure


def plot_calibration(table: CalibrationTable) -> Figure:
    """Reliability diagram: observed frequency of x = 1 against mean prediction, with
    the binomial intervals of the table."""
    figure = Figure(figsize=(4.5, 4.5), constrained_layout=True)
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="perfect calibration")
    axis.errorbar(table.mean_predicted, table.observed,
                  yerr=[table.observed - table.lower, table.upper - table.observed],
                  fmt="o", color="tab:blue", ms=4, capsize=2,
                  label=f"observed ({100 * table.confidence:.2f}% binomial interval)")
    axis.set_xlabel("predicted P(x = 1)")
    axis.set_ylabel("observed frequency of x = 1")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7, loc="upper left")
    return figure


def save_figure(figure: Figure, path, dpi: int = 120):
    """Write ``figure`` as a PNG at ``path`` atomically (rendered in memory, then written
    through a temporary file and renamed, like every bayesnn result file); returns the
    path."""
    import io as _bytes_io

    from bayesnn.io import write_atomic
    buffer = _bytes_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    return write_atomic(path, lambda target: target.write_bytes(data))
