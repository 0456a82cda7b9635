"""Exact continuous-time MMPP smoother (bayesnn.exact.mmpp_smoother) against independent
references.

* Fisher's identity against ``jax.grad`` of NumPyro's continuous-time likelihood
  (bayesnn.numpyro_models.mmpp_continuous, a closed-form 2x2 exponential in log space;
  no code shared): d log p / d log q_on[i] = E[N^i_on] - q_on[i] E[T_on], etc., to float64
  rounding (measured 4.5e-16 of the spike count, bound 2e-15 of it).
* The gap integral against Van Loan's 4x4 block exponential (scipy.linalg.expm).
* The binned forward-backward (bayesnn.exact.hmm) converges to the continuous statistics
  as dt -> 0 (first order).
Data come from the independent Gillespie simulator of tests/simulators.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from bayesnn.core import make_spikes, stack_spikes
from bayesnn.exact.mmpp_smoother import (
    _gap_integrals,
    _spectral,
    mmpp_expected_statistics,
    mmpp_smoothed_prob_on,
)
from bayesnn.learning.statistics import binned_e_step
from bayesnn.numpyro_models.mmpp_continuous import continuous_log_likelihood
from bayesnn.processes import MMPPParams
from tests.simulators import gillespie_spikes

DURATION = 20.0


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(7)
    params = MMPPParams(r_on=2.0, r_off=3.0, q_on=rng.uniform(10, 30, 4), q_off=rng.uniform(3, 12, 4))
    return params, gillespie_spikes(rng, params, DURATION)


def test_identities_and_log_likelihood(setting):
    params, spikes = setting
    stats = mmpp_expected_statistics(params, spikes, duration=DURATION, initial_prob_on=0.3)
    per_input = np.bincount(np.asarray(spikes.senders)[: int(spikes.n_events)], minlength=4)
    # exact identities (rounding of ~1e3 additions; 1161 events): measured dwell 1.8e-14 s,
    # counts 0, log-likelihood 6.5e-16 relative; bounds 1e-13, 1e-12, 1e-13
    assert abs(float(stats.dwell_on + stats.dwell_off) - DURATION) < 1e-13
    np.testing.assert_allclose(stats.counts_on + stats.counts_off, per_input, rtol=0, atol=1e-12)
    reference = float(continuous_log_likelihood(params, spikes, duration=DURATION, initial_prob_on=0.3))
    assert abs(float(stats.log_likelihood) - reference) < 1e-13 * abs(reference)


def test_fisher_identity_against_numpyro_gradient(setting):
    params, spikes = setting
    stats = mmpp_expected_statistics(params, spikes, duration=DURATION, initial_prob_on=0.3)
    grad = jax.grad(lambda p: continuous_log_likelihood(p, spikes, duration=DURATION,
                                                        initial_prob_on=0.3))(params)
    scale = float(np.sum(per := np.asarray(stats.counts_on + stats.counts_off)))
    checks = [
        (grad.q_on * params.q_on, stats.counts_on - params.q_on * stats.dwell_on),
        (grad.q_off * params.q_off, stats.counts_off - params.q_off * stats.dwell_off),
        (grad.r_on * params.r_on, stats.switches_on - params.r_on * stats.dwell_off),
        (grad.r_off * params.r_off, stats.switches_off - params.r_off * stats.dwell_on),
    ]
    assert per.size == 4
    for reference, ours in checks:
        # relative to the total spike count (the scale of every term): measured <= 4.5e-16,
        # bound 1e-13 (conftest floor)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), rtol=0, atol=1e-13 * scale)


def test_gap_integral_matches_van_loan_block_exponential():
    rng = np.random.default_rng(3)
    r_on, r_off, q_on_sum, q_off_sum = 1.5, 4.0, 60.0, 25.0
    lam1, kappa, proj1 = _spectral(jnp.asarray(r_on), jnp.asarray(r_off), jnp.asarray(q_on_sum),
                                   jnp.asarray(q_off_sum))
    d = np.array([[-r_on - q_off_sum, r_on], [r_off, -r_off - q_on_sum]])
    shifted = d - float(lam1) * np.eye(2)
    gaps = np.array([1e-4, 0.01, 0.3, 2.0])
    alpha, c = rng.uniform(0.1, 1, (4, 2)), rng.uniform(0.1, 1, (4, 2))
    ours = _gap_integrals((kappa, proj1, jnp.eye(2) - proj1), jnp.asarray(alpha), jnp.asarray(c),
                          jnp.asarray(gaps), jnp.ones(4))
    for k, gap in enumerate(gaps):
        block = np.block([[shifted.T, np.outer(alpha[k], c[k])], [np.zeros((2, 2)), shifted.T]])
        reference = scipy.linalg.expm(block * gap)[:2, 2:]
        # measured <= 4e-16 relative (entries 2.4e-5 .. 0.89); rtol 1e-13 (conftest floor), atol
        # 1e-18 (the old atol 1e-14 was 4e-10 of the smallest entry)
        np.testing.assert_allclose(np.asarray(ours[k]), reference, rtol=1e-13, atol=1e-18)
        # the shifted expm loses digits to exp(-lam1 gap) at gap 2: measured 4.9e-14
        # relative; rtol 1.5e-13 (~3x)
        np.testing.assert_allclose(scipy.linalg.expm(d * gap) * np.exp(-float(lam1) * gap),
                                   np.asarray(proj1 + np.exp(-float(kappa) * gap) * (np.eye(2) - proj1)),
                                   rtol=1.5e-13, atol=1e-14)


def test_binned_statistics_converge_to_continuous(setting):
    """Binning the same spikes at dt gives O(dt) errors (discrete vs continuous time)."""
    params, spikes = setting
    stats = mmpp_expected_statistics(params, spikes, duration=DURATION, initial_prob_on=0.5)
    times = np.asarray(spikes.times)[: int(spikes.n_events)]
    senders = np.asarray(spikes.senders)[: int(spikes.n_events)]
    steps, errors = (1e-3, 5e-4, 2.5e-4), []
    for dt in steps:
        n_bins = int(round(DURATION / dt))
        counts = np.zeros((n_bins, 4))
        np.add.at(counts, (np.minimum((times / dt).astype(int), n_bins - 1), senders), 1)
        binned, _ = binned_e_step(params, 0.5, jnp.asarray(counts)[None], dt)
        # spike positions move by < dt: the time spent ON agrees to ~dt per switch
        # (~25 switches); measured 1.3e-3, 3e-6, 4.1e-4 s (seed 7), bound 4e-3 (~3x)
        assert abs(float(binned.occupancy[1]) * dt - float(stats.dwell_on)) < 4e-3
        errors.append(abs(float(binned.transitions[0, 1]) - float(stats.switches_on))
                      / float(stats.switches_on))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 0.8 < slope < 1.2, (errors, slope)  # first order in dt (theory); measured 0.95
    assert errors[-1] < 2e-3  # measured 7.1e-4 at dt = 2.5e-4 (seed 7), ~2.8x


def test_batch_smoothed_and_bad_input(setting):
    params, spikes = setting
    batch = stack_spikes([spikes, spikes])
    stats = mmpp_expected_statistics(params, batch, duration=DURATION)
    single = mmpp_expected_statistics(params, spikes, duration=DURATION)
    # measured 2.2e-16 (1 ulp); rtol 1e-13 lets the vmapped program round differently
    np.testing.assert_allclose(np.asarray(stats.counts_on[1]), np.asarray(single.counts_on), rtol=1e-13)
    smoothed = mmpp_smoothed_prob_on(params, spikes, duration=DURATION,
                                     query_times=np.array([0.0, 5.0, DURATION]))
    assert np.all((smoothed > 0) & (smoothed < 1))
    assert abs(float(smoothed[0]) - float(single.initial_prob_on)) < 1e-12
    with pytest.raises(ValueError, match="duration"):
        mmpp_expected_statistics(params, spikes, duration=-1.0)
    with pytest.raises(ValueError, match="initial_prob_on"):
        mmpp_expected_statistics(params, spikes, duration=DURATION, initial_prob_on=1.5)
    with pytest.raises(ValueError, match="senders"):
        mmpp_expected_statistics(params.replace(q_on=params.q_on[:2], q_off=params.q_off[:2]),
                                 spikes, duration=DURATION)
    with pytest.raises(ValueError, match="times"):
        mmpp_expected_statistics(params, make_spikes([1.0, 30.0], [0, 1]), duration=DURATION)
    with pytest.raises(ValueError, match="query_times"):
        mmpp_smoothed_prob_on(params, spikes, duration=DURATION, query_times=[DURATION + 1])
