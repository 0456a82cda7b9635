r"""Generative processes: the hidden Markov state and its Poisson inputs.

Continuous-time model (Denève 2004, Sec. 1.1 of the science notes):

* hidden state :math:`x_t \in \{0, 1\}`, a two-state Markov chain with switching rates
  ``r_on`` (0 -> 1) and ``r_off`` (1 -> 0), in Hz; dwell times are exponential, with
  mean ``1/r_on`` in state 0 and ``1/r_off`` in state 1; the stationary probability of
  state 1 is ``r_on / (r_on + r_off)``;
* N inputs that, given the path of x, are independent Poisson processes with rate
  ``q_on[i]`` while x = 1 and ``q_off[i]`` while x = 0 (Hz).

Sampling is exact: dwell times are drawn from exponentials, and inputs by thinning a
homogeneous Poisson process of rate ``sum_i max(q_on[i], q_off[i])`` (inter-arrival
gaps are exponential, so candidate times come out sorted without a sort).

Discrete (binned) model, bin width ``dt``: the chain moves with the exact one-bin
transition probabilities ``a_on = r_on/(r_on+r_off) (1 - exp(-(r_on+r_off) dt))`` (and
``a_off`` likewise), and the counts of bin k are Poisson with mean ``q dt`` (or
Bernoulli with probability ``q dt``).

Randomness: every sampler takes one JAX PRNG key per trial; batches of trials are
``vmap`` over keys (:func:`sample_trials`), so trial k is the same whatever the
batch size. Random buffers have a fixed capacity (a static shape for JAX); a trial
that would overflow it raises a ``ValueError`` in the wrappers rather than being
truncated.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.events import poisson_capacity
from bayesnn.core.stepping import split_trial_keys
from bayesnn.core.validation import (
    require_rates,
    require_positive,
    require_shape,
)


class Trial(NamedTuple):
    """One sampled trial of the continuous-time model (all times in seconds).

    Fields:
        initial_state: () int32, x at t = 0.
        switch_times: (switch_capacity,) sorted times at which x flips; +inf padding.
        spike_times: (spike_capacity,) sorted input spike times; padding slots hold
            ``duration`` (so the array stays sorted).
        spike_channels: (spike_capacity,) int32 input index of each spike; -1 = padding.
        n_spikes: () int32 number of real input spikes.
        overflow: () bool, True if a buffer was too small (the wrappers raise).
    """

    initial_state: jax.Array
    switch_times: jax.Array
    spike_times: jax.Array
    spike_channels: jax.Array
    n_spikes: jax.Array
    overflow: jax.Array


class BinnedTrial(NamedTuple):
    """One sampled trial of the discrete (binned) model.

    Fields:
        initial_state: () int32, x_0 (before the first bin).
        states: (T,) int32, x_k for bins k = 1..T.
        counts: (T, N) int32 input counts per bin.
    """

    initial_state: jax.Array
    states: jax.Array
    counts: jax.Array


def check_rates(r_on, r_off, q_on, q_off) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Validate the model's rates (Hz): r_on, r_off > 0; q_on, q_off > 0, shape (N,)."""
    return require_rates(r_on, r_off, q_on, q_off)


def capacities(r_on: float, r_off: float, q_on: np.ndarray, q_off: np.ndarray,
               duration: float) -> tuple[int, int]:
    """Static buffer sizes (switches, candidate input spikes) for one trial."""
    switch_capacity = poisson_capacity(max(r_on, r_off) * duration)
    spike_capacity = poisson_capacity(float(np.maximum(q_on, q_off).sum()) * duration)
    return switch_capacity, spike_capacity


def state_at(initial_state: jax.Array, switch_times: jax.Array, times: jax.Array) -> jax.Array:
    """Hidden state x(t) at ``times`` (right-continuous), from a trial's switch times."""
    n_switches_before = jnp.searchsorted(switch_times, times, side="right")
    return (initial_state + n_switches_before) % 2


def _draw_channels(key, rates, size: int) -> jax.Array:
    """``size`` channel indices with P(i) = rates[i] / sum(rates), by inverse CDF:
    O(size) memory (``jax.random.categorical`` would draw size x N Gumbel variates)."""
    cumulative = jnp.cumsum(rates)
    uniforms = jax.random.uniform(key, (size,), dtype=cumulative.dtype) * cumulative[-1]
    return jnp.minimum(jnp.searchsorted(cumulative, uniforms, side="right"),
                       rates.shape[0] - 1).astype(jnp.int32)


def _sample_trial(key, r_on, r_off, q_on, q_off, duration, initial_state,
                  switch_capacity: int, spike_capacity: int) -> Trial:
    key_state, key_dwell, key_gaps, key_channel, key_accept = jax.random.split(key, 5)
    dtype = jnp.result_type(float)
    p_on = r_on / (r_on + r_off)
    sampled_state = jax.random.bernoulli(key_state, p_on).astype(jnp.int32)
    x0 = jnp.where(initial_state < 0, sampled_state, initial_state).astype(jnp.int32)

    # Dwell k is spent in state x0 XOR (k mod 2); leaving rate r_on from 0, r_off from 1.
    state_of_dwell = (x0 + jnp.arange(switch_capacity)) % 2
    leave_rate = jnp.where(state_of_dwell == 1, r_off, r_on)
    dwell = jax.random.exponential(key_dwell, (switch_capacity,), dtype=dtype) / leave_rate
    switch_times = jnp.cumsum(dwell)
    switch_overflow = switch_times[-1] < duration
    switch_times = jnp.where(switch_times < duration, switch_times, jnp.inf)

    # Thinning: candidates at the majorant rate, channel i with prob max_i / total.
    q_max = jnp.maximum(q_on, q_off)
    total = jnp.sum(q_max)
    gaps = jax.random.exponential(key_gaps, (spike_capacity,), dtype=dtype) / total
    candidate_times = jnp.cumsum(gaps)
    spike_overflow = candidate_times[-1] < duration
    channels = _draw_channels(key_channel, q_max, spike_capacity)
    state = state_at(x0, switch_times, candidate_times)
    rate = jnp.where(state == 1, q_on[channels], q_off[channels])
    accept = (jax.random.uniform(key_accept, (spike_capacity,), dtype=dtype) * q_max[channels] < rate)
    keep = accept & (candidate_times < duration)
    times = jnp.where(keep, candidate_times, duration)
    channels = jnp.where(keep, channels, -1).astype(jnp.int32)
    # Move padding to the end; a stable sort keeps the real spikes in time order.
    times, channels = jax.lax.sort((times, channels), num_keys=1, is_stable=True)
    return Trial(x0, switch_times, times, channels, jnp.sum(keep, dtype=jnp.int32),
                 switch_overflow | spike_overflow)


def sample_trials(keys: jax.Array, r_on: float, r_off: float, q_on, q_off,
                  duration: float, initial_state: int | None = None) -> Trial:
    """Sample a batch of continuous-time trials, one per key.

    Args:
        keys: (n_trials,) PRNG keys (e.g. from :func:`bayesnn.core.split_trial_keys`),
            or a single key for one unbatched trial.
        r_on, r_off: switching rates of the hidden state, Hz.
        q_on, q_off: (N,) input rates in state 1 and state 0, Hz.
        duration: trial length, s.
        initial_state: 0 or 1 to fix x(0); None draws it from the stationary law.

    Returns:
        :class:`Trial` with a leading trial axis when ``keys`` is a batch.
    """
    r_on, r_off, q_on, q_off = check_rates(r_on, r_off, q_on, q_off)
    duration = float(require_positive("duration", duration, ndim=0))
    if initial_state not in (None, 0, 1):
        raise ValueError(f"initial_state must be None, 0 or 1, got {initial_state!r}")
    switch_capacity, spike_capacity = capacities(r_on, r_off, q_on, q_off, duration)
    x0 = -1 if initial_state is None else int(initial_state)
    sample = jax.jit(_sample_trial, static_argnums=(7, 8))
    args = (r_on, r_off, jnp.asarray(q_on), jnp.asarray(q_off), duration, x0,
            switch_capacity, spike_capacity)
    keys = jnp.asarray(keys)
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    batched = keys.ndim == (1 if typed else 2)
    if batched:
        trial = jax.vmap(lambda k: sample(k, *args))(keys)
    else:
        trial = sample(keys, *args)
    if bool(jnp.any(trial.overflow)):
        raise ValueError("internal buffer capacity exceeded while sampling; "
                         "this is a bug: please report the parameters")
    return trial


def sample_trial(key: jax.Array, r_on: float, r_off: float, q_on, q_off,
                 duration: float, initial_state: int | None = None) -> Trial:
    """Sample one continuous-time trial (see :func:`sample_trials`)."""
    return sample_trials(key, r_on, r_off, q_on, q_off, duration, initial_state)


def transition_probabilities(r_on: float, r_off: float, dt: float) -> tuple[float, float]:
    """Exact one-bin switching probabilities (a_on = P(0->1), a_off = P(1->0))."""
    total = r_on + r_off
    relaxed = -np.expm1(-total * dt)
    return r_on / total * relaxed, r_off / total * relaxed


def sample_binned(key: jax.Array, r_on: float, r_off: float, q_on, q_off, dt: float,
                  n_steps: int, observation: str = "poisson",
                  initial_state: int | None = None) -> BinnedTrial:
    """Sample the discrete model: T = ``n_steps`` bins of width ``dt`` (s).

    x_0 is drawn from the stationary law (or fixed by ``initial_state``); each bin
    first moves the chain with the exact transition probabilities, then draws counts
    ``n[k, i] ~ Poisson(q_{x_k}[i] dt)`` (``observation="poisson"``) or
    ``Bernoulli(q dt)`` (``"bernoulli"``, which needs ``q dt < 1``).
    """
    r_on, r_off, q_on, q_off = check_rates(r_on, r_off, q_on, q_off)
    dt = float(require_positive("dt", dt, ndim=0))
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if observation not in ("poisson", "bernoulli"):
        raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}")
    if observation == "bernoulli" and np.max(np.maximum(q_on, q_off)) * dt >= 1:
        raise ValueError("q_on * dt and q_off * dt must be < 1 for Bernoulli bins "
                         f"(max q * dt = {np.max(np.maximum(q_on, q_off)) * dt:.3g})")
    if initial_state not in (None, 0, 1):
        raise ValueError(f"initial_state must be None, 0 or 1, got {initial_state!r}")
    a_on, a_off = transition_probabilities(r_on, r_off, dt)
    return _sample_binned(key, a_on, a_off, r_on / (r_on + r_off), jnp.asarray(q_on),
                          jnp.asarray(q_off), dt, int(n_steps), observation,
                          -1 if initial_state is None else int(initial_state))


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


def trial_keys(seed: int, n_trials: int) -> jax.Array:
    """``n_trials`` per-trial keys derived from an integer seed (trial k is
    ``fold_in(PRNGKey(seed), k)``, independent of ``n_trials``)."""
    return split_trial_keys(jax.random.PRNGKey(int(seed)), n_trials)


def sample_clamped(key: jax.Array, state: int, q_on, q_off, duration: float) -> Trial:
    """Inputs with the hidden state clamped to ``state`` (0 or 1) for the whole trial.

    The N inputs are then homogeneous Poisson processes with rates ``q_on`` (state 1)
    or ``q_off`` (state 0), Hz; used for rate and spike-statistics characterisation.
    """
    if state not in (0, 1):
        raise ValueError(f"state must be 0 or 1, got {state!r}")
    q_on = require_positive("q_on", q_on, ndim=1)
    q_off = require_positive("q_off", q_off, ndim=1)
    require_shape("q_off", q_off, q_on.shape)
    duration = float(require_positive("duration", duration, ndim=0))
    rates = q_on if state == 1 else q_off
    capacity = poisson_capacity(float(rates.sum()) * duration)
    trial = _sample_homogeneous(key, jnp.asarray(rates), duration, capacity)
    if bool(trial.overflow):
        raise ValueError("internal buffer capacity exceeded while sampling; this is a bug")
    return trial._replace(initial_state=jnp.asarray(state, jnp.int32))


@partial(jax.jit, static_argnums=(3,))
def _sample_homogeneous(key, rates, duration, capacity):
    key_gaps, key_channel = jax.random.split(key)
    total = jnp.sum(rates)
    times = jnp.cumsum(jax.random.exponential(key_gaps, (capacity,),
                                              dtype=jnp.result_type(float)) / total)
    overflow = times[-1] < duration
    channels = _draw_channels(key_channel, rates, capacity)
    keep = times < duration
    return Trial(jnp.zeros((), jnp.int32), jnp.full((1,), jnp.inf),
                 jnp.where(keep, times, duration), jnp.where(keep, channels, -1).astype(jnp.int32),
                 jnp.sum(keep, dtype=jnp.int32), overflow)
