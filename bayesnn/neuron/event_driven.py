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

The step functions using these results are in :mod:`bayesnn.neuron.functional`; the
kernel that scans them over a trial is :func:`bayesnn.neuron.kernels.event_kernel`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.neuron.flows import log_odds_flow, prior_flow

_ROOT_MAX_ITERATIONS = 100


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


def drift_can_fire(params) -> bool:
    """Whether drift between input spikes can ever make L cross G + g0/2 for the given
    parameters (or for any record of a stacked batch): needs theta < 0 and
    theta^2 > 4 alpha beta (module docstring)."""
    r_on, r_off = np.asarray(params.r_on), np.asarray(params.r_off)
    theta, g0 = np.asarray(params.theta), np.asarray(params.g0)
    alpha = r_on * (-np.expm1(-0.5 * g0))
    beta = r_off * np.expm1(0.5 * g0)
    return bool(np.any((theta < 0) & (theta * theta > 4.0 * alpha * beta)))


def _gap(log_odds, prediction, elapsed, r_on, r_off, theta, g0):
    """h(t) = L(t) - G(t) - g0/2 after ``elapsed`` seconds of drift."""
    return (log_odds_flow(log_odds, elapsed, r_on, r_off, theta)
            - prior_flow(prediction, elapsed, r_on, r_off) - 0.5 * g0)


def crossing_ahead(now, log_odds, prediction, until, r_on, r_off, theta, g0):
    """(exit time, h at exit time) from ``now``: a drift crossing lies before ``until``
    iff h > 0 there (module docstring)."""
    exit_time = _exit_time(prediction, until - now, r_on, r_off, theta, g0)
    return exit_time, _gap(log_odds, prediction, exit_time, r_on, r_off, theta, g0)


def crossing_time(log_odds, prediction, upper, gap_upper, r_on, r_off, theta, g0):
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


__all__ = ["drift_can_fire", "crossing_ahead", "crossing_time"]
