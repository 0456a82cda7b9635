"""Figures of the dynamics-learning experiments (house style, :mod:`bayesnn.style`):
learned against closed-form slow weights, phase portraits learned against true, and
the error against learning time."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesnn import style

__all__ = ["plot_weights_vs_closed_form", "plot_phase_portraits", "plot_learning_curves"]


@style.styled
def plot_weights_vs_closed_form(W, W_star, *, caption: str, seed) -> Figure:
    """Scatter of the learned slow weights against ``Gamma^T (A + lambda_d I) Gamma``."""
    fig = style.figure(6.5, 5.5)
    ax = fig.subplots()
    W, W_star = np.asarray(W).ravel(), np.asarray(W_star).ravel()
    ax.plot(W_star, W, "k.", ms=4, label="synapse")
    lim = float(np.max(np.abs(np.concatenate([W, W_star])))) * 1.05
    ax.plot([-lim, lim], [-lim, lim], "r:", label="identity")
    ax.set_xlabel(style.label("closed form W_s* entry"))
    ax.set_ylabel(style.label("learned W_s entry"))
    style.legend_outside(ax, where="top", ncol=2)
    style.caption(fig, "Learned slow weights vs closed form", caption, seed=seed)
    return fig


@style.styled
def plot_phase_portraits(panels, *, caption: str, seed) -> Figure:
    """One panel per (title, times, readout (R, D), target (R, D)): readout against the
    true trajectory in the x1-x2 plane (D >= 2) or against time (D = 1)."""
    fig = style.figure(13, 4.5)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, t, xh, xt) in zip(axes, panels):
        xh, xt = np.asarray(xh), np.asarray(xt)
        if xh.shape[1] >= 2:
            ax.plot(xt[:, 0], xt[:, 1], "r-", lw=2, label="true system")
            ax.plot(xh[:, 0], xh[:, 1], "k-", lw=0.6, label="network readout")
            ax.set_xlabel(style.label("x1"))
            ax.set_ylabel(style.label("x2"))
        else:
            ax.plot(t, xt[:, 0], "r-", lw=2, label="true system")
            ax.plot(t, xh[:, 0], "k-", lw=0.6, label="network readout")
            ax.set_xlabel(style.label("time", "s"))
            ax.set_ylabel(style.label("x"))
        ax.set_title(title)
    style.legend_outside(axes[-1], where="right")
    style.caption(fig, "Autonomous runs (feedback and learning off)", caption, seed=seed)
    return fig


@style.styled
def plot_learning_curves(curves, *, caption: str, seed) -> Figure:
    """Log-log curves: each (label, times s, values) on the left panel (weight
    distance), each (label, times, mean squared error) on the right."""
    fig = style.figure(11, 4.5)
    a, b = fig.subplots(1, 2)
    for ax, key, ylabel in ((a, "distance", "||W_s - W_s*|| / ||W_s*||"),
                            (b, "error", "block mean |x - x_hat|^2 (x^2)")):
        for name, t, y in curves[key]:
            t, y = np.asarray(t, float), np.asarray(y, float)
            ok = (t > 0) & np.isfinite(y) & (y > 0)
            ax.loglog(t[ok], y[ok], label=name)
        ax.set_xlabel(style.label("learning time", "s"))
        ax.set_ylabel(ylabel)
    if curves["distance"]:
        a.axhline(0.1, color="r", ls=":", label="goal 0.1")
        style.legend_outside(a, where="top", ncol=2)
    style.legend_outside(b, where="top", ncol=2)
    style.caption(fig, "Error against learning time", caption, seed=seed)
    return fig
