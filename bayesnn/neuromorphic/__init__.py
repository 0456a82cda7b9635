"""Neuromorphic constraints measured in nats (issue 23).

- :mod:`~bayesnn.neuromorphic.precision`: the :class:`Precision` record (Loihi,
  TrueNorth and float64 presets) and exact int64 rounding;
- :func:`simulate_fixed_neuron` / :func:`simulate_fixed_scn`: the Bayesian neuron
  (binned) and the spike-coding network in a chip's number formats;
- :mod:`~bayesnn.neuromorphic.loss`: posterior loss against bit width, one compiled
  sweep per family;
- :mod:`~bayesnn.neuromorphic.energy`: spikes, synaptic events, nominal energy and the
  signalled nats (Denève's floor of 1/g0 spikes per nat);
- :mod:`~bayesnn.neuromorphic.nir_io`: NIR export and import of the SCN, and an
  independent executor of the exported graph.
"""
from bayesnn.neuromorphic.energy import (EventCosts, LOIHI_COSTS, neuron_events, nominal_energy,
                                         scn_events, signalled_nats)
from bayesnn.neuromorphic.fixed_neuron import FixedNeuronResult, simulate_fixed_neuron
from bayesnn.neuromorphic.fixed_scn import FixedSCNResult, simulate_fixed_scn
from bayesnn.neuromorphic.loss import knee, neuron_bit_sweep, scn_bit_sweep
from bayesnn.neuromorphic.nir_io import export_scn, import_scn, run_nir_graph
from bayesnn.neuromorphic.precision import (FLOAT64, LOIHI, TRUENORTH, TRUENORTH_TRINARY,
                                            Precision, check_precision, make_precision)

__all__ = ["FLOAT64", "LOIHI", "TRUENORTH", "TRUENORTH_TRINARY", "Precision", "check_precision",
           "make_precision", "FixedNeuronResult", "simulate_fixed_neuron", "FixedSCNResult",
           "simulate_fixed_scn", "knee", "neuron_bit_sweep", "scn_bit_sweep", "EventCosts",
           "LOIHI_COSTS", "neuron_events", "nominal_energy", "scn_events", "signalled_nats",
           "export_scn", "import_scn", "run_nir_graph"]
