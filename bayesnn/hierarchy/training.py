r"""Where the layer-2 rates come from: the model where possible, a training run otherwise.

Derived from the model (exact):
    * the readers' switching rates are y's (``r_on``, ``r_off``);
    * the layer-1 neurons' switching rates are x_j's flux-matched rates;
    * the mixing :math:`P(x_j = 1 | y)` (stationary law of the four-state chain (y, x_j)).

Estimated from a training run (no closed form): the layer-1 output rate
:math:`\rho^j_x` while x_j = x. Denève 2004's rate formula :math:`[\bar I]^+/g_0`
predicts 0 in the OFF state and is 12-30% low in the ON state (measured on simulated
neurons; not a number from the paper), and it ignores the transients after each switch
of x_j, so it is not used. The training run samples fresh trials of the tree, runs layer 1 on them,
and counts layer-1 spikes per state:

.. math::  \hat\rho^j_x = \frac{n^j_x + 1/2}{T^j_x},\qquad
           \hat Q^j_y = \frac{m^j_y + 1/2}{T_y}

(:math:`n^j_x`: spikes of neuron j while x_j = x; :math:`T^j_x`: time x_j spends in x;
:math:`m^j_y`, :math:`T_y` likewise per state of y). These are the maximum-likelihood
Poisson rates given the true states (the complete-data M-step of EM, Denève 2008 II;
Mongillo & Denève 2008) with half a spike added so that a silent state gives a small
positive rate instead of 0 (a bias of 0.5/T Hz).

Two reader parametrisations follow:
    * ``"trained"``: :math:`Q^j_y = \hat Q^j_y` (measured directly per state of y);
    * ``"derived"``: :math:`Q^j_y = P(x_j = 1 | y)\hat\rho^j_1 + P(x_j = 0 | y)\hat\rho^j_0`
      (model mixing of the per-x_j rates).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from bayesnn.core.keys import KeyLike
from bayesnn.core.spikes import spike_arrays
from bayesnn.core.validation import require_positive
from bayesnn.hierarchy.params import TreeParams, as_tree_params, prob_child_given_top
from bayesnn.hierarchy.sampling import sample_trees

__all__ = ["TrainingRates", "time_in_state", "count_by_state", "measure_rates",
           "derived_reader_rates"]


class TrainingRates(NamedTuple):
    """Layer-1 output rates measured in a training run (Hz).

    Fields:
        given_child: (K, 2) rate of neuron j while x_j = 0 and x_j = 1.
        given_top: (K, 2) rate of neuron j while y = 0 and y = 1.
        duration: total training time, s.
        n_spikes: (K,) layer-1 spikes counted.
    """

    given_child: np.ndarray
    given_top: np.ndarray
    duration: float
    n_spikes: np.ndarray


def time_in_state(initial_state, switch_times, switch_variables, duration: float) -> np.ndarray:
    """(V, 2) exact time (s) each variable spends at 0 and 1 on [0, duration]."""
    initial_state = np.asarray(initial_state)
    switch_times, switch_variables = np.asarray(switch_times), np.asarray(switch_variables)
    out = np.zeros((initial_state.shape[0], 2))
    for variable, start in enumerate(initial_state):
        flips = np.sort(switch_times[(switch_variables == variable) & np.isfinite(switch_times)])
        edges = np.concatenate([[0.0], flips, [duration]])
        values = (int(start) + np.arange(edges.size - 1)) % 2
        lengths = np.diff(edges)
        out[variable, 0] = lengths[values == 0].sum()
        out[variable, 1] = lengths[values == 1].sum()
    return out


def count_by_state(trial, spikes, n_children: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer-1 spikes of one trial counted by state: (K, 2) per x_j and (K, 2) per y.

    ``trial``: a one-trial :class:`bayesnn.hierarchy.TreeTrial`; ``spikes``: layer-1
    output (sender j, count = multiplicity)."""
    times, senders, counts = spike_arrays(spikes)
    states = np.asarray(trial.state_at(times)) if times.size else np.zeros((n_children + 1, 0), int)
    by_child = np.zeros((n_children, 2))
    by_top = np.zeros((n_children, 2))
    for j in range(n_children):
        pick = senders == j
        own = states[j + 1, pick]
        top = states[0, pick]
        by_child[j] = [counts[pick][own == 0].sum(), counts[pick][own == 1].sum()]
        by_top[j] = [counts[pick][top == 0].sum(), counts[pick][top == 1].sum()]
    return by_child, by_top


def measure_rates(tree: TreeParams, layer1, *, key: KeyLike, duration: float,
                  n_trials: int = 1, dt: float = 1e-3,
                  capacity: int | None = None) -> TrainingRates:
    """Layer-1 output rates per state from a training run of ``n_trials`` x ``duration``.

    Args:
        tree: the generative tree.
        layer1: the layer-1 neurons (:func:`bayesnn.hierarchy.layer1_params`), or a
            :class:`bayesnn.hierarchy.SpikingHierarchy` (only its layer 1's spikes are
            used; its readers, run alongside, fix the compiled program's shapes).
        key: seed of the training trials (use a different one from the test trials).
        duration: length of each training trial, s.
        n_trials: number of trials.
        dt: record grid of the run, s (only the spikes are used; the test run's grid
            and ``capacity`` let both runs share one compiled program).
        capacity: layer-1 output-event slots (see :func:`simulate`).
    """
    from bayesnn.hierarchy.spiking import SpikingHierarchy, reader_params, simulate_trials

    tree = as_tree_params(tree)
    if isinstance(layer1, SpikingHierarchy):
        network = layer1  # its readers' shapes match the test run's: one compiled program
    else:
        # The run computes readers too; their rates do not change layer 1's spikes, so
        # any valid readers do (one "y" reader with unit rates).
        network = SpikingHierarchy(tree, layer1, reader_params(
            tree, np.ones((tree.n_children, 2)), 1.0, ("y",)))
    duration = float(require_positive("duration", duration, ndim=0))
    trials = sample_trees(tree, key=key, n_trials=int(n_trials), duration=duration)
    run = simulate_trials(network, trials.inputs, duration=duration, dt=dt, capacity=capacity)
    k = tree.n_children
    spikes_child, spikes_top = np.zeros((k, 2)), np.zeros((k, 2))
    time_child, time_top = np.zeros((k, 2)), np.zeros(2)
    spikes_host = jax.tree_util.tree_map(np.asarray, run.layer1_spikes)  # one copy each
    for b in range(int(n_trials)):
        trial = trials.trial(b)  # NumPy fields: counted on the host
        spikes = jax.tree_util.tree_map(lambda field: field[b], spikes_host)
        by_child, by_top = count_by_state(trial, spikes, k)
        spikes_child += by_child
        spikes_top += by_top
        spent = time_in_state(trial.initial_state, trial.switch_times, trial.switch_variables,
                              duration)
        time_child += spent[1:]
        time_top += spent[0]
    given_child = (spikes_child + 0.5) / np.maximum(time_child, 1e-300)
    given_top = (spikes_top + 0.5) / time_top[None, :]
    return TrainingRates(given_child, given_top, duration * int(n_trials),
                         spikes_child.sum(axis=1))


def derived_reader_rates(tree: TreeParams, given_child) -> np.ndarray:
    """(K, 2) Q^j_y = P(x_j = 1 | y) rho^j_1 + P(x_j = 0 | y) rho^j_0 from the model's
    stationary mixing and the per-x_j rates ``given_child`` (K, 2), Hz."""
    tree = as_tree_params(tree)
    rates = require_positive("given_child", given_child, ndim=2)
    mixing = prob_child_given_top(tree)  # (K, 2): P(x_j = 1 | y = 0), P(x_j = 1 | y = 1)
    return mixing * rates[:, 1:2] + (1.0 - mixing) * rates[:, 0:1]
