r"""Exact sampling of the Markov-modulated Poisson model, as spike events.

Continuous time: dwell times of the hidden chain are drawn from exponentials; inputs by
thinning a homogeneous Poisson process of rate :math:`\sum_i \max(q^i_{on}, q^i_{off})`
(inter-arrival gaps are exponential, so candidate times come out sorted) with the
channel drawn by inverse CDF (O(events) memory) and accepted with probability
:math:`q^i_{x(t)}/\max(q^i_{on}, q^i_{off})`.

Binned model (bin width dt): the chain moves with the exact one-bin switching
probabilities :math:`a_{on} = r_{on}/(r_{on}+r_{off})(1 - e^{-(r_{on}+r_{off})dt})`
(``a_off`` likewise); counts are Poisson with mean ``q dt`` (or Bernoulli, ``q dt < 1``).

Randomness: one key per trial (an int seed or a JAX key); trial k of a batch uses
``fold_in(key, k)``. Random draws are prefix-consistent in the buffer size, so a run
with a larger buffer (the overflow policy, :func:`bayesnn.core.run_growing`) gives the
same spikes.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import KeyLike, as_key, trial_keys
from bayesnn.core.params import is_traced, to_device
from bayesnn.core.precision import require_time_resolution
from bayesnn.core.spikes import Spikes, bucket_capacity, next_power_of_two, run_growing
from bayesnn.core.validation import require_positive
from bayesnn.processes.params import MMPPParams, model_of


class Trial(NamedTuple):
    """One sampled trial of the continuous-time model (times in seconds; a leading
    trial axis on every field when batched).

    Fields:
        initial_state: () int32, x at t = 0.
        switch_times: (switch_capacity,) sorted times at which x flips; +inf padding.
        inputs: :class:`bayesnn.core.Spikes` of the N inputs (sender = input index).
        duration: () trial length, s.
    """

    initial_state: jax.Array
    switch_times: jax.Array
    inputs: Spikes
    duration: jax.Array

    def state_at(self, times) -> jax.Array:
        """Hidden state x(t) at ``times`` (right-continuous), (..., S)."""
        times = to_device(times)
        if self.switch_times.ndim == 1:
            return state_at(self.initial_state, self.switch_times, times)
        return _states_at(self.initial_state, self.switch_times, times)


class BinnedTrial(NamedTuple):
    """One sampled trial of the binned model.

    Fields:
        initial_state: () int32, x_0 (before the first bin).
        states: (T,) int32, x_k for bins k = 1..T.
        counts: (T, N) int32 input counts per bin.
    """

    initial_state: jax.Array
    states: jax.Array
    counts: jax.Array


@jax.jit  # one program (eager calls would dispatch three)
def state_at(initial_state: jax.Array, switch_times: jax.Array, times: jax.Array) -> jax.Array:
    """Hidden state x(t) at ``times`` (right-continuous), from one trial's switch times."""
    n_switches_before = jnp.searchsorted(switch_times, times, side="right")
    return (initial_state + n_switches_before) % 2


_states_at = jax.jit(jax.vmap(state_at, in_axes=(0, 0, None)))


def _draw_channels(key, rates, size: int) -> jax.Array:
    """``size`` channel indices with P(i) = rates[i] / sum(rates), by inverse CDF:
    O(size) memory (``jax.random.categorical`` would draw size x N Gumbel variates)."""
    cumulative = jnp.cumsum(rates)
    uniforms = jax.random.uniform(key, (size,), dtype=cumulative.dtype) * cumulative[-1]
    return jnp.minimum(jnp.searchsorted(cumulative, uniforms, side="right"),
                       rates.shape[0] - 1).astype(jnp.int32)


def sample_kernel(key: jax.Array, params: MMPPParams, duration, initial_state,
                  switch_capacity: int, spike_capacity: int) -> tuple[Trial, jax.Array, jax.Array]:
    """Traceable sampler of one trial (for use inside jit/vmap, e.g. sweeps).

    ``initial_state`` < 0 draws x(0) from the stationary law. Returns ``(trial,
    n_switch_draws_needed, n_spike_draws_needed)``: the buffers were large enough iff
    each count is <= its capacity (else rerun with larger capacities; results agree).
    """
    key_state, key_dwell, key_gaps, key_channel, key_accept = jax.random.split(key, 5)
    dtype = jnp.result_type(float)
    r_on, r_off, q_on, q_off = params.r_on, params.r_off, params.q_on, params.q_off
    sampled_state = jax.random.bernoulli(key_state, r_on / (r_on + r_off)).astype(jnp.int32)
    x0 = jnp.where(initial_state < 0, sampled_state, initial_state).astype(jnp.int32)

    # Dwell k is spent in state x0 XOR (k mod 2); leaving rate r_on from 0, r_off from 1.
    state_of_dwell = (x0 + jnp.arange(switch_capacity)) % 2
    leave_rate = jnp.where(state_of_dwell == 1, r_off, r_on)
    dwell = jax.random.exponential(key_dwell, (switch_capacity,), dtype=dtype) / leave_rate
    ends = jnp.cumsum(dwell)
    # A draw is needed for every switch before the end, plus the one that passes it.
    switches_needed = jnp.sum(ends < duration, dtype=jnp.int32) + 1
    switch_times = jnp.where(ends < duration, ends, jnp.inf)

    q_max = jnp.maximum(q_on, q_off)
    gaps = jax.random.exponential(key_gaps, (spike_capacity,), dtype=dtype) / jnp.sum(q_max)
    candidate_times = jnp.cumsum(gaps)
    candidates_needed = jnp.sum(candidate_times < duration, dtype=jnp.int32) + 1
    channels = _draw_channels(key_channel, q_max, spike_capacity)
    state = state_at(x0, switch_times, candidate_times)
    rate = jnp.where(state == 1, q_on[channels], q_off[channels])
    accept = jax.random.uniform(key_accept, (spike_capacity,), dtype=dtype) * q_max[channels] < rate
    keep = accept & (candidate_times < duration)
    times = jnp.where(keep, candidate_times, jnp.inf)
    senders = jnp.where(keep, channels, -1).astype(jnp.int32)
    # Move padding to the end; a stable sort keeps the real spikes in time order.
    times, senders = jax.lax.sort((times, senders), num_keys=1, is_stable=True)
    inputs = Spikes(times, senders, (senders >= 0).astype(jnp.int32),
                    jnp.sum(keep, dtype=jnp.int32))
    trial = Trial(x0, switch_times, inputs, jnp.asarray(duration, dtype))
    return trial, switches_needed, candidates_needed


def sample_capacities(params, duration: float) -> tuple[int, int]:
    """Bucketed buffer sizes (switch draws, candidate input spikes) for one trial."""
    rate = float(np.max(np.maximum(np.asarray(params.r_on), np.asarray(params.r_off))))
    model = model_of(params)  # the majorant sum_i max(q_on, q_off) in NumPy: no program
    majorant = float(np.max(np.sum(np.maximum(np.asarray(model.q_on), np.asarray(model.q_off)),
                                   axis=-1)))
    return bucket_capacity(rate * duration), bucket_capacity(majorant * duration)


@partial(jax.jit, static_argnames=("switch_capacity", "spike_capacity", "batched"))
def _sample_jit(keys, params, duration, initial_state, *, switch_capacity, spike_capacity,
                batched):
    one = partial(sample_kernel, params=params, duration=duration, initial_state=initial_state,
                  switch_capacity=switch_capacity, spike_capacity=spike_capacity)
    return jax.vmap(lambda k: one(k))(keys) if batched else one(keys)


def _fastest_rate(model) -> float:
    """Sum of every rate that sets a time scale of the model, Hz (float32 time check)."""
    return float(float(model.r_on) + float(model.r_off)
                 + np.sum(np.maximum(np.asarray(model.q_on), np.asarray(model.q_off))))


def _check(params, duration, initial_state):
    if is_traced(params):
        raise ValueError("params must hold concrete values here; inside jit use sample_kernel")
    model = model_of(params)
    if np.asarray(model.r_on).ndim != 0:
        raise ValueError("params must be one parameter record, not a stacked batch "
                         "(use bayesnn.sweep for batches of parameters)")
    duration = float(require_positive("duration", duration, ndim=0))
    require_time_resolution("sampling", duration, _fastest_rate(model))
    if initial_state not in (None, 0, 1):
        raise ValueError(f"initial_state must be None, 0 or 1, got {initial_state!r}")
    return model, duration, -1 if initial_state is None else int(initial_state)


def _sample(params, keys, duration, initial_state, batched) -> Trial:
    model, duration, x0 = _check(params, duration, initial_state)
    switch_capacity, spike_capacity = sample_capacities(model, duration)

    def run(capacity_pair):
        return _sample_jit(keys, model, duration, x0, switch_capacity=capacity_pair[0],
                           spike_capacity=capacity_pair[1], batched=batched)

    capacities = [switch_capacity, spike_capacity]
    while True:
        trial, switches, candidates = run(capacities)
        needed = [int(np.max(np.asarray(switches))), int(np.max(np.asarray(candidates)))]
        if needed[0] <= capacities[0] and needed[1] <= capacities[1]:
            return trial
        capacities = [max(c, next_power_of_two(n)) for c, n in zip(capacities, needed)]


def sample_trial(params, *, key: KeyLike, duration: float,
                 initial_state: int | None = None) -> Trial:
    """Sample one continuous-time trial.

    Args:
        params: an :class:`MMPPParams` or any record holding r_on, r_off, q_on, q_off
            (e.g. a :class:`bayesnn.neuron.NeuronParams`).
        key: int seed or JAX PRNG key.
        duration: trial length, s, > 0.
        initial_state: 0 or 1 to fix x(0); None draws it from the stationary law.

    Returns:
        :class:`Trial` (inputs as :class:`bayesnn.core.Spikes`, sender = input index).

    Raises:
        ValueError: naming the argument, for bad input.
        PrecisionError: in float32, if float32 times up to ``duration`` are too coarse
            for the model's rates (:func:`bayesnn.core.require_time_resolution`).
    """
    return _sample(params, as_key(key), duration, initial_state, batched=False)


def sample_trials(params, *, key: KeyLike, n_trials: int, duration: float,
                  initial_state: int | None = None) -> Trial:
    """Sample ``n_trials`` trials; trial k equals ``sample_trial(params,
    key=fold_in(key, k))`` bit for bit, whatever ``n_trials``. Fields gain a leading
    trial axis."""
    return _sample(params, trial_keys(key, n_trials), duration, initial_state, batched=True)


def transition_probabilities(r_on: float, r_off: float, dt: float) -> tuple[float, float]:
    """Exact one-bin switching probabilities (a_on = P(0->1), a_off = P(1->0))."""
    total = r_on + r_off
    relaxed = -np.expm1(-total * dt)
    return r_on / total * relaxed, r_off / total * relaxed


def sample_binned(params, *, key: KeyLike, dt: float, n_steps: int,
                  observation: str = "poisson", initial_state: int | None = None) -> BinnedTrial:
    """Sample the binned model: T = ``n_steps`` bins of width ``dt`` (s).

    x_0 is drawn from the stationary law (or fixed by ``initial_state``); each bin first
    moves the chain with the exact transition probabilities, then draws counts
    ``n[k, i] ~ Poisson(q_{x_k}[i] dt)`` (``observation="poisson"``) or
    ``Bernoulli(q dt)`` (``"bernoulli"``, which needs ``q dt < 1``).
    """
    model = model_of(params)
    dt = float(require_positive("dt", dt, ndim=0))
    if not isinstance(n_steps, (int, np.integer)) or int(n_steps) < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if observation not in ("poisson", "bernoulli"):
        raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}")
    q_on, q_off = np.asarray(model.q_on), np.asarray(model.q_off)
    if observation == "bernoulli" and np.max(np.maximum(q_on, q_off)) * dt >= 1:
        raise ValueError("q_on * dt and q_off * dt must be < 1 for Bernoulli bins "
                         f"(max q * dt = {np.max(np.maximum(q_on, q_off)) * dt:.3g})")
    if initial_state not in (None, 0, 1):
        raise ValueError(f"initial_state must be None, 0 or 1, got {initial_state!r}")
    r_on, r_off = float(model.r_on), float(model.r_off)
    a_on, a_off = transition_probabilities(r_on, r_off, dt)
    return _sample_binned(as_key(key), a_on, a_off, r_on / (r_on + r_off), model.q_on,
                          model.q_off, dt, int(n_steps), observation,
                          -1 if initial_state is None else int(initial_state))


@partial(jax.jit, static_argnums=(7, 8))
def _sample_binned(key, a_on, a_off, p_stationary, q_on, q_off, dt, n_steps, observation,
                   initial_state):
    key_x0, key_switch, key_counts = jax.random.split(key, 3)
    sampled = jax.random.bernoulli(key_x0, p_stationary).astype(jnp.int32)
    x0 = jnp.where(initial_state < 0, sampled, initial_state).astype(jnp.int32)
    uniforms = jax.random.uniform(key_switch, (n_steps,), dtype=jnp.result_type(float))

    def move(x, u):
        flip = jnp.where(x == 1, u < a_off, u < a_on)
        x = jnp.where(flip, 1 - x, x)
        return x, x

    _, states = jax.lax.scan(move, x0, uniforms)
    mean = jnp.where(states[:, None] == 1, q_on[None, :], q_off[None, :]) * dt
    if observation == "poisson":
        counts = jax.random.poisson(key_counts, mean).astype(jnp.int32)
    else:
        counts = jax.random.bernoulli(key_counts, mean).astype(jnp.int32)
    return BinnedTrial(x0, states.astype(jnp.int32), counts)


def sample_clamped(params, state: int, *, key: KeyLike, duration: float) -> Trial:
    """Inputs with the hidden state clamped to ``state`` (0 or 1) for the whole trial:
    homogeneous Poisson processes with rates ``q_on`` (state 1) or ``q_off`` (state 0),
    Hz; for rate and spike-statistics characterisation."""
    if state not in (0, 1):
        raise ValueError(f"state must be 0 or 1, got {state!r}")
    model = model_of(params)
    duration = float(require_positive("duration", duration, ndim=0))
    require_time_resolution("sample_clamped", duration, _fastest_rate(model))
    rates = model.q_on if state == 1 else model.q_off
    capacity = bucket_capacity(float(jnp.sum(rates)) * duration)
    key = as_key(key)

    def run(capacity):
        return _sample_homogeneous(key, rates, duration, capacity)

    trial = run_growing(run, capacity, lambda t: t[1])[0]
    return trial._replace(initial_state=jnp.asarray(state, jnp.int32))


@partial(jax.jit, static_argnums=(3,))
def _sample_homogeneous(key, rates, duration, capacity):
    key_gaps, key_channel = jax.random.split(key)
    times = jnp.cumsum(jax.random.exponential(key_gaps, (capacity,),
                                              dtype=jnp.result_type(float)) / jnp.sum(rates))
    needed = jnp.sum(times < duration, dtype=jnp.int32) + 1
    channels = _draw_channels(key_channel, rates, capacity)
    keep = times < duration
    senders = jnp.where(keep, channels, -1).astype(jnp.int32)
    inputs = Spikes(jnp.where(keep, times, jnp.inf), senders, keep.astype(jnp.int32),
                    jnp.sum(keep, dtype=jnp.int32))
    dtype = jnp.result_type(float)
    return Trial(jnp.zeros((), jnp.int32), jnp.full((1,), jnp.inf, dtype), inputs,
                 jnp.asarray(duration, dtype)), needed


__all__ = ["Trial", "BinnedTrial", "state_at", "sample_kernel", "sample_capacities",
           "sample_trial", "sample_trials", "transition_probabilities", "sample_binned",
           "sample_clamped"]
