"""Figures of the ``spike_gradients`` scenario (house style, :mod:`bayesnn.style`)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesnn import style

__all__ = ["plot_transfer", "plot_gradients"]


@style.styled
def plot_transfer(transfer: dict, *, seed: int) -> Figure:
    """Hard-network decoding error per training method (left) and the surrogate's
    training loss per iteration (right)."""
    fig = style.figure(11, 4.5)
    a, b = fig.subplots(1, 2)
    names = [n for n in transfer["error"]]
    err = [transfer["error"][n] for n in names]
    a.bar(np.arange(len(names)), err, color="0.5")
    a.set_xticks(np.arange(len(names)), [n.replace("_", "\n") for n in names], fontsize=10)
    a.set_yscale("log")
    a.set_ylabel(style.label("hard-network decoding error"))
    a.set_xlabel(style.label("training method"))
    loss = np.asarray(transfer["surrogate_loss"])
    b.semilogy(np.arange(1, loss.size + 1), loss, "k-", label="surrogate BPTT")
    b.set_xlabel(style.label("iteration (one new input sequence each)"))
    b.set_ylabel(style.label("normalised readout error"))
    style.legend_outside(b)
    s = transfer["settings"]
    style.caption(fig, "Transfer to the hard spiking network (Brendel Fig. 2 task)",
                  "test run of the frozen network, whole window",
                  seed=seed, N=s["n_neurons"], iterations=s["iterations"], width=s["width"])
    return fig


@style.styled
def plot_gradients(check: dict, digits: dict, *, seed: int) -> Figure:
    """EventProp directional derivatives vs central differences (left) and digit test
    accuracies (right)."""
    fig = style.figure(11, 4.5)
    a, b = fig.subplots(1, 2)
    fd, ad = np.asarray(check["finite_difference"]), np.asarray(check["eventprop"])
    a.plot(fd, ad, "ko", label="random directions")
    lim = float(np.max(np.abs(np.concatenate([fd, ad, [1e-12]])))) * 1.1
    a.plot([-lim, lim], [-lim, lim], "r:", label="equality")
    a.set_xlabel(style.label("central difference dL/dh"))
    a.set_ylabel(style.label("EventProp dL/dh"))
    style.legend_outside(a)
    names = list(digits["accuracy"])
    b.bar(np.arange(len(names)), [digits["accuracy"][n] for n in names], color="0.5")
    b.set_xticks(np.arange(len(names)), names, fontsize=10)
    b.set_ylabel(style.label("test accuracy"))
    b.set_xlabel(style.label("classifier"))
    b.set_ylim(0, 1)
    style.caption(fig, "EventProp vs finite differences; 8x8 digits",
                  f"max rel. error {check['max_rel_error']:.1e}, all test images shown",
                  seed=seed)
    return fig
