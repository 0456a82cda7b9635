"""Gradient ascent on the exact log-likelihood (bayesnn.learning.gradient).

* The objective and its jax.grad equal the matrix-exponential filter of
  bayesnn.exact.mmpp (independent code: scipy-style expm, not the spectral split) to 1e-9.
* Its optimum equals batch EM's (both maximise the same likelihood).
* Large steps on tiny data never give NaN or non-positive rates; bad input raises.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayesnn.core import make_spikes
from bayesnn.core.params import unchecked
from bayesnn.exact.mmpp import mmpp_log_likelihood
from bayesnn.learning import em_continuous, fit_gradient, log_likelihood
from bayesnn.processes import MMPPParams
from tests.simulators import gillespie_spikes

TRUE = MMPPParams(r_on=2.0, r_off=2.0, q_on=np.array([40.0, 30.0, 20.0]),
                  q_off=np.array([4.0, 8.0, 6.0]))
START = MMPPParams(r_on=0.5, r_off=8.0, q_on=np.full(3, 25.0), q_off=np.full(3, 15.0))
DURATION = 60.0


def _flat(params):
    return np.concatenate([np.atleast_1d(np.asarray(x)) for x in jax.tree_util.tree_leaves(params)])


@pytest.fixture(scope="module")
def spikes():
    return gillespie_spikes(np.random.default_rng(21), TRUE, DURATION)


def test_objective_and_gradient_match_exact_filter(spikes):
    ours = log_likelihood(START, spikes, duration=DURATION, initial_prob_on=0.5)
    reference = mmpp_log_likelihood(START, spikes, duration=DURATION, initial_prob_on=0.5)
    # two exact routes, float64 rounding: measured 4.4e-15 relative (log p) and 1.06e-14
    # of the largest gradient term; bounds 1e-13 (conftest floor; were 1e-9)
    assert abs(float(ours) - float(reference)) < 1e-13 * abs(float(reference))
    grad = jax.grad(lambda p: log_likelihood(p, spikes, duration=DURATION))(START)
    grad_ref = jax.grad(lambda p: mmpp_log_likelihood(p, spikes, duration=DURATION))(START)
    scale = np.max(np.abs(_flat(grad_ref) * _flat(START)))
    np.testing.assert_allclose(_flat(grad) * _flat(START), _flat(grad_ref) * _flat(START),
                               rtol=0, atol=1e-13 * scale)


def test_gradient_optimum_equals_em_optimum(spikes):
    gradient = fit_gradient(START, spikes, duration=DURATION, tol=1e-9)
    em = em_continuous(START, spikes, duration=DURATION, max_iterations=3000, xtol=1e-10)
    assert gradient.converged and em.converged
    # EM stops at an estimated log-rate distance of 1e-10 from its fixed point; L-BFGS at
    # a gradient norm of 1e-9 per spike (distance ~ 1e-9 / curvature per spike ~ 1e-8).
    # Both within ~1e-8 of the optimum: bound 1e-6.
    np.testing.assert_allclose(_flat(gradient.params), _flat(em.params), rtol=1e-6)
    assert abs(gradient.log_likelihoods[-1] - em.log_likelihoods[-1]) < 1e-9 * abs(em.log_likelihoods[-1])
    assert gradient.log_likelihoods[-1] >= em.log_likelihoods[-1] - 1e-9


def test_large_steps_on_tiny_data_stay_finite_and_positive():
    tiny = make_spikes(np.linspace(0.1, 0.9, 8), np.zeros(8, int), n_senders=3, duration=1.0)
    for optimizer, rate in (("adam", 50.0), ("sgd", 1e3), (optax.sgd(1e6), 1.0)):
        result = fit_gradient(START, tiny, duration=1.0, optimizer=optimizer, learning_rate=rate,
                              max_steps=30)
        flat = _flat(result.params)
        assert np.all(np.isfinite(flat)) and np.all(flat > 0)
        assert np.all(np.isfinite(result.log_likelihoods))


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="adam", learning_rate=0.0), "learning_rate"),
    (dict(optimizer="sgd", learning_rate=-1.0), "learning_rate"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(optimizer="newton"), "optimizer"),
    (dict(max_steps=0), "max_steps"),
    (dict(tol=0.0), "tol"),
    (dict(initial_prob_on=1.5), "initial_prob_on"),
    (dict(min_rate=0.0), "min_rate"),
])
def test_bad_input(spikes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_gradient(START, spikes, duration=DURATION, **kwargs)


def test_bad_initial_and_data(spikes):
    bad = unchecked(MMPPParams, r_on=TRUE.r_on, r_off=TRUE.r_off,
                    q_on=jnp.array([1.0, -2.0, 1.0]), q_off=TRUE.q_off)
    with pytest.raises(ValueError, match="initial.q_on"):
        fit_gradient(bad, spikes, duration=DURATION)
    with pytest.raises(ValueError, match="fewer than the 8 parameters"):
        fit_gradient(START, make_spikes([0.5], [0], n_senders=3), duration=1.0)
    with pytest.raises(ValueError, match="inputs must be a bayesnn.core.Spikes"):
        fit_gradient(START, np.zeros(10), duration=1.0)
    with pytest.raises(ValueError, match="fixed"):
        fit_gradient(START, spikes, duration=DURATION, fixed=("r_up",))
