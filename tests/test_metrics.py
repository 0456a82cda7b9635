"""Closed-form unit tests for every measure in bayesnn.metrics (failure kinds, "tests that
can fail": the measures were only tested indirectly, so a swapped KL direction or a
ddof change would have passed). Each expected value is computed by hand from its
definition; tolerances are float64 rounding of a few operations (1e-15 relative) unless
stated."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bayesnn import metrics


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------ log-loss
def test_log_loss_is_the_mean_negative_log_probability_of_the_true_state():
    log_odds = [0.0, math.log(3.0), -math.log(3.0), math.log(3.0)]
    states = [1, 1, 0, 0]
    # P(x=1) = 1/2, 3/4, 1/4, 3/4; true states 1, 1, 0, 0 -> probabilities 1/2, 3/4, 3/4, 1/4.
    expected = -(math.log(0.5) + 2 * math.log(0.75) + math.log(0.25)) / 4
    assert metrics.log_loss(log_odds, states) == pytest.approx(expected, rel=1e-15)


def test_log_loss_is_finite_and_exact_in_the_tails():
    # -log sigmoid(-800) = 800 + log(1 + e^-800) = 800 exactly in float64.
    assert metrics.log_loss([-800.0, 800.0], [1, 1]) == pytest.approx(400.0, rel=1e-15)
    assert metrics.log_loss([800.0], [0]) == pytest.approx(800.0, rel=1e-15)


def test_log_loss_refuses_mismatched_states():
    with pytest.raises(ValueError, match="states"):
        metrics.log_loss([0.0, 1.0], [1])


# ------------------------------------------------------------------------------ KL
def test_bernoulli_kl_has_the_exact_direction():
    """KL(P || Q) = p log(p/q) + (1-p) log((1-p)/(1-q)), p from the first argument."""
    a, b = math.log(4.0), math.log(1.0 / 3.0)  # p = 0.8, q = 0.25
    p, q = 0.8, 0.25
    forward = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    backward = q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p))
    assert abs(forward - backward) > 0.03  # the example tells the directions apart (0.034)
    assert float(metrics.bernoulli_kl(a, b)) == pytest.approx(forward, rel=1e-14)
    assert float(metrics.bernoulli_kl(b, a)) == pytest.approx(backward, rel=1e-14)
    assert metrics.mean_kl([a, b], [b, b]) == pytest.approx(forward / 2, rel=1e-14)


def test_bernoulli_kl_is_zero_on_equal_arguments_and_finite_in_the_tails():
    x = np.array([-700.0, -3.0, 0.0, 2.5, 700.0])
    np.testing.assert_allclose(metrics.bernoulli_kl(x, x), 0.0, atol=1e-300)
    # p = sigmoid(700) ~ 1, q = 1/2: KL = log 2 + O(700 e^-700).
    assert float(metrics.bernoulli_kl(700.0, 0.0)) == pytest.approx(math.log(2.0), rel=1e-15)
    # p = 1/2, q = sigmoid(700): KL = (1/2)(log(1/2) - log(1)) + (1/2)(log(1/2) + 700).
    expected = 0.5 * math.log(0.5) + 0.5 * (math.log(0.5) + 700.0 + math.log1p(math.exp(-700)))
    assert float(metrics.bernoulli_kl(0.0, 700.0)) == pytest.approx(expected, rel=1e-15)


# ------------------------------------------------------------------------------ calibration
def _binomial_interval(level, n, p):
    """Central interval [lo, hi] with P(K < lo) <= (1-level)/2 < P(K <= lo) (and the mirror
    at hi), from the pmf summed by hand: scipy.stats.binom.interval's definition."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    cdf = np.cumsum(pmf)
    tail = (1 - level) / 2
    lo = int(np.searchsorted(cdf, tail - 1e-12))
    hi = int(np.searchsorted(cdf, 1 - tail - 1e-12))
    return lo, hi


def test_calibration_table_rows_are_the_binned_counts_with_bonferroni_intervals():
    # Predictions in two bins of ten: 0.15 (x 4 samples, one x = 1) and 0.85 (x 6, all 1).
    predicted = np.array([0.15] * 4 + [0.85] * 6)
    log_odds = np.log(predicted / (1 - predicted))
    states = np.array([1, 0, 0, 0] + [1] * 6)
    table = metrics.calibration_table(log_odds, states, n_bins=10, confidence=0.9)
    np.testing.assert_array_equal(table.counts, [4, 6])
    np.testing.assert_allclose(table.mean_predicted, [0.15, 0.85], rtol=1e-14)
    np.testing.assert_allclose(table.observed, [0.25, 1.0], rtol=1e-15)
    level = 1 - 0.1 / 2  # Bonferroni over the two occupied bins
    assert table.confidence == pytest.approx(level, rel=1e-15)
    for row, (n, p) in enumerate([(4, 0.15), (6, 0.85)]):
        lo, hi = _binomial_interval(level, n, p)
        assert table.lower[row] == pytest.approx(lo / n) and table.upper[row] == pytest.approx(hi / n)
    # 1 of 4 at p = 0.15 and 6 of 6 at p = 0.85 both lie in their 95 % intervals.
    np.testing.assert_array_equal(table.inside, [True, True])
    one_level = metrics.calibration_table(log_odds, states, n_bins=10, confidence=0.9,
                                          family_wise=False)
    assert one_level.confidence == 0.9


def test_calibration_flags_a_miscalibrated_bin():
    # 20 samples predicted at 0.05, all with x = 1: far outside any binomial interval.
    log_odds = np.full(20, math.log(0.05 / 0.95))
    table = metrics.calibration_table(log_odds, np.ones(20, int), n_bins=10, confidence=0.99)
    assert table.inside.tolist() == [False]


# ------------------------------------------------------------------------------ spike statistics
def test_firing_rate_and_expand_counts():
    assert metrics.firing_rate([3, 2, 5], 4.0) == pytest.approx(2.5, rel=1e-15)
    with pytest.raises(ValueError, match="duration"):
        metrics.firing_rate([1], 0.0)
    np.testing.assert_array_equal(metrics.expand_counts([0.1, 0.5, 0.7], [2, 0, 1]),
                                  [0.1, 0.1, 0.7])


def test_isi_cv_is_the_population_std_over_the_mean_of_the_intervals():
    assert metrics.isi_cv([0.0, 1.0, 2.0, 3.0]) == 0.0  # a clock
    # Intervals 1, 3: mean 2, population std 1 (ddof = 0) -> CV 0.5.
    assert metrics.isi_cv([0.0, 1.0, 4.0]) == pytest.approx(0.5, rel=1e-15)
    assert metrics.isi_cv([4.0, 0.0, 1.0]) == pytest.approx(0.5, rel=1e-15)  # sorted first
    with pytest.raises(ValueError, match="3 spikes"):
        metrics.isi_cv([0.0, 1.0])


def test_isi_cv_of_a_long_poisson_train_is_one():
    """Exponential intervals have CV 1; with n = 1e5 intervals the estimator's standard
    error is about 1/sqrt(n) (~0.003): 0.015 is a 5-sigma bound."""
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.exponential(1.0, 100_001))
    assert metrics.isi_cv(times) == pytest.approx(1.0, abs=0.015)


def test_fano_factor_is_the_variance_over_the_mean_of_window_counts():
    # Windows [0,1) [1,2) [2,3) [3,4]: counts 2, 0, 4, 2 -> mean 2, population var 2.
    spikes = [0.1, 0.9, 2.0, 2.2, 2.5, 2.99, 3.5, 4.0]  # 4.0: the end point, last window
    assert metrics.fano_factor(spikes, 4.0, window=1.0) == pytest.approx(1.0, rel=1e-15)
    # A partial window at the end is dropped: duration 4.5 still uses four windows.
    assert metrics.fano_factor(spikes, 4.5, window=1.0) == pytest.approx(1.0, rel=1e-15)
    with pytest.raises(ValueError, match="two windows"):
        metrics.fano_factor(spikes, 1.5, window=1.0)
    with pytest.raises(ValueError, match="silent"):
        metrics.fano_factor([], 4.0, window=1.0)


def test_fano_windows_follow_the_binning_rule_for_grid_times():
    """Spikes exported by a clock that accumulates 0.1 s steps sit on window edges up to
    rounding (0.1 + ... + 0.1 = 0.7 - 1e-16): each must open its own window, as
    core.bin_index rules, not fall into the previous one as floor(t / w) puts it."""
    window = 0.1
    edges = np.cumsum(np.full(9, window))  # 0.1, ..., 0.9; four round below k*w
    assert any(np.floor(edges / window) != np.arange(1, 10))  # the trap is real
    # one spike at each edge k*w (k = 1..9) -> windows 1..9 hold one spike, window 0 none
    counts = np.r_[0, np.ones(9)]
    expected = counts.var() / counts.mean()
    assert metrics.fano_factor(edges, 1.0, window=window) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.fano_factor([0.5, np.nan], 4.0), "spike_times must be finite"),
    (lambda: metrics.fano_factor([-0.1, 0.5], 4.0), r"spike_times must lie in \[0, duration\]"),
    (lambda: metrics.fano_factor([0.5, 4.1], 4.0), r"spike_times must lie in \[0, duration\]"),
    (lambda: metrics.fano_factor([[0.5, 1.5]], 4.0), "spike_times must be 1-D"),
    (lambda: metrics.fano_factor([0.5], np.inf), "duration must be finite"),
    (lambda: metrics.fano_factor([0.5], -4.0), "duration must be > 0"),
    (lambda: metrics.isi_cv([0.1, np.inf, 0.3]), "spike_times must be finite"),
    (lambda: metrics.isi_cv([0.2, 0.2, 0.2]), "same time"),
    (lambda: metrics.firing_rate([1, -2], 1.0), "n_spikes must hold non-negative integers"),
    (lambda: metrics.expand_counts([0.1, 0.2], [1]), "counts must have shape"),
    (lambda: metrics.expand_counts([0.1, 0.2], [1, 0.5]), "counts must hold non-negative"),
])
def test_spike_statistics_refuse_bad_input_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_expand_counts_sorts_and_repeats():
    assert np.array_equal(metrics.expand_counts([0.3, 0.1, 0.2], [1, 2, 0]), [0.1, 0.1, 0.3])
