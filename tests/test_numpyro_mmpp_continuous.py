"""NumPyro continuous-time MMPP likelihood against bayesnn.exact.mmpp (float64)."""
import jax
import numpy as np
import pytest

from bayesnn.core import PrecisionError, enable_x64, make_spikes
from bayesnn.exact import mmpp as exact_mmpp
from bayesnn.numpyro_models import mmpp_binned as binned
from bayesnn.numpyro_models import mmpp_continuous as continuous
from bayesnn.processes import MMPPParams
from tests.simulators import gillespie_spikes

# Both sides exact for the same model; float64 rounding only. Measured: every check passes
# at 1e-14; the worst, log p of the N = 100 case (|log p| ~ 1e4), is 3.4e-15 relative, so
# 1e-14 is ~3x (was 1e-9).
EXACT = 1e-14


@pytest.mark.parametrize("r_on, r_off, n_inputs", [(2.0, 2.0, 10), (0.7, 4.0, 1),
                                                   (5.0, 1.0, 100)])
def test_continuous_log_prob_equals_exact_filter(rng, r_on, r_off, n_inputs):
    params = MMPPParams(r_on, r_off, rng.uniform(5, 30, n_inputs), rng.uniform(5, 30, n_inputs))
    spikes = gillespie_spikes(rng, params, 3.0)
    # extra padding slots (time +inf, sender -1) must be ignored
    times, senders = np.asarray(spikes.times), np.asarray(spikes.senders)
    n = int(spikes.n_events)
    padded = make_spikes(times[:n], senders[:n], n_senders=n_inputs, capacity=4 * spikes.capacity)
    queries = np.array([0.5, 1.0, 2.25, 3.0])
    exact = exact_mmpp.mmpp_filter(params, spikes, duration=3.0, query_times=queries)
    ll = float(continuous.continuous_log_likelihood(params, padded, duration=3.0))
    assert abs(ll - float(exact.log_likelihood)) <= EXACT * abs(float(exact.log_likelihood))
    if n_inputs == 10:  # the Distribution called directly (eager: one compile per shape)
        value = continuous.pack_spikes(spikes, n_inputs=n_inputs)
        dist = continuous.MMPPSpikeTrain(params, 3.0, max_events=value.shape[0])
        assert float(dist.log_prob(value)) == pytest.approx(ll, rel=EXACT)
    p = continuous.continuous_filtered_prob_on(params, padded, query_times=queries)
    np.testing.assert_allclose(p, exact.prob_on, rtol=0, atol=EXACT)


def test_gradient_matches_central_differences(rng):
    """Issue acceptance (NumPyro side): jax.grad of the continuous-time log-likelihood
    with respect to the MMPPParams record matches central finite differences, rel 1e-6.
    Step h = 1e-5 x the leaf value: truncation h^2 f'''/6 ~ 1e-10 relative; rounding of
    the differences is ~1e-16 |log p| / h ~ 2e-10 in absolute terms, so a component near
    zero is compared relative to the largest gradient component (normwise relative
    error), the others relative to themselves."""
    params = MMPPParams(2.0, 3.0, rng.uniform(5, 30, 4), rng.uniform(5, 30, 4))
    spikes = gillespie_spikes(rng, params, 2.0)

    def loglik(p):
        return continuous.continuous_log_likelihood(p, spikes, duration=2.0)

    grad = jax.grad(loglik)(params)
    scale = max(float(np.max(np.abs(np.asarray(leaf))))
                for leaf in jax.tree_util.tree_leaves(grad))
    for name in MMPPParams.field_names:
        base = np.asarray(getattr(params, name), float)
        for index in np.ndindex(base.shape):
            h = 1e-5 * abs(base[index])
            plus, minus = base.copy(), base.copy()
            plus[index] += h
            minus[index] -= h
            fd = (float(loglik(params.replace(**{name: plus})))
                  - float(loglik(params.replace(**{name: minus})))) / (2 * h)
            g = float(np.asarray(getattr(grad, name))[index])
            assert abs(g - fd) <= 1e-6 * max(abs(fd), scale), (name, index, g, fd)


def test_binned_likelihood_converges_to_continuous(rng):
    """log p_binned - J log dt + sum log n! -> log p_cont with error O(dt)."""
    params = MMPPParams(2.0, 3.0, rng.uniform(5, 30, 10), rng.uniform(5, 30, 10))
    duration = 2.0
    spikes = gillespie_spikes(rng, params, duration)
    cont = float(continuous.continuous_log_likelihood(params, spikes, duration=duration))
    dts = [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    errors = []
    for dt in dts:
        counts = binned.bin_spikes(spikes, n_inputs=10, duration=duration, dt=dt)
        # pad_to: one compiled function for all four T (masked bins change nothing)
        ll = float(binned.enumerated_log_likelihood(params, counts, dt=dt, pad_to=1600))
        density = ll - counts.sum() * np.log(dt) + binned.binned_to_density_correction(counts)
        errors.append(abs(density - cont))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert slope >= 0.9, (errors, slope)  # at least linear (theory: exactly first order)
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))


def test_bad_spike_train():
    params = MMPPParams(1.0, 1.0, [1.0], [2.0])
    good = make_spikes([0.5], [0])
    with pytest.raises(ValueError, match="senders"):
        continuous.continuous_log_likelihood(params, make_spikes([0.5], [1]), duration=1.0)
    with pytest.raises(ValueError, match="times"):
        continuous.continuous_log_likelihood(params, make_spikes([1.5], [0]), duration=1.0)
    with pytest.raises(ValueError, match="duration"):
        continuous.continuous_log_likelihood(params, good, duration=0.0)
    with pytest.raises(ValueError, match="spikes"):
        continuous.continuous_log_likelihood(params, (np.array([0.5]), np.array([0])),
                                             duration=1.0)
    with pytest.raises(ValueError, match="query_times"):
        continuous.continuous_filtered_prob_on(params, good, query_times=[0.0])
    with pytest.raises(ValueError, match="params"):
        continuous.continuous_log_likelihood((1.0, 1.0, [1.0], [2.0]), good, duration=1.0)
    with pytest.raises(ValueError, match="whole number .* of bins"):
        binned.bin_spikes(good, n_inputs=1, duration=1.0, dt=0.3)


def test_exactness_claims_refuse_float32():
    params = MMPPParams(1.0, 1.0, [1.0], [2.0])
    spikes = make_spikes([0.5], [0])
    enable_x64(False)
    try:
        calls = (lambda: continuous.continuous_log_likelihood(params, spikes, duration=1.0),
                 lambda: continuous.continuous_filtered_prob_on(params, spikes, query_times=[0.5]),
                 lambda: binned.enumerated_log_likelihood(params, np.zeros((4, 1)), dt=0.1),
                 lambda: binned.enumerated_marginals(params, np.zeros((4, 1)), dt=0.1))
        for call in calls:
            with pytest.raises(PrecisionError):
                call()
    finally:
        enable_x64(True)
