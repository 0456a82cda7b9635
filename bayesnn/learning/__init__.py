"""Learning the Bayesian neuron's generative model from its input spikes.

Placeholder; filled as the modules land.
"""
