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


# --- Kind 2: matrix exponentials that overflow on stiff modes or long steps ----------------
# Every block-matrix exponential with e^{+|lambda| dt} (the Van Loan forms of the exact
# discretisation and of the sampler) and every propagator of a stiff sub-generator over
# a long gap (the tree brute force). Reference: the eigen-decomposition closed form in
# 60-digit arithmetic (tests/kind_references.py). Measured worst 1.6e-12 relative to the
# largest entry (the sampler's Van Loan on the 1e4 / 1e-8 Hz case; the others <= 8e-15),
# so the bound is 5e-12 (~3x; the 1e-9 standard is 600x looser). A_d equals
# scipy's expm bit for bit (measured 0); 1e-14 allows a different Pade rounding.
_STIFF_CASES = [
    ("scalar stiff", [[-1000.0]], [[1.0]], 1.0),
    ("stiff and slow", [[-1000.0, 3.0], [0.5, -0.2]], [[1.0, 0.3], [0.3, 2.0]], 1.0),
    ("oscillator, 1 day", [[-1.0, -6.28], [6.28, -1.0]], np.eye(2), 86400.0),
    ("1e4 and 1e-8 Hz modes, singular noise",
     [[-1e4, 0.0, 0.0], [1.0, -1e-8, 0.0], [0.0, 2.0, -3.0]], np.diag([1.0, 0.0, 2.0]), 3600.0),
    ("one unstable mode", [[0.3, 1.0], [0.0, -2.0]], np.diag([1.0, 0.5]), 2.0),
]


def test_discretize_lds_stiff_scalar_is_the_closed_form():
    from bayesnn.exact import discretize_lds
    A_d, Q_d = discretize_lds([[-1000.0]], [[1.0]], 1.0)
    np.testing.assert_allclose(np.asarray(Q_d), [[-np.expm1(-2000.0) / 2000.0]], rtol=1e-14)
    assert float(A_d[0, 0]) == 0.0  # e^-1000 underflows to 0 exactly, not NaN


@pytest.mark.parametrize("name,A,sigma,dt", _STIFF_CASES, ids=[c[0] for c in _STIFF_CASES])
def test_every_van_loan_construction_agrees_with_the_eigen_closed_form(name, A, sigma, dt):
    import scipy.linalg
    from bayesnn.exact import discretize_lds, sampled_lgssm
    from bayesnn.processes import LinearGaussianParams
    from bayesnn.processes.linear_gaussian import _van_loan
    from tests.kind_references import discretized_noise_mp
    A, sigma = np.asarray(A, float), np.asarray(sigma, float)
    reference = discretized_noise_mp(A, sigma, dt)
    scale = np.max(np.abs(reference))
    exact_A, exact_Q = (np.asarray(a) for a in discretize_lds(A, sigma, dt))
    sampler_A, sampler_Q = _van_loan(A, sigma, dt)
    dim = A.shape[0]
    grid = sampled_lgssm(LinearGaussianParams(A, sigma, np.ones((1, dim)), [[1.0]],
                                              P0=np.eye(dim)), dt)
    for Q in (exact_Q, sampler_Q, np.asarray(grid.Q)):
        assert np.all(np.isfinite(Q))
        assert np.max(np.abs(Q - reference)) <= 5e-12 * scale
    for A_d in (exact_A, sampler_A, np.asarray(grid.A)):
        np.testing.assert_allclose(A_d, scipy.linalg.expm(A * dt), rtol=1e-13, atol=1e-300)


def test_discretize_lds_refuses_growth_that_overflows():
    from bayesnn.exact import discretize_lds
    with pytest.raises(ValueError, match="A_cont grows"):
        discretize_lds([[1.0]], [[1.0]], 400.0)


def test_tree_brute_force_survives_a_long_gap():
    """expm(M g) of the tree's sub-generator underflows to 0 once Lambda g > 745 (log 0, 0/0);
    the Perron shift keeps it bounded. Reference: the uniformized filter (no expm)."""
    from bayesnn.core import make_spikes
    from bayesnn.exact.hierarchy import tree_filter
    from bayesnn.exact.hierarchy_brute_force import tree_brute_force
    from bayesnn.hierarchy import make_tree
    params = make_tree(2, r_on=1.0, r_off=3.0, follow=8.0, stray=0.5,
                       q_on=[[20.0, 5.0], [3.0, 9.0]], q_off=[[4.0, 15.0], [12.0, 2.0]])
    duration = 600.0  # gaps of ~300 s at total input rates >= 21 Hz: e^-6300 underflows
    spikes = make_spikes([0.5, 300.0, 300.002, 590.0], [0, 1, 3, 2], duration=duration)
    queries = [0.0, 0.6, 300.001, 300.002, 599.0, duration]
    brute = tree_brute_force(params, spikes, duration=duration, sample_times=queries)
    fast = tree_filter(params, spikes, duration=duration, sample_times=queries)
    assert np.all(np.isfinite(np.asarray(brute.log_odds)))
    # Basis: two float64 routes over ~1e4 uniformization substeps; measured 1.3e-15 abs
    # (log-odds) and 2.4e-15 relative (log-likelihood ~ -2e4); bounds 1e-13 (conftest floor).
    np.testing.assert_allclose(brute.log_odds, fast.log_odds, atol=1e-13, rtol=0)
    np.testing.assert_allclose(brute.log_likelihood, fast.log_likelihood, rtol=1e-13)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_exact_mmpp_filter_survives_a_day_of_quiet_drift(scale):
    """jax.scipy.linalg.expm stops at 16 squarings and returns NaN once ||M g|| > 2^16
    (a 1-day gap at tens of Hz). References: the innovations form (closed-form Riccati
    between events, no expm) and the neuron's own closed-form flows."""
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter, mmpp_log_likelihood_innovations
    from bayesnn.neuron import NeuronParams, simulate
    params = NeuronParams(1.0 * scale, 3.0, [20.0 * scale, 5.0, 12.0], [4.0, 15.0, 12.5 * scale],
                          0.7)
    duration = 86400.0
    spikes = make_spikes([0.1, 86399.9, 86399.95], [0, 1, 2], duration=duration)
    queries = [43200.0, 86399.9, duration]
    exact = mmpp_filter(params, spikes, duration=duration, query_times=queries)
    innovations = mmpp_log_likelihood_innovations(params, spikes, duration=duration)
    neuron = simulate(params, spikes, duration=duration, sample_times=queries)
    assert np.all(np.isfinite(np.asarray(exact.log_odds)))
    # Basis: log p ~ -3e6 / -1e10 summed in float64; measured 2.2e-16 relative (1 ulp)
    # for both scales, bound 1e-13 (conftest floor). Neuron vs filter log-odds (|L| ~ 2-3):
    # measured 0 and 4.4e-16; bound 1e-13 (conftest floor; a wrong flow is O(0.1)).
    np.testing.assert_allclose(exact.log_likelihood, innovations, rtol=1e-13)
    np.testing.assert_allclose(neuron.log_odds, exact.log_odds, atol=1e-13, rtol=0)


# --- Kind 3: solves against matrices the argument checks accept --------------------------
# Q and P0 are accepted as PSD: a deterministic coordinate makes every predicted
# covariance singular, and the RTS gain's solve returned NaN. The Moore-Penrose inverse
# is exact there; the reference conditions the joint Gaussian on y (only Cov(y), positive
# definite since R is, is inverted). Tolerance 1e-12 abs: O(10) operations on O(1) numbers.
def _singular_lgssm(rng):
    from bayesnn.processes import LGSSMParams
    A = np.array([[0.9, 0.2], [0.0, 1.0]])
    args = (A, np.diag([0.5, 0.0]), np.array([[1.0, 1.0]]), np.array([[0.3]]),
            np.array([0.0, 2.0]), np.diag([1.0, 0.0]))
    return LGSSMParams(*args), args, rng.normal(size=(6, 1))


def test_rts_smoothers_with_singular_predicted_covariances_are_exact(rng):
    from bayesnn.exact import kalman_filter, rts_smoother
    from bayesnn.numpyro_models import lgssm
    from tests.kind_references import lgssm_joint_posterior
    params, args, ys = _singular_lgssm(rng)
    means, covs = lgssm_joint_posterior(*args, ys)
    for smoother in (rts_smoother, lgssm.rts_smoother):
        result = smoother(params, ys)
        np.testing.assert_allclose(result.means, means, atol=1e-12, rtol=0)
        np.testing.assert_allclose(result.covariances, covs, atol=1e-12, rtol=0)
    for k in (1, 3, 6):
        filt_means, filt_covs = lgssm_joint_posterior(*args, ys[:k])
        for filt in (kalman_filter, lgssm.kalman_filter):
            result = filt(params, ys)
            np.testing.assert_allclose(result.means[k - 1], filt_means[-1], atol=1e-12, rtol=0)
            np.testing.assert_allclose(result.covariances[k - 1], filt_covs[-1], atol=1e-12,
                                       rtol=0)


def test_dense_numpyro_posterior_refuses_singular_covariances(rng):
    """NumPyro's MultivariateNormal sites need Q and P0 positive definite: a clear error."""
    from bayesnn.numpyro_models import lgssm
    params, _, ys = _singular_lgssm(rng)
    with pytest.raises(ValueError, match="Q must be positive definite"):
        lgssm.lgssm_posterior(params, ys)


# --- Kind 7: precision that depends on a global switch ----------------------------------
# float32 keeps ~7 digits of an absolute time: at t = 1 day the spacing is 7.8 ms. Every
# path that turns float64 times into float32 either keeps the spacing at the model's
# fastest rate or refuses with a PrecisionError (core.require_time_resolution,
# core.require_distinct_in_float32); binning stays exact for float32 grid times.
def _day_example():
    rng = np.random.default_rng(0)
    times = 86400.0 - 0.5 + np.cumsum(rng.uniform(0.002, 0.005, 40))
    return times, rng.integers(0, 3, 40)


def test_float32_refuses_day_long_times_instead_of_merging_them():
    """The issue's example: 40 spikes 2-5 ms apart near t = 86,400 s gave L off by 0.3-4
    nats in float32; float64 answers are unchanged."""
    import jax
    from bayesnn.core import PrecisionError, make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    times, senders = _day_example()
    queries = times[[10, 25, 39]]
    spikes64 = make_spikes(times, senders, duration=86400.0)
    run64 = simulate(params, spikes64, duration=86400.0, sample_times=queries)
    reference = mmpp_filter(params, spikes64, duration=86400.0, query_times=queries)
    # float64 near t = 1 day: measured 1.8e-15 (|L| <= 3.7); bound 1e-13 (conftest floor).
    np.testing.assert_allclose(run64.log_odds, reference.log_odds, atol=1e-13)
    with jax.enable_x64(False):
        with pytest.raises(PrecisionError, match="spikes times: float32 cannot tell apart"):
            make_spikes(times, senders)
        sparse = make_spikes([86399.0, 86399.5], [0, 1])  # distinct in float32 ...
        with pytest.raises(PrecisionError, match="bayesnn.neuron.simulate: in float32"):
            simulate(params, sparse, duration=86400.0, method="discrete", dt=1e-3)
        with pytest.raises(PrecisionError, match="sampling: in float32"):
            from bayesnn.processes import sample_trial
            sample_trial(params, key=0, duration=86400.0)


def test_float32_short_runs_still_run_and_bin_grid_times_exactly():
    """A 1 s float32 run (time error 3e-8 s x 70 Hz = 2e-6 < 1e-3) is not refused, and
    float32 grid times k dt land in bin k (t / dt carries ~1.5 eps k of rounding)."""
    import warnings

    import jax
    import jax.numpy as jnp
    from bayesnn.core import bin_index, make_spikes
    from bayesnn.neuron import simulate
    with jax.enable_x64(False):
        dt = 1e-4
        grid = jnp.asarray(np.arange(2000) * dt, jnp.float32)
        assert grid.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(bin_index(grid, dt, 2000)), np.arange(2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the PrecisionWarning is issued once per process
            run32 = simulate(_params(), make_spikes([0.2, 0.5], [0, 1]), duration=1.0,
                             sample_times=[0.6, 1.0])
    run64 = simulate(_params(), make_spikes([0.2, 0.5], [0, 1]), duration=1.0,
                     sample_times=[0.6, 1.0])
    # float32 basis: ~1e-7 relative per operation over a handful of flows.
    np.testing.assert_allclose(np.asarray(run32.log_odds), run64.log_odds, rtol=1e-5, atol=1e-5)


# --- Kind 9: conventions at ties ---------------------------------------------------------
# Right-continuity everywhere a value is reported at an instant: a query at a spike time
# sees the spike's jump and the output spikes it causes; simultaneous inputs are one
# instant (jumps summed, then the neuron fires once, as within a stepped bin). Stepped
# records are bin ends: record k (time (k+1) dt) holds bin k = [k dt, (k+1) dt), so a
# spike exactly at an interior grid time is first seen by the next record (the end point
# t = T dt is in the last bin and seen by the last record). Basis of the 1e-12 / 1e-13
# bounds in this kind and kind 5: these tests tell a jump (|w| >= 0.041 here) or a spike
# from none, so any bound << |w| decides; the O(1) values round at ~1e-15.
@pytest.mark.parametrize("order, n_out", [([0, 1], 0), ([1, 0], 0), ([0, 1, 0], 2),
                                          ([1, 0, 0], 2), ([0, 0, 1], 2)])
def test_simultaneous_inputs_fire_once_in_any_order(order, n_out):
    """w = (+1.61, -1.10): processed one by one, [0, 1] fired 2 spikes and [1, 0] none.
    Now the output equals the stepped method's (both inputs in one bin). The pinned
    n_out covers both a silent instant (0 spikes) and a burst (2 spikes at 0.1)."""
    from bayesnn.core import make_spikes, spike_arrays
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import decode_prediction, simulate
    params = _params()
    spikes = make_spikes([0.1] * len(order), order, duration=0.5)
    queries = [0.1, 0.2]
    run = simulate(params, spikes, duration=0.5, sample_times=queries)
    reference = mmpp_filter(params, spikes, duration=0.5, query_times=queries)
    # float64 rounding: measured <= 4.4e-16 (|L| ~ 1-3); bound 1e-13 (conftest floor).
    np.testing.assert_allclose(run.log_odds, reference.log_odds, atol=1e-13)
    times, _, counts = spike_arrays(run.spikes)
    weight = float(np.sum(np.asarray(params.weights)[order]))
    prior = float(params.prior_log_odds)
    # Independent count: L and G both start at L*; G stays there (prior flow), L(0.1-)
    # is the no-input flow; one burst of ceil((L - G - g0/2) / g0) spikes at 0.1.
    quiet = simulate(params, make_spikes([], []), duration=0.5, sample_times=[0.1])
    excess = float(quiet.log_odds[0]) + weight - prior - 0.35
    expected = max(0, int(np.ceil(excess / 0.7)))
    assert expected == n_out
    assert int(counts.sum()) == n_out
    assert list(times) == ([0.1] if n_out else [])
    np.testing.assert_allclose(run.prediction, decode_prediction(params, run.spikes, queries),
                               atol=1e-13)


def test_neuron_records_agree_with_the_decoder_at_every_tie():
    """Samples exactly at input spikes, at output spikes and at bin edges: the recorded
    G equals the decoder's (both right-continuous), for the exact and stepped methods."""
    from bayesnn.core import make_spikes, spike_arrays
    from bayesnn.neuron import decode_prediction, simulate
    from bayesnn.processes import sample_trial
    params, duration, dt = _params(), 2.0, 1e-3
    trial = sample_trial(params, key=3, duration=duration)
    inputs = trial.inputs
    in_times = spike_arrays(inputs)[0]
    first = simulate(params, inputs, duration=duration, sample_times=[duration])
    out_times = spike_arrays(first.spikes)[0]
    assert out_times.size > 5
    queries = np.unique(np.concatenate([in_times[:40], out_times, dt * np.arange(0, 2001, 97)]))
    run = simulate(params, inputs, duration=duration, sample_times=queries)
    decoded = decode_prediction(params, run.spikes, queries)
    np.testing.assert_allclose(run.prediction, decoded, atol=1e-12, rtol=0)
    # At an output spike time the recorded G already holds the jump: L - G <= g0/2.
    at_out = np.isin(queries, out_times)
    assert np.all(np.asarray(run.log_odds)[at_out] - np.asarray(run.prediction)[at_out]
                  <= 0.35 + 1e-12)
    for method in ("discrete", "euler"):
        stepped = simulate(params, inputs, duration=duration, method=method, dt=dt)
        decoded = decode_prediction(params, stepped.spikes, stepped.times)
        # The decoder rebuilds G with the exact prior flow, the stepped method with its
        # own one-bin flow: 1e-12 is their rounding over 2000 bins (measured 3e-14).
        np.testing.assert_allclose(stepped.prediction, decoded, atol=1e-12, rtol=0)


def test_stepped_records_at_interior_grid_ties_follow_the_bin_rule():
    from bayesnn.core import make_spikes
    from bayesnn.neuron import simulate
    params, dt = _params(), 1e-3
    with_spike = simulate(params, make_spikes([0.05], [0]), duration=0.1, method="discrete",
                          dt=dt)
    without = simulate(params, make_spikes([], []), duration=0.1, method="discrete", dt=dt)
    changed = np.flatnonzero(np.abs(np.asarray(with_spike.log_odds)
                                    - np.asarray(without.log_odds)) > 1e-12)
    # Record 49 is at t = 0.05 (bin 49 = [0.049, 0.05)): unchanged; record 50 (t = 0.051)
    # holds the spike's bin.
    assert changed[0] == 50 and with_spike.times[50] == pytest.approx(0.051)


def test_queries_at_spike_times_see_the_jump_in_every_reference():
    """mmpp_filter and the NumPyro continuous filter at a spike's time include the jump
    (the tree filter's ordering is the same _merge rule, tested in test_hierarchy_exact)."""
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.numpyro_models.mmpp_continuous import continuous_filtered_prob_on
    params = _params()
    spikes = make_spikes([0.1, 0.3, 0.3], [0, 2, 1], duration=0.5)
    before = make_spikes([0.1], [0], duration=0.5)
    queries = [0.1, 0.3]
    full = mmpp_filter(params, spikes, duration=0.5, query_times=queries)
    without = mmpp_filter(params, before, duration=0.5, query_times=queries)
    weights = np.asarray(params.weights)
    assert float(full.log_odds[1] - without.log_odds[1]) == pytest.approx(
        weights[2] + weights[1], abs=1e-12)
    from bayesnn.processes import model_of
    numpyro_prob = continuous_filtered_prob_on(model_of(params), spikes, query_times=queries)
    np.testing.assert_allclose(numpyro_prob, full.prob_on, atol=1e-12)


# --- shared small setting with asymmetric rates ---------------------------------------
def _params():
    from bayesnn.neuron import NeuronParams
    return NeuronParams(1.0, 3.0, [20.0, 5.0, 12.0], [4.0, 15.0, 12.5], 0.7)


# --- Kind 4: times outside the run -----------------------------------------------------
@pytest.mark.parametrize("method", ["exact", "discrete", "euler"])
@pytest.mark.parametrize("bad_time", [-0.01, 1.5])
def test_neuron_refuses_input_times_outside_the_run(method, bad_time):
    from bayesnn.core import make_spikes
    from bayesnn.neuron import simulate
    inputs = make_spikes(sorted([0.2, bad_time]), [0, 1])
    with pytest.raises(ValueError, match=r"inputs.times must lie in \[0, duration"):
        simulate(_params(), inputs, duration=1.0, method=method, dt=1e-3)


def test_references_and_samples_refuse_times_outside_the_run():
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    with pytest.raises(ValueError, match="inputs.times must lie"):
        mmpp_filter(params, make_spikes([-0.01, 0.2], [0, 1]), duration=1.0, query_times=[0.5])
    with pytest.raises(ValueError, match="query_times must lie"):
        mmpp_filter(params, make_spikes([0.2], [0]), duration=1.0, query_times=[1.5])
    with pytest.raises(ValueError, match="sample_times must lie"):
        simulate(params, make_spikes([0.2], [0]), duration=1.0, sample_times=[0.5, 1.5])
    with pytest.raises(ValueError, match="times must lie in"):
        make_spikes([-0.5, 0.2], [0, 1], duration=1.0)


@pytest.mark.parametrize("times", [[0.3, 0.2], [0.2, np.nan]], ids=["unsorted", "nan"])
def test_smoother_refuses_unsorted_or_nan_times(times):
    """Found by the fuzzing suite: mmpp_expected_statistics silently accepted them."""
    import jax.numpy as jnp
    from bayesnn.core import Spikes
    from bayesnn.exact.mmpp_smoother import mmpp_expected_statistics, mmpp_smoothed_prob_on
    spikes = Spikes(jnp.asarray(times + [np.inf] * 14), jnp.asarray([0, 1] + [-1] * 14),
                    jnp.asarray([1, 1] + [0] * 14), jnp.asarray(2))
    with pytest.raises(ValueError, match="inputs times must be"):
        mmpp_expected_statistics(_params(), spikes, duration=1.0)
    with pytest.raises(ValueError, match="inputs times must be"):
        mmpp_smoothed_prob_on(_params(), spikes, duration=1.0, query_times=[0.5])


# --- Kind 5: grid times and the end point ----------------------------------------------
def test_stepped_neuron_bins_grid_times_into_their_own_bin():
    """A spike at t = 49 dt belongs to bin 49 ([49 dt, 50 dt)); floor(t/dt) gives 48."""
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.neuron import filter_counts, simulate
    params, dt, n_steps = _params(), 1e-4, 100
    grid_times = np.arange(n_steps) * dt
    inputs = make_spikes(grid_times[[3, 49, 77]], [0, 1, 2])
    from_events = simulate(params, inputs, duration=n_steps * dt, method="discrete", dt=dt)
    counts = np.zeros((n_steps, 3), int)
    counts[[3, 49, 77], [0, 1, 2]] = 1
    from_counts = filter_counts(params, counts, dt=dt)
    np.testing.assert_array_equal(np.asarray(bin_counts(inputs, 3, dt, n_steps)), counts)
    np.testing.assert_allclose(from_events.log_odds, from_counts.log_odds, rtol=0, atol=1e-13)
    floor_bins = np.floor(grid_times / dt).astype(int)
    assert np.any(floor_bins != np.arange(n_steps)), "the grid must exercise the rounding"


def test_host_grid_step_follows_the_same_rule_as_bin_index():
    """core.binning.grid_step (NumPy, unbounded: perturbation onsets) and bin_index
    (JAX, inside runs) give the same step for grid times, accumulated grid times and
    times between grid points."""
    from bayesnn.core.binning import bin_index, grid_step
    dt, n_steps = 1e-4, 1000
    rng = np.random.default_rng(5)
    times = np.concatenate([np.arange(n_steps) * dt, np.cumsum(np.full(n_steps - 1, dt)),
                            rng.uniform(0, (n_steps - 1) * dt, 500)])
    np.testing.assert_array_equal(grid_step(times, dt), np.asarray(bin_index(times, dt, n_steps)))
    assert np.any(np.floor(times / dt) != grid_step(times, dt))


def test_spike_at_the_end_point_is_counted_everywhere():
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params, duration = _params(), 0.5
    inputs = make_spikes([0.1, duration], [0, 0], duration=duration)
    counts = np.asarray(bin_counts(inputs, 3, 1e-3, 500))
    assert counts.sum() == 2 and counts[-1, 0] == 1
    stepped = simulate(params, inputs, duration=duration, method="discrete", dt=1e-3)
    exact = simulate(params, inputs, duration=duration, sample_times=[duration])
    reference = mmpp_filter(params, inputs, duration=duration, query_times=[duration])
    weight = float(params.weights[0])
    without = simulate(params, make_spikes([0.1], [0]), duration=duration, sample_times=[duration])
    # Right-continuity: a sample at the spike's time sees its jump.
    np.testing.assert_allclose(exact.log_odds[-1] - without.log_odds[-1], weight, atol=1e-12)
    np.testing.assert_allclose(exact.log_odds[-1], reference.log_odds[-1], atol=1e-12)
    assert float(stepped.log_odds[-1]) > float(
        simulate(params, make_spikes([0.1], [0]), duration=duration, method="discrete",
                 dt=1e-3).log_odds[-1]) + 0.9 * weight


def test_numpyro_binning_uses_the_one_rule():
    """numpyro_models.mmpp_binned.bin_spikes used floor(t / dt): grid times went a bin
    early. It must equal bayesnn.core.bin_counts, end point included."""
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.numpyro_models.mmpp_binned import bin_spikes
    dt, n_steps = 1e-4, 1000
    grid = np.arange(n_steps) * dt
    picks = np.array([3, 49, 77, 500, 999])
    assert np.any(np.floor(grid[picks] / dt) != picks)  # the grid exercises the rounding
    spikes = make_spikes(np.append(grid[picks], n_steps * dt), [0, 1, 2, 0, 1, 2],
                         duration=n_steps * dt)
    binned = bin_spikes(spikes, n_inputs=3, duration=n_steps * dt, dt=dt)
    np.testing.assert_array_equal(binned, np.asarray(bin_counts(spikes, 3, dt, n_steps)))
    assert binned[49, 1] == 1 and binned[-1, 2] == 1 and binned.sum() == 6


def test_log_odds_references_bin_grid_times_into_their_own_step():
    """The log-odds population's step jumps (its network drive) and the linearised
    reference used floor / ceil-with-1e-12: a spike at t = 49 dt belongs to step 49 and
    is seen by the value at t_49 (right-continuity)."""
    from bayesnn.core import make_spikes
    from bayesnn.posteriors.log_odds_data import linearised_log_odds, reference_log_odds
    from bayesnn.posteriors.log_odds_params import default_population
    params = default_population(n_variables=2)
    dt, n_steps = 1e-4, 100
    times = np.array([0.0, 49 * dt, 77 * dt])
    spikes = make_spikes(times, [0, 1, params.n_inputs], duration=n_steps * dt)
    reference = reference_log_odds(params, spikes, duration=n_steps * dt, dt=dt)
    weights = np.asarray(params.weights)
    assert reference.jumps[49, 0] == pytest.approx(weights[0, 1], abs=1e-15)
    assert reference.jumps[0, 0] == pytest.approx(weights[0, 0], abs=1e-15)
    assert reference.jumps[77, 1] == pytest.approx(weights[1, 0], abs=1e-15)
    grid = dt * np.arange(n_steps + 1)
    linear = linearised_log_odds(params, 0, times[:2], [0, 1], grid)
    without = linearised_log_odds(params, 0, times[:1], [0], grid)
    # The jump appears at t_49 exactly, not one step later.
    assert linear[48] == pytest.approx(without[48], abs=1e-13)
    assert linear[49] - without[49] == pytest.approx(weights[0, 1], abs=1e-12)
    # ... and at t_0 a spike at 0 is seen by the value at 0 in both references.
    assert reference.exact[0, 0] - float(params.prior_log_odds) == pytest.approx(
        weights[0, 0], abs=1e-12)
    assert reference.linear[0, 0] - float(params.prior_log_odds) == pytest.approx(
        weights[0, 0], abs=1e-12)


def test_learning_binning_uses_the_one_rule():
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.learning.fit import bin_inputs
    dt, n_steps = 1e-4, 100
    spikes = make_spikes(np.arange(n_steps)[[3, 49, 77]] * dt, [0, 1, 2])
    np.testing.assert_array_equal(bin_inputs(spikes, duration=n_steps * dt, dt=dt, n_inputs=3)[0],
                                  np.asarray(bin_counts(spikes, 3, dt, n_steps)))


# --- Kind 6: empty inputs ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["exact", "discrete", "euler"])
def test_empty_spike_train_gives_the_prior_relaxation(method):
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    empty = make_spikes([], [])
    run = simulate(params, empty, duration=0.2, method=method, dt=1e-3)
    assert np.all(np.isfinite(np.asarray(run.log_odds)))
    if method == "exact":
        reference = mmpp_filter(params, empty, duration=0.2, query_times=run.times)
        np.testing.assert_allclose(run.log_odds, reference.log_odds, atol=1e-12)


def test_empty_sample_grid_gives_an_empty_result():
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    inputs = make_spikes([0.1, 0.3], [0, 2])
    run = simulate(params, inputs, duration=0.5, sample_times=np.zeros(0))
    assert np.asarray(run.log_odds).shape == (0,)
    reference = mmpp_filter(params, inputs, duration=0.5, query_times=np.zeros(0))
    assert np.asarray(reference.log_odds).shape == (0,)
    assert np.isfinite(float(reference.log_likelihood))


def test_zero_length_counts_are_refused():
    from bayesnn.neuron import filter_counts
    with pytest.raises(ValueError, match="at least one bin"):
        filter_counts(_params(), np.zeros((0, 3), int), dt=1e-3)
