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
- :mod:`~bayesnn.learning.statistics`: E-steps and M-steps shared by the above.
- :mod:`~bayesnn.learning.validation`: the ``learning`` validate scenario.
"""
from bayesnn.learning.em import EMResult, em_binned, em_continuous
from bayesnn.learning.gradient import GradientResult, fit_gradient, log_likelihood
from bayesnn.learning.local import LocalRuleResult, local_rule
from bayesnn.learning.online import OnlineEMResult, online_em, online_statistics
from bayesnn.learning.statistics import BinnedStatistics, ContinuousStatistics

__all__ = ["EMResult", "em_binned", "em_continuous", "GradientResult", "fit_gradient",
           "log_likelihood", "LocalRuleResult", "local_rule", "OnlineEMResult", "online_em",
           "online_statistics", "BinnedStatistics", "ContinuousStatistics"]
