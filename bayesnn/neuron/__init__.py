"""The Bayesian spiking neuron (Denève 2004; Denève 2008 I).

A neuron whose membrane potential is the log-odds L of a binary hidden Markov state
given its Poisson input spikes, and whose output spikes let a reader rebuild the
prediction G of L.

- :class:`NeuronParams` (pytree), :class:`NeuronState`, step functions in
  :mod:`bayesnn.neuron.functional`, kernels in :mod:`bayesnn.neuron.kernels`;
- :func:`simulate` / :func:`simulate_trials` / :func:`filter_counts` -> :class:`NeuronResult`;
- :func:`simulate_generative`: hidden chain and inputs drawn inside the exact run
  (memory flat in duration) -> :class:`GenerativeResult`;
- :func:`sweep`: a grid of parameter values x trials in one compiled program;
- :func:`decode_prediction`: the downstream decoder.
"""
from bayesnn.neuron.flows import leak, leak_stiffness, log_odds_flow, prior_flow
from bayesnn.neuron.generative import GenerativeResult, simulate_generative
from bayesnn.neuron.functional import NeuronState, advance, init_state, prediction, receive, stepped_step
from bayesnn.neuron.output import decode_prediction, spikes_needed
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.grid import NeuronGridResult, simulate_grid
from bayesnn.neuron.binned import filter_counts
from bayesnn.neuron.runs import ALL_METHODS, NeuronResult, simulate, simulate_trials

__all__ = [
    "ALL_METHODS", "NeuronParams", "NeuronResult", "NeuronState", "advance", "decode_prediction",
    "filter_counts", "init_state", "leak", "leak_stiffness", "log_odds_flow", "prediction",
    "prior_flow", "receive", "simulate", "simulate_trials", "spikes_needed", "stepped_step",
    "NeuronGridResult", "simulate_grid", "GenerativeResult", "simulate_generative",
]
