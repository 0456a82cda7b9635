r"""Spikes, synaptic events and nominal energy per nat.

**Nats that must be signalled (Bayesian neuron).** The reader's prediction obeys
:math:`G_k = f(G_{k-1}) + g_0 n_k` and the rule keeps :math:`G_k \ge L_k - g_0/2`.
Let :math:`E_0 = G_0` and :math:`E_k = \max(f(E_{k-1}), L_k - g_0/2)`: the lowest curve
that follows the prior flow :math:`f` and stays above :math:`L - g_0/2`. Its jumps

.. math::  J = \sum_k \big[L_k - g_0/2 - f(E_{k-1})\big]^+

are the nats of log-odds increase the output must carry. Since :math:`f` is increasing
with :math:`f(x) - x` decreasing, :math:`G \ge E` at every step and
:math:`g_0 N \ge J` (sum the jump differences; the flow contracts :math:`G - E`), so

.. math::  N / J \ \ge\ 1/g_0 \qquad \text{spikes per nat (Denève's floor).}

The identity :math:`g_0 N = \sum_k (G_k - f(G_{k-1}))` (every spike moves the decoded
log-odds by exactly :math:`g_0`) is checked too. Both hold for the float model; for a
fixed-point run they are measured with that run's L and G and the float flow f.

**Events and energy.** Synaptic events: the neuron receives one per input spike and
sends one per output spike to each of ``fan_out`` readers; an SCN spike reaches the
other N - 1 neurons (fast), N neurons through the slow trace (when the slow weights
are non-zero) and D readout units. Neuron updates: one per neuron per step. Nominal
energy ``E = e_syn * events + e_update * updates + e_spike * spikes`` with Loihi's
per-event costs as used by the SANA-FE simulator (its ``arch/loihi.yaml``, numbers from
Davies et al. 2018, IEEE Micro 38(1)): 35.5 pJ per synaptic operation, 51.2 pJ per
neuron update (72.8 pJ when active), 76.8 pJ per spike sent. Parameters, not facts
about any other chip.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayesnn.neuron import NeuronParams
from bayesnn.neuron.stepped import transition_probabilities

__all__ = ["EventCosts", "LOIHI_COSTS", "EventCounts", "signalled_nats", "neuron_events",
           "scn_events", "nominal_energy", "pareto_front"]


class EventCosts(NamedTuple):
    """Energy per event, joules (defaults: Loihi via SANA-FE; see the module docstring)."""

    synaptic_op: float = 35.5e-12
    neuron_update: float = 51.2e-12
    spike: float = 76.8e-12


LOIHI_COSTS = EventCosts()


class EventCounts(NamedTuple):
    """Events of one run: ``spikes`` (output), ``synaptic`` (synaptic operations),
    ``updates`` (neuron updates), ``duration`` (s)."""

    spikes: float
    synaptic: float
    updates: float
    duration: float

    @property
    def spikes_per_second(self) -> float:
        """Output spikes per second, Hz."""
        return self.spikes / self.duration

    @property
    def synaptic_per_second(self) -> float:
        """Synaptic events per second, Hz."""
        return self.synaptic / self.duration


def signalled_nats(params: NeuronParams, log_odds, prediction, n_spikes, dt: float):
    """``(J, identity_residual)`` of one run (module docstring).

    Args:
        params: the neuron.  log_odds, prediction: (T,) L and G at the bin ends, nats.
        n_spikes: (T,) output spikes per bin.  dt: bin width, s.

    Returns:
        J (nats of log-odds jump to signal) and ``max |G_k - f(G_{k-1}) - g0 n_k|``
        (0 to rounding for the float model; the quantisation error of the flow for a
        fixed-point run).
    """
    L, G = np.asarray(log_odds, float), np.asarray(prediction, float)
    n = np.asarray(n_spikes, float)
    a_on, a_off = (float(a) for a in transition_probabilities(params, dt))

    def f(x):  # the exact one-bin predict (bayesnn.neuron.stepped.discrete_predict)
        odds = np.exp(np.clip(x, -600.0, 600.0))
        return float(np.log(((1.0 - a_off) * odds + a_on) / (a_off * odds + (1.0 - a_on))))

    g0 = float(params.g0)
    E = float(params.prior_log_odds)
    prev_G = E
    J, resid = 0.0, 0.0
    for k in range(L.size):
        flowed = f(E)
        jump = L[k] - g0 / 2 - flowed
        if jump > 0:
            J += jump
            E = flowed + jump
        else:
            E = flowed
        resid = max(resid, abs(G[k] - f(prev_G) - g0 * n[k]))
        prev_G = G[k]
    return J, resid


def neuron_events(input_counts, n_spikes, dt: float, fan_out: int = 1) -> EventCounts:
    """Events of a Bayesian neuron run: input spikes (one synaptic op each), output
    spikes x ``fan_out``, one update per bin. ``input_counts`` (T, N), ``n_spikes`` (T,)."""
    spikes = float(np.sum(n_spikes))
    T = np.shape(n_spikes)[-1]
    return EventCounts(spikes, float(np.sum(input_counts)) + fan_out * spikes, float(T), T * dt)


def scn_events(n_spikes, n_neurons: int, n_dims: int, dt: float, slow: bool) -> EventCounts:
    """Events of an SCN run: each spike reaches N - 1 neurons (fast), N more through the
    slow trace if ``slow``, and D readout units; N updates per step."""
    spikes = float(np.sum(n_spikes))
    T = np.shape(n_spikes)[-1]
    fan = (n_neurons - 1) + (n_neurons if slow else 0) + n_dims
    return EventCounts(spikes, spikes * fan, float(T * n_neurons), T * dt)


def nominal_energy(events: EventCounts, costs: EventCosts = LOIHI_COSTS) -> float:
    """Nominal energy of a run, joules: ``e_syn events + e_update updates + e_spike spikes``."""
    return (costs.synaptic_op * events.synaptic + costs.neuron_update * events.updates
            + costs.spike * events.spikes)


def pareto_front(cost, loss) -> np.ndarray:
    """Indices of the points no other point beats in both ``cost`` and ``loss`` (lower
    is better), sorted by cost."""
    cost, loss = np.asarray(cost, float), np.asarray(loss, float)
    order = np.lexsort((loss, cost))
    front, best = [], np.inf
    for i in order:
        if loss[i] < best:
            front.append(i)
            best = loss[i]
    return np.asarray(front, int)
