r"""Time-stepped integrators of the Bayesian neuron (bin width ``dt``, seconds).

Both take, per bin k, the summed evidence :math:`e_k = \sum_i n_{ik} w_i` of the input
counts and use the same convention in every bin: drift (or predict) first, then the
jump of the bin's spikes, then the output-spike rule.

``"discrete"`` — exact forward recursion of the *binned* model (log-space):

.. math::
    L^-_k &= \log[(1 - a_{off}) e^{L_{k-1}} + a_{on}] - \log[a_{off} e^{L_{k-1}} + 1 - a_{on}]\\
    L_k &= L^-_k + e_k + b, \qquad b = -\theta\,dt \ \text{(Poisson counts)}

with the exact transition probabilities
:math:`a_{on} = r_{on}/(r_{on}+r_{off})\,(1 - e^{-(r_{on}+r_{off})dt})` (``a_off``
likewise). For Bernoulli bins the weights become
:math:`w_i - c_i` and :math:`b = \sum_i c_i`,
:math:`c_i = \log(1 - q^i_{on} dt) - \log(1 - q^i_{off} dt)`. The per-bin normaliser
:math:`\log Z_k = \ell^0_k + \mathrm{logaddexp}(\log\sigma(L^-_k) + e_k + b,\ \log\sigma(-L^-_k))`,
with :math:`\ell^0_k = \log P(n_k \mid x = 0)`, sums to the exact log marginal
likelihood of the binned data. The predict step is bounded in
:math:`[\mathrm{logit}\,a_{on}, \mathrm{logit}(1 - a_{off})]` and never overflows.

``"euler"`` — forward Euler on Denève's ODE, :math:`L_k = L_{k-1} + dt(\varphi(L_{k-1}) - \theta) + e_k`,
first order in dt. Euler is unstable where :math:`dt\,k(L) \ge 1`
(:math:`k(L) = r_{on}e^{-L} + r_{off}e^{L}`), e.g. after a large jump; there the
step is replaced by an exponential-Euler step
:math:`L + (\varphi(L) - \theta)(1 - e^{-k(L)dt})/k(L)` (the *stability guard*: exact
for the linearised drift, stable for any dt, still first order) and the number of
guarded steps is reported, instead of a silent blow-up.

G always uses its exact prior flow (it has a closed form and no evidence term),
evaluated from its value after the last output spike, so a decoder fed the output
spike counts at the bin ends rebuilds it to rounding.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.spikes import Spikes, append_spikes
from bayesnn.neuron.flows import leak, leak_stiffness
from bayesnn.neuron.output import prediction_at, spikes_needed

METHODS = ("discrete", "euler")


class StepRecord(NamedTuple):
    """Per-bin record: L and G at the end of the bin, log Z_k (discrete method with
    normalisers, else 0) and the number of output spikes emitted at the end of the bin."""

    log_odds: jax.Array
    prediction: jax.Array
    log_normalizer: jax.Array
    n_spikes: jax.Array


def transition_probabilities(params, dt):
    """(a_on, a_off): exact one-bin switching probabilities of the hidden chain."""
    total = params.r_on + params.r_off
    relaxed = -jnp.expm1(-total * dt)
    return params.r_on / total * relaxed, params.r_off / total * relaxed


def discrete_predict(log_odds, a_on, a_off):
    """L^-_k from L_{k-1}: log[(1 - a_off) e^L + a_on] - log[a_off e^L + 1 - a_on].
    Elementwise, so it also maps a whole array of L_{k-1} at once."""
    # Clipping L where e^L would overflow changes the result by less than one ulp.
    limit = 0.9 * jnp.log(jnp.finfo(log_odds.dtype).max)
    odds = jnp.exp(jnp.clip(log_odds, -limit, limit))
    return jnp.log(((1.0 - a_off) * odds + a_on) / (a_off * odds + (1.0 - a_on)))


def discrete_normalizer(predicted, evidence, log_lik_off, bias):
    """log Z_k from L^-_k (elementwise)."""
    return log_lik_off + jnp.logaddexp(jax.nn.log_sigmoid(predicted) + evidence + bias,
                                       jax.nn.log_sigmoid(-predicted))


def make_step(method: str, params, dt, bias, with_normalizer: bool = False):
    """Step function ``(NeuronState, (evidence_k, log_lik_off_k)) -> (NeuronState,
    StepRecord)`` for ``params`` (a :class:`bayesnn.neuron.NeuronParams`).

    ``bias`` is the evidence of an empty bin (-theta dt for Poisson counts).
    ``with_normalizer`` (static) computes log Z_k; runs that do not need it skip it.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    r_on, r_off, theta, g0 = params.r_on, params.r_off, params.theta, params.g0
    a_on, a_off = transition_probabilities(params, dt)

    def step(state, inputs):
        evidence, log_lik_off = inputs
        log_odds, n_guarded = state.log_odds, state.n_guarded
        log_normalizer = jnp.zeros_like(log_odds)
        if method == "discrete":
            predicted = discrete_predict(log_odds, a_on, a_off)
            if with_normalizer:
                log_normalizer = discrete_normalizer(predicted, evidence, log_lik_off, bias)
            log_odds = predicted + evidence + bias
        else:
            # Past |L| ~ 709 e^L overflows; there the drift is -sign(L) * k(L) to within
            # one ulp of the clipped value, so clipping keeps the step exact.
            limit = 0.9 * jnp.log(jnp.finfo(log_odds.dtype).max)
            clipped = jnp.clip(log_odds, -limit, limit)
            stiffness = leak_stiffness(clipped, r_on, r_off)
            drift = leak(clipped, r_on, r_off) - theta
            stiff = dt * stiffness >= 1.0
            euler = dt * drift
            exponential = drift * (-jnp.expm1(-stiffness * dt)) / stiffness
            log_odds = log_odds + jnp.where(stiff, exponential, euler) + evidence
            n_guarded = n_guarded + stiff.astype(jnp.int32)
        step_index = state.step + 1
        time = (step_index * dt).astype(state.time.dtype)
        prediction = prediction_at(state.anchor_time, state.anchor_value, time, r_on, r_off)
        n_spikes = spikes_needed(log_odds, prediction, g0)
        fired = n_spikes > 0
        anchor_time = jnp.where(fired, time, state.anchor_time)
        anchor_value = jnp.where(fired, prediction + g0 * n_spikes, state.anchor_value)
        prediction = jnp.where(fired, anchor_value, prediction)
        new_state = state._replace(time=time, log_odds=log_odds, anchor_time=anchor_time,
                                   anchor_value=anchor_value, step=step_index,
                                   n_guarded=n_guarded)
        return new_state, StepRecord(log_odds, prediction, log_normalizer, n_spikes)

    return step


def collect_spikes(spikes: Spikes, n_spikes: jax.Array, first_step, dt) -> Spikes:
    """Move per-bin spike counts (steps ``first_step + 1 ...``) into ``spikes`` as
    (time, multiplicity) events, with one scatter for the whole block."""
    steps = first_step + 1 + jnp.arange(n_spikes.shape[0])
    return append_spikes(spikes, steps * dt, 0, n_spikes, n_spikes > 0)


__all__ = ["METHODS", "StepRecord", "transition_probabilities", "discrete_predict",
           "discrete_normalizer", "make_step", "collect_spikes"]
