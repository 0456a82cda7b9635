"""Plots for spike-coding networks (matplotlib; each function draws on a given Axes).

- :func:`raster_by_direction`: spike raster with neurons sorted by decoder direction
  (angle of Gamma_i in the first two dimensions; value of Gamma_i for D = 1).
- :func:`plot_readout`: readout x_hat against the target x (time in s).
- :func:`plot_ei_currents`: E and I input currents of one neuron and their sum.
"""
from __future__ import annotations

import numpy as np

__all__ = ["decoder_order", "raster_by_direction", "plot_readout", "plot_ei_currents"]


def decoder_order(Gamma) -> np.ndarray:
    """Neuron order by decoder direction: angle in dims (0, 1), or value for D = 1."""
    G = np.asarray(Gamma)
    if G.ndim != 2:
        raise ValueError(f"Gamma must have shape (D, N), got {G.shape}")
    key = G[0] if G.shape[0] == 1 else np.arctan2(G[1], G[0])
    return np.argsort(key, kind="stable")


def raster_by_direction(ax, times, senders, Gamma, marker_size: float = 2.0, **kwargs):
    """Raster (time in s vs rank of the neuron's decoder direction)."""
    order = decoder_order(Gamma)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    senders = np.asarray(senders)
    ok = senders >= 0
    ax.scatter(np.asarray(times)[ok], rank[senders[ok]], s=marker_size, c="k", marker="|", **kwargs)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (sorted by decoder direction)")
    ax.set_ylim(-0.5, order.size - 0.5)
    return ax


def plot_readout(ax, times, readout, target=None, labels=None):
    """Readout (solid) and target (dashed) for each dimension."""
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
    ax.set_xlabel("time (s)")
    ax.legend(fontsize="small")
    return ax


def plot_ei_currents(ax, times, current_e, current_i):
    """Excitatory, inhibitory (negated) and net input current of one neuron."""
    e = np.asarray(current_e)
    i = np.asarray(current_i)
    ax.plot(times, e, color="C3", lw=0.8, label="excitatory")
    ax.plot(times, -i, color="C0", lw=0.8, label="inhibitory")
    ax.plot(times, e - i, color="k", lw=0.8, label="net")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("input current (per s)")
    ax.legend(fontsize="small")
    return ax
