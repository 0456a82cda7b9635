r"""Exact event-driven integration of the Bayesian neuron (the default integrator).

Between input spikes L and G follow their closed-form flows
(:mod:`bayesnn.neuron.flows`); at a spike of input i, L jumps by exactly
:math:`w_i = \log(q^i_{on}/q^i_{off})`. This is exact for the continuous-time model:
no time step, unconditionally stable, no overflow for any finite L.

Output spikes fall at the exact times where :math:`h(t) = L(t) - G(t) - g_0/2`
crosses zero:

* at an input event, L jumps and ``ceil(h / g0)`` spikes are emitted at once if h > 0;
* between events, drift alone can make h cross zero. At a crossing
  :math:`\dot h = \psi(G) = \varphi(G + g_0/2) - \varphi(G) - \theta
  = -\alpha e^{-G} - \beta e^{G} - \theta` with
  :math:`\alpha = r_{on}(1 - e^{-g_0/2})`, :math:`\beta = r_{off}(e^{g_0/2} - 1)`, so an
  upward crossing needs :math:`\psi(G) > 0`, which happens only if :math:`\theta < 0` and
  G lies in the interval :math:`[G_-, G_+]` where
  :math:`\beta e^{2G} + \theta e^{G} + \alpha < 0`. G moves monotonically towards
  :math:`L^*`, so it leaves that interval at most once, at a time :math:`t_x` known in
  closed form; h cannot cross down while :math:`\psi > 0`. Hence a crossing occurs in
  the interval iff :math:`h(\min(t_x, \Delta)) > 0`, the root is unique in
  :math:`[0, \min(t_x, \Delta)]`, and it is found to ~1e-12 of the interval by the
  Illinois (bracketed regula falsi) method. After a spike G jumps by g0 and the
  search restarts from the spike time.

The kernel :func:`event_kernel` is a pure ``lax.scan`` over the merged stream of input
spikes and sample times, vmappable over trials.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.events import append_events, empty_buffer
from bayesnn.neuron.flows import log_odds_flow, prior_flow
from bayesnn.neuron.output import prediction_at, spikes_needed

_ROOT_MAX_ITERATIONS = 100


class EventKernelResult(NamedTuple):
    """Raw output of :func:`event_kernel` for one trial.

    Fields:
        log_odds: (S,) L at the sample times.
        prediction: (S,) G at the sample times.
        spike_times, spike_counts, n_spike_events: output spike events (see
            :class:`bayesnn.neuron.output.OutputSpikes`).
        final_log_odds, final_prediction: L and G at the last processed time.
    """

    log_odds: jax.Array
    prediction: jax.Array
    spike_times: jax.Array
    spike_counts: jax.Array
    n_spike_events: jax.Array
    final_log_odds: jax.Array
    final_prediction: jax.Array


def _exit_time(prediction, remaining, r_on, r_off, theta, g0):
    """Time (in [0, remaining]) after which drift can no longer cause a crossing."""
    alpha = r_on * (-jnp.expm1(-0.5 * g0))
    beta = r_off * jnp.expm1(0.5 * g0)
    discriminant = theta * theta - 4.0 * alpha * beta
    has_region = (theta < 0) & (discriminant > 0)
    root = jnp.sqrt(jnp.maximum(discriminant, 0.0))
    lower = jnp.log(2.0 * alpha) - jnp.log(jnp.maximum(-theta + root, 1e-300))
    upper = jnp.log(jnp.maximum(-theta + root, 1e-300)) - jnp.log(2.0 * beta)
    prior = jnp.log(r_on / r_off)
    moving_down = prediction > prior
    target = jnp.where(moving_down, lower, upper)
    never_exits = jnp.where(moving_down, prior >= lower, prior <= upper)
    stationary = r_on / (r_on + r_off)
    ratio = (jax.nn.sigmoid(prediction) - stationary) / (jax.nn.sigmoid(target) - stationary)
    reach = jnp.log(jnp.where(ratio > 1.0, ratio, 1.0)) / (r_on + r_off)
    exit_time = jnp.where(never_exits, remaining, jnp.minimum(reach, remaining))
    return jnp.where(has_region, exit_time, 0.0)


def drift_can_fire(r_on: float, r_off: float, theta: float, g0: float) -> bool:
    """Whether drift between input spikes can ever make L cross G + g0/2: needs
    theta < 0 and theta^2 > 4 alpha beta (module docstring)."""
    alpha = r_on * (-np.expm1(-0.5 * g0))
    beta = r_off * np.expm1(0.5 * g0)
    return bool(theta < 0 and theta * theta > 4.0 * alpha * beta)


def _gap(log_odds, prediction, elapsed, r_on, r_off, theta, g0):
    """h(t) = L(t) - G(t) - g0/2 after ``elapsed`` seconds of drift."""
    return (log_odds_flow(log_odds, elapsed, r_on, r_off, theta)
            - prior_flow(prediction, elapsed, r_on, r_off) - 0.5 * g0)


def _crossing_time(log_odds, prediction, upper, gap_upper, r_on, r_off, theta, g0):
    """Root of h on [0, upper] with h(0) <= 0 < h(upper) (Illinois method)."""
    gap_lower = log_odds - prediction - 0.5 * g0

    def keep_going(state):
        lower, upper, _, _, _, point, gap_point, iteration = state
        width_ok = (upper - lower) > 1e-13 * jnp.maximum(upper, 1e-300)
        return width_ok & (gap_point != 0.0) & (iteration < _ROOT_MAX_ITERATIONS)

    def step(state):
        lower, upper, f_lower, f_upper, side, _, _, iteration = state
        point = (lower * f_upper - upper * f_lower) / (f_upper - f_lower)
        point = jnp.clip(point, lower, upper)
        f_point = _gap(log_odds, prediction, point, r_on, r_off, theta, g0)
        above = f_point >= 0  # a point with h = 0 exactly is the root: keep it as upper
        # Illinois: halve the retained end's value when the same end is kept twice.
        f_lower = jnp.where(above & (side == 1), 0.5 * f_lower, f_lower)
        f_upper = jnp.where(~above & (side == -1), 0.5 * f_upper, f_upper)
        lower, f_lower = jnp.where(above, lower, point), jnp.where(above, f_lower, f_point)
        upper, f_upper = jnp.where(above, point, upper), jnp.where(above, f_point, f_upper)
        return (lower, upper, f_lower, f_upper, jnp.where(above, 1, -1), point, f_point,
                iteration + 1)

    zero = jnp.zeros_like(upper)
    state = (zero, upper, gap_lower, gap_upper, jnp.array(0), upper, gap_upper, jnp.array(0))
    state = jax.lax.while_loop(keep_going, step, state)
    return state[1]  # the upper end: h >= 0 there, so the spike is never early


def event_kernel(spike_times, spike_channels, sample_times, weights, r_on, r_off, theta,
                 g0, initial_log_odds, initial_prediction, *,
                 capacity: int, drift_spikes: bool = True) -> EventKernelResult:
    """Run one neuron over one trial's input events, event by event.

    Args:
        spike_times: (K,) sorted input spike times, s.
        spike_channels: (K,) int input index per spike; negative = padding (no-op).
        sample_times: (S,) sorted times at which L and G are recorded, s. A sample at
            the time of an input spike sees the jump.
        weights: (N,) jump of L per input spike.
        r_on, r_off, theta: rates (Hz); g0: jump of G per output spike.
        initial_log_odds, initial_prediction: L and G at t = 0.
        capacity: static number of output-spike event slots.
        drift_spikes: static; False skips the search for drift-driven crossings, which
            is exact whenever :func:`drift_can_fire` is False (theta >= 0, or no G
            for which psi(G) > 0).
    """
    n_inputs, n_samples = spike_times.shape[0], sample_times.shape[0]
    # Both streams are sorted, so the merged position of each element is its own index
    # plus the number of elements of the other stream before it (inputs first at ties).
    input_slots = jnp.arange(n_inputs) + jnp.searchsorted(sample_times, spike_times, side="left")
    sample_slots = jnp.arange(n_samples) + jnp.searchsorted(spike_times, sample_times, side="right")
    times = (jnp.zeros(n_inputs + n_samples, spike_times.dtype)
             .at[input_slots].set(spike_times).at[sample_slots].set(sample_times))
    channels = (jnp.zeros(n_inputs + n_samples, jnp.int32)
                .at[input_slots].set(spike_channels.astype(jnp.int32)).at[sample_slots].set(-2))
    dtype = jnp.result_type(float)

    def crossing_ahead(now, log_odds, prediction, until):
        """(exit time, h at exit time): a drift crossing lies ahead iff h > 0 there."""
        exit_time = _exit_time(prediction, until - now, r_on, r_off, theta, g0)
        return exit_time, _gap(log_odds, prediction, exit_time, r_on, r_off, theta, g0)

    # G is carried as an anchor (time and value just after the last output spike) and
    # evaluated with one flow from it, exactly as the decoder does.
    def drift(state, until):
        """Advance (t, L, anchor, buffer) to ``until``, emitting drift-driven spikes."""
        def pending(loop_state):
            now, log_odds, anchor_time, anchor_value, _ = loop_state
            prediction = prediction_at(anchor_time, anchor_value, now, r_on, r_off)
            return crossing_ahead(now, log_odds, prediction, until)[1] > 0

        def fire(loop_state):
            now, log_odds, anchor_time, anchor_value, buffer = loop_state
            prediction = prediction_at(anchor_time, anchor_value, now, r_on, r_off)
            exit_time, gap_exit = crossing_ahead(now, log_odds, prediction, until)
            crossing = _crossing_time(log_odds, prediction, exit_time, gap_exit,
                                      r_on, r_off, theta, g0)
            spike_time = now + crossing
            buffer = append_events(buffer, spike_time[None], jnp.ones(1, jnp.int32),
                                   jnp.ones(1, bool))
            new_anchor = prediction_at(anchor_time, anchor_value, spike_time, r_on, r_off) + g0
            return (spike_time, log_odds_flow(log_odds, crossing, r_on, r_off, theta),
                    spike_time, new_anchor, buffer)

        if drift_spikes:
            state = jax.lax.while_loop(pending, fire, state)
        now, log_odds, anchor_time, anchor_value, buffer = state
        return (until, log_odds_flow(log_odds, until - now, r_on, r_off, theta),
                anchor_time, anchor_value, buffer)

    def visit(carry, event):
        state, sample_log_odds, sample_prediction, sample_index = carry
        time, channel = event
        now, log_odds, anchor_time, anchor_value, buffer = drift(state, time)
        is_input = channel >= 0
        log_odds = log_odds + jnp.where(is_input, weights[jnp.maximum(channel, 0)], 0.0)
        prediction = prediction_at(anchor_time, anchor_value, time, r_on, r_off)
        n_spikes = jnp.where(is_input, spikes_needed(log_odds, prediction, g0), 0)
        fired = n_spikes > 0
        anchor_time = jnp.where(fired, time, anchor_time)
        anchor_value = jnp.where(fired, prediction + g0 * n_spikes, anchor_value)
        prediction = jnp.where(fired, anchor_value, prediction)
        # One event carrying n spikes, stored as (time, multiplicity).
        buffer = append_events(buffer, jnp.full((1,), time), n_spikes[None], fired[None])
        is_sample = channel == -2
        slot = jnp.where(is_sample, sample_index, n_samples)
        sample_log_odds = sample_log_odds.at[slot].set(log_odds, mode="drop")
        sample_prediction = sample_prediction.at[slot].set(prediction, mode="drop")
        return ((now, log_odds, anchor_time, anchor_value, buffer), sample_log_odds,
                sample_prediction, sample_index + is_sample.astype(jnp.int32)), None

    zero = jnp.zeros((), dtype)
    start = (zero, jnp.asarray(initial_log_odds, dtype), zero,
             jnp.asarray(initial_prediction, dtype), empty_buffer(capacity, dtype))
    carry = (start, jnp.zeros(n_samples, dtype), jnp.zeros(n_samples, dtype), jnp.array(0))
    (final, sample_log_odds, sample_prediction, _), _ = jax.lax.scan(visit, carry, (times, channels))
    now, final_log_odds, anchor_time, anchor_value, buffer = final
    final_prediction = prediction_at(anchor_time, anchor_value, now, r_on, r_off)
    return EventKernelResult(sample_log_odds, sample_prediction, buffer.times,
                             jnp.maximum(buffer.senders, 0), buffer.count,
                             final_log_odds, final_prediction)
