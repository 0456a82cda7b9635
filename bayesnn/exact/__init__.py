"""Exact Bayesian references, written from the math (see docs/exact.md).

These are the independent code paths that check the spiking models, so nothing here
imports ``bayesnn.neuron``, ``bayesnn.scn`` or any other model: only ``bayesnn.core`` and
the generative models' parameter records (:class:`bayesnn.processes.MMPPParams`,
:mod:`bayesnn.processes.linear_gaussian`; data and checks, no simulation code). Every function here refuses float32
(:func:`bayesnn.core.require_x64`).

* :mod:`bayesnn.exact.hmm`: discrete-time two-state HMM (exact CTMC propagator,
  Poisson counts), forward filter, forward-backward smoother, brute-force enumeration.
* :mod:`bayesnn.exact.mmpp`: exact continuous-time filter and log-likelihood of the
  Markov-modulated Poisson process (matrix exponential between events), plus the
  innovations-form log-likelihood as an independent cross-check.
* :mod:`bayesnn.exact.mmpp_smoother`: the continuous-time smoother (expected dwell
  times, spike counts per state, switch counts) for EM.
* :mod:`bayesnn.exact.kalman`: Kalman filter, RTS smoother, exact (Van Loan)
  discretisation, steady-state Kalman-Bucy gain and mean;
  :mod:`bayesnn.exact.kalman_bucy`: the exact Kalman-Bucy posterior.
* :mod:`bayesnn.exact.hierarchy`: the exact joint filter of the two-level tree of
  hidden Markov chains.
"""
from bayesnn.exact.hmm import (
    BruteForceMarginals,
    HMMForward,
    HMMSmoother,
    brute_force_marginals,
    ctmc_transition_matrix,
    hmm_forward,
    hmm_smoother,
    poisson_log_likelihoods,
)
from bayesnn.exact.kalman import (
    KalmanBucySteadyState,
    KalmanFilter,
    KalmanSmoother,
    discretize_lds,
    kalman_bucy_mean,
    kalman_filter,
    rts_smoother,
    steady_state_kalman_bucy,
)
from bayesnn.exact.kalman_bucy import KalmanBucyPosterior, kalman_bucy_posterior, sampled_lgssm
from bayesnn.exact.hierarchy import TreeFilter, tree_filter, tree_filter_trials
from bayesnn.exact.hierarchy_brute_force import tree_brute_force
from bayesnn.exact.mmpp_smoother import (
    MMPPExpectedStatistics,
    mmpp_expected_statistics,
    mmpp_smoothed_prob_on,
)
from bayesnn.exact.mmpp import (
    MMPPFilter,
    mmpp_filter,
    mmpp_filter_batch,
    mmpp_log_likelihood,
    mmpp_log_likelihood_innovations,
)

__all__ = [
    "TreeFilter",
    "tree_brute_force",
    "tree_filter",
    "tree_filter_trials",
    "MMPPExpectedStatistics",
    "mmpp_expected_statistics",
    "mmpp_smoothed_prob_on",
    "BruteForceMarginals",
    "HMMForward",
    "HMMSmoother",
    "brute_force_marginals",
    "ctmc_transition_matrix",
    "hmm_forward",
    "hmm_smoother",
    "poisson_log_likelihoods",
    "KalmanBucySteadyState",
    "KalmanFilter",
    "KalmanSmoother",
    "discretize_lds",
    "kalman_bucy_mean",
    "kalman_filter",
    "rts_smoother",
    "steady_state_kalman_bucy",
    "KalmanBucyPosterior",
    "kalman_bucy_posterior",
    "sampled_lgssm",
    "MMPPFilter",
    "mmpp_filter",
    "mmpp_filter_batch",
    "mmpp_log_likelihood",
    "mmpp_log_likelihood_innovations",
]
