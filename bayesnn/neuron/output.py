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

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.validation import as_array, require_positive
from bayesnn.neuron.flows import prior_flow


class OutputSpikes(NamedTuple):
    """Output spikes as events with multiplicity (all times in seconds).

    Fields:
        times: (capacity,) event times, +inf in unused slots.
        counts: (capacity,) int32 number of spikes emitted at each event (0 unused).
        n_events: () int32 number of events (may exceed capacity on overflow).
    """

    times: jax.Array
    counts: jax.Array
    n_events: jax.Array

    @property
    def n_spikes(self) -> jax.Array:
        """Total number of output spikes."""
        return jnp.sum(self.counts, axis=-1)


def spikes_needed(log_odds: jax.Array, prediction: jax.Array, g0: float) -> jax.Array:
    """Number of spikes that restore L - G <= g0/2: ceil((L - G - g0/2)/g0), at least 0."""
    excess = log_odds - prediction - 0.5 * g0
    return jnp.where(excess > 0, jnp.ceil(excess / g0), 0.0).astype(jnp.int32)


def decode_prediction(spike_times, spike_counts, query_times, r_on: float, r_off: float,
                      g0: float, initial: float | None = None) -> np.ndarray:
    """Rebuild G at ``query_times`` from output spikes only (the downstream decoder).

    G starts at ``initial`` (default log(r_on/r_off)) at t = 0, relaxes with the prior
    leak between spikes and jumps by ``g0 * count`` at each spike event; a query at
    the time of a spike sees the jump. Padding slots (count 0 or time +inf) are
    ignored.

    Args:
        spike_times: (K,) sorted event times, s.
        spike_counts: (K,) spikes per event.
        query_times: (S,) sorted times, s.

    Returns:
        (S,) decoded G.
    """
    r_on = float(require_positive("r_on", r_on, ndim=0))
    r_off = float(require_positive("r_off", r_off, ndim=0))
    g0 = float(require_positive("g0", g0, ndim=0))
    spike_counts = np.asarray(spike_counts)
    spike_times = np.asarray(spike_times, dtype=float)
    query_times = as_array("query_times", query_times, ndim=1)
    keep = spike_counts > 0
    spike_times, spike_counts = spike_times[keep], spike_counts[keep]
    start = np.log(r_on / r_off) if initial is None else float(initial)
    return np.asarray(_decode(jnp.asarray(spike_times), jnp.asarray(spike_counts, float),
                              jnp.asarray(query_times), r_on, r_off, g0, start))


@jax.jit
def _decode(spike_times, spike_counts, query_times, r_on, r_off, g0, start):
    n_spikes, n_queries = spike_times.shape[0], query_times.shape[0]
    times = jnp.concatenate([spike_times, query_times])
    is_query = jnp.concatenate([jnp.zeros(n_spikes, bool), jnp.ones(n_queries, bool)])
    jumps = jnp.concatenate([spike_counts * g0, jnp.zeros(n_queries)])
    order = jnp.lexsort((is_query, times))  # spikes before queries at equal times

    def visit(carry, index):
        last_time, prediction = carry
        prediction = prior_flow(prediction, times[index] - last_time, r_on, r_off) + jumps[index]
        return (times[index], prediction), prediction

    _, values = jax.lax.scan(visit, (jnp.zeros(()), jnp.asarray(start, float)), order)
    slot = jnp.where(is_query[order], order - n_spikes, n_queries)  # spikes -> dropped
    decoded = jnp.zeros(n_queries).at[slot].set(values, mode="drop")
    return decoded
