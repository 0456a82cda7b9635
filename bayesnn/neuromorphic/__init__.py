"""Neuromorphic constraints measured in nats (issue 23): fixed-point execution of the
Bayesian neuron and the spike-coding network, posterior loss against bit width, spikes
and energy per nat, and NIR export/import."""
from bayesnn.neuromorphic.fixed_neuron import FixedNeuronResult, simulate_fixed_neuron
from bayesnn.neuromorphic.precision import (FLOAT64, LOIHI, TRUENORTH, TRUENORTH_TRINARY,
                                            Precision, check_precision, make_precision)

__all__ = ["FLOAT64", "LOIHI", "TRUENORTH", "TRUENORTH_TRINARY", "Precision", "check_precision",
           "make_precision", "FixedNeuronResult", "simulate_fixed_neuron"]
