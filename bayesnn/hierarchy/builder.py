"""Building a spiking hierarchy from what the user knows (:func:`make_hierarchy`).

Layer 1 follows from the tree and the jump ``g0`` (:func:`~bayesnn.hierarchy.layer1_params`).
The readers need the layer-1 output rates in each state of y, which the user either
knows (an array), wants derived from the model's mixing of measured per-x_j rates
("derived"), or wants measured per state of y on a training run ("trained"). In the two
last cases the training run only needs layer 1 (:func:`~bayesnn.hierarchy.measure_rates`
also takes the layer-1 record alone), so the user never builds a placeholder reader.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from bayesnn.core.keys import KeyLike
from bayesnn.hierarchy.params import TreeParams, as_tree_params
from bayesnn.hierarchy.spiking import SpikingHierarchy, layer1_params, reader_params
from bayesnn.hierarchy.training import derived_reader_rates, measure_rates

__all__ = ["make_hierarchy"]

READER_RATES = ("trained", "derived")


def make_hierarchy(tree: TreeParams, *, g0: float, reader_rates="trained",
                   readers: Sequence[str] = ("y",), reader_g0: float | None = None,
                   key: KeyLike | None = None, duration: float | None = None,
                   n_trials: int = 1, dt: float = 1e-3,
                   capacity: int | None = None) -> SpikingHierarchy:
    """The two-layer spiking hierarchy of ``tree`` (Denève 2008 I and II; docs/hierarchy.md).

    Args:
        tree: the generative tree (:func:`bayesnn.hierarchy.make_tree`).
        g0: jump of each layer-1 neuron's prediction per output spike, nats, > 0.
        reader_rates: the readers' input rates in each state of y: a (K, 2) array in
            Hz (column = value of y) when known; ``"trained"``: measured per state of y
            on a training run; ``"derived"``: the model's stationary mixing of the
            per-x_j rates measured on the same run
            (:func:`bayesnn.hierarchy.derived_reader_rates`).
        readers: "y" (reads y = 1) and/or "not_y" (reads y = 0).
        reader_g0: the readers' jump per output spike, nats (default ``g0``).
        key, duration, n_trials: the training run (seed, s per trial, trials); needed
            for "trained" and "derived" only. Use a key other than the test trials'.
        dt, capacity: the training run's record grid (s) and layer-1 event slots (pass
            the test run's values so both share one compiled program).

    Returns:
        :class:`bayesnn.hierarchy.SpikingHierarchy`.

    Raises:
        ValueError: for an unknown ``reader_rates`` string, a training setting missing
            when one is needed, or a bad rate array (shape (K, 2), > 0).
    """
    tree = as_tree_params(tree)
    reader_g0 = g0 if reader_g0 is None else reader_g0
    layer1 = layer1_params(tree, g0)
    if isinstance(reader_rates, str):
        if reader_rates not in READER_RATES:
            raise ValueError(f"reader_rates must be one of {READER_RATES} or a (K, 2) "
                             f"array of rates in Hz, got {reader_rates!r}")
        if key is None or duration is None:
            raise ValueError(f"reader_rates={reader_rates!r} needs a training run: give "
                             "key and duration (s)")
        # the training run with readers of the final shapes (any rates: they do not
        # change layer 1's spikes), so training and test runs share one program
        provisional = SpikingHierarchy(tree, layer1, reader_params(
            tree, np.tile([1.0, 2.0], (tree.n_children, 1)), reader_g0, tuple(readers)))
        rates = measure_rates(tree, provisional, key=key, duration=duration,
                              n_trials=n_trials, dt=dt, capacity=capacity)
        given_top = (rates.given_top if reader_rates == "trained"
                     else derived_reader_rates(tree, rates.given_child))
    else:
        given_top = np.asarray(reader_rates, dtype=float)
    return SpikingHierarchy(tree, layer1, reader_params(tree, given_top, reader_g0,
                                                        tuple(readers)))
