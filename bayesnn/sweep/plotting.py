"""Figures of sweep results (in the style of :mod:`bayesnn.style`): an output (e.g.
``kl``, nats) against a swept parameter as lines with the spread over seeds, or as a
heat map over two swept parameters.

Works on the combined Dataset of :func:`bayesnn.sweep.run_sweep` (a grid: dims
(*swept, seed); a random design: (point, seed), drawn as points with error bars).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from bayesnn import style

SPREADS = ("sd", "sem", "quantiles")


def _variable(dataset: xr.Dataset, variable: str) -> xr.DataArray:
    if variable not in dataset.data_vars:
        raise ValueError(f"variable: {variable!r} is not in the sweep; have {', '.join(dataset.data_vars)}")
    data = dataset[variable]
    if "seed" not in data.dims:
        raise ValueError(f"variable: {variable!r} has no seed dim (dims {data.dims})")
    return data


def _band(data: xr.DataArray, spread: str):
    mean = data.mean("seed")
    if spread == "sd":
        width = data.std("seed", ddof=1) if data.sizes["seed"] > 1 else xr.zeros_like(mean)
        return mean, mean - width, mean + width
    if spread == "sem":
        n = data.sizes["seed"]
        width = data.std("seed", ddof=1) / np.sqrt(n) if n > 1 else xr.zeros_like(mean)
        return mean, mean - width, mean + width
    if spread == "quantiles":
        return mean, data.quantile(0.1, "seed").drop_vars("quantile"), data.quantile(0.9, "seed").drop_vars("quantile")
    raise ValueError(f"spread: must be one of {', '.join(SPREADS)}, got {spread!r}")


_SPREAD_TEXT = {"sd": "± sd", "sem": "± sem", "quantiles": "(10-90 % band)"}


def _log_ticks(ax, xs) -> None:
    """Log axis labelled at the swept values (no overlapping minor labels)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{v:g}" for v in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _label(dataset: xr.Dataset, name: str) -> str:
    units = dataset[name].attrs.get("units", "")
    return f"{name} ({units})" if units and units != "1" else name


def _axes(ax):
    if ax is None:
        figure = style.figure(8.0, 5.0)
        return figure, figure.subplots()
    return ax.figure, ax


@style.styled
def plot_sweep(dataset: xr.Dataset, variable: str = "kl", x: str = "g0", hue: str | None = None,
               *, kind: str = "lines", spread: str = "sd", log_x: bool | None = None,
               ax: Any = None):
    """Plot ``variable`` against the swept parameter ``x``.

    Args:
        dataset: combined sweep Dataset.
        variable: output to plot, e.g. ``"kl"`` (nats) or ``"rate"`` (Hz).
        x: swept parameter on the horizontal axis.
        hue: lines: one line per value of this swept parameter; heat map: the vertical
            axis (required).
        kind: ``"lines"`` (mean over seeds with a band: ``spread`` = "sd" (mean +- sd),
            "sem" (mean +- standard error) or "quantiles" (10 % to 90 %)) or
            ``"heatmap"`` (mean over seeds over ``x`` and ``hue``; up to 48 cells are
            labelled "mean +- sd").
        log_x: log horizontal axis (default: when every x value is > 0 and they span
            more than a factor 4).
        ax: matplotlib Axes to draw into (default: a new figure).

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: naming ``variable``, ``x``, ``hue``, ``kind`` or ``spread`` if it
            does not fit the Dataset, or naming the swept dims left over (select them
            first with ``dataset.sel(...)``).
    """
    data = _variable(dataset, variable)
    for name, value in (("x", x), ("hue", hue)):
        if value is not None and value not in dataset.coords:
            raise ValueError(f"{name}: {value!r} is not a swept parameter; have "
                             f"{', '.join(c for c in dataset.coords if c not in ('seed', 'point'))}")
    if kind not in ("lines", "heatmap"):
        raise ValueError(f"kind: must be 'lines' or 'heatmap', got {kind!r}")
    if kind == "heatmap" and hue is None:
        raise ValueError("hue: a heat map needs a second swept parameter (hue = vertical axis)")
    if "point" in data.dims:
        return _scatter(dataset, data, x, hue, spread, log_x, ax)
    used = {x, "seed"} | ({hue} if hue else set())
    left = [d for d in data.dims if d not in used and data.sizes[d] > 1]
    if left:
        raise ValueError(f"x/hue: dims {left} are left over; plot one value with dataset.sel({left[0]}=...) "
                         "or use one of them as hue")
    data = data.squeeze([d for d in data.dims if d not in used])
    xs = dataset[x].values
    if log_x is None:
        log_x = bool(np.all(xs > 0) and xs.max() > 4 * xs.min())
    figure, ax = _axes(ax)
    if kind == "heatmap":
        mean = data.mean("seed").transpose(hue, x)
        image = ax.pcolormesh(np.arange(len(xs) + 1), np.arange(mean.shape[0] + 1), mean.values,
                              shading="flat", cmap="viridis")
        ax.set_xticks(np.arange(len(xs)) + 0.5, [f"{v:g}" for v in xs])
        ax.set_yticks(np.arange(mean.shape[0]) + 0.5, [f"{v:g}" for v in dataset[hue].values])
        ax.set_ylabel(_label(dataset, hue))
        if mean.size <= 48:  # each cell: mean and the sd over seeds
            sd = data.std("seed", ddof=1).transpose(hue, x).values if data.sizes["seed"] > 1 \
                else np.zeros(mean.shape)
            middle = float(np.nanmean(mean.values))
            for (row, col), value in np.ndenumerate(mean.values):
                ax.text(col + 0.5, row + 0.5, f"{value:.3g}\n± {sd[row, col]:.2g}", ha="center",
                        va="center", fontsize=style.MIN_FONT_PT, color="black" if value > middle else "white")
        bar = figure.colorbar(image, ax=ax)
        bar.set_label(f"{_label(dataset, variable)}, mean over {data.sizes['seed']} seeds")
    else:
        groups = [(None, data)] if hue is None else [(v, data.sel({hue: v})) for v in dataset[hue].values]
        for value, part in groups:
            mean, low, high = _band(part, spread)
            label = None if value is None else f"{hue} = {value:g}"
            line, = ax.plot(xs, mean.values, marker="o", label=label)
            ax.fill_between(xs, low.values, high.values, color=line.get_color(), alpha=0.2, linewidth=0)
        if hue is not None:
            style.legend_outside(ax)
        ax.set_ylabel(f"{_label(dataset, variable)}, mean {_SPREAD_TEXT[spread]} over "
                      f"{data.sizes['seed']} seeds")
        if log_x:
            _log_ticks(ax, xs)
    ax.set_xlabel(_label(dataset, x))
    return figure


def _scatter(dataset, data, x, hue, spread, log_x, ax):
    mean, low, high = _band(data, spread)
    xs = dataset[x].values
    figure, ax = _axes(ax)
    colors = dataset[hue].values if hue else None
    ax.errorbar(xs, mean.values, yerr=[mean.values - low.values, high.values - mean.values],
                fmt="none", ecolor="0.7", zorder=1)
    points = ax.scatter(xs, mean.values, c=colors, s=16, zorder=2)
    if hue:
        figure.colorbar(points, ax=ax).set_label(_label(dataset, hue))
    if log_x if log_x is not None else bool(np.all(xs > 0) and xs.max() > 4 * xs.min()):
        ax.set_xscale("log")
    ax.set_xlabel(_label(dataset, x))
    ax.set_ylabel(f"{_label(dataset, data.name)}, mean {_SPREAD_TEXT[spread]} over "
                  f"{data.sizes['seed']} seeds")
    return figure


__all__ = ["SPREADS", "plot_sweep"]
