"""The Bayesian spiking neuron (Denève 2004/2008).

A neuron whose membrane potential is the log-odds L of a binary hidden Markov state
given its Poisson input spikes, and whose output spikes let a reader rebuild the
prediction G of L. See :mod:`bayesnn.neuron.flows` (exact dynamics),
:mod:`bayesnn.neuron.event_driven` (default integrator), :mod:`bayesnn.neuron.stepped`
(Euler and discrete recursion) and :mod:`bayesnn.neuron.output` (spikes, decoder).
"""
from bayesnn.neuron.flows import leak, leak_stiffness, log_odds_flow, prior_flow
from bayesnn.neuron.output import OutputSpikes, decode_prediction, spikes_needed
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.simulate import (
    ALL_METHODS,
    NeuronRun,
    filter_counts,
    simulate,
    simulate_exact,
    simulate_stepped,
    spikes_of,
)

__all__ = [
    "ALL_METHODS", "NeuronParams", "NeuronRun", "OutputSpikes", "decode_prediction",
    "filter_counts", "leak", "leak_stiffness", "log_odds_flow", "prior_flow", "simulate",
    "simulate_exact", "simulate_stepped", "spikes_needed", "spikes_of",
]
