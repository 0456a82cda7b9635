"""NumPyro binned/continuous MMPP references against bayesnn.exact (float64)."""
import numpy as np
import pytest

from bayesnn.exact import hmm as exact_hmm
from bayesnn.exact import mmpp as exact_mmpp
from bayesnn.numpyro_models import mmpp
from tests.simulators import gillespie_trial as _trial, binned_trial as _binned

# 1e-9: both sides are exact for the same model; only float64 rounding separates them.
EXACT = 1e-9


def _exact(counts, r_on, r_off, q_on, q_off, dt):
    p = r_on / (r_on + r_off)
    return exact_hmm.hmm_smoother(np.array([1 - p, p]),
                                  exact_hmm.ctmc_transition_matrix(r_on, r_off, dt),
                                  exact_hmm.poisson_log_likelihoods(counts, q_on, q_off, dt))


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
    _, counts = _binned(rng, r_on, r_off, q_on, q_off, dt, N_BINS)
    exact = _exact(counts, r_on, r_off, q_on, q_off, dt)
    ll = float(mmpp.enumerated_log_likelihood(counts, r_on, r_off, q_on, q_off, dt))
    ref = float(exact.log_marginal_likelihood)
    assert abs(ll - ref) <= EXACT * abs(ref)
    # the hand-written forward scan used by NUTS is the same quantity
    fwd = float(mmpp.forward_log_likelihood(counts[None], r_on, r_off, q_on, q_off, dt)[0])
    assert abs(fwd - ref) <= EXACT * abs(ref)
    if n_inputs != 10:
        return
    marg = mmpp.enumerated_marginals(counts, r_on, r_off, q_on, q_off, dt, chunk=32)
    np.testing.assert_allclose(marg.smoothed, exact.smoothed[:, 1], rtol=0, atol=EXACT)
    np.testing.assert_allclose(marg.filtered, exact.filtered[:, 1], rtol=0, atol=EXACT)
    assert abs(float(marg.log_likelihood) - ref) <= EXACT * abs(ref)


def test_padding_changes_nothing(rng):
    """pad_to appends masked bins: log-likelihood and marginals are unchanged (exact)."""
    q_on, q_off = rng.uniform(5, 30, 10), rng.uniform(5, 30, 10)
    _, counts = _binned(rng, 1.5, 2.5, q_on, q_off, 1e-2, 150)
    exact = _exact(counts, 1.5, 2.5, q_on, q_off, 1e-2)
    ref = float(exact.log_marginal_likelihood)
    ll = float(mmpp.enumerated_log_likelihood(counts, 1.5, 2.5, q_on, q_off, 1e-2,
                                              pad_to=N_BINS))
    assert abs(ll - ref) <= EXACT * abs(ref)
    marg = mmpp.enumerated_marginals(counts, 1.5, 2.5, q_on, q_off, 1e-2, chunk=32,
                                     pad_to=N_BINS)
    assert marg.smoothed.shape == (150,) and marg.filtered.shape == (150,)
    np.testing.assert_allclose(marg.smoothed, exact.smoothed[:, 1], rtol=0, atol=EXACT)
    np.testing.assert_allclose(marg.filtered, exact.filtered[:, 1], rtol=0, atol=EXACT)
    with pytest.raises(ValueError, match="pad_to"):
        mmpp.enumerated_log_likelihood(counts, 1.5, 2.5, q_on, q_off, 1e-2, pad_to=100)


def test_batched_trials_and_initial_state(rng):
    q_on, q_off = rng.uniform(5, 30, 10), rng.uniform(5, 30, 10)
    counts = np.stack([_binned(rng, 2.0, 3.0, q_on, q_off, 1e-2, N_BINS)[1]
                       for _ in range(3)])
    batch = np.asarray(mmpp.enumerated_log_likelihood(counts, 2.0, 3.0, q_on, q_off, 1e-2,
                                                      initial_prob_on=0.9))
    trans = exact_hmm.ctmc_transition_matrix(2.0, 3.0, 1e-2)
    for b in range(3):
        ref = float(exact_hmm.hmm_forward(
            np.array([0.1, 0.9]), trans,
            exact_hmm.poisson_log_likelihoods(counts[b], q_on, q_off, 1e-2)
        ).log_marginal_likelihood)
        assert abs(batch[b] - ref) <= EXACT * abs(ref)


@pytest.mark.parametrize("r_on, r_off, n_inputs", [(2.0, 2.0, 10), (0.7, 4.0, 1),
                                                   (5.0, 1.0, 100)])
def test_continuous_log_prob_equals_exact_filter(rng, r_on, r_off, n_inputs):
    q_on, q_off = rng.uniform(5, 30, n_inputs), rng.uniform(5, 30, n_inputs)
    times, channels = _trial(rng, r_on, r_off, q_on, q_off, 3.0)
    # padding at the end, with +inf times, must be ignored
    times_p = np.concatenate([times, [np.inf, np.inf]])
    channels_p = np.concatenate([channels, [-1, -1]])
    queries = np.array([0.5, 1.0, 2.25, 3.0])
    exact = exact_mmpp.mmpp_filter(r_on, r_off, q_on, q_off, times, channels, 3.0, queries)
    ll = float(mmpp.continuous_log_likelihood(r_on, r_off, q_on, q_off, times_p, channels_p,
                                              3.0))
    assert abs(ll - float(exact.log_likelihood)) <= EXACT * abs(float(exact.log_likelihood))
    if n_inputs == 10:  # the Distribution called directly (eager: one compile per shape)
        dist = mmpp.MMPPSpikeTrain(r_on, r_off, q_on, q_off, 3.0, max_events=times_p.size)
        value = mmpp.pack_spike_train(np.where(channels_p < 0, 0.0, times_p), channels_p)
        assert float(dist.log_prob(value)) == pytest.approx(ll, rel=EXACT)
    p = mmpp.continuous_filtered_prob_on(r_on, r_off, q_on, q_off, times_p, channels_p, queries)
    np.testing.assert_allclose(p, exact.prob_on, rtol=0, atol=EXACT)


def test_binned_likelihood_converges_to_continuous(rng):
    """log p_binned - J log dt + sum log n! -> log p_cont with error O(dt)."""
    r_on, r_off = 2.0, 3.0
    q_on, q_off = rng.uniform(5, 30, 10), rng.uniform(5, 30, 10)
    duration = 2.0
    times, channels = _trial(rng, r_on, r_off, q_on, q_off, duration)
    cont = float(mmpp.continuous_log_likelihood(r_on, r_off, q_on, q_off, times, channels,
                                                duration))
    dts = [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    errors = []
    for dt in dts:
        counts = mmpp.bin_spike_train(times, channels, 10, duration, dt)
        # pad_to: one compiled function for all four T (masked bins change nothing)
        ll = float(mmpp.enumerated_log_likelihood(counts, r_on, r_off, q_on, q_off, dt,
                                                  pad_to=1600))
        density = ll - counts.sum() * np.log(dt) + mmpp.binned_to_density_correction(counts)
        errors.append(abs(density - cont))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert slope >= 0.9, (errors, slope)  # at least linear (theory: exactly first order)
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(counts=-np.ones((5, 2))), "counts"),
    (dict(counts=np.full((5, 2), 0.5)), "counts"),
    (dict(counts=np.zeros((5, 3))), "counts"),
    (dict(r_on=0.0), "r_on"),
    (dict(r_off=-1.0), "r_off"),
    (dict(q_on=np.array([1.0, 0.0])), "q_on"),
    (dict(q_off=np.array([1.0, 2.0, 3.0])), "q_on and q_off"),
    (dict(dt=0.0), "dt"),
    (dict(dt=-1e-3), "dt"),
])
def test_bad_binned_input(kwargs, match):
    args = dict(counts=np.zeros((5, 2)), r_on=1.0, r_off=1.0, q_on=np.ones(2),
                q_off=np.ones(2), dt=1e-3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mmpp.enumerated_log_likelihood(**args)
    with pytest.raises(ValueError, match=match):
        mmpp.enumerated_marginals(**args)


def test_bad_spike_train():
    with pytest.raises(ValueError, match="spike_times"):
        mmpp.continuous_log_likelihood(1, 1, [1.0], [2.0], [0.5, 0.2], [0, 0], 1.0)
    with pytest.raises(ValueError, match="spike_channels"):
        mmpp.continuous_log_likelihood(1, 1, [1.0], [2.0], [0.5], [1], 1.0)
    with pytest.raises(ValueError, match="spike_times"):
        mmpp.continuous_log_likelihood(1, 1, [1.0], [2.0], [1.5], [0], 1.0)
    with pytest.raises(ValueError, match="duration"):
        mmpp.continuous_log_likelihood(1, 1, [1.0], [2.0], [0.5], [0], 0.0)
