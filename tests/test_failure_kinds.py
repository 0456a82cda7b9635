"""Failure kinds replayed from neighbouring projects' bug reports, each closed as a kind
(issue: robust to whatever a lab feeds it). One section per kind."""
from __future__ import annotations

import numpy as np
import pytest

from bayesnn.exact import brute_force_marginals, hmm_forward, hmm_smoother


# --- Kind 1: log-space normalisation with hard zeros ---------------------------------
def test_forward_with_hard_zero_state_is_exact():
    """Initial [1, 0] and identity transitions: state 1 is impossible, so whatever its
    likelihood the filter stays [1, 0] and log p(y) = sum of state-0 log-likelihoods.
    A max-shift normaliser (shift by max_j l_k(j) = 0) underflows exp(-800) to 0: NaN."""
    log_liks = np.tile([-800.0, 0.0], (4, 1))
    forward = hmm_forward([1.0, 0.0], np.eye(2), log_liks)
    np.testing.assert_array_equal(np.asarray(forward.filtered), np.tile([1.0, 0.0], (4, 1)))
    assert float(forward.log_marginal_likelihood) == -3200.0


def test_smoother_and_transition_counts_with_hard_zeros_match_brute_force():
    log_liks = np.array([[-800.0, 0.0], [-3.0, -900.0], [-750.0, -1.0], [0.0, -700.0]])
    for initial, transition in (([1.0, 0.0], np.eye(2)),
                                ([0.3, 0.7], np.array([[1.0, 0.0], [0.4, 0.6]])),
                                ([0.0, 1.0], np.array([[0.5, 0.5], [0.0, 1.0]]))):
        brute = brute_force_marginals(initial, transition, log_liks)
        smoothed = hmm_smoother(initial, transition, log_liks)
        assert np.all(np.isfinite(np.asarray(smoothed.smoothed)))
        # Rounding basis: terms of size ~|l| <= 900 carry 900 * 2.2e-16 ~ 2e-13.
        np.testing.assert_allclose(smoothed.filtered, brute.filtered, atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.smoothed, brute.smoothed, atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.expected_transitions, brute.expected_transitions,
                                   atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.log_marginal_likelihood,
                                   brute.log_marginal_likelihood, rtol=1e-13)


def test_impossible_observations_are_refused():
    """Hard zeros that make every path impossible: a clear error, not NaN."""
    log_liks = np.array([[-np.inf, 0.0]])
    with pytest.raises(ValueError, match="log_likelihoods"):
        hmm_forward([1.0, 0.0], np.eye(2), log_liks)
