"""Hierarchies of Bayesian neurons, measured against exact inference on the tree.

- :mod:`bayesnn.hierarchy.params`: the two-level generative tree (:class:`TreeParams`,
  :func:`make_tree`).
- :mod:`bayesnn.hierarchy.sampling`: exact sampling of the tree (:func:`sample_tree`).
"""
from bayesnn.hierarchy.params import (
    TreeParams,
    child_effective_rates,
    child_pair_stationary,
    make_tree,
    prob_child_given_top,
    stationary_joint,
)
from bayesnn.hierarchy.sampling import TreeTrial, sample_tree, sample_trees, tree_states_at

__all__ = ["TreeParams", "make_tree", "child_effective_rates", "child_pair_stationary",
           "prob_child_given_top", "stationary_joint", "TreeTrial", "sample_tree",
           "sample_trees", "tree_states_at"]
