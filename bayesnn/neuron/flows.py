r"""Closed-form flows of the log-odds between input spikes.

Between input spikes the posterior log-odds obeys (Denève 2004)

.. math::  \dot L = \varphi(L) - \theta, \qquad
           \varphi(L) = r_{on}(1 + e^{-L}) - r_{off}(1 + e^{L}),

which is the log-ratio of the linear system
:math:`\dot\rho = M\rho`, :math:`\rho = (\rho_1, \rho_0)`,
:math:`M = [[-r_{off} - Q_{on},\ r_{on}],\ [r_{off},\ -r_{on} - Q_{off}]]`.
For a 2x2 matrix :math:`e^{Mt} = e^{at}[\cosh(st) I + \sinh(st)/s\,(M - aI)]` with
:math:`a = \mathrm{tr}\,M/2`, :math:`d = (M_{11} - M_{22})/2 = (r_{on} - r_{off} - \theta)/2`
and :math:`s = \sqrt{d^2 + r_{on} r_{off}}`. Dividing by :math:`e^{at}\cosh(st)/s` and
writing :math:`u = \tanh(st)` gives the exact flow over a time t:

.. math::  e^{L(t)} = \frac{(s + d u)\, e^{L} + r_{on} u}{r_{off} u\, e^{L} + (s - d u)}

evaluated here in log space with ``logaddexp``, so it never overflows for any
finite L (|L| up to ~1e300 in float64). The factors :math:`s \pm d u` are computed
without cancellation: when :math:`\pm d < 0` they equal
:math:`r_{on} r_{off}/(s + |d|) + |d| (1 - u)` with :math:`1 - u = 2\sigma(-2st)`.

The prediction G of the output spikes follows the same flow with :math:`\theta = 0`
(the prior leak alone); there :math:`s = (r_{on} + r_{off})/2`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def log_odds_flow(log_odds: jax.Array, elapsed: jax.Array, r_on: float, r_off: float,
                  theta: float) -> jax.Array:
    """Exact solution of dL/dt = phi(L) - theta after ``elapsed`` seconds (>= 0).

    Broadcasts over ``log_odds`` and ``elapsed``; rates in Hz, theta in Hz.
    """
    half_gap = 0.5 * (r_on - r_off - theta)
    s = jnp.sqrt(half_gap * half_gap + r_on * r_off)
    # elapsed = 0 returns log_odds exactly: the formula equals it only to ~1 ulp there,
    # and its log(r u) terms at u = 0 would make every gradient NaN (also through the
    # unselected branch of a where), hence the placeholder time in that branch.
    moved = elapsed > 0
    elapsed = jnp.where(moved, elapsed, 1.0)
    u = jnp.tanh(s * elapsed)
    one_minus_u = 2.0 * jax.nn.sigmoid(-2.0 * s * elapsed)
    small = r_on * r_off / (s + jnp.abs(half_gap)) + jnp.abs(half_gap) * one_minus_u
    grow = jnp.where(half_gap >= 0, s + half_gap * u, small)    # s + d u
    shrink = jnp.where(half_gap <= 0, s - half_gap * u, small)  # s - d u
    numerator = jnp.logaddexp(jnp.log(grow) + log_odds, jnp.log(r_on * u))
    denominator = jnp.logaddexp(jnp.log(r_off * u) + log_odds, jnp.log(shrink))
    return jnp.where(moved, numerator - denominator, log_odds)


def prior_flow(prediction: jax.Array, elapsed: jax.Array, r_on: float, r_off: float) -> jax.Array:
    """Exact solution of dG/dt = phi(G) (prior leak, no evidence) after ``elapsed`` s."""
    return log_odds_flow(prediction, elapsed, r_on, r_off, 0.0)


def leak(log_odds: jax.Array, r_on: float, r_off: float) -> jax.Array:
    """phi(L) = r_on (1 + e^{-L}) - r_off (1 + e^{L}) in Hz (overflows past |L| ~ 709)."""
    return r_on * (1.0 + jnp.exp(-log_odds)) - r_off * (1.0 + jnp.exp(log_odds))


def leak_stiffness(log_odds: jax.Array, r_on: float, r_off: float) -> jax.Array:
    """k(L) = r_on e^{-L} + r_off e^{L} = -phi'(L), Hz; computed as exp(log k), so it is
    +inf rather than NaN where it overflows."""
    return jnp.exp(jnp.logaddexp(jnp.log(r_on) - log_odds, jnp.log(r_off) + log_odds))


__all__ = ["log_odds_flow", "prior_flow", "leak", "leak_stiffness"]
