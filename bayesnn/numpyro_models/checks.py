r"""NumPyro reference checks for ``bayesnn validate`` (one scenario, one trial).

Rows returned by :func:`numpyro_checks` (all in float64):

* ``numpyro_enum_loglik_vs_hmm_rel``: NumPyro's enumerated log p(counts) against
  ``bayesnn.exact.hmm.hmm_forward``; both exact for the binned model, so the bound is
  rounding: ``1e-9`` relative.
* ``numpyro_smoothed_vs_hmm_max_abs`` / ``numpyro_filtered_vs_hmm_max_abs``: NumPyro's
  marginals P(x_k = ON) (gradient identity, module :mod:`.mmpp_binned`) against
  ``hmm_smoother`` / ``hmm_forward``; exact, bound ``1e-9``. Filtered marginals are
  evaluated at ``n_filter_bins`` evenly spaced bins (each costs one pass over the trial).
* ``numpyro_continuous_loglik_vs_mmpp_rel``: :class:`~.mmpp_continuous.MMPPSpikeTrain` log density
  against ``bayesnn.exact.mmpp.mmpp_filter``'s ``log_likelihood``; exact, ``1e-9`` relative.
* ``numpyro_continuous_filter_vs_mmpp_max_abs``: continuous-time filtered P(ON) at the
  query times against ``mmpp_filter``; exact, ``1e-9``.
* ``numpyro_continuous_vs_exact_log_odds_max_abs`` (only with ``exact_log_odds_fn``):
  NumPyro's continuous-time filtered log-odds against the caller's exact log-odds,
  bound ``1e-9 * max(1, max |L|)`` (log-odds are exact up to rounding that scales with
  their magnitude).

Measured distances where exactness is *not* claimed go to the returned dict only: the
binned-vs-continuous log-likelihood gap per event (an ``O(dt)`` discretisation error) and
the binned-filtered vs continuous-filtered P(ON) distance at bin ends.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import check_spikes, require_positive
from bayesnn.numpyro_models.mmpp_binned import (
    _as_model,
    bin_spikes,
    binned_to_density_correction,
    enumerated_marginals,
)
from bayesnn.numpyro_models.mmpp_continuous import (
    continuous_filtered_prob_on,
    continuous_log_likelihood,
)
from bayesnn.processes.params import MMPPParams
from bayesnn.report import Check

__all__ = ["numpyro_checks"]

EXACT_TOLERANCE = 1e-9


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _hmm_reference(params: MMPPParams, counts: np.ndarray, dt: float):
    """bayesnn.exact.hmm forward-backward on the binned model (the one place that calls it)."""
    from bayesnn.exact import hmm as exact_hmm

    r_on, r_off = float(params.r_on), float(params.r_off)
    p_on = r_on / (r_on + r_off)
    transition = exact_hmm.ctmc_transition_matrix(r_on, r_off, dt)
    log_liks = exact_hmm.poisson_log_likelihoods(counts, np.asarray(params.q_on),
                                                 np.asarray(params.q_off), dt)
    return exact_hmm.hmm_smoother(np.array([1.0 - p_on, p_on]), transition, log_liks)


def numpyro_checks(params: MMPPParams, spikes: Spikes, *, duration: float, dt: float,
                   exact_log_odds_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                   n_filter_bins: int = 20, n_query_times: int = 50,
                   ) -> tuple[list[Check], dict]:
    """Run the NumPyro references on one trial and compare them with ``bayesnn.exact``.

    Args:
        params: :class:`bayesnn.processes.MMPPParams` (rates in Hz).
        spikes: the trial's input spikes, :class:`bayesnn.core.Spikes` (sender = input).
        duration: trial length, s; ``duration / dt`` must be an integer.
        dt: bin width of the binned model, s.
        exact_log_odds_fn: optional ``f(query_times (Q,)) -> (Q,)`` exact continuous-time
            log-odds L(t) (right-continuous: spikes at exactly t included), e.g. the
            neuron's event-driven integrator; compared with NumPyro's.
        n_filter_bins: number of bins at which filtered marginals are compared.
        n_query_times: number of evenly spaced times in (0, duration] for the
            continuous-time filter comparison.

    Returns:
        ``(checks, numbers)``: list of :class:`bayesnn.report.Check` and a dict of
        measured values (log-likelihoods in nats, distances, run times in s).

    Raises:
        ValueError: naming the argument. PrecisionError: in float32.
    """
    from bayesnn.exact import mmpp as exact_mmpp

    require_x64("numpyro_checks")
    params = _as_model(params)
    duration = float(require_positive("duration", duration, ndim=0))
    _, _, multiplicity = check_spikes(spikes, n_senders=params.n_inputs, duration=duration)
    counts = bin_spikes(spikes, n_inputs=params.n_inputs, duration=duration, dt=dt)
    n_bins = counts.shape[0]
    numbers: dict = {"n_bins": n_bins, "n_events": int(np.sum(multiplicity))}
    checks: list[Check] = []

    # --- binned model: NumPyro enumeration vs exact HMM
    start = time.perf_counter()
    filter_bins = np.unique(np.linspace(0, n_bins - 1, n_filter_bins).round().astype(int))
    # all prefixes (filter bins + the full trial) in one vmapped pass when they fit in
    # a chunk of 32; the compiled function is keyed on (T, N, min(32, K + 1))
    marginals = enumerated_marginals(params, counts, dt=dt, filter_bins=filter_bins, chunk=32)
    numbers["time_numpyro_binned_s"] = time.perf_counter() - start
    smoother = _hmm_reference(params, counts, dt)
    numpyro_ll = float(marginals.log_likelihood)
    exact_ll = float(smoother.log_marginal_likelihood)
    numbers["numpyro_binned_loglik"] = numpyro_ll
    numbers["hmm_binned_loglik"] = exact_ll
    checks.append(Check("numpyro_enum_loglik_vs_hmm_rel", _relative(numpyro_ll, exact_ll),
                        EXACT_TOLERANCE, "<=",
                        "NumPyro enumerated log p(counts) vs hmm_forward, relative"))
    smoothed_err = float(np.max(np.abs(np.asarray(marginals.smoothed)
                                       - np.asarray(smoother.smoothed)[:, 1])))
    filtered_err = float(np.max(np.abs(np.asarray(marginals.filtered)
                                       - np.asarray(smoother.filtered)[filter_bins, 1])))
    checks.append(Check("numpyro_smoothed_vs_hmm_max_abs", smoothed_err, EXACT_TOLERANCE, "<=",
                        "NumPyro smoothed P(ON) (all bins) vs forward-backward, max abs"))
    checks.append(Check("numpyro_filtered_vs_hmm_max_abs", filtered_err, EXACT_TOLERANCE, "<=",
                        f"NumPyro filtered P(ON) at {filter_bins.size} bins vs forward, max abs"))

    # --- continuous time: NumPyro Distribution vs exact event-driven filter
    start = time.perf_counter()
    continuous_ll = float(continuous_log_likelihood(params, spikes, duration=duration))
    query_times = np.linspace(duration / n_query_times, duration, n_query_times)
    # the filter at the query times and (for the measured distance below) at the ends of
    # the filter bins, in one call: one compiled program instead of two
    bin_end_times = (filter_bins + 1) * dt
    both = np.asarray(continuous_filtered_prob_on(
        params, spikes, query_times=np.concatenate([query_times, bin_end_times])))
    continuous_p, continuous_at_bins = both[:n_query_times], both[n_query_times:]
    numbers["time_numpyro_continuous_s"] = time.perf_counter() - start
    exact = exact_mmpp.mmpp_filter(params, spikes, duration=duration, query_times=query_times)
    numbers["numpyro_continuous_loglik"] = continuous_ll
    numbers["mmpp_continuous_loglik"] = float(exact.log_likelihood)
    checks.append(Check("numpyro_continuous_loglik_vs_mmpp_rel",
                        _relative(continuous_ll, float(exact.log_likelihood)), EXACT_TOLERANCE,
                        "<=", "MMPPSpikeTrain.log_prob vs mmpp_filter log-likelihood, relative"))
    checks.append(Check("numpyro_continuous_filter_vs_mmpp_max_abs",
                        float(np.max(np.abs(continuous_p - np.asarray(exact.prob_on)))),
                        EXACT_TOLERANCE, "<=",
                        f"NumPyro continuous-time filtered P(ON) at {n_query_times} times vs "
                        "mmpp_filter, max abs"))
    if exact_log_odds_fn is not None:
        given = np.asarray(exact_log_odds_fn(query_times), dtype=float)
        ours = np.log(continuous_p) - np.log1p(-continuous_p)
        scale = max(1.0, float(np.max(np.abs(given))))
        checks.append(Check("numpyro_continuous_vs_exact_log_odds_max_abs",
                            float(np.max(np.abs(ours - given))), EXACT_TOLERANCE * scale, "<=",
                            "NumPyro continuous-time log-odds vs the given exact log-odds, "
                            "max abs"))

    # --- measured (not exact): discretisation distances
    n_events = int(counts.sum())
    binned_density = numpyro_ll - n_events * np.log(dt) + binned_to_density_correction(counts)
    numbers["binned_minus_continuous_loglik_per_event"] = (
        (binned_density - continuous_ll) / max(n_events, 1))
    # filtered P(ON) at the end of bin j (time (j+1) dt) vs continuous filter there
    numbers["binned_vs_continuous_filtered_max_abs"] = float(
        np.max(np.abs(np.asarray(marginals.filtered) - continuous_at_bins)))
    return checks, numbers
