r"""Public step functions of the Bayesian neuron (write your own loop with these).

State: :class:`NeuronState`. The neuron's log-odds L and the prediction G that a reader
rebuilds from the output spikes (Denève 2008 I, Sec. 2):

.. math::  \dot L = \varphi(L) - \theta + \sum_i w_i s_i(t), \qquad
           \dot G = \varphi(G) + g_0 \sum_k \delta(t - t_k),\qquad
           \varphi(x) = r_{on}(1 + e^{-x}) - r_{off}(1 + e^{x}),

with an output spike whenever :math:`L > G + g_0/2`. G is carried as an *anchor* (its
value just after the last output spike and that spike's time) and evaluated by one
exact prior flow from it, exactly as the decoder (:func:`bayesnn.neuron.decode_prediction`)
does, so encoder and decoder agree to rounding.

Event-driven (exact for the continuous-time model):

* :func:`advance` — drift from ``state.time`` to ``until`` by the closed-form flows,
  emitting any drift-driven output spikes at their exact crossing times;
* :func:`receive` — one input spike on ``channel`` at ``state.time``: L jumps by
  :math:`w_i`; ``ceil((L - G - g0/2)/g0)`` output spikes are emitted at once.

Time-stepped (bin width dt): :func:`stepped_step` (``"discrete"``: exact forward
recursion of the binned model; ``"euler"``: forward Euler with a stability guard); see
:mod:`bayesnn.neuron.stepped` for the equations.

Every function is pure and traceable (jit, vmap) and differentiable with respect to
``params``: in reverse mode (``jax.grad``) wherever the drift-crossing search is off
(``advance(..., drift_spikes=False)``, exact whenever theta >= 0; the stepped method);
with the search on, it is a ``lax.while_loop``, which JAX differentiates in forward mode
only (``jax.jvp`` / ``jax.jacfwd``). Both are tested against central differences.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.spikes import Spikes, append_spikes
from bayesnn.neuron.event_driven import crossing_ahead, crossing_time
from bayesnn.neuron.flows import log_odds_flow
from bayesnn.neuron.output import prediction_at, spikes_needed
from bayesnn.neuron.params import NeuronParams


class NeuronState(NamedTuple):
    """State of one Bayesian neuron.

    Fields:
        time: () time of the last update, s.
        log_odds: () L at ``time``, nats.
        anchor_time: () time of the last output spike (0 before any), s.
        anchor_value: () G just after that spike (G(0) before any), nats.
        step: () int32 number of updates (events or bins) done.
        n_guarded: () int32 Euler steps taken by the stability guard (stepped Euler).
    """

    time: jax.Array
    log_odds: jax.Array
    anchor_time: jax.Array
    anchor_value: jax.Array
    step: jax.Array
    n_guarded: jax.Array


def init_state(params: NeuronParams, initial_log_odds=None, initial_prediction=None,
               dtype=None) -> NeuronState:
    """State at t = 0: L(0) and G(0) default to the prior log-odds log(r_on/r_off)."""
    dtype = dtype or jnp.result_type(float)
    prior = params.prior_log_odds
    log_odds = prior if initial_log_odds is None else initial_log_odds
    prediction = prior if initial_prediction is None else initial_prediction
    zero = jnp.zeros((), dtype)
    return NeuronState(zero, jnp.asarray(log_odds, dtype), zero,
                       jnp.asarray(prediction, dtype), jnp.zeros((), jnp.int32),
                       jnp.zeros((), jnp.int32))


def prediction(params: NeuronParams, state: NeuronState, time) -> jax.Array:
    """G at ``time`` (>= the last output spike), from the state's anchor."""
    return prediction_at(state.anchor_time, state.anchor_value, time, params.r_on, params.r_off)


def advance(params: NeuronParams, state: NeuronState, until, spikes: Spikes, *,
            drift_spikes: bool = True) -> tuple[NeuronState, Spikes]:
    """Drift from ``state.time`` to ``until`` (s) with no input, exactly.

    Output spikes caused by drift alone (possible only when theta < 0, see
    :mod:`bayesnn.neuron.event_driven`) are found at their exact crossing times and
    appended to ``spikes`` (sender 0, count 1). ``drift_spikes=False`` (static) skips the
    search, which is exact whenever :func:`bayesnn.neuron.event_driven.drift_can_fire`
    is False.
    """
    r_on, r_off, theta, g0 = params.r_on, params.r_off, params.theta, params.g0

    def pending(loop):
        now, log_odds, anchor_time, anchor_value, _ = loop
        g = prediction_at(anchor_time, anchor_value, now, r_on, r_off)
        # until == now (simultaneous events) is a no-op: spikes owed at this instant are
        # emitted by receive, once all of the instant's inputs are in.
        ahead = crossing_ahead(now, log_odds, g, until, r_on, r_off, theta, g0)[1] > 0
        return ahead & (now < until)

    def fire(loop):
        now, log_odds, anchor_time, anchor_value, buffer = loop
        g = prediction_at(anchor_time, anchor_value, now, r_on, r_off)
        exit_time, gap_exit = crossing_ahead(now, log_odds, g, until, r_on, r_off, theta, g0)
        crossing = crossing_time(log_odds, g, exit_time, gap_exit, r_on, r_off, theta, g0)
        spike_time = now + crossing
        buffer = append_spikes(buffer, spike_time[None], jnp.zeros(1, jnp.int32),
                               jnp.ones(1, jnp.int32), jnp.ones(1, bool))
        new_anchor = prediction_at(anchor_time, anchor_value, spike_time, r_on, r_off) + g0
        return (spike_time, log_odds_flow(log_odds, crossing, r_on, r_off, theta),
                spike_time, new_anchor, buffer)

    loop = (state.time, state.log_odds, state.anchor_time, state.anchor_value, spikes)
    if drift_spikes:
        loop = jax.lax.while_loop(pending, fire, loop)
    now, log_odds, anchor_time, anchor_value, spikes = loop
    until = jnp.asarray(until, state.time.dtype)
    log_odds = log_odds_flow(log_odds, until - now, r_on, r_off, theta)
    return state._replace(time=until, log_odds=log_odds, anchor_time=anchor_time,
                          anchor_value=anchor_value), spikes


def receive(params: NeuronParams, state: NeuronState, channel, spikes: Spikes,
            active=True, emit=True) -> tuple[NeuronState, Spikes]:
    """One input spike of ``channel`` at ``state.time`` (where ``active``): L jumps by
    w_channel, then ``n = ceil((L - G - g0/2)/g0)`` output spikes (if n > 0) are stored
    as one event of multiplicity n, so that L - G <= g0/2 afterwards.

    Simultaneous inputs: pass ``emit=False`` for all but the last input of an instant,
    so that the instant's jumps are summed before the neuron fires (one output event,
    whose count does not depend on the order of simultaneous inputs, as within a bin of
    the stepped methods). :func:`bayesnn.neuron.kernels.event_kernel` does so."""
    state, n_spikes = receive_count(params, state, channel, active, emit)
    spikes = append_spikes(spikes, state.time[None], jnp.zeros(1, jnp.int32), n_spikes[None],
                           (n_spikes > 0)[None])
    return state, spikes


def receive_count(params: NeuronParams, state: NeuronState, channel, active=True,
                  emit=True) -> tuple[NeuronState, jax.Array]:
    """:func:`receive` without a spike buffer, for loops that collect the output events
    themselves (one scatter after the loop instead of one per event).

    Where ``active``: ``L <- L + w_channel`` (nats), then, where also ``emit``,
    ``n = ceil((L - G - g0/2) / g0)`` output spikes if n > 0, and G's anchor moves to
    ``(state.time, G + n g0)`` (Denève 2008 I, Sec. 2: the output spike rule).

    Args:
        params: the neuron's :class:`NeuronParams`.
        state: its :class:`NeuronState` at the input's time ``state.time`` (s).
        channel: the input channel (int scalar; negative entries are padding and must
            come with ``active=False``).
        active: whether this slot holds an input spike (bool scalar).
        emit: whether the neuron may fire now (False for all but the last of
            simultaneous inputs).

    Returns:
        ``(state, n_spikes)``: the new state and the number of output spikes emitted
        at ``state.time`` (int32 scalar, 0 if none).
    """
    active = jnp.asarray(active, bool)
    weight = params.weights[jnp.maximum(channel, 0)]
    log_odds = state.log_odds + jnp.where(active, weight, 0.0)
    g = prediction(params, state, state.time)
    n_spikes = jnp.where(active & jnp.asarray(emit, bool),
                         spikes_needed(log_odds, g, params.g0), 0)
    fired = n_spikes > 0
    return state._replace(
        log_odds=log_odds,
        anchor_time=jnp.where(fired, state.time, state.anchor_time),
        anchor_value=jnp.where(fired, g + params.g0 * n_spikes, state.anchor_value),
        step=state.step + 1), n_spikes


def stepped_step(params: NeuronParams, state: NeuronState, evidence, *, dt: float,
                 method: str = "discrete", bias=None, log_lik_off=None,
                 with_normalizer: bool = False):
    """One bin of width ``dt`` (s): see :func:`bayesnn.neuron.stepped.make_step`.

    ``evidence`` is the bin's summed input evidence :math:`\\sum_i n_i w_i`; ``bias``
    the evidence of an empty bin (default -theta dt, Poisson counts). Returns ``(state,
    record)`` with :class:`bayesnn.neuron.stepped.StepRecord` (L, G at the bin's end,
    log Z_k, output spikes emitted at the bin's end).
    """
    from bayesnn.neuron.stepped import make_step
    bias = -params.theta * dt if bias is None else bias
    step = make_step(method, params, dt, bias, with_normalizer=with_normalizer)
    zero = jnp.zeros_like(state.log_odds)
    return step(state, (evidence, zero if log_lik_off is None else log_lik_off))


__all__ = ["NeuronState", "init_state", "prediction", "advance", "receive", "receive_count",
           "stepped_step"]
