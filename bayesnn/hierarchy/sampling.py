r"""Exact continuous-time sampling of the tree (:class:`TreeParams`).

The joint chain :math:`(y, x^0, .., x^{K-1})` is simulated event by event (the direct
method of Gillespie 1976): in joint state s every variable v leaves its value at rate
:math:`\kappa_v(s)` (``r_on``/``r_off`` for y, ``a_on[j, y]``/``a_off[j, y]`` for x_j),
the dwell time is exponential with rate :math:`\sum_v \kappa_v(s)` and the variable
that flips is drawn with probability :math:`\kappa_v(s) / \sum_v \kappa_v(s)`. This is
exact for the CTMC (dwell times exponential, as in :mod:`bayesnn.processes`). The
initial joint state is drawn from the chain's stationary law.

Inputs are drawn by thinning, as in :mod:`bayesnn.processes`: candidate times of a
homogeneous Poisson process of rate :math:`\sum_{j,i} \max(q^{ji}_{on}, q^{ji}_{off})`,
the channel (j, i) by inverse CDF, accepted with probability
:math:`q^{ji}_{x_j(t)} / \max(q^{ji}_{on}, q^{ji}_{off})`. Sender of input (j, i) is
``j * N + i``.

Randomness: one key per trial; trial k of a batch uses ``fold_in(key, k)``. Draws are
prefix-consistent in the buffer sizes, so the overflow policy (rerun with larger
buffers) returns the same trial.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import KeyLike, as_key
from bayesnn.core.params import is_traced, to_device
from bayesnn.core.spikes import Spikes, bucket_capacity, next_power_of_two
from bayesnn.core.validation import require_positive
from bayesnn.hierarchy.params import TreeParams, as_tree_params, stationary_joint

__all__ = ["TreeTrial", "sample_tree", "sample_trees", "tree_states_at"]


class TreeTrial(NamedTuple):
    """One sampled trial of the tree (a leading trial axis on every field when batched).

    Fields:
        initial_state: (K+1,) int32 values at t = 0, ordered (y, x_0, .., x_{K-1}).
        switch_times: (C,) sorted times of the joint chain's flips, s; +inf padding.
        switch_variables: (C,) int32 which variable flipped (0 = y, j + 1 = x_j);
            -1 padding.
        inputs: :class:`bayesnn.core.Spikes` of the K*N inputs (sender j * N + i).
        duration: () trial length, s.
    """

    initial_state: jax.Array
    switch_times: jax.Array
    switch_variables: jax.Array
    inputs: Spikes
    duration: jax.Array

    def state_at(self, times) -> jax.Array:
        """(K+1, S) values (y, x_0, ..) at ``times`` (right-continuous); (B, K+1, S)
        for a batch. Concrete trials are read on the host (NumPy, int32: the same
        integers as :func:`tree_states_at`, with no XLA program per new ``times``
        shape); traced ones with :func:`tree_states_at`."""
        if is_traced((self.initial_state, self.switch_times, self.switch_variables, times)):
            times = jnp.asarray(times)
            if self.switch_times.ndim == 1:
                return tree_states_at(self.initial_state, self.switch_times,
                                      self.switch_variables, times)
            return jax.vmap(tree_states_at, in_axes=(0, 0, 0, None))(
                self.initial_state, self.switch_times, self.switch_variables, times)
        initial, switch_times, variables = (np.asarray(self.initial_state),
                                            np.asarray(self.switch_times),
                                            np.asarray(self.switch_variables))
        times = np.asarray(times)
        if switch_times.ndim == 1:
            return _states_at_host(initial, switch_times, variables, times)
        return np.stack([_states_at_host(initial[b], switch_times[b], variables[b], times)
                         for b in range(switch_times.shape[0])])

    def trial(self, index: int) -> "TreeTrial":
        """Trial ``index`` of a batch (every field indexed on its leading axis, on the
        host: NumPy fields)."""
        return jax.tree_util.tree_map(lambda field: np.asarray(field)[index], self)

    def top_at(self, times) -> jax.Array:
        """y at ``times``: (S,) or (B, S)."""
        return self.state_at(times)[..., 0, :]


def tree_states_at(initial_state, switch_times, switch_variables, times) -> jax.Array:
    """(V, S) values of the V = K+1 variables at ``times`` from one trial's flips."""
    initial_state = jnp.asarray(initial_state)
    switch_times, switch_variables = jnp.asarray(switch_times), jnp.asarray(switch_variables)
    n_variables = initial_state.shape[0]

    def one(v):
        own = jnp.sort(jnp.where(switch_variables == v, switch_times, jnp.inf))
        flips = jnp.searchsorted(own, times, side="right")
        return (initial_state[v] + flips) % 2

    return jax.vmap(one)(jnp.arange(n_variables)).astype(jnp.int32)


def _states_at_host(initial_state, switch_times, switch_variables, times) -> np.ndarray:
    """:func:`tree_states_at` in NumPy for concrete values (same sort, same right-sided
    search, same integers)."""
    out = np.empty((initial_state.shape[0],) + times.shape, np.int32)
    for v in range(initial_state.shape[0]):
        own = np.sort(np.where(switch_variables == v, switch_times, np.inf))
        out[v] = (initial_state[v] + np.searchsorted(own, times, side="right")) % 2
    return out


def _leave_rates(params: TreeParams, bits):
    """(V,) rates at which each variable leaves its current value in joint state bits."""
    y = bits[0]
    x = bits[1:]
    rate_y = jnp.where(y == 1, params.r_off, params.r_on)
    rate_x = jnp.where(x == 1, params.a_off[:, 1], params.a_on[:, 1])
    rate_x0 = jnp.where(x == 1, params.a_off[:, 0], params.a_on[:, 0])
    rate_x = jnp.where(y == 1, rate_x, rate_x0)
    return jnp.concatenate([rate_y[None], rate_x])


def _tree_kernel(key, params: TreeParams, initial_probs, duration, switch_capacity: int,
                 spike_capacity: int):
    """Traceable sampler of one trial; returns (trial, switches needed, candidates needed).

    Two uniform draws (rows are prefix-consistent in the buffer sizes): (1 +
    switch_capacity, 2) for the initial state and the (dwell, pick) of each flip, and
    (spike_capacity, 3) for the (gap, channel, acceptance) of each input candidate."""
    dtype = jnp.result_type(float)
    n_children, n_inputs = params.q_on.shape
    n_variables = n_children + 1
    key_switch, key_spike = jax.random.split(key)
    u_switch = jax.random.uniform(key_switch, (switch_capacity + 1, 2), dtype=dtype)
    u_spike = jax.random.uniform(key_spike, (spike_capacity, 3), dtype=dtype)

    cumulative_init = jnp.cumsum(initial_probs)
    initial_index = jnp.minimum(jnp.sum(cumulative_init <= u_switch[0, 0] * cumulative_init[-1]),
                                initial_probs.shape[0] - 1)
    bits0 = (initial_index >> jnp.arange(n_variables)) & 1

    def flip(carry, draws):
        time, bits = carry
        rates = _leave_rates(params, bits)
        cumulative = jnp.cumsum(rates)
        time = time - jnp.log1p(-draws[0]) / cumulative[-1]
        variable = jnp.minimum(jnp.sum(cumulative <= draws[1] * cumulative[-1]),
                               n_variables - 1)
        bits = bits.at[variable].set(1 - bits[variable])
        return (time, bits), (time, variable.astype(jnp.int32))

    _, (times, variables) = jax.lax.scan(flip, (jnp.zeros((), dtype), bits0), u_switch[1:])
    inside = times < duration
    switches_needed = jnp.sum(inside, dtype=jnp.int32) + 1
    switch_times = jnp.where(inside, times, jnp.inf)
    switch_variables = jnp.where(inside, variables, -1)

    q_max = jnp.maximum(params.q_on, params.q_off).reshape(-1)
    candidates = jnp.cumsum(-jnp.log1p(-u_spike[:, 0]) / jnp.sum(q_max))
    candidates_needed = jnp.sum(candidates < duration, dtype=jnp.int32) + 1
    cumulative = jnp.cumsum(q_max)
    channels = jnp.minimum(jnp.searchsorted(cumulative, u_spike[:, 1] * cumulative[-1],
                                            side="right", method="compare_all"),
                           q_max.shape[0] - 1).astype(jnp.int32)
    states = tree_states_at(bits0, switch_times, switch_variables, candidates)  # (V, C)
    child = channels // n_inputs
    x_at = states[1 + child, jnp.arange(spike_capacity)]
    rate = jnp.where(x_at == 1, params.q_on.reshape(-1)[channels],
                     params.q_off.reshape(-1)[channels])
    keep = (u_spike[:, 2] * q_max[channels] < rate) & (candidates < duration)
    spike_times = jnp.where(keep, candidates, jnp.inf)
    senders = jnp.where(keep, channels, -1).astype(jnp.int32)
    spike_times, senders = jax.lax.sort((spike_times, senders), num_keys=1, is_stable=True)
    inputs = Spikes(spike_times, senders, (senders >= 0).astype(jnp.int32),
                    jnp.sum(keep, dtype=jnp.int32))
    trial = TreeTrial(bits0.astype(jnp.int32), switch_times, switch_variables, inputs,
                      jnp.asarray(duration, dtype))
    return trial, switches_needed, candidates_needed


@partial(jax.jit, static_argnames=("switch_capacity", "spike_capacity", "n_trials"))
def _sample_jit(key, params, initial_probs, duration, *, switch_capacity, spike_capacity,
                n_trials):
    """One trial from ``key`` (``n_trials`` None) or ``n_trials`` trials from
    ``fold_in(key, k)`` (the keys of :func:`bayesnn.core.keys.trial_keys`, folded in
    here so that no separate program makes them)."""
    one = partial(_tree_kernel, params=params, initial_probs=initial_probs, duration=duration,
                  switch_capacity=switch_capacity, spike_capacity=spike_capacity)
    if n_trials is None:
        return one(key)
    keys = jax.vmap(lambda index: jax.random.fold_in(key, index))(jnp.arange(n_trials))
    return jax.vmap(lambda k: one(k))(keys)


def _capacities(params: TreeParams, duration: float) -> tuple[int, int]:
    a_max = np.maximum(np.asarray(params.a_on), np.asarray(params.a_off)).max(axis=1).sum()
    switch_rate = max(float(params.r_on), float(params.r_off)) + float(a_max)
    input_rate = float(np.maximum(np.asarray(params.q_on), np.asarray(params.q_off)).sum())
    return bucket_capacity(switch_rate * duration), bucket_capacity(input_rate * duration)


def _sample(params, key, duration, n_trials: int | None) -> TreeTrial:
    params = as_tree_params(params)
    if is_traced(params):
        raise ValueError("params must hold concrete values (sampling sizes its buffers)")
    if np.asarray(params.r_on).ndim != 0:
        raise ValueError("params must be one TreeParams record, not a stacked batch")
    duration = float(require_positive("duration", duration, ndim=0))
    initial_probs = to_device(stationary_joint(params))
    capacities = list(_capacities(params, duration))
    while True:
        trial, switches, candidates = _sample_jit(
            key, params, initial_probs, duration, switch_capacity=capacities[0],
            spike_capacity=capacities[1], n_trials=n_trials)
        needed = [int(np.max(np.asarray(switches))), int(np.max(np.asarray(candidates)))]
        if needed[0] <= capacities[0] and needed[1] <= capacities[1]:
            return trial
        capacities = [max(c, next_power_of_two(n)) for c, n in zip(capacities, needed)]


def sample_tree(params: TreeParams, *, key: KeyLike, duration: float) -> TreeTrial:
    """Sample one trial of the tree: the joint chain from its stationary law and the
    K*N Poisson inputs.

    Args:
        params: a :class:`TreeParams`.
        key: int seed or JAX PRNG key.
        duration: trial length, s, > 0.

    Returns:
        :class:`TreeTrial` (inputs as :class:`bayesnn.core.Spikes`, sender j * N + i).

    Raises:
        ValueError: naming the argument, for bad input.
    """
    return _sample(params, as_key(key), duration, None)


def sample_trees(params: TreeParams, *, key: KeyLike, n_trials: int,
                 duration: float) -> TreeTrial:
    """``n_trials`` trials with a leading trial axis; trial k equals
    ``sample_tree(params, key=fold_in(key, k))`` (same buffer sizes permitting, the
    same values: draws are prefix-consistent)."""
    if (isinstance(n_trials, (bool, np.bool_)) or not isinstance(n_trials, (int, np.integer))
            or n_trials < 1):
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    return _sample(params, as_key(key), duration, int(n_trials))
