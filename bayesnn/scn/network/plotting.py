"""Plots for spike-coding networks (matplotlib, in the style of :mod:`bayesnn.style`).

Helpers that draw on a given Axes:

- :func:`raster_by_direction`: spike raster with neurons sorted by decoder direction
  (angle of Gamma_i in the first two dimensions; value of Gamma_i for D = 1).
- :func:`plot_readout`: readout x_hat against the target x (time in s).
- :func:`plot_ei_currents`: E and I input currents of one neuron and their sum.

Whole figures (``Figure``, nothing shown) of the ``scn`` validate scenario:

- :func:`plot_box_run`: readout vs target, error inside the bounding box, raster.
- :func:`plot_autoencoder_run`: readout vs target, raster, one voltage against its
  closed form with the residual.
"""
from __future__ import annotations

import numpy as np

from bayesnn import style

__all__ = ["decoder_order", "raster_by_direction", "plot_readout", "plot_ei_currents",
           "plot_box_run", "plot_autoencoder_run"]


def decoder_order(Gamma) -> np.ndarray:
    """Neuron order by decoder direction: angle in dims (0, 1), or value for D = 1."""
    G = np.asarray(Gamma)
    if G.ndim != 2:
        raise ValueError(f"Gamma must have shape (D, N), got {G.shape}")
    key = G[0] if G.shape[0] == 1 else np.arctan2(G[1], G[0])
    return np.argsort(key, kind="stable")


def raster_by_direction(ax, times, senders, Gamma, marker_size: float = 12.0, **kwargs):
    """Raster (time in s vs rank of the neuron's decoder direction)."""
    order = decoder_order(Gamma)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    senders = np.asarray(senders)
    ok = senders >= 0
    ax.scatter(np.asarray(times)[ok], rank[senders[ok]], s=marker_size, c="k", marker="|",
               **kwargs)
    ax.set_xlabel(style.label("time", "s"))
    G = np.asarray(Gamma)
    ax.set_ylabel("neuron, sorted by\n" + ("decoder sign" if G.shape[0] == 1
                                           else "decoder angle"))
    ax.set_ylim(-0.5, order.size - 0.5)
    return ax


def plot_readout(ax, times, readout, target=None, labels=None, unit: str | None = None):
    """Readout (solid) and target (dashed) for each dimension; legend outside."""
    readout = np.asarray(readout)
    if readout.ndim == 1:
        readout = readout[:, None]
    colors = [f"C{d}" for d in range(readout.shape[1])]
    for d in range(readout.shape[1]):
        name = labels[d] if labels else f"x{d + 1}"
        ax.plot(times, readout[:, d], color=colors[d], lw=1, label=f"{name} readout")
        if target is not None:
            tgt = np.asarray(target)
            tgt = tgt[:, None] if tgt.ndim == 1 else tgt
            ax.plot(times, tgt[:, d], color=colors[d], ls="--", lw=1.5, label=f"{name} target")
    ax.set_xlabel(style.label("time", "s"))
    if not ax.get_ylabel():
        ax.set_ylabel(style.label("x", unit or "units of x"))
    style.legend_outside(ax)
    return ax


def plot_ei_currents(ax, times, current_e, current_i):
    """Excitatory, inhibitory (negated) and net input current of one neuron."""
    e = np.asarray(current_e)
    i = np.asarray(current_i)
    ax.plot(times, e, color="C3", lw=0.8, label="excitatory")
    ax.plot(times, -i, color="C0", lw=0.8, label="inhibitory")
    ax.plot(times, e - i, color="k", lw=0.8, label="net")
    ax.set_xlabel(style.label("time", "s"))
    ax.set_ylabel(style.label("input current", "voltage units per s"))
    style.legend_outside(ax)
    return ax


@style.styled
def plot_box_run(times, readout, target, bound: float, spike_times, senders, Gamma, *,
                 caption: str):
    """Figure: readout vs target, the error x_hat - x inside the box +-``bound``
    (units of x), and the raster sorted by decoder direction, over the whole run
    (``times``, s, from the run's start; the caption says so). ``caption``: key
    parameters and seed (:func:`bayesnn.style.describe`)."""
    times, readout, target = np.asarray(times), np.asarray(readout), np.asarray(target)
    figure = style.figure(12, 7.5)
    top, middle, bottom = figure.subplots(3, 1, sharex=True, height_ratios=[1.2, 1, 1.2])
    plot_readout(top, times, readout, target)
    top.set_xlabel("")
    error = readout - target
    for d in range(error.shape[1]):
        middle.plot(times, error[:, d], color=f"C{d}", lw=0.8, label=f"x{d + 1} error")
    style.box_edges(middle, bound)
    middle.set_ylabel(style.label("readout - target", "units of x"))
    style.legend_outside(middle)
    raster_by_direction(bottom, spike_times, senders, Gamma)
    worst = float(np.max(np.abs(error)))
    style.caption(figure, f"Spike-coding integrator: max |error| = {worst:.3g} inside the box "
                  f"{bound:.3g}", caption, shown=style.window(0.0, times[-1], times[-1]))
    return figure


@style.styled
def plot_autoencoder_run(times, readout, target, spike_times, senders, Gamma, voltage,
                         voltage_closed_form, *, neuron: int = 0, caption: str):
    """Figure: readout vs target (each dimension), the raster sorted by decoder angle,
    neuron ``neuron``'s voltage against its closed form and their residual (they
    overlap exactly), over the whole run (``times``, s, from the run's start)."""
    times = np.asarray(times)
    figure = style.figure(13, 7.5)
    axes = figure.subplots(4, 1, sharex=True, height_ratios=[1.2, 1.1, 1, 0.8])
    plot_readout(axes[0], times, readout, target)
    axes[0].set_xlabel("")
    raster_by_direction(axes[1], spike_times, senders, Gamma)
    axes[1].set_xlabel("")
    axes[2].plot(times, voltage, color=style.COLORS["exact"], lw=2.0,
                 label=f"V of neuron {neuron} (simulated)")
    axes[2].plot(times, voltage_closed_form, color=style.COLORS["model"], lw=1.0, ls="--",
                 label="closed form Gamma^T (x - Gamma r)\n- mu lambda^2 r")
    axes[2].set_ylabel(style.label("voltage", "units of x"))
    style.legend_outside(axes[2])
    style.residual_panel(axes[3], times, voltage, voltage_closed_form, quantity=None,
                         unit="units of x", names=("V", "closed form"))
    axes[3].set_ylabel("V - closed form\n(units of x)")  # one line is taller than the panel
    axes[3].set_xlabel(style.label("time", "s"))
    style.caption(figure, "Spike-coding autoencoder (2-D): readout, raster and the voltage "
                  "closed form", caption, shown=style.window(0.0, times[-1], times[-1]))
    return figure
