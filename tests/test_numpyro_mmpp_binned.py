"""NumPyro binned MMPP reference against bayesnn.exact.hmm (float64)."""
import jax
import numpy as np
import pytest

from bayesnn.exact import hmm as exact_hmm
from bayesnn.numpyro_models import mmpp_binned as binned
from bayesnn.numpyro_models.mmpp_forward import forward_log_likelihood
from bayesnn.processes import MMPPParams
from tests.simulators import binned_trial as _binned

# Both sides are exact for the same model; only float64 rounding separates them. Measured
# (seeded rng): every check passes at 1e-13, and the largest error seen with 1e-14 was
# 2.4e-14 (smoothed marginals, absolute, over 200 bins); 1e-13 is ~4x that (was 1e-9).
EXACT = 1e-13


def _hmm(params, counts, dt, initial_prob_on=None):
    """The exact forward-backward reference (the one place this file calls exact.hmm)."""
    r_on, r_off = float(params.r_on), float(params.r_off)
    p = r_on / (r_on + r_off) if initial_prob_on is None else initial_prob_on
    return exact_hmm.hmm_smoother(
        np.array([1 - p, p]), exact_hmm.ctmc_transition_matrix(r_on, r_off, dt),
        exact_hmm.poisson_log_likelihoods(counts, np.asarray(params.q_on),
                                          np.asarray(params.q_off), dt))


def _counts(rng, params, dt, n_bins):
    return _binned(rng, float(params.r_on), float(params.r_off), np.asarray(params.q_on),
                   np.asarray(params.q_off), dt, n_bins)[1]


# Shapes are shared on purpose (each new (T, N) costs a 1-3 s XLA compile of the funsor
# model): every binned set has T = N_BINS bins; N is 10 except the N = 1 and N = 100 sets.
# Marginals (filtered at every bin) are checked on the N = 10 sets, whose compiled
# function (T, N, chunk) = (200, 10, 32) test_numpyro_checks also uses.
N_BINS = 200
# (r_on, r_off, N, dt, theta sign): r_on != r_off, N = 1 and N = 100, theta < 0.
PARAMETER_SETS = [
    (2.0, 2.0, 10, 1e-3, None),
    (0.5, 7.0, 10, 2e-3, +1),
    (3.0, 1.0, 1, 1e-2, +1),
    (4.0, 2.5, 100, 1e-3, None),
    (1.0, 3.0, 10, 5e-3, -1),
    (10.0, 10.0, 10, 1e-2, -1),
    (6.0, 0.8, 1, 2e-2, -1),
]


@pytest.mark.parametrize("r_on, r_off, n_inputs, dt, sign", PARAMETER_SETS)
def test_enumerated_loglik_and_marginals_equal_hmm(rng, r_on, r_off, n_inputs, dt, sign):
    q_on = rng.uniform(5, 30, n_inputs)
    q_off = rng.uniform(5, 30, n_inputs)
    if sign is not None and np.sign(q_on.sum() - q_off.sum()) != sign:
        q_on, q_off = q_off, q_on
    params = MMPPParams(r_on, r_off, q_on, q_off)
    counts = _counts(rng, params, dt, N_BINS)
    exact = _hmm(params, counts, dt)
    ll = float(binned.enumerated_log_likelihood(params, counts, dt=dt))
    ref = float(exact.log_marginal_likelihood)
    assert abs(ll - ref) <= EXACT * abs(ref)
    # the hand-written forward scan used by NUTS is the same quantity
    fwd = float(forward_log_likelihood(params, counts[None], dt)[0])
    assert abs(fwd - ref) <= EXACT * abs(ref)
    if n_inputs != 10:
        return
    marg = binned.enumerated_marginals(params, counts, dt=dt, chunk=32)
    np.testing.assert_allclose(marg.smoothed, exact.smoothed[:, 1], rtol=0, atol=EXACT)
    np.testing.assert_allclose(marg.filtered, exact.filtered[:, 1], rtol=0, atol=EXACT)
    assert abs(float(marg.log_likelihood) - ref) <= EXACT * abs(ref)


def test_padding_changes_nothing(rng):
    """pad_to appends masked bins: log-likelihood and marginals are unchanged (exact)."""
    params = MMPPParams(1.5, 2.5, rng.uniform(5, 30, 10), rng.uniform(5, 30, 10))
    counts = _counts(rng, params, 1e-2, 150)
    exact = _hmm(params, counts, 1e-2)
    ref = float(exact.log_marginal_likelihood)
    ll = float(binned.enumerated_log_likelihood(params, counts, dt=1e-2, pad_to=N_BINS))
    assert abs(ll - ref) <= EXACT * abs(ref)
    marg = binned.enumerated_marginals(params, counts, dt=1e-2, chunk=32, pad_to=N_BINS)
    assert marg.smoothed.shape == (150,) and marg.filtered.shape == (150,)
    np.testing.assert_allclose(marg.smoothed, exact.smoothed[:, 1], rtol=0, atol=EXACT)
    np.testing.assert_allclose(marg.filtered, exact.filtered[:, 1], rtol=0, atol=EXACT)
    with pytest.raises(ValueError, match="pad_to"):
        binned.enumerated_log_likelihood(params, counts, dt=1e-2, pad_to=100)


def test_batched_trials_initial_state_and_gradient(rng):
    """Per-trial values with a fixed initial state; jax.grad of the enumerated
    log-likelihood with respect to the MMPPParams record equals the gradient of the
    independent forward scan (both exact: EXACT relative)."""
    params = MMPPParams(2.0, 3.0, rng.uniform(5, 30, 10), rng.uniform(5, 30, 10))
    counts = np.stack([_counts(rng, params, 1e-2, N_BINS) for _ in range(3)])
    batch = np.asarray(binned.enumerated_log_likelihood(params, counts, dt=1e-2,
                                                        initial_prob_on=0.9))
    for b in range(3):
        ref = float(_hmm(params, counts[b], 1e-2, 0.9).log_marginal_likelihood)
        assert abs(batch[b] - ref) <= EXACT * abs(ref)
    grad = jax.grad(lambda p: binned.enumerated_log_likelihood(p, counts[0], dt=1e-2))(params)
    ref = jax.grad(lambda p: forward_log_likelihood(p, counts[:1], 1e-2)[0])(params)
    for name in MMPPParams.field_names:
        got, want = np.asarray(getattr(grad, name)), np.asarray(getattr(ref, name))
        np.testing.assert_allclose(got, want, rtol=EXACT, atol=EXACT * np.max(np.abs(want)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(counts=-np.ones((5, 2))), "counts"),
    (dict(counts=np.full((5, 2), 0.5)), "counts"),
    (dict(counts=np.zeros((5, 3))), "counts"),
    (dict(dt=0.0), "dt"),
    (dict(dt=-1e-3), "dt"),
    (dict(params=(1.0, 1.0, np.ones(2), np.ones(2))), "params"),
    (dict(initial_prob_on=1.5), "initial_prob_on"),
])
def test_bad_binned_input(kwargs, match):
    args = dict(params=MMPPParams(1.0, 1.0, np.ones(2), np.ones(2)), counts=np.zeros((5, 2)),
                dt=1e-3)
    args.update(kwargs)
    params, counts = args.pop("params"), args.pop("counts")
    with pytest.raises(ValueError, match=match):
        binned.enumerated_log_likelihood(params, counts, **args)
    with pytest.raises(ValueError, match=match):
        binned.enumerated_marginals(params, counts, **args)


def test_bad_rates_are_rejected_by_the_record():
    for kwargs, match in ((dict(r_on=0.0), "r_on"), (dict(r_off=-1.0), "r_off"),
                          (dict(q_on=np.array([1.0, 0.0])), "q_on"),
                          (dict(q_off=np.array([1.0, 2.0, 3.0])), "q_off")):
        args = dict(r_on=1.0, r_off=1.0, q_on=np.ones(2), q_off=np.ones(2))
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            MMPPParams(**args)
