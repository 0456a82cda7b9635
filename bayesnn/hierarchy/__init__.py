"""Hierarchies of Bayesian neurons, measured against exact inference on the tree.

- :mod:`bayesnn.hierarchy.params`: the two-level generative tree (:class:`TreeParams`,
  :func:`make_tree`): a top chain y, K children x_j that follow it, Poisson inputs per
  child.
- :mod:`bayesnn.hierarchy.sampling`: exact sampling of the tree (:func:`sample_tree`).
- :mod:`bayesnn.hierarchy.spiking`: the spiking hierarchy (:class:`SpikingHierarchy`,
  :func:`simulate`): layer-1 Bayesian neurons per child, layer-2 readers of their
  spikes, and the log-odds-fed reader.
- :mod:`bayesnn.hierarchy.builder`: :func:`make_hierarchy`, the network from the tree,
  ``g0`` and the readers' rates (known, or measured on a training run).
- :mod:`bayesnn.hierarchy.functional`: public step functions (``init_state``,
  ``advance``, ``receive``) that run both layers event by event.
- :mod:`bayesnn.hierarchy.fed`: the log-odds-fed reader.
- :mod:`bayesnn.hierarchy.sizing`: the static choices (buffer sizes, drift flag) of the
  compiled run, made on the host.
- :mod:`bayesnn.hierarchy.training`: the readers' rates (model-derived mixing,
  training-run rates).
- :mod:`bayesnn.hierarchy.evaluation`: KL and log-loss against the exact marginal
  (:mod:`bayesnn.exact.hierarchy`), the KL-against-rate frontier.
- :mod:`bayesnn.hierarchy.poisson`: where the readers' Poisson assumption breaks (ISI
  statistics, maximum-likelihood reader).
- :mod:`bayesnn.hierarchy.validation`: ``bayesnn validate --scenario hierarchy``.

See docs/hierarchy.md.
"""
from bayesnn.hierarchy import functional
from bayesnn.hierarchy.builder import make_hierarchy
from bayesnn.hierarchy.params import (
    TreeParams,
    child_effective_rates,
    child_pair_stationary,
    make_tree,
    prob_child_given_top,
    stationary_joint,
)
from bayesnn.hierarchy.sampling import TreeTrial, sample_tree, sample_trees, tree_states_at
from bayesnn.hierarchy.spiking import (
    HierarchyResult,
    SpikingHierarchy,
    layer1_params,
    reader_params,
    simulate,
    simulate_trials,
    split_inputs,
)
from bayesnn.hierarchy.training import TrainingRates, derived_reader_rates, measure_rates

__all__ = ["functional", "TreeParams", "make_tree", "child_effective_rates", "child_pair_stationary",
           "prob_child_given_top", "stationary_joint", "TreeTrial", "sample_tree",
           "sample_trees", "tree_states_at", "HierarchyResult", "SpikingHierarchy",
           "layer1_params", "reader_params", "make_hierarchy", "simulate", "simulate_trials", "split_inputs",
           "TrainingRates", "derived_reader_rates", "measure_rates"]
