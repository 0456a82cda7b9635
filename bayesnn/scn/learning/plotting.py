"""Figures of the SCN learning experiments (matplotlib ``Figure`` objects, no pyplot
state): convergence curves on log-time axes (Brendel et al. 2020 Fig. 2), weights
before and after learning, the E/I run, and gradient descent through the gated network.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_convergence", "plot_weights", "plot_dale", "plot_gradient"]


def _loglog(ax, t, y, *args, **kwargs):
    t, y = np.asarray(t, float), np.asarray(y, float)
    ok = (t > 0) & np.isfinite(y) & (y > 0)
    ax.loglog(t[ok], y[ok], *args, **kwargs)


def plot_convergence(result, evaluation, optimal_error: float | None = None) -> Figure:
    """Weight distance, decoding error, rate and ISI CV against simulated time (s, log
    axes): per-block records of :func:`bayesnn.scn.learn` (lines) and the frozen
    snapshots of :func:`~bayesnn.scn.learning.evaluation.evaluate_weights` (dots)."""
    fig = Figure(figsize=(10, 7), constrained_layout=True)
    axes = fig.subplots(2, 2).ravel()
    t, ts = np.asarray(result.times), np.asarray(result.snapshot_times)
    _loglog(axes[0], t, result.weight_distance, "k-")
    axes[0].set_ylabel("distance to best-scaled -F^T F")
    _loglog(axes[1], t, result.error, "-", color="0.6", label="in sample, during learning")
    _loglog(axes[1], ts, evaluation.error, "ko-", label="optimal decoder, frozen, test run")
    _loglog(axes[1], ts, evaluation.error_f, "bs--", label="decoder s F, frozen, test run")
    if optimal_error is not None:
        axes[1].axhline(optimal_error, color="r", ls=":", label="optimal network (learned F)")
    axes[1].set_ylabel("normalised decoding error")
    axes[1].legend(fontsize=7)
    _loglog(axes[2], t, result.rate, "-", color="0.6", label="during learning")
    _loglog(axes[2], ts, evaluation.rate, "ko-", label="frozen, test run")
    axes[2].set_ylabel("mean rate (Hz)")
    axes[2].legend(fontsize=7)
    _loglog(axes[3], t, result.cv, "-", color="0.6", label="during learning (input-modulated)")
    _loglog(axes[3], ts, evaluation.cv, "ko-", label="frozen, constant input")
    axes[3].axhline(1.0, color="r", ls=":", label="Poisson")
    axes[3].set_ylabel("ISI CV")
    axes[3].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("simulated time (s)")
    fig.suptitle("Learning by Brendel et al. 2020 rules (reduced Fig. 2)")
    return fig


def plot_weights(F0, Omega0, F1, Omega1, decoder0=None, decoder1=None) -> Figure:
    """Recurrent weights against -F^T F and (optionally) the optimal decoder against F,
    before and after learning (Brendel et al. 2020 Fig. 2 scatter panels)."""
    rows = 2 if decoder0 is not None else 1
    fig = Figure(figsize=(8, 3.6 * rows), constrained_layout=True)
    axes = np.atleast_2d(fig.subplots(rows, 2))
    for col, (F, Om, dec, title) in enumerate(((F0, Omega0, decoder0, "before"),
                                              (F1, Omega1, decoder1, "after"))):
        F, Om = np.asarray(F), np.asarray(Om)
        axes[0, col].plot((-F.T @ F).ravel(), Om.ravel(), "k.", ms=3)
        axes[0, col].set_xlabel("-F^T F")
        axes[0, col].set_ylabel("Omega")
        axes[0, col].set_title(f"{title} learning")
        if dec is not None:
            axes[1, col].plot(np.asarray(dec).ravel(), F.ravel(), "k.", ms=3)
            axes[1, col].set_xlabel("optimal decoder")
            axes[1, col].set_ylabel("F")
    return fig


def plot_dale(result) -> Figure:
    """E/I run: rates and in-sample decoding errors of both populations against time."""
    fig = Figure(figsize=(10, 3.5), constrained_layout=True)
    a, b = fig.subplots(1, 2)
    t = np.asarray(result.times)
    _loglog(a, t, result.rate_e, "g-", label="E")
    _loglog(a, t, result.rate_i, "-", color="orange", label="I")
    a.set_ylabel("mean rate (Hz)")
    _loglog(b, t, result.error_e, "g-", label="E traces")
    _loglog(b, t, result.error_i, "-", color="orange", label="I traces")
    b.set_ylabel("in-sample decoding error")
    for ax in (a, b):
        ax.set_xlabel("simulated time (s)")
        ax.legend(fontsize=7)
    fig.suptitle(f"E/I (Dale) learning; sign violations: {int(np.max(result.violations))}")
    return fig


def plot_gradient(losses, check: dict) -> Figure:
    """Training loss of gradient descent through the gated network, and autodiff
    directional derivatives against finite differences."""
    fig = Figure(figsize=(9, 3.5), constrained_layout=True)
    a, b = fig.subplots(1, 2)
    a.semilogy(np.arange(1, len(losses) + 1), losses, "k-")
    a.set_xlabel("iteration (one new 1-s input each)")
    a.set_ylabel("normalised readout error (gated model)")
    fd, ad = np.asarray(check["finite_difference"]), np.asarray(check["autodiff"])
    b.plot(fd, ad, "ko")
    lim = np.max(np.abs(np.concatenate([fd, ad]))) * 1.1
    b.plot([-lim, lim], [-lim, lim], "r:")
    b.set_xlabel("central finite difference")
    b.set_ylabel("autodiff")
    b.set_title(f"max rel. error {check['max_rel_error']:.1e}")
    return fig
