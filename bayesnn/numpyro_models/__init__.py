"""NumPyro references: the generative models written in NumPyro, answered by NumPyro.

* :mod:`~bayesnn.numpyro_models.mmpp_binned`: binned Markov-modulated Poisson model with
  the hidden state enumerated (funsor) and posterior marginals by differentiation.
* :mod:`~bayesnn.numpyro_models.mmpp_forward`: the hand-written forward scan NUTS
  differentiates (the same log-likelihood, without funsor).
* :mod:`~bayesnn.numpyro_models.mmpp_continuous`: the exact continuous-time spike-train
  likelihood as a NumPyro ``Distribution`` and the filtered posterior from it.
* :mod:`~bayesnn.numpyro_models.nuts`: NUTS over (r_on, r_off, q_on, q_off), ArviZ output.
* :mod:`~bayesnn.numpyro_models.lgssm`: linear-Gaussian state-space model, exact
  posteriors from NumPyro's log density and a JAX Kalman filter / RTS smoother.
* :mod:`~bayesnn.numpyro_models.checks`: ``numpyro_checks`` rows for ``bayesnn validate``.

Parameters come as the shared data-only records of :mod:`bayesnn.processes`
(:class:`~bayesnn.processes.MMPPParams`, :class:`~bayesnn.processes.linear_gaussian.LGSSMParams`),
spike trains as :class:`bayesnn.core.Spikes`; every exact claim refuses float32. Nothing
here imports ``bayesnn.neuron`` or ``bayesnn.scn``; ``bayesnn.exact`` is only imported by
``checks`` to *compare* against (never to compute the NumPyro answers).
"""
from bayesnn.numpyro_models.lgssm import LGSSMPosterior, lgssm_model, lgssm_posterior, rts_smoother
from bayesnn.numpyro_models.mmpp_binned import (
    MMPPMarginals,
    bin_spikes,
    enumerated_log_likelihood,
    enumerated_marginals,
    mmpp_hmm_model,
)
from bayesnn.numpyro_models.mmpp_forward import forward_log_likelihood
from bayesnn.numpyro_models.mmpp_continuous import (
    MMPPSpikeTrain,
    continuous_filtered_prob_on,
    continuous_log_likelihood,
)
from bayesnn.numpyro_models.nuts import MMPPPriors, NUTSResult, mmpp_parameter_model, run_nuts

__all__ = [
    "MMPPMarginals", "bin_spikes", "enumerated_log_likelihood", "enumerated_marginals",
    "forward_log_likelihood", "mmpp_hmm_model",
    "MMPPSpikeTrain", "continuous_filtered_prob_on", "continuous_log_likelihood",
    "MMPPPriors", "NUTSResult", "mmpp_parameter_model", "run_nuts",
    "LGSSMPosterior", "lgssm_model", "lgssm_posterior", "rts_smoother",
]
