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
from bayesnn.neuron.output import prediction_at, prior_flow_ratio, spikes_needed

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
    return jnp.log(discrete_predict_ratio(log_odds, a_on, a_off))


def discrete_predict_ratio(log_odds, a_on, a_off):
    """exp(L^-_k): [(1 - a_off) e^L + a_on] / [a_off e^L + 1 - a_on], whose log is
    :func:`discrete_predict` (elementwise)."""
    # Clipping L where e^L would overflow changes the result by less than one ulp.
    limit = 0.9 * jnp.log(jnp.finfo(log_odds.dtype).max)
    odds = jnp.exp(jnp.clip(log_odds, -limit, limit))
    return ((1.0 - a_off) * odds + a_on) / (a_off * odds + (1.0 - a_on))


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
        time = _bin_end(state, dt)
        prediction = prediction_at(state.anchor_time, state.anchor_value, time, r_on, r_off)
        new_state, prediction, n_spikes = _fire(state, time, log_odds, prediction, g0)
        new_state = new_state._replace(n_guarded=n_guarded)
        return new_state, StepRecord(log_odds, prediction, log_normalizer, n_spikes)

    return step


def _bin_end(state, dt):
    """Time (s) at the end of the bin that follows ``state``."""
    return ((state.step + 1) * dt).astype(state.time.dtype)


def _fire(state, time, log_odds, prediction, g0):
    """The output rule at the end of a bin: ``n = ceil((L - G - g0/2)/g0)`` spikes where
    positive, G's anchor moved to (time, G + n g0). Returns (state, G after the spikes,
    n)."""
    n_spikes = spikes_needed(log_odds, prediction, g0)
    fired = n_spikes > 0
    anchor_time = jnp.where(fired, time, state.anchor_time)
    anchor_value = jnp.where(fired, prediction + g0 * n_spikes, state.anchor_value)
    prediction = jnp.where(fired, anchor_value, prediction)
    state = state._replace(time=time, log_odds=log_odds, anchor_time=anchor_time,
                           anchor_value=anchor_value, step=state.step + 1)
    return state, prediction, n_spikes


def make_discrete_split_step(params, dt, bias):
    """The "discrete" step of :func:`make_step` (without log Z) as ``(prepare, step)``
    for time-stepped kernels, with the same operations on the same numbers.

    ``prepare(state)`` computes, from the state after a bin, the two ratios whose logs
    the next bin needs, exp(L^-) (:func:`discrete_predict_ratio`) and exp(G) before any
    spike (:func:`bayesnn.neuron.output.prior_flow_ratio`): four of the six
    transcendental operations of a step, all exp/expm1. ``step(state, carried,
    evidence_k) -> (state, carried, StepRecord)`` takes the two logs and fires. A scan
    that carries them keeps the exps out of the loops that hold the logs, which XLA:CPU
    then vectorises (the W1 stepped run ~25 % less CPU time).

    The bin-end times also travel in the carry, each computed one bin ahead: a time
    computed in the loop that subtracts it could be fused into one FMA, i.e. not
    rounded to the stored (and decoded) spike time, which moved G by up to 1e-14 per
    bin (seen unbatched)."""
    r_on, r_off, g0 = params.r_on, params.r_off, params.g0
    a_on, a_off = transition_probabilities(params, dt)

    def ahead(state, time):
        # time: the (rounded) end of the next bin; also returns the end of the one after.
        return (discrete_predict_ratio(state.log_odds, a_on, a_off),
                prior_flow_ratio(state.anchor_time, state.anchor_value, time, r_on, r_off),
                time, ((state.step + 2) * dt).astype(state.time.dtype))

    def prepare(state):
        return ahead(state, _bin_end(state, dt))

    def step(state, carried, evidence):
        predict_ratio, prior_ratio, time, following = carried
        log_odds = jnp.log(predict_ratio) + evidence + bias
        prediction = jnp.where(time - state.anchor_time > 0, jnp.log(prior_ratio),
                               state.anchor_value)
        state, prediction, n_spikes = _fire(state, time, log_odds, prediction, g0)
        return state, ahead(state, following), StepRecord(log_odds, prediction,
                                                          jnp.zeros_like(log_odds), n_spikes)

    return prepare, step


def collect_spikes(spikes: Spikes, n_spikes: jax.Array, first_step, dt) -> Spikes:
    """Move per-bin spike counts (steps ``first_step + 1 ...``) into ``spikes`` as
    (time, multiplicity) events, with one scatter for the whole block."""
    steps = first_step + 1 + jnp.arange(n_spikes.shape[0])
    return append_spikes(spikes, steps * dt, 0, n_spikes, n_spikes > 0)


__all__ = ["METHODS", "StepRecord", "transition_probabilities", "discrete_predict",
           "discrete_predict_ratio", "discrete_normalizer", "make_step",
           "make_discrete_split_step", "collect_spikes"]
