"""Generative processes: the hidden Markov state and its Poisson inputs.

- :class:`MMPPParams`: the model's parameters (a JAX pytree), shared with the exact
  references.
- :func:`sample_trial` / :func:`sample_trials`: exact continuous-time sampling, inputs as
  :class:`bayesnn.core.Spikes`; :func:`sample_kernel` for use inside jit/vmap.
- :func:`sample_binned`, :func:`sample_clamped`.
"""
from bayesnn.processes.params import MMPPParams, check_mmpp_fields, model_of
from bayesnn.processes.sampling import (
    BinnedTrial,
    Trial,
    sample_binned,
    sample_capacities,
    sample_clamped,
    sample_kernel,
    sample_trial,
    sample_trials,
    state_at,
    transition_probabilities,
)

__all__ = ["MMPPParams", "check_mmpp_fields", "model_of", "BinnedTrial", "Trial",
           "sample_binned", "sample_capacities", "sample_clamped", "sample_kernel",
           "sample_trial", "sample_trials", "state_at", "transition_probabilities"]
