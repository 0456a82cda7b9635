r"""Metrics for spike-coding networks.

Conventions: times in s, rates in Hz, readouts/targets (R, D) aligned record by
record (readout record k after step k compares with target ``x[k + 1]``).

- readout error: RMSE ``sqrt(mean_t ||x - x_hat||^2 / D)`` and max ``|x - x_hat|``.
- firing rate of neuron i: spikes / duration (Hz).
- ISI CV: std / mean of the inter-spike intervals of each neuron (per neuron, via the
  project-wide :func:`bayesnn.metrics.isi_cv`).
- E/I balance (Calaim 2022): normalised E-I difference
  ``b_j = (C+_j - C-_j) / (C+_j + C-_j)`` of the time-integrated excitatory and
  inhibitory inputs of neuron j (0 = perfectly balanced, 1 = excitation only), and
  the Pearson correlation of a neuron's E and I input currents.
- per-spike loss change: ``Delta E = -2 (V_i - T_i)`` (always < 0 for a valid spike).
"""
from __future__ import annotations

import numpy as np

from bayesnn.core.validation import as_array, require_positive
from bayesnn.metrics import isi_cv as project_isi_cv

__all__ = [
    "readout_errors",
    "firing_rates",
    "isi_cv",
    "balance_index",
    "ei_correlation",
    "loss_changes",
    "corrected_readout",
    "poisson_readout",
    "loglog_slope",
]


def readout_errors(readout, target, skip: int = 0) -> dict[str, float]:
    """RMSE (per dimension) and max abs error of ``readout`` vs ``target`` (R, D),
    ignoring the first ``skip`` records. Also the median abs error per dimension."""
    xh = as_array("readout", readout, ndim=2)
    x = as_array("target", target, ndim=2)
    if xh.shape != x.shape:
        raise ValueError(f"target must have the readout's shape {xh.shape}, got {x.shape}")
    err = (x - xh)[skip:]
    return {"rmse": float(np.sqrt(np.mean(err**2))), "max_abs": float(np.max(np.abs(err))),
            "median_abs": float(np.median(np.abs(err)))}


def firing_rates(times, senders, n_neurons: int, t_start: float, t_stop: float) -> np.ndarray:
    """Spikes per neuron per second in [t_start, t_stop): (N,) Hz."""
    if not t_stop > t_start:
        raise ValueError(f"t_stop must be > t_start, got {t_start}, {t_stop}")
    times = np.asarray(times)
    senders = np.asarray(senders)
    keep = (times >= t_start) & (times < t_stop) & (senders >= 0)
    return np.bincount(senders[keep], minlength=n_neurons) / (t_stop - t_start)


def isi_cv(times, senders, n_neurons: int, min_spikes: int = 5,
           t_start: float = 0.0, t_stop: float = np.inf) -> np.ndarray:
    """Coefficient of variation of ISIs per neuron (N,): std / mean of the intervals of
    each neuron's spikes in [t_start, t_stop), computed by the project-wide
    :func:`bayesnn.metrics.isi_cv`; NaN for neurons with fewer than
    ``max(min_spikes, 3)`` spikes there (a CV needs at least two intervals)."""
    if isinstance(min_spikes, bool) or not isinstance(min_spikes, (int, np.integer)) or min_spikes < 0:
        raise ValueError(f"min_spikes must be an integer >= 0, got {min_spikes!r}")
    times = np.asarray(times)
    senders = np.asarray(senders)
    keep = (times >= t_start) & (times < t_stop) & (senders >= 0)
    times, senders = times[keep], senders[keep]
    out = np.full(n_neurons, np.nan)
    order = np.argsort(senders, kind="stable")
    times, senders = times[order], senders[order]
    bounds = np.searchsorted(senders, np.arange(n_neurons + 1))
    need = max(int(min_spikes), 3)
    for i in range(n_neurons):
        t = times[bounds[i]:bounds[i + 1]]
        if t.size >= need:
            out[i] = project_isi_cv(t)
    return out


def balance_index(e_input, i_input) -> np.ndarray:
    """Calaim 2022 normalised E-I difference ``(E - I)/(E + I)`` per neuron (NaN for a
    neuron without input)."""
    e = np.asarray(e_input, float)
    i = np.asarray(i_input, float)
    total = e + i
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (e - i) / np.where(total > 0, total, 1), np.nan)


def ei_correlation(currents_e, currents_i, smooth_steps: int = 1) -> np.ndarray:
    """Pearson correlation between E and I current traces (R, K) -> (K,), after a
    boxcar smoothing of ``smooth_steps`` records."""
    e = as_array("currents_e", currents_e, ndim=2)
    i = as_array("currents_i", currents_i, ndim=2)
    if e.shape != i.shape:
        raise ValueError(f"currents_i must have shape {e.shape}, got {i.shape}")
    if smooth_steps > 1:
        kernel = np.ones(smooth_steps) / smooth_steps
        e = np.apply_along_axis(lambda a: np.convolve(a, kernel, "valid"), 0, e)
        i = np.apply_along_axis(lambda a: np.convolve(a, kernel, "valid"), 0, i)
    e = e - e.mean(0)
    i = i - i.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(e * i, 0) / np.sqrt(np.sum(e**2, 0) * np.sum(i**2, 0))


def loss_changes(margins) -> np.ndarray:
    """Per-spike instantaneous loss change ``-2 (V_i - T_i)`` from the recorded margins."""
    return -2.0 * np.asarray(margins)


def corrected_readout(readout, threshold: float, norm: float = 1.0) -> np.ndarray:
    """Calaim 2022 readout correction for a wider box (T > ||Gamma_i||^2 / 2, decoders
    of equal ``norm``): ``x_hat (1 + (T - norm^2/2) / (norm ||x_hat||))``."""
    xh = as_array("readout", readout, ndim=2)
    n = np.linalg.norm(xh, axis=1, keepdims=True)
    return xh * (1 + (threshold - norm**2 / 2) / (norm * np.maximum(n, 1e-300)))


def poisson_readout(c, weight: float, lambda_: float, dt: float, seed: int = 0,
                    x0: float = 0.0) -> np.ndarray:
    """Independent-Poisson baseline for a 1-D autoencoder with kernels of size
    ``weight``: neurons fire Poisson spikes at the total rate ``c_k / weight`` (so
    ``E[x_hat] = x``); ``x_hat_{k+1} = (1 - lambda dt) x_hat_k + weight n_k``.
    ``c`` (T,) must be >= 0. Returns (T,)."""
    c = as_array("c", c, ndim=1)
    if np.any(c < 0):
        raise ValueError("c must be >= 0 for the Poisson baseline")
    require_positive("weight", weight)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(c * dt / weight)
    out = np.empty(c.shape[0])
    xh = x0
    decay = 1 - lambda_ * dt
    for k in range(c.shape[0]):
        xh = decay * xh + weight * counts[k]
        out[k] = xh
    return out


def loglog_slope(n, values) -> float:
    """Least-squares slope of log(values) against log(n)."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(values, float)), 1)[0])
