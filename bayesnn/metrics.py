r"""Distances between posteriors and statistics of spike trains.

Posteriors over the binary state are passed as log-odds (``log_odds``, natural log),
which keeps every measure finite even when a probability rounds to 0 or 1.

* log-loss: :math:`-\frac1T\sum_t \log P(x_t \mid \text{data})` in nats;
* KL divergence between two Bernoulli posterior traces, time-averaged, in nats;
* calibration: bin the predicted probability; in each bin the number of x = 1 is
  compared with the binomial law at the bin's mean prediction (a sum of Bernoulli
  variables with different p has variance at most the binomial one at the mean p, so
  the binomial interval is conservative); samples must be spaced by several
  correlation times for the binomial law to apply;
* spike statistics: rate, ISI coefficient of variation, Fano factor.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats
from scipy.special import expit, log_expit

from bayesnn.core.validation import as_array, require_positive


def log_loss(log_odds, states) -> float:
    """Mean -log P(x_t | data) in nats, for P(x=1) = sigmoid(log_odds) and true x_t."""
    log_odds = as_array("log_odds", log_odds)
    states = np.asarray(states)
    if states.shape != log_odds.shape:
        raise ValueError(f"states must have the shape of log_odds {log_odds.shape}, got {states.shape}")
    return float(-np.mean(np.where(states == 1, log_expit(log_odds), log_expit(-log_odds))))


def bernoulli_kl(log_odds_p, log_odds_q) -> np.ndarray:
    """KL(Bern(sigmoid(a)) || Bern(sigmoid(b))) elementwise, nats."""
    a = as_array("log_odds_p", log_odds_p)
    b = as_array("log_odds_q", log_odds_q)
    return (expit(a) * (log_expit(a) - log_expit(b))
            + expit(-a) * (log_expit(-a) - log_expit(-b)))


def mean_kl(log_odds_exact, log_odds_approx) -> float:
    """Time-averaged KL(exact || approx) between two posterior traces, nats."""
    return float(np.mean(bernoulli_kl(log_odds_exact, log_odds_approx)))


class CalibrationTable(NamedTuple):
    """Reliability table (one row per non-empty bin).

    Fields:
        edges: (B+1,) bin edges in predicted probability.
        counts: (B,) samples per bin.
        mean_predicted: (B,) mean predicted P(x=1) per bin.
        observed: (B,) observed frequency of x = 1 per bin.
        lower, upper: (B,) binomial interval for the number of x = 1 at the bin's mean
            prediction, as frequencies.
        inside: (B,) whether the observed frequency lies in the interval.
        confidence: per-bin confidence level of the intervals.
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    inside: np.ndarray
    confidence: float


def calibration_table(log_odds, states, n_bins: int = 10, confidence: float = 0.99,
                      family_wise: bool = True) -> CalibrationTable:
    """Calibration of predicted probabilities against true binary states.

    With ``family_wise`` the per-bin level is Bonferroni-corrected so that *all* bins
    lie inside their intervals with probability >= ``confidence`` for a calibrated,
    independent sample.
    """
    log_odds = as_array("log_odds", log_odds).ravel()
    states = np.asarray(states).ravel()
    if states.shape != log_odds.shape:
        raise ValueError("states must have the shape of log_odds")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    predicted = expit(log_odds)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(predicted, edges[1:-1]), 0, n_bins - 1)
    rows = []
    occupied = [b for b in range(n_bins) if np.any(which == b)]
    level = 1 - (1 - confidence) / len(occupied) if family_wise else confidence
    for b in occupied:
        members = which == b
        n = int(members.sum())
        p = float(predicted[members].mean())
        k = int(states[members].sum())
        low, high = stats.binom.interval(level, n, p)
        rows.append((n, p, k / n, low / n, high / n, low <= k <= high))
    counts, mean_predicted, observed, lower, upper, inside = (np.array(c) for c in zip(*rows))
    return CalibrationTable(edges, counts, mean_predicted, observed, lower, upper,
                            inside.astype(bool), level)


def firing_rate(n_spikes, duration: float) -> float:
    """Mean rate, Hz."""
    duration = float(require_positive("duration", duration, ndim=0))
    return float(np.sum(n_spikes)) / duration


def expand_counts(times, counts) -> np.ndarray:
    """Spike times with each event repeated ``count`` times (sorted)."""
    times = np.asarray(times, float)
    counts = np.asarray(counts, int)
    keep = counts > 0
    return np.repeat(times[keep], counts[keep])


def isi_cv(spike_times) -> float:
    """Coefficient of variation of the inter-spike intervals (NaN-free: needs >= 3 spikes)."""
    spike_times = np.sort(np.asarray(spike_times, float))
    if spike_times.size < 3:
        raise ValueError("isi_cv needs at least 3 spikes")
    intervals = np.diff(spike_times)
    return float(np.std(intervals) / np.mean(intervals))


def fano_factor(spike_times, duration: float, window: float = 1.0) -> float:
    """Variance / mean of spike counts in consecutive windows of ``window`` seconds."""
    window = float(require_positive("window", window, ndim=0))
    n_windows = int(np.floor(float(duration) / window))
    if n_windows < 2:
        raise ValueError("fano_factor needs a duration of at least two windows")
    counts, _ = np.histogram(np.asarray(spike_times, float), bins=n_windows,
                             range=(0.0, n_windows * window))
    mean = counts.mean()
    if mean == 0:
        raise ValueError("fano_factor is undefined for a silent spike train")
    return float(counts.var() / mean)
