"""Figures of the ``stdp`` scenario in the house style (bayesnn.style): learned means as
digit images beside EM's (matched), and held-out log-likelihood over presentations."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesnn import style

__all__ = ["plot_learning_curve", "plot_means", "stdp_figures"]


@style.styled
def plot_means(circuit_means, em_means, *, shape=(8, 8), seed=0, **details) -> Figure:
    """Two rows of K images: the circuit's read-out P(pixel on | k) (top) and batch EM's,
    columns matched by the Hungarian assignment."""
    k = circuit_means.shape[0]
    figure = style.figure(min(1.1 * k + 1.5, style.SLIDE[0]), 3.8)
    axes = figure.subplots(2, k, squeeze=False)
    for row, (name, means) in enumerate((("STDP", circuit_means), ("EM", em_means))):
        for j in range(k):
            axis = axes[row, j]
            image = axis.imshow(means[j].reshape(shape), vmin=0, vmax=1, cmap="gray_r")
            axis.set_xticks([])
            axis.set_yticks([])
            if j == 0:
                axis.set_ylabel(name)
    figure.colorbar(image, ax=axes, label="P(pixel on | k)", shrink=0.8)
    style.caption(figure, "Learned components: STDP circuit (top) vs batch EM (bottom), matched",
                  "final weights after all presentations", seed=seed, **details)
    return figure


@style.styled
def plot_learning_curve(curves, *, seed=0, **details) -> Figure:
    """Held-out log-likelihood (nats per image) of the circuit's read-out and of online EM
    against presentations, batch EM's as a line."""
    figure = style.figure(8, 4.5)
    axis = figure.subplots()
    x = np.asarray(curves["presentations"])
    axis.plot(x, curves["circuit"], "o-", label="STDP circuit")
    axis.plot(x, curves["online"], "s--", label="online EM (same presentations)")
    axis.axhline(curves["em"], color="k", lw=1, label="batch EM")
    axis.set_xlabel(style.label("presentations", "images"))
    axis.set_ylabel(style.label("held-out log-likelihood", "nats per image"))
    style.legend_outside(axis)
    style.caption(figure, "Held-out log-likelihood over learning",
                  f"window: presentations {int(x[0])}-{int(x[-1])}", seed=seed, **details)
    return figure


def stdp_figures(result: dict, *, seed: int, quick: bool) -> dict:
    """The scenario's figures from :func:`bayesnn.stdp.validation.digits_comparison`.
    ``quick`` is a run mode, not a parameter of what is shown: it stays out of the
    captions (house style)."""
    details = dict(K=result["n_components"], eta=result["eta"])
    return {"means": plot_means(result["circuit_means"], result["em_means"], seed=seed, **details),
            "learning_curve": plot_learning_curve(result["curves"], seed=seed, **details)}
