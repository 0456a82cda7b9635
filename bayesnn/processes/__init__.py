"""Generative processes: the hidden Markov state and its Poisson inputs.

- :class:`MMPPParams`: the model's parameters (a JAX pytree), shared with the exact
  references; :func:`canonical_labelling`: the one naming of ON and OFF of every fit.
- :func:`sample_trial` / :func:`sample_trials`: exact continuous-time sampling, inputs as
  :class:`bayesnn.core.Spikes`; :func:`sample_kernel` for use inside jit/vmap.
- :func:`sample_binned`, :func:`sample_clamped`;
- the linear-Gaussian latent model (:class:`LinearGaussianParams`, :class:`LGSSMParams`,
  :func:`sample_linear_gaussian`) of the Kalman references and the spiking Kalman filter.
"""
from bayesnn.processes.linear_gaussian import (
    LGSSMParams,
    LinearGaussianParams,
    LinearGaussianTrial,
    oscillator_params,
    ou_params,
    sample_linear_gaussian,
    sample_linear_gaussian_trials,
)
from bayesnn.processes.labelling import canonical_labelling, mirror, require_distinct_states
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

__all__ = ["LGSSMParams", "LinearGaussianParams", "LinearGaussianTrial", "oscillator_params",
           "ou_params", "sample_linear_gaussian", "sample_linear_gaussian_trials", "canonical_labelling", "mirror",
           "require_distinct_states", "MMPPParams", "check_mmpp_fields", "model_of", "BinnedTrial", "Trial",
           "sample_binned", "sample_capacities", "sample_clamped", "sample_kernel",
           "sample_trial", "sample_trials", "state_at", "transition_probabilities"]
