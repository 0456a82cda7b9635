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

from bayesnn.core.binning import GRID_TOLERANCE, bin_index
from bayesnn.core.validation import (as_array, require_integer_counts, require_positive,
                                     require_shape)


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


def _spike_times(spike_times, duration: float | None = None) -> np.ndarray:
    """1-D finite spike times in s, inside [0, duration] when a duration is given."""
    times = as_array("spike_times", spike_times)
    if times.ndim != 1:
        raise ValueError(f"spike_times must be 1-D (one spike train), got shape {times.shape}")
    if duration is not None and times.size and (times.min() < 0 or times.max() > duration):
        raise ValueError(f"spike_times must lie in [0, duration] = [0, {duration:g}] s, got "
                         f"[{times.min():g}, {times.max():g}]")
    return times


def firing_rate(n_spikes, duration: float) -> float:
    """Mean rate ``sum(n_spikes) / duration`` in Hz (``n_spikes``: counts, any shape).

    Raises:
        ValueError: non-positive or non-finite ``duration``; negative or non-integer counts.
    """
    duration = float(require_positive("duration", duration, ndim=0))
    return float(np.sum(require_integer_counts("n_spikes", n_spikes))) / duration


def expand_counts(times, counts) -> np.ndarray:
    """Spike times with each event repeated ``count`` times (sorted by time).

    Args:
        times: (E,) event times, s (finite).
        counts: (E,) non-negative integer multiplicities (0 drops the event).

    Raises:
        ValueError: non-finite times, negative or non-integer counts, mismatched shapes.
    """
    times = _spike_times(times)
    counts = require_integer_counts("counts", counts)
    require_shape("counts", counts, times.shape)
    keep = counts > 0
    order = np.argsort(times[keep], kind="stable")
    return np.repeat(times[keep][order], counts[keep].astype(int)[order])


def isi_cv(spike_times) -> float:
    """Coefficient of variation of the inter-spike intervals, ``std(ISI) / mean(ISI)``.

    A Poisson train has CV 1, a regular one 0 (Softky & Koch 1993). Times in s, any
    order. Raises ``ValueError`` for fewer than 3 spikes, non-finite times, or all spikes
    at one instant (mean ISI 0).
    """
    spike_times = np.sort(_spike_times(spike_times))
    if spike_times.size < 3:
        raise ValueError("isi_cv needs at least 3 spikes")
    intervals = np.diff(spike_times)
    if intervals.mean() == 0:
        raise ValueError("isi_cv is undefined when every spike falls at the same time")
    return float(np.std(intervals) / np.mean(intervals))


def fano_factor(spike_times, duration: float, window: float = 1.0) -> float:
    """Variance / mean of spike counts in consecutive windows of ``window`` seconds.

    The windows are the ``n = floor(duration / window)`` complete ones,
    ``[k w, (k+1) w)``; spikes after ``n w`` (a partial last window) are not counted, and
    windows are assigned by the package's binning rule (:func:`bayesnn.core.bin_index`:
    a spike on a window edge, up to rounding, opens the next window; one at exactly
    ``n w`` belongs to the last). A Poisson train has Fano factor 1. The variance is the
    population variance over windows (``ddof = 0``).

    Raises:
        ValueError: ``window`` or ``duration`` not finite and > 0, fewer than two complete
            windows, spike times outside [0, duration] or non-finite, or no spike in the
            counted windows.
    """
    window = float(require_positive("window", window, ndim=0))
    duration = float(require_positive("duration", duration, ndim=0))
    n_windows = int(np.floor(duration / window * (1 + GRID_TOLERANCE)))
    if n_windows < 2:
        raise ValueError(f"fano_factor needs a duration of at least two windows "
                         f"(duration = {duration:g} s, window = {window:g} s)")
    times = _spike_times(spike_times, duration)
    inside = times[times <= n_windows * window * (1 + GRID_TOLERANCE)]
    bins = np.asarray(bin_index(np.asarray(inside), window, n_windows))
    counts = np.bincount(bins, minlength=n_windows)[:n_windows]
    mean = counts.mean()
    if mean == 0:
        raise ValueError("fano_factor is undefined for a silent spike train")
    return float(counts.var() / mean)


__all__ = ["log_loss", "bernoulli_kl", "mean_kl", "CalibrationTable",
           "calibration_table", "firing_rate", "expand_counts", "isi_cv", "fano_factor"]
