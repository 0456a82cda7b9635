"""Batch EM (bayesnn.learning.em): monotone log-likelihood, fixed point = stationary point
of the exact log-likelihood (gradient from NumPyro's independent likelihoods), recovery
of the truth, bad input, and no NaN / non-positive rates on degenerate data.

Data come from the independent simulators of tests/simulators.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.core import make_spikes
from bayesnn.core.params import unchecked
from bayesnn.learning import em_binned, em_continuous
from bayesnn.core import spikes_from_counts
from bayesnn.numpyro_models.mmpp_forward import forward_log_likelihood
from bayesnn.numpyro_models.mmpp_continuous import continuous_log_likelihood
from bayesnn.processes import MMPPParams
from tests.simulators import binned_trial, gillespie_spikes

TRUE = MMPPParams(r_on=2.0, r_off=2.0, q_on=np.array([30.0, 22.0, 12.0]),
                  q_off=np.array([6.0, 10.0, 12.0]))
# 4x mis-initialisation (the EM recovery test of docs/learning.md), ON still the busier state
START = MMPPParams(r_on=0.5, r_off=8.0, q_on=np.full(3, 25.0), q_off=np.full(3, 15.0))


def _log_rate_gradient(log_lik, params):
    """Gradient of ``log_lik`` w.r.t. the log-rates (nats), as one flat array."""
    grad = jax.grad(log_lik)(params)
    return np.concatenate([np.atleast_1d(np.asarray(g * p)) for g, p in
                           zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(params))])


@pytest.fixture(scope="module")
def spikes():
    return gillespie_spikes(np.random.default_rng(11), TRUE, 60.0)


def test_continuous_em_monotone_and_fixed_point_is_stationary(spikes):
    result = em_continuous(START, spikes, duration=60.0, max_iterations=3000, xtol=1e-10)
    log_liks = result.log_likelihoods
    # Monotone to rounding: each log-likelihood is a sum of ~2e3 logs, rounding ~1e-13 relative
    assert np.min(np.diff(log_liks)) >= -1e-11 * abs(log_liks[-1])
    assert log_liks[-1] - log_liks[0] > 10.0  # it did learn
    objective = lambda p: continuous_log_likelihood(p, spikes, duration=60.0)  # noqa: E731
    start_gradient = np.max(np.abs(_log_rate_gradient(objective, START)))
    end_gradient = np.max(np.abs(_log_rate_gradient(objective, result.params)))
    # EM stops when its estimated distance to the fixed point is < 1e-10 in log-rate;
    # the gradient is then at most ~ curvature x distance ~ (2e3 spikes) x 1e-10 = 2e-7
    # nats per log-rate (the bound; measured 1.6e-9)
    assert result.converged
    assert end_gradient < 2e-7, end_gradient
    # the result's own gradient norm (per spike: curvature ~ 1 per spike, so ~1e-10;
    # measured 9e-13) says the same
    assert result.gradient_norm < 1e-10
    assert end_gradient < 1e-6 * start_gradient
    assert abs(float(objective(result.params)) - log_liks[-1]) < 1e-9 * abs(log_liks[-1])


def test_binned_em_monotone_and_stationary():
    rng = np.random.default_rng(5)
    dt, n_bins = 0.01, 40_000
    counts = np.stack([binned_trial(rng, 2.0, 2.0, np.asarray(TRUE.q_on), np.asarray(TRUE.q_off),
                                    dt, n_bins)[1]])
    result = em_binned(START, spikes_from_counts(counts[0], dt), duration=n_bins * dt, dt=dt,
                       max_iterations=2000, xtol=1e-10)
    log_liks = result.log_likelihoods
    assert np.min(np.diff(log_liks)) >= -1e-11 * abs(log_liks[-1])
    assert result.converged
    objective = lambda p: jnp.sum(forward_log_likelihood(p, jnp.asarray(counts, float), dt))  # noqa: E731
    gradient = np.max(np.abs(_log_rate_gradient(objective, result.params)))
    # vs ~1e3 at the start; same basis as above (1.9e4 spikes x 1e-10 = 1.9e-6, the
    # bound; measured 8.2e-9)
    assert gradient < 2e-6, gradient


def test_batched_trials_add_statistics(spikes):
    from bayesnn.core import stack_spikes
    two = em_continuous(START, stack_spikes([spikes, spikes]), duration=60.0, max_iterations=3)
    one = em_continuous(START, spikes, duration=60.0, max_iterations=3)
    # the same trial twice: same M-step, twice the log-likelihood. Float64 rounding over 3
    # iterations: measured 4.0e-15 (q_on) and 3.3e-16 (log-likelihoods) relative; bounds
    # 1e-13 (conftest floor; were 1e-12)
    np.testing.assert_allclose(np.asarray(two.params.q_on), np.asarray(one.params.q_on), rtol=1e-13)
    np.testing.assert_allclose(two.log_likelihoods, 2 * one.log_likelihoods, rtol=1e-13)


def test_degenerate_data_never_nan_or_non_positive():
    """Exactly 2N + 2 spikes, all on one input: inputs 1 and 2 never spike, so their
    maximum-likelihood rates are 0 and land on the lower bound."""
    tiny = make_spikes(np.linspace(0.1, 0.9, 8), np.zeros(8, int), n_senders=3, duration=1.0)
    result = em_continuous(START, tiny, duration=1.0, max_iterations=50)
    for leaf in jax.tree_util.tree_leaves(result.history):
        assert np.all(np.isfinite(leaf)) and np.all(np.asarray(leaf) > 0)
    assert np.all(np.diff(result.log_likelihoods) >= -1e-9 * np.abs(result.log_likelihoods[1:]))
    counts = np.zeros((10, 3), int)
    counts[[1, 3, 5, 7], 0] = 2
    binned = em_binned(START, spikes_from_counts(counts, 0.1), duration=1.0, dt=0.1,
                       max_iterations=50)
    for leaf in jax.tree_util.tree_leaves(binned.history):
        assert np.all(np.isfinite(leaf)) and np.all(np.asarray(leaf) > 0)


def test_bad_input(spikes):
    counts = spikes_from_counts(np.ones((100, 3), int), 0.01)
    with pytest.raises(ValueError, match="initial.r_on"):
        em_continuous(unchecked(MMPPParams, r_on=jnp.asarray(-1.0), r_off=TRUE.r_off, q_on=TRUE.q_on,
                                q_off=TRUE.q_off), spikes, duration=60.0)
    with pytest.raises(ValueError, match="initial.q_off"):
        em_binned(unchecked(MMPPParams, r_on=TRUE.r_on, r_off=TRUE.r_off, q_on=TRUE.q_on,
                            q_off=jnp.array([1.0, np.nan, 1.0])), counts, duration=1.0, dt=0.01)
    with pytest.raises(ValueError, match="fewer than the 8 parameters"):
        em_continuous(START, make_spikes([0.1, 0.2], [0, 1], n_senders=3), duration=1.0)
    with pytest.raises(ValueError, match="fewer than the 8 parameters"):
        em_binned(START, make_spikes([0.1, 0.2], [0, 1], n_senders=3), duration=1.0, dt=0.01)
    with pytest.raises(ValueError, match="senders must be < N = 3"):
        em_binned(START, spikes_from_counts(np.ones((100, 4), int), 0.01), duration=1.0, dt=0.01)
    with pytest.raises(ValueError, match="dt"):
        em_binned(START, counts, duration=1.0, dt=0.0)
    with pytest.raises(ValueError, match="whole number .* of bins"):
        em_binned(START, counts, duration=1.0, dt=0.3)
    with pytest.raises(ValueError, match="duration"):
        em_continuous(START, spikes, duration=10.0)  # spikes beyond the window
    with pytest.raises(ValueError, match="max_iterations"):
        em_binned(START, counts, duration=1.0, dt=0.01, max_iterations=0)
    with pytest.raises(ValueError, match="xtol"):
        em_binned(START, counts, duration=1.0, dt=0.01, xtol=0.0)
    with pytest.raises(ValueError, match="initial_prob_on"):
        em_continuous(START, spikes, duration=60.0, initial_prob_on=-0.1)
    with pytest.raises(ValueError, match="max_rate"):
        em_continuous(START, spikes, duration=60.0, min_rate=10.0, max_rate=1.0)
    with pytest.raises(TypeError):
        em_continuous(START, spikes, 60.0)  # duration is keyword-only
