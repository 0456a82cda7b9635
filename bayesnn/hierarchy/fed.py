r"""The log-odds-fed reader: the comparison that isolates what reading spikes costs.

If the children's paths were observed, the exact filter for y would be a two-state
Bayesian neuron for y (Denève 2004, Sec. 1.1) whose inputs are the children's switches:
a 0 -> 1 switch of x_j is a point event of intensity a_on[j, y], a 1 -> 0 switch one of
intensity a_off[j, y], so (weights and a state-dependent bias as for Poisson inputs)

.. math::  dL = \varphi(L)dt + \sum_j \Big[\log\frac{a^j_{on}(1)}{a^j_{on}(0)} dN^{01}_j
           + \log\frac{a^j_{off}(1)}{a^j_{off}(0)} dN^{10}_j
           - \big((1 - x_j)(a^j_{on}(1) - a^j_{on}(0)) + x_j (a^j_{off}(1) - a^j_{off}(0))\big)dt\Big].

The log-odds-fed reader is this neuron with every child replaced by its layer-1 belief
:math:`p_j = \sigma(L_j)`: :math:`x_j \to p_j` in the bias, :math:`dN^{01}_j \to
(dp_j)^+` and :math:`dN^{10}_j \to (dp_j)^-`. Every weight and rate comes from the
model; nothing is fitted. It is integrated on the record grid (bin dt): the prior step
is the neuron's exact discrete one (:func:`bayesnn.neuron.stepped_step`, "discrete"),
the increments of p_j are taken between grid samples, and the bias uses p_j at the
bin's start (O(dt) from the continuous version). When the coupling is symmetric
(:func:`bayesnn.hierarchy.make_tree`) the two switch weights are opposite, the switch
term is :math:`\log(\text{follow}/\text{stray})\,dp_j` and telescopes, so grid sampling
does not bias it.

Read against the exact marginal, the gap exact -> log-odds-fed is what the layer-2
approximation costs (a two-state reader that plugs in the children's beliefs as if they
were the children); the gap log-odds-fed -> spike-fed is what reading the layer-1
spikes instead of their log-odds costs (quantisation into spikes and the Poisson rate
model that a spike reader must assume). Fed with the layer-1 predictions G_j decoded
from the spikes instead of L_j, the same reader measures what Denève's decoder conveys.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesnn.core.params import unchecked
from bayesnn.hierarchy.params import TreeParams
from bayesnn.neuron import NeuronParams
from bayesnn.neuron.functional import init_state, stepped_step

__all__ = ["log_odds_fed"]


def log_odds_fed(tree: TreeParams, layer1_log_odds, dt):
    """The log-odds-fed y-reader on a grid (traceable).

    Args:
        tree: the generative tree (its rates give every weight and bias).
        layer1_log_odds: (K, S+1) the children's log-odds at t = 0, dt, .., S dt, nats
            (L_j, or the decoded G_j).
        dt: grid step, s.

    Returns:
        (S,) the reader's log-odds of y = 1 at dt, .., S dt, nats (from the prior
        log-odds log(r_on / r_off) at t = 0).
    """
    beliefs = jax.nn.sigmoid(layer1_log_odds)  # (K, S+1)
    change = jnp.diff(beliefs, axis=1)  # (K, S)
    weight_up = jnp.log(tree.a_on[:, 1] / tree.a_on[:, 0])
    weight_down = jnp.log(tree.a_off[:, 1] / tree.a_off[:, 0])
    bias_off = tree.a_on[:, 1] - tree.a_on[:, 0]
    bias_on = tree.a_off[:, 1] - tree.a_off[:, 0]
    start = beliefs[:, :-1]
    evidence = (weight_up @ jnp.maximum(change, 0.0) + weight_down @ jnp.maximum(-change, 0.0)
                - ((1.0 - start).T @ bias_off + start.T @ bias_on) * dt)  # (S,)
    one = jnp.ones(1, evidence.dtype)
    reader = unchecked(NeuronParams, r_on=tree.r_on, r_off=tree.r_off, q_on=one, q_off=one,
                       g0=jnp.ones((), evidence.dtype))

    def step(state, evidence_k):
        state, record = stepped_step(reader, state, evidence_k, dt=dt, method="discrete",
                                     bias=0.0)
        return state, record.log_odds

    _, log_odds = jax.lax.scan(step, init_state(reader), evidence)
    return log_odds
