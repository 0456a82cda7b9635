r"""Output spikes of the Bayesian neuron and their decoder (Denève 2004, Eq. 1-2).

The neuron emits a spike when its log-odds L exceeds its own prediction G by half a
jump:

.. math::  O_t = 1 \iff L_t > G_t + g_0/2, \qquad
           \dot G = r_{on}(1 + e^{-G}) - r_{off}(1 + e^{G}) + g_0 \sum_k \delta(t - t_k).

G has the prior leak only (no evidence term, no theta): a downstream reader that
knows ``r_on``, ``r_off`` and ``g0`` rebuilds G from the output spike times alone
(:func:`decode_prediction`). The leak is evaluated at G, not at L (the source text
has a typo; at L the leak would cancel in L - G).

After every update bayesnn emits ``n = ceil((L - G - g0/2) / g0)`` spikes at once when
n > 0 (several spikes in one step or at one input event are counted, never lost),
so that ``L - G <= g0/2`` holds after every update.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device

from bayesnn.core.spikes import Spikes, spike_arrays
from bayesnn.core.validation import as_array
from bayesnn.neuron.flows import prior_flow


def prediction_at(anchor_time, anchor_value, time, r_on, r_off):
    r"""G at ``time`` from its value ``anchor_value`` just after the last output spike
    (at ``anchor_time``): the exact prior flow over the elapsed time.

    Encoder and decoder both compute G this way, so a reader of the spikes rebuilds the
    encoder's G to rounding. With :math:`E = e^{-(r_{on}+r_{off})\tau}` the probability
    :math:`\sigma(G)` relaxes linearly towards :math:`p_\infty = r_{on}/(r_{on}+r_{off})`:

    .. math::  G = \log \frac{p_\infty (1 - E) + \sigma(G_a) E}{(1 - p_\infty)(1 - E) + \sigma(-G_a) E}.

    Both sums have non-negative terms (no cancellation; ``1 - E`` by ``expm1``), and
    :math:`\sigma(\pm G_a)` come from one :math:`e^{-|G_a|}`, so nothing overflows; where
    :math:`\sigma(-G_a)` underflows (|G_a| > ~745) its term is below rounding of the
    other for any elapsed time > 0, and elapsed time 0 returns ``anchor_value``.
    Four transcendental operations, which matters in time-stepped runs; equals
    :func:`bayesnn.neuron.flows.prior_flow` to ~1e-15 (tested).
    """
    ratio = prior_flow_ratio(anchor_time, anchor_value, time, r_on, r_off)
    return jnp.where(time - anchor_time > 0, jnp.log(ratio), anchor_value)


def prior_flow_ratio(anchor_time, anchor_value, time, r_on, r_off):
    r"""The ratio whose log is :func:`prediction_at` where ``time > anchor_time``:
    :math:`[p_\infty (1 - E) + \sigma(G_a) E] / [(1 - p_\infty)(1 - E) + \sigma(-G_a) E]`
    (no log), so that time-stepped kernels can compute it apart from the log (three of
    the four transcendental operations, which XLA:CPU vectorises when no log shares
    their loop)."""
    total = r_on + r_off
    elapsed = time - anchor_time
    decay = jnp.exp(-total * elapsed)
    relaxed = -jnp.expm1(-total * elapsed)
    small = jnp.exp(-jnp.abs(anchor_value))
    large_side = 1.0 / (1.0 + small)   # sigma(|G_a|)
    small_side = small * large_side    # sigma(-|G_a|)
    prob_on = jnp.where(anchor_value >= 0, large_side, small_side)
    prob_off = jnp.where(anchor_value >= 0, small_side, large_side)
    numerator = (r_on / total) * relaxed + prob_on * decay
    denominator = (r_off / total) * relaxed + prob_off * decay
    return numerator / denominator


def spikes_needed(log_odds: jax.Array, prediction: jax.Array, g0: float) -> jax.Array:
    """Number of spikes that restore L - G <= g0/2: ceil((L - G - g0/2)/g0), at least 0."""
    excess = log_odds - prediction - 0.5 * g0
    return jnp.where(excess > 0, jnp.ceil(excess / g0), 0.0).astype(jnp.int32)


def decode_prediction(params, spikes: Spikes, query_times,
                      initial: float | None = None) -> np.ndarray:
    """Rebuild G at ``query_times`` from output spikes only (the downstream decoder).

    G starts at ``initial`` (default log(r_on/r_off)) at t = 0, relaxes with the prior
    leak between spikes (its exact flow, :func:`bayesnn.neuron.flows.prior_flow`) and
    jumps by ``g0 * count`` at each spike event; a query at the time of a spike sees
    the jump (right-continuity).

    Args:
        params: the neuron's :class:`bayesnn.neuron.NeuronParams` (uses r_on, r_off, g0).
        spikes: one trial's output spikes, :class:`bayesnn.core.Spikes`.
        query_times: (S,) sorted times, s.

    Returns:
        (S,) decoded G, nats.

    Raises:
        ValueError: for unsorted query times or an overflowed/batched container.
    """
    times, _, counts = spike_arrays(spikes)
    query_times = as_array("query_times", query_times, ndim=1)
    if np.any(np.diff(query_times) < 0):
        raise ValueError("query_times must be sorted in time")
    start = float(params.prior_log_odds) if initial is None else float(initial)
    return np.asarray(_decode(to_device(times, float), to_device(counts, float),
                              to_device(query_times), params.r_on, params.r_off,
                              params.g0, start))


@jax.jit
def _decode(spike_times, spike_counts, query_times, r_on, r_off, g0, start):
    # G after each spike event ("anchors"), then G at a query = flow from the last
    # anchor at or before it. The encoder computes G in exactly this way, so the
    # decoded values agree with its internal G to rounding of a single flow.
    def next_anchor(anchor, event):
        anchor_time, anchor_value = anchor
        time, count = event
        value = prior_flow(anchor_value, time - anchor_time, r_on, r_off) + g0 * count
        return (time, value), value

    start_anchor = (jnp.zeros((), spike_times.dtype), jnp.asarray(start, spike_times.dtype))
    _, anchor_values = jax.lax.scan(next_anchor, start_anchor, (spike_times, spike_counts))
    anchor_times = jnp.concatenate([jnp.zeros(1, spike_times.dtype), spike_times])
    anchor_values = jnp.concatenate([start_anchor[1][None], anchor_values])
    last = jnp.searchsorted(spike_times, query_times, side="right")
    return prior_flow(anchor_values[last], query_times - anchor_times[last], r_on, r_off)


__all__ = ["prediction_at", "prior_flow_ratio", "spikes_needed", "decode_prediction"]
