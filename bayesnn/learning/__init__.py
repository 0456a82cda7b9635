"""Learning the Bayesian neuron's generative model (r_on, r_off, q_on, q_off) from its
input spikes, each learned answer next to an exact one (docs/learning.md).

- :mod:`~bayesnn.learning.em`: batch EM, binned (:func:`em_binned`) and continuous-time
  (:func:`em_continuous`, E-step by :mod:`bayesnn.exact.mmpp_smoother`).
- :mod:`~bayesnn.learning.online`: online EM by forward-only smoothing of the sufficient
  statistics, with a discount factor (:func:`online_em`, :func:`online_statistics`).
- :mod:`~bayesnn.learning.local`: the local, spike-driven form of that rule, driven by
  the neuron's own log-odds (:func:`local_rule`), and its filtered-only control.
- :mod:`~bayesnn.learning.gradient`: gradient ascent on the exact log-likelihood with
  optax, in log-rate space (:func:`fit_gradient`).
- :mod:`~bayesnn.learning.fit`: the one result type (:class:`FitResult`), the one
  binning of input spikes, the convergence test; every fit ends in bayesnn's labelling
  (ON = the state with the larger total input rate,
  :func:`bayesnn.processes.canonical_labelling`).
- :mod:`~bayesnn.learning.statistics`: E-steps and M-steps shared by the above.
- :mod:`~bayesnn.learning.validation`: the ``learning`` validate scenario.
"""
from bayesnn.learning.em import em_binned, em_continuous
from bayesnn.learning.fit import FitResult, bin_inputs
from bayesnn.learning.gradient import fit_gradient, log_likelihood
from bayesnn.learning.local import local_rule
from bayesnn.learning.online import online_em, online_statistics
from bayesnn.learning.statistics import BinnedStatistics, ContinuousStatistics

__all__ = ["FitResult", "bin_inputs", "em_binned", "em_continuous", "fit_gradient",
           "log_likelihood", "local_rule", "online_em", "online_statistics",
           "BinnedStatistics", "ContinuousStatistics"]
