"""Figures of the SCN learning experiments (matplotlib ``Figure`` objects, no pyplot
state, in the style of :mod:`bayesnn.style`): convergence curves on log-time axes
(Brendel et al. 2020 Fig. 2), weights before and after learning, the E/I run, and
gradient descent through the gated network.

``caption`` is each figure's second caption line: the key settings and the seed
(:func:`bayesnn.style.describe`). Times in s of simulated learning, rates in Hz.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesnn import style

__all__ = ["plot_convergence", "plot_weights", "plot_dale", "plot_gradient"]


def _loglog(ax, t, y, *args, **kwargs):
    t, y = np.asarray(t, float), np.asarray(y, float)
    ok = (t > 0) & np.isfinite(y) & (y > 0)
    ax.plot(t[ok], y[ok], *args, **kwargs)
    style.log_axes(ax)


@style.styled
def plot_convergence(result, evaluation, optimal_error: float | None = None, *,
                     caption: str | None = None) -> Figure:
    """Weight distance, decoding error, rate and ISI CV against simulated time (s, log
    axes): per-block records of :func:`bayesnn.scn.learn` (grey lines) and the frozen
    snapshots of :func:`~bayesnn.scn.learning.evaluation.evaluate_weights` (dots)."""
    figure = style.figure(13, 7.5)
    axes = figure.subplots(2, 2, sharex=True).ravel()
    t, ts = np.asarray(result.times), np.asarray(result.snapshot_times)
    during, frozen = dict(color="0.6", lw=1.2), dict(color=style.COLORS["exact"], marker="o")
    _loglog(axes[0], t, result.weight_distance, color=style.COLORS["exact"])
    axes[0].set_ylabel("distance of Omega to\nbest-scaled -F^T F")
    _loglog(axes[1], t, result.error, **during, label="in sample, during learning")
    _loglog(axes[1], ts, evaluation.error, **frozen, label="optimal decoder, frozen")
    _loglog(axes[1], ts, evaluation.error_f, color=style.COLORS["model"], ls="--", marker="s",
            label="decoder s F, frozen")
    if optimal_error is not None:
        axes[1].axhline(optimal_error, color=style.COLORS["decoded"], ls=":",
                        label="optimal network\n(learned F)")
    axes[1].set_ylabel("normalised\ndecoding error")
    style.legend_outside(axes[1])
    _loglog(axes[2], t, result.rate, **during, label="during learning")
    _loglog(axes[2], ts, evaluation.rate, **frozen, label="frozen, test run")
    axes[2].set_ylabel(style.label("mean rate", "Hz"))
    style.legend_outside(axes[2])
    _loglog(axes[3], t, result.cv, **during, label="during learning\n(input-modulated)")
    _loglog(axes[3], ts, evaluation.cv, **frozen, label="frozen, constant input")
    axes[3].axhline(1.0, color=style.COLORS["decoded"], ls=":", label="Poisson (CV = 1)")
    axes[3].set_ylabel("ISI CV")
    style.legend_outside(axes[3])
    for ax in axes[2:]:
        ax.set_xlabel(style.label("simulated learning time", "s"))
    style.caption(figure, "Learning by the Brendel et al. 2020 rules (reduced Fig. 2); "
                  "test runs with frozen weights", caption)
    return figure


@style.styled
def plot_weights(F0, Omega0, F1, Omega1, decoder0=None, decoder1=None, *,
                 caption: str | None = None) -> Figure:
    """Recurrent weights against -F^T F and (optionally) the optimal decoder against F,
    before and after learning (Brendel et al. 2020 Fig. 2 scatter panels)."""
    rows = 2 if decoder0 is not None else 1
    figure = style.figure(10, 7.5 if rows == 2 else 4.5)
    axes = np.atleast_2d(figure.subplots(rows, 2))
    for col, (F, Om, dec, title) in enumerate(((F0, Omega0, decoder0, "before"),
                                              (F1, Omega1, decoder1, "after"))):
        F, Om = np.asarray(F), np.asarray(Om)
        axes[0, col].plot((-F.T @ F).ravel(), Om.ravel(), ".", color=style.COLORS["exact"], ms=3)
        axes[0, col].set_xlabel("-F^T F (entries)")
        axes[0, col].set_ylabel("Omega (entries)")
        axes[0, col].set_title(f"{title} learning")
        if dec is not None:
            axes[1, col].plot(np.asarray(dec).ravel(), F.ravel(), ".",
                              color=style.COLORS["exact"], ms=4)
            axes[1, col].set_xlabel("optimal decoder (entries)")
            axes[1, col].set_ylabel("F (entries)")
    style.caption(figure, "Recurrent weights approach -F^T F and F the optimal decoder",
                  caption)
    return figure


@style.styled
def plot_dale(result, *, caption: str | None = None) -> Figure:
    """E/I run: rates and in-sample decoding errors of both populations against
    simulated time (log axes), per recorded block."""
    figure = style.figure(12, 5)
    a, b = figure.subplots(1, 2)
    t = np.asarray(result.times)
    colours = {"E": "tab:green", "I": "tab:orange"}
    _loglog(a, t, result.rate_e, color=colours["E"], label="E population")
    _loglog(a, t, result.rate_i, color=colours["I"], label="I population")
    a.set_ylabel(style.label("mean rate", "Hz"))
    _loglog(b, t, result.error_e, color=colours["E"], label="E population")
    _loglog(b, t, result.error_i, color=colours["I"], label="I population")
    b.set_ylabel("in-sample decoding error")
    for ax in (a, b):
        ax.set_xlabel(style.label("simulated learning time", "s"))
    style.legend_outside(b)
    style.caption(figure, f"E/I (Dale) learning: sign violations "
                  f"{int(np.max(result.violations))} over the run", caption)
    return figure


@style.styled
def plot_gradient(losses, check: dict, *, caption: str | None = None) -> Figure:
    """Training loss of gradient descent through the gated network, and autodiff
    directional derivatives against finite differences."""
    figure = style.figure(12, 5)
    a, b = figure.subplots(1, 2)
    a.plot(np.arange(1, len(losses) + 1), losses, color=style.COLORS["exact"])
    style.log_axes(a, x=False)
    a.set_xlabel("Adam iteration (one new 1-s input each)")
    a.set_ylabel("normalised readout error\n(gated model)")
    fd, ad = np.asarray(check["finite_difference"]), np.asarray(check["autodiff"])
    lim = np.max(np.abs(np.concatenate([fd, ad]))) * 1.1
    b.plot([-lim, lim], [-lim, lim], color=style.COLORS["decoded"], ls=":", label="equality")
    b.plot(fd, ad, "o", color=style.COLORS["exact"], label="random directions")
    b.set_xlabel("central finite difference")
    b.set_ylabel("autodiff")
    b.set_title(f"max relative error {check['max_rel_error']:.1e}")
    style.legend_outside(b)
    style.caption(figure, "Gradient descent through the gated network (Huh & Sejnowski "
                  "2017)", caption)
    return figure
