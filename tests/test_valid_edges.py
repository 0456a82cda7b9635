"""Valid inputs at the edges (failure kinds, "fuzzing and properties"): |L| up to 700,
rates from 1e-8 to 1e4 Hz, N = 1 and N = 1000 inputs, durations from 1 ms to one day of
quiet drift. Every result is finite and agrees with an exact reference written
independently:

* the matrix-exponential filter :func:`bayesnn.exact.mmpp_filter` (tolerance 1e-9 abs
  plus 1e-9 relative, the developers' standard for exact claims in float64);
* for |L(0)| = 700, where P(x) = 1 - 1e-304 is not a float64 probability, the Riccati
  closed form of the posterior (Snyder 1975; docs of bayesnn.exact.mmpp) evaluated in
  400-digit arithmetic (tolerance 1e-9 abs on L).

Hypothesis draws the rates (log-uniform) with derandomised, bounded examples; inputs
are short hand-made spike lists in a fixed-capacity buffer, so every example reuses one
compiled program per N.
"""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesnn.core import make_spikes
from bayesnn.exact import mmpp_filter
from bayesnn.neuron import NeuronParams, simulate

LOG_RATE = st.floats(np.log(1e-8), np.log(1e4))


def _spikes(rng, n_inputs, duration, n_spikes=12):
    times = np.sort(rng.uniform(0.0, duration, n_spikes))
    return make_spikes(times, rng.integers(0, n_inputs, n_spikes), n_senders=n_inputs,
                       duration=duration, capacity=64)


@pytest.mark.parametrize("n_inputs", [1, 1000])
@settings(max_examples=6, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(log_r=st.tuples(LOG_RATE, LOG_RATE), log_q=st.tuples(LOG_RATE, LOG_RATE),
       duration=st.sampled_from([1e-3, 1.0, 86400.0]))
def test_neuron_agrees_with_the_exact_filter_at_extreme_rates(n_inputs, log_r, log_q,
                                                              duration):
    rng = np.random.default_rng(n_inputs)
    # Inputs spread over two decades around the drawn rates (N = 1000: q varies per input).
    spread = rng.uniform(-1.0, 1.0, (2, n_inputs)) if n_inputs > 1 else np.zeros((2, 1))
    q_on = np.clip(np.exp(log_q[0] + spread[0]), 1e-8, 1e4)
    q_off = np.clip(np.exp(log_q[1] + spread[1]), 1e-8, 1e4)
    if np.sum(q_off) - np.sum(q_on) > 10.0 / duration:
        # theta < 0: silence drives L up and the neuron fires by drift at up to |theta|/g0
        # Hz, a genuine output of up to 1e7 Hz x 1 day; keep the output below ~1e5
        # spikes by exchanging the two rate vectors (still asymmetric).
        q_on, q_off = q_off, q_on
    params = NeuronParams(np.exp(log_r[0]), np.exp(log_r[1]), q_on, q_off, 0.7)
    inputs = _spikes(rng, n_inputs, duration)
    queries = np.sort(np.concatenate([[0.0, duration], rng.uniform(0, duration, 6)]))
    run = simulate(params, inputs, duration=duration, sample_times=queries)
    reference = mmpp_filter(params, inputs, duration=duration, query_times=queries)
    L, L_ref = np.asarray(run.log_odds), np.asarray(reference.log_odds)
    assert np.all(np.isfinite(L)) and np.all(np.isfinite(L_ref))
    np.testing.assert_allclose(L, L_ref, atol=1e-9, rtol=1e-9)


def _riccati_log_odds(params, initial_log_odds, times, senders, queries, digits=400):
    """L at ``queries`` by the closed-form Riccati flow of p between spikes and the Bayes
    jump p <- p q_on / (p q_on + (1 - p) q_off) at spikes, in ``digits``-digit arithmetic
    (right-continuous: a query at a spike's time sees it)."""
    with mpmath.workdps(digits):
        mp = mpmath.mpf
        r_on, r_off = mp(float(params.r_on)), mp(float(params.r_off))
        q_on = [mp(float(q)) for q in np.asarray(params.q_on)]
        q_off = [mp(float(q)) for q in np.asarray(params.q_off)]
        theta = sum(q_on) - sum(q_off)
        s = r_on + r_off
        kappa = mpmath.sqrt((r_off - r_on + theta) ** 2 + 4 * r_on * r_off)
        p_star = 2 * r_on / (s + theta + kappa)
        p = 1 / (1 + mpmath.exp(-mp(initial_log_odds)))
        now, out = mp(0), []
        events = sorted([(float(t), 0, int(k)) for t, k in zip(times, senders)]
                        + [(float(t), 1, i) for i, t in enumerate(queries)])
        for time, kind, index in events:
            gap = mp(time) - now
            e0 = p - p_star
            decay = mpmath.exp(-kappa * gap)
            p = p_star + e0 * decay / (1 - theta / kappa * e0 * (1 - decay))
            now = mp(time)
            if kind == 0:
                p = p * q_on[index] / (p * q_on[index] + (1 - p) * q_off[index])
            else:
                out.append(float(mpmath.log(p) - mpmath.log(1 - p)))
        return np.array(out)


@pytest.mark.parametrize("initial", [700.0, -700.0])
def test_log_odds_at_700_nats_agree_with_the_400_digit_riccati_solution(initial):
    params = NeuronParams(1.0, 3.0, [20.0, 5.0, 12.0], [4.0, 15.0, 12.5], 0.7)
    times, senders = [1e-300, 2e-3, 0.05], [0, 1, 0]
    queries = [0.0, 1e-300, 1e-12, 1e-3, 2e-3, 0.05, 0.5]
    run = simulate(params, make_spikes(times, senders, duration=0.5), duration=0.5,
                   sample_times=queries, initial_log_odds=initial)
    reference = _riccati_log_odds(params, initial, times, senders, queries)
    assert np.all(np.isfinite(np.asarray(run.log_odds)))
    np.testing.assert_allclose(run.log_odds, reference, atol=1e-9, rtol=1e-12)
