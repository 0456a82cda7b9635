r"""Where the readers' Poisson assumption breaks: layer-1 spikes are not Poisson given y.

A spike-fed reader treats the spikes of layer-1 neuron j as a Poisson process whose
rate depends on y only (Denève 2004, Sec. 2). They are not: given y, they are
modulated by the child x_j (which strays from y for a while), they come in bursts at
one instant when a single input moves L_j by more than g0 (Denève 2004, Eq. 2), and the
jump of G after each spike acts as a relative refractory period (Denève 2004, Sec.
1.3). Two measurements show it:

* :func:`isi_statistics`: inter-spike intervals and counts of the layer-1 spikes inside
  each epoch of y (both spikes of an interval in the same epoch), against a *Poisson
  surrogate*: Poisson spikes with the readers' own rates Q^j_y drawn on the very same y
  epochs (the statistics of intervals cut by epoch ends are then identical for both,
  so any difference is the spikes' non-Poisson structure). Reported per state of y: CV
  of the intervals, fraction of zero intervals (several spikes at one instant), Fano
  factor of counts in windows inside an epoch, and the two-sample Kolmogorov-Smirnov
  distance between the measured and surrogate intervals.
* :func:`fit_reader_ml`: the reader's parameters (r_on, r_off, Q_on, Q_off) fitted by
  maximum likelihood on the same spikes (exact MMPP log-likelihood,
  :func:`bayesnn.exact.mmpp.mmpp_filter_batch`, maximised by L-BFGS on log-rates). If
  the spikes were the MMPP the reader assumes, the trained parameters would already
  be near the maximum: 2 x (log-likelihood gap) would be of the order of a
  chi-square with 2K + 2 degrees of freedom. A much larger gap, fitted switching rates
  far from y's, or a fitted reader that predicts y worse (log-loss) all say the model
  is misspecified.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, stats

from bayesnn.core.keys import KeyLike
from bayesnn.core.params import to_device, unchecked
from bayesnn.core.spikes import Spikes, make_spikes, spike_arrays, stack_spikes
from bayesnn.exact.mmpp import mmpp_filter_batch
from bayesnn.neuron import NeuronParams, simulate_trials as neuron_trials
from bayesnn.processes.labelling import canonical_labelling
from bayesnn.processes.params import MMPPParams, model_of

__all__ = ["delivered_spikes", "top_epochs", "isi_statistics", "fit_reader_ml"]


def delivered_spikes(run, n_children: int, duration: float) -> Spikes:
    """The layer-1 spikes as the readers receive them: one event per spike (sender j),
    batched over the run's trials (a leading trial axis)."""
    spikes = jax.tree_util.tree_map(np.asarray, run.layer1_spikes)  # one copy to the host
    n_trials = spikes.times.shape[0] if spikes.times.ndim == 2 else 1
    out = []
    for b in range(n_trials):
        times, senders, counts = spike_arrays(spikes, b if spikes.times.ndim == 2 else None)
        out.append(make_spikes(np.repeat(times, counts), np.repeat(senders, counts),
                               n_senders=n_children, duration=duration))
    return stack_spikes(out)


def top_epochs(trial, duration: float) -> list[tuple[float, float, int]]:
    """Epochs (start, end, y) of the top variable of one trial, s."""
    switch_times, variables = np.asarray(trial.switch_times), np.asarray(trial.switch_variables)
    flips = np.sort(switch_times[(variables == 0) & np.isfinite(switch_times)])
    edges = np.concatenate([[0.0], flips, [duration]])
    start = int(np.asarray(trial.initial_state)[0])
    return [(edges[k], edges[k + 1], (start + k) % 2) for k in range(edges.size - 1)]


def _within_epochs(times_by_neuron, epochs, window: float):
    """Intervals and window counts per state of y from per-neuron spike times."""
    intervals = {0: [], 1: []}
    counts = {0: [], 1: []}
    for times in times_by_neuron:
        for start, end, state in epochs:
            inside = times[(times >= start) & (times < end)]
            intervals[state].append(np.diff(inside))
            n_windows = int((end - start) // window)
            if n_windows:
                counts[state].append(np.histogram(inside, bins=n_windows,
                                                  range=(start, start + n_windows * window))[0])
    return ({s: np.concatenate(v) if v else np.zeros(0) for s, v in intervals.items()},
            {s: np.concatenate(v) if v else np.zeros(0) for s, v in counts.items()})


def _describe(intervals, counts) -> dict[str, float]:
    out = {"n_intervals": int(intervals.size), "cv": float("nan"), "zero_fraction": float("nan"),
           "fano": float("nan")}
    if intervals.size >= 3 and intervals.mean() > 0:
        out["cv"] = float(intervals.std() / intervals.mean())
        out["zero_fraction"] = float(np.mean(intervals == 0))
    if counts.size >= 2 and counts.mean() > 0:
        out["fano"] = float(counts.var() / counts.mean())
    return out


def isi_statistics(trials, run, rates_given_top, duration: float, *, key: KeyLike = 0,
                   window: float = 0.1) -> dict[str, Any]:
    """Layer-1 interval and count statistics per state of y, measured and for the
    Poisson surrogate (module docstring).

    Args:
        trials: the test trials (batched :class:`TreeTrial`).
        run: the hierarchy's run on them (batched).
        rates_given_top: (K, 2) the readers' Q^j_y, Hz (rates of the surrogate).
        duration: trial length, s.
        key: int seed of the surrogate (NumPy generator).
        window: count window for the Fano factor, s.

    Returns:
        {"y=0": {"measured": {...}, "poisson": {...}, "ks": D, "ks_p": p}, "y=1": ...}
    """
    rates = np.asarray(rates_given_top, float)
    rng = np.random.default_rng(int(key))
    n_children = rates.shape[0]
    measured_iv, measured_ct = {0: [], 1: []}, {0: [], 1: []}
    surrogate_iv, surrogate_ct = {0: [], 1: []}, {0: [], 1: []}
    for b in range(trials.switch_times.shape[0]):
        epochs = top_epochs(trials.trial(b), duration)
        times, senders, counts = spike_arrays(run.layer1_spikes, b)
        per_neuron = [np.repeat(times[senders == j], counts[senders == j]) for j in range(n_children)]
        fake = []
        for j in range(n_children):
            parts = [np.sort(rng.uniform(s, e, rng.poisson(rates[j, state] * (e - s))))
                     for s, e, state in epochs]
            fake.append(np.concatenate(parts))
        for source, (iv_out, ct_out) in ((per_neuron, (measured_iv, measured_ct)),
                                         (fake, (surrogate_iv, surrogate_ct))):
            iv, ct = _within_epochs(source, epochs, window)
            for state in (0, 1):
                iv_out[state].append(iv[state])
                ct_out[state].append(ct[state])
    out = {}
    for state in (0, 1):
        measured = np.concatenate(measured_iv[state])
        surrogate = np.concatenate(surrogate_iv[state])
        row = {"measured": _describe(measured, np.concatenate(measured_ct[state])),
               "poisson": _describe(surrogate, np.concatenate(surrogate_ct[state]))}
        if measured.size >= 3 and surrogate.size >= 3:
            test = stats.ks_2samp(measured, surrogate)
            row["ks"], row["ks_p"] = float(test.statistic), float(test.pvalue)
        else:
            row["ks"], row["ks_p"] = float("nan"), float("nan")
        out[f"y={state}"] = row
    return out


def _unpack(x, n_children):
    rates = jnp.exp(x)
    return unchecked(MMPPParams, r_on=rates[0], r_off=rates[1], q_on=rates[2:2 + n_children],
                     q_off=rates[2 + n_children:])


_unpack_jit = jax.jit(_unpack, static_argnums=1)  # one program, not one per slice


def fit_reader_ml(reader: NeuronParams, delivered: Spikes, duration: float, *,
                  sample_times, top, max_iterations: int = 200) -> dict[str, Any]:
    """Fit the reader's (r_on, r_off, Q_on, Q_off) by maximum likelihood on the
    delivered layer-1 spikes of all trials, then run the fitted reader on them.

    Args:
        reader: the trained y-reader (start point of the fit; its g0 is kept).
        delivered: batched layer-1 spikes, one event per spike (:func:`delivered_spikes`).
        duration: trial length, s.
        sample_times: (S,) grid of ``top``, s.
        top: (B, S) true y on the grid (for the readers' log-losses).
        max_iterations: L-BFGS iterations.

    Returns:
        dict with the fitted and trained rates, the log-likelihoods (nats per second of
        data), the likelihood-ratio statistic 2 x gap with its chi-square(2K + 2) 99%
        quantile, the y log-losses of the trained and fitted readers, and whether the
        fit was relabelled (bayesnn's labelling with the trained reader as reference,
        :func:`bayesnn.processes.canonical_labelling`: the fitted reader's ON is y = 1).
    """
    n_children = int(np.shape(reader.q_on)[-1])
    total_time = duration * int(delivered.times.shape[0])

    def objective(x):
        log_lik = mmpp_filter_batch(_unpack(x, n_children), delivered, duration=duration,
                                    query_times=np.zeros(0)).log_likelihood
        return -jnp.sum(log_lik) / total_time

    # One program each. Eagerly, every operation of the objective and of its gradient
    # compiled a program of its own (about 30); the jitted gradient fuses them and moves
    # it by a few ulps at some points, which moves the L-BFGS optimum by ~1e-12
    # relative (far inside the optimiser's own tolerance).
    value_and_grad = jax.jit(jax.value_and_grad(objective))
    start = np.log(np.concatenate([[float(reader.r_on), float(reader.r_off)],
                                   np.asarray(reader.q_on), np.asarray(reader.q_off)]))
    trained = float(jax.jit(objective)(to_device(start)))
    result = optimize.minimize(lambda x: tuple(np.asarray(v, float) for v in value_and_grad(to_device(x))),
                               start, jac=True, method="L-BFGS-B",
                               options={"maxiter": int(max_iterations)})
    fitted = np.exp(result.x)
    # bayesnn's one labelling, with the trained reader as reference (its ON is y = 1)
    labelled, relabelled = canonical_labelling(_unpack_jit(to_device(result.x), n_children),
                                               model_of(reader))
    fitted = np.concatenate([[float(labelled.r_on), float(labelled.r_off)],
                             np.asarray(labelled.q_on), np.asarray(labelled.q_off)])
    ml_reader = NeuronParams(fitted[0], fitted[1], fitted[2:2 + n_children],
                             fitted[2 + n_children:], float(reader.g0))
    losses = {}
    for name, params in (("trained", reader), ("ml", ml_reader)):
        run = neuron_trials(params, delivered, duration=duration, sample_times=sample_times)
        log_odds = np.asarray(run.log_odds)
        losses[name] = float(-np.mean(np.where(np.asarray(top) == 1,
                                               -np.logaddexp(0.0, -log_odds),
                                               -np.logaddexp(0.0, log_odds))))
    statistic = 2.0 * (trained - float(result.fun)) * total_time
    dof = 2 * n_children + 2
    return {
        "trained": {"r_on": float(reader.r_on), "r_off": float(reader.r_off),
                    "q_on": np.asarray(reader.q_on).tolist(),
                    "q_off": np.asarray(reader.q_off).tolist()},
        "fitted": {"r_on": float(fitted[0]), "r_off": float(fitted[1]),
                   "q_on": fitted[2:2 + n_children].tolist(),
                   "q_off": fitted[2 + n_children:].tolist()},
        "log_likelihood_per_s_trained": -trained,
        "log_likelihood_per_s_ml": -float(result.fun),
        "likelihood_ratio_statistic": float(statistic),
        "chi2_99_quantile": float(stats.chi2.ppf(0.99, dof)),
        "degrees_of_freedom": dof,
        "log_loss_y_trained_reader": losses["trained"],
        "log_loss_y_ml_reader": losses["ml"],
        "converged": bool(result.success),
        "relabelled": bool(relabelled),
    }

