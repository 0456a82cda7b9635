"""Balanced spiking networks that carry posteriors, measured against exact Bayes.

- :mod:`bayesnn.posteriors.log_odds`: K binary hidden variables; spike-coding
  populations that track the exact log-odds or implement the linearised filter.
- :mod:`bayesnn.posteriors.kalman`: a spiking Kalman filter for linear-Gaussian latents.
- :mod:`bayesnn.posteriors.compare`: accuracy against spikes (single Bayesian neuron
  vs populations) on the same input spikes.
"""
