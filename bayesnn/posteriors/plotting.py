"""Figures of the posterior families (matplotlib, in the style of :mod:`bayesnn.style`).

- :func:`plot_kalman_run`: the spiking Kalman filter's readout against the exact
  Kalman-Bucy mean with the error bound, the error norm against the bound, and the
  z-score histogram against N(0, 1).
- :func:`plot_log_odds_run`: exact against population posterior for one variable, and
  the error split into spike coding (inside the box), time step and linearisation.
- :func:`plot_kl_vs_size`: KL(exact || population) against N, both modes.

Every function returns a ``matplotlib.figure.Figure`` (nothing shown); times in s,
log-odds in nats, the latent of the linear-Gaussian model in its own units [z].
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from bayesnn import style

__all__ = ["plot_kalman_run", "plot_log_odds_run", "plot_kl_vs_size"]


@style.styled
def plot_kalman_run(times, latent, readout, exact_mean, bound: float, burn_in: float,
                    z_exact, z_readout, *, title: str, caption: str):
    """Readout vs exact mean, ||x_hat - mu|| against ``bound`` (the bound on the error
    norm after ``burn_in``), and histograms of z-scores.

    Args:
        times: (R,) s. latent: (R, D) true latent z. readout, exact_mean: (R, D), [z].
        bound: error bound on the norm, [z]. burn_in: s (the bound holds after it).
        z_exact: (S,) or (S, D) z-scores of the latent under the exact posterior.
        z_readout: (S', D) z-scores of the latent around the readout.
        title, caption: caption lines (the second with key parameters and seed).
    """
    times, latent = np.asarray(times), np.asarray(latent)
    readout, mean = np.asarray(readout), np.asarray(exact_mean)
    n_dims = readout.shape[1]
    figure = style.figure(13, 7.5)
    # two sub-figures: the histogram's key above it does not push the time panels down
    left, right = figure.subfigures(1, 2, width_ratios=[2.1, 1])
    grid = left.add_gridspec(n_dims + 1, 1, height_ratios=[1.3] * n_dims + [1.0])
    first = None
    for d in range(n_dims):
        axis = left.add_subplot(grid[d], sharex=first)
        first = first or axis
        axis.plot(times, latent[:, d], color="0.7", lw=0.8, label="true latent z")
        # the readout jitters within the bound around the exact mean, so a band +-bound
        # would hide under it (the panel below shows the error against the bound): the
        # mean is drawn wide, the readout thin on top, so that both stay visible
        axis.plot(times, mean[:, d], color=style.COLORS["exact"], lw=2.4,
                  label="exact Kalman-Bucy mean")
        axis.plot(times, readout[:, d], color=style.COLORS["model"], lw=0.6,
                  label="spiking readout x_hat")
        axis.set_ylabel(style.label(f"z[{d}]", "units of z"))
        axis.tick_params(labelbottom=False)
        if d == 0:  # the same four lines in every latent panel: one key
            style.legend_outside(axis)
    error_axis = left.add_subplot(grid[n_dims], sharex=first)
    error = np.linalg.norm(readout - mean, axis=1)
    error_axis.plot(times, error, color=style.COLORS["model"], lw=0.8,
                    label="||x_hat - mu||")
    error_axis.axhline(bound, color=style.COLORS["bound"], lw=1.5,
                       label=f"error bound {bound:.3g}")
    # a line above the dense error trace (a shaded span would hide under it)
    error_axis.axvline(burn_in, color="0.3", ls=":", lw=1.5, zorder=3,
                       label="end of burn-in")
    error_axis.set_ylabel(style.label("error norm", "units of z"))
    error_axis.set_xlabel(style.label("time", "s"))
    style.legend_outside(error_axis)
    histogram = right.add_subplot()
    edges = np.linspace(-4.0, 4.0, 33)
    for values, color, name in ((z_exact, style.COLORS["exact"], "exact posterior"),
                                (z_readout, style.COLORS["model"],
                                 "around readout\n(every step after\nburn-in, correlated)")):
        values = np.asarray(values).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            inside = float(np.mean(np.abs(values) <= 1.96))
            histogram.hist(values, bins=edges, density=True, histtype="step", lw=1.5,
                           color=color, label=f"{name}: {values.size} z,\n"
                                              f"{100 * inside:.1f}% |z| <= 1.96")
    grid_z = np.linspace(-4, 4, 200)
    histogram.plot(grid_z, norm.pdf(grid_z), color="0.5", ls="--", label="N(0, 1)")
    histogram.set_xlabel("z-score (z - mean) / sqrt(P_dd)")
    histogram.set_ylabel("density")
    style.legend_outside(histogram, where="top")
    style.caption(figure, title, caption, shown=style.window(0.0, times[-1], times[-1]))
    return figure


@style.styled
def plot_log_odds_run(times, states, exact, log_odds, target, network_target,
                      box_half_width: float, *, variable: int = 0, mode: str, caption: str):
    """Exact against population posterior of one variable, and the error split.

    ``log_odds - exact = (log_odds - network_target)`` [spike coding, inside the box
    +-``box_half_width``] ``+ (network_target - target)`` [time step] ``+ (target -
    exact)`` [linearisation; 0 in tracking mode]; a part below 1 % of the box is named
    in the legend, not drawn (it would hide under the others). The box is drawn by its
    edges; when a drawn part exceeds 10 boxes the error axis is symlog (linear inside
    the box). Arrays (R, K) in nats,
    ``states`` (R, K) 0/1, ``times`` (R,) s from the run's start (the whole run is shown).
    """
    times = np.asarray(times)
    pick = (lambda a: np.asarray(a)[:, variable])
    exact, model, target, network = pick(exact), pick(log_odds), pick(target), pick(network_target)
    figure = style.figure(12, 7.5)
    top, middle, bottom = figure.subplots(3, 1, sharex=True, height_ratios=[1.2, 1, 1.2])
    top.fill_between(times, 0, pick(states), step="post", color=style.COLORS["state"],
                     label=f"hidden state x^{variable}")
    top.plot(times, expit(exact), color=style.COLORS["exact"], lw=2.0, label="exact posterior")
    top.plot(times, expit(model), color=style.COLORS["model"], lw=1.0, ls="--",
             label="population sigmoid(readout)")
    top.set_ylabel(f"P(x^{variable} = 1)")
    top.set_ylim(-0.02, 1.02)
    style.legend_outside(top)
    middle.plot(times, exact, color=style.COLORS["exact"], lw=2.0, label="exact log-odds")
    middle.plot(times, model, color=style.COLORS["model"], lw=1.0, ls="--",
                label="population readout")
    middle.set_ylabel(style.label("log-odds", "nats"))
    style.legend_outside(middle)
    # a part far below the box (exactly 0 for linearisation in tracking mode) would hide
    # under the others: it is named in the legend's title with its size, not drawn
    small, negligible, largest = 1e-2 * box_half_width, [], 0.0
    for part, color, name in ((model - network, style.COLORS["model"],
                               "spike coding:\nreadout - network target"),
                              (network - target, style.COLORS["decoded"],
                               "time step:\nnetwork target - target"),
                              (target - exact, style.COLORS["exact"],
                               "linearisation:\ntarget - exact")):
        worst = float(np.max(np.abs(part))) if part.size else 0.0
        if worst < small:
            negligible.append(f"{name.split(':')[0]} (max {worst:.1g})")
        else:
            largest = max(largest, worst)
            bottom.plot(times, part, color=color, lw=0.8 if "spike" in name else 1.2,
                        label=name)
    style.box_edges(bottom, box_half_width)
    if largest > 10 * box_half_width:
        # parts of different orders (the linearisation error of implementing mode can
        # reach tens of nats, the spike-coding part stays inside the box): linear inside
        # the box, logarithmic beyond, so both can be read
        bottom.set_yscale("symlog", linthresh=box_half_width, linscale=2.0)
        bottom.set_ylabel(style.label("error parts", "nats") + "\nsymlog: linear in the box")
    else:
        bottom.set_ylabel(style.label("error parts", "nats"))
    bottom.set_xlabel(style.label("time", "s"))
    legend = style.legend_outside(bottom)
    if negligible and legend is not None:
        legend.set_title("not drawn, < 1% of the box:\n" + ",\n".join(negligible))
        legend._legend_box.align = "left"
    style.caption(figure, f"Log-odds population ({mode} mode) against the exact posterior",
                  caption, shown=style.window(0.0, times[-1], times[-1]))
    return figure


@style.styled
def plot_kl_vs_size(sizes, kl_by_mode: dict, *, caption: str):
    """KL(exact || population), nats, against the population size N for each mode,
    with the N^-2 law through the first tracking point."""
    sizes = np.asarray(sizes, float)
    figure = style.figure(8.5, 5)
    axis = figure.subplots()
    for index, (mode, kls) in enumerate(kl_by_mode.items()):
        axis.loglog(sizes, kls, marker="os"[index % 2], color=f"C{index}", label=mode)
    if "tracking" in kl_by_mode:
        first = float(np.asarray(kl_by_mode["tracking"])[0])
        axis.loglog(sizes, first * (sizes / sizes[0]) ** -2.0, color="0.5", ls="--",
                    label="slope -2 (theory)")
    style.log_axes(axis)
    axis.set_xticks(sizes, [f"{size:g}" for size in sizes])
    axis.set_xlabel(style.label("population size N", "neurons"))
    axis.set_ylabel(style.label("KL(exact || population)", "nats"))
    style.legend_outside(axis)
    style.caption(figure, "Population posterior error against size", caption)
    return figure
