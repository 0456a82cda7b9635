r"""Exact continuous-time filter on the joint chain of a two-level tree.

Model (see docs/hierarchy.md): a top binary chain y (0 -> 1 at ``r_on``, 1 -> 0 at
``r_off``, Hz) and K binary children x_j flipping 0 -> 1 at ``a_on[j, y]`` and 1 -> 0 at
``a_off[j, y]``; child j drives N Poisson inputs with rates ``q_on[j, i]`` (x_j = 1) and
``q_off[j, i]`` (x_j = 0); input (j, i) is sender ``j * N + i``. The joint process
:math:`z = (y, x_0, .., x_{K-1})` is a CTMC on :math:`S = 2^{K+1}` states with generator
Q, observed through a Markov-modulated Poisson process, so the exact filter is the
point-process (Snyder 1972; Bobrowski et al. 2007, Eq. 2 and 7) filter on S states.

Equations (row vector :math:`\rho`, unnormalised)::

    between events:  rho(t + g) = rho(t) expm(M g),   M = Q - diag(Lambda),
                     Lambda(z) = sum_{j,i} q_{x_j(z)}[j, i]   (total input rate, Hz)
    at a spike of input (j, i):  rho(z) <- rho(z) q_{x_j(z)}[j, i]

with :math:`\rho(0)` the stationary law of Q (or a given initial law). Then
:math:`P(z_t | \text{spikes on } [0, t]) = \rho(z)/\sum\rho`, the marginals
:math:`P(y_t = 1 | .)`, :math:`P(x^j_t = 1 | .)` are sums over z, and
:math:`\log \sum_z \rho_T(z)` is the log density of the spike train on [0, T] (w.r.t.
Lebesgue measure on the event times, as in :mod:`bayesnn.exact.mmpp`).

Propagation: uniformization (Jensen 1953; Grassmann 1977). With
:math:`c \ge \max_z (-M_{zz})` and :math:`P = I + M/c` (entries in [0, 1]),
:math:`\rho\,\mathrm{expm}(Mg) = e^{-cg}\sum_k \frac{(cg)^k}{k!}\rho P^k`. Every term is
non-negative, so there is no cancellation; gaps are split so that cg <= 8 and the series
stops once :math:`k + 1 \ge 2cg` and the next weight :math:`(cg)^{k+1}/(k+1)! \le
10^{-18}`; the omitted tail is then at most twice that weight times
:math:`\|\rho\|_1`, while the sum is at least :math:`\|\rho\|_1` (its k = 0 term), so the
relative truncation error in the 1-norm is below 2e-18: exact to float64 rounding.
Cost: O(S^2) per term, i.e. O(4^{K+1}) per event; memory O(S^2) for the dense P.

This module imports no model code (only :mod:`bayesnn.core`); it reads any record with
fields ``r_on, r_off, a_on, a_off, q_on, q_off`` and validates them itself.
:func:`bayesnn.exact.hierarchy_brute_force.tree_brute_force` is an independent NumPy/SciPy route for tiny trees (states
enumerated as tuples, generator built by comparing them, Padé ``scipy.linalg.expm`` per
gap).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import validation as v
from bayesnn.core.params import to_device
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes, next_power_of_two, spike_arrays

__all__ = ["TreeFilter", "tree_filter", "tree_filter_trials",
           "tree_filter_bytes", "DEFAULT_MAX_BYTES", "BRUTE_FORCE_MAX_CHILDREN"]

DEFAULT_MAX_BYTES = 64 * 2 ** 20
"""Default memory limit of :func:`tree_filter` (64 MiB): K <= 10 (S = 2048 states, 32 MiB);
K = 11 (128 MiB, and minutes per trial) is refused unless ``max_bytes`` is raised."""

BRUTE_FORCE_MAX_CHILDREN = 3
_MAX_LAMBDA = 8.0
_TAIL = 1e-18
_MAX_TERMS = 200


class TreeFilter(NamedTuple):
    """Exact filtered marginals of the tree (leading trial axis B when batched).

    Fields:
        times: (S,) sample times, s.
        prob: (K+1, S) P(v_t = 1 | input spikes on [0, t]) for v = y, x_0, .., x_{K-1}
            (after any spike at exactly t).
        log_odds: (K+1, S) log P(v_t = 1 | .) - log P(v_t = 0 | .), nats (from the two
            sums separately, accurate in the tails).
        log_likelihood: () log density of the spike train on [0, duration].
        n_events: () number of input spikes used.
    """

    times: np.ndarray
    prob: jax.Array
    log_odds: jax.Array
    log_likelihood: jax.Array
    n_events: jax.Array

    @property
    def prob_top(self) -> jax.Array:
        """(S,) P(y_t = 1 | inputs)."""
        return self.prob[..., 0, :]

    @property
    def log_odds_top(self) -> jax.Array:
        """(S,) log-odds of y_t = 1, nats."""
        return self.log_odds[..., 0, :]


class _Tree(NamedTuple):
    r_on: float
    r_off: float
    a_on: np.ndarray  # (K, 2)
    a_off: np.ndarray  # (K, 2)
    q_on: np.ndarray  # (K, N)
    q_off: np.ndarray  # (K, N)

    @property
    def n_children(self) -> int:
        return self.a_on.shape[0]


def tree_filter_bytes(n_children: int) -> int:
    """Bytes the dense propagator of :func:`tree_filter` needs: 8 S^2, S = 2^(K+1)."""
    return 8 * 4 ** (int(n_children) + 1)


def _check_tree(params, max_bytes: float | None) -> _Tree:
    for name in ("r_on", "r_off", "a_on", "a_off", "q_on", "q_off"):
        if not hasattr(params, name):
            raise ValueError(f"params must hold r_on, r_off, a_on, a_off, q_on, q_off "
                             f"(a bayesnn.hierarchy.TreeParams), got {type(params).__name__}")
    r_on = float(v.require_positive("r_on", params.r_on, ndim=0))
    r_off = float(v.require_positive("r_off", params.r_off, ndim=0))
    a_on = v.require_positive("a_on", params.a_on, ndim=2)
    a_off = v.require_positive("a_off", params.a_off, ndim=2)
    if a_on.shape[1] != 2 or a_on.shape[0] < 1:
        raise ValueError(f"a_on must have shape (K, 2), K >= 1, got {a_on.shape}")
    v.require_shape("a_off", a_off, a_on.shape)
    q_on = v.require_positive("q_on", params.q_on, ndim=2)
    q_off = v.require_positive("q_off", params.q_off, ndim=2)
    if q_on.shape[0] != a_on.shape[0] or q_on.shape[1] < 1:
        raise ValueError(f"q_on must have shape (K={a_on.shape[0]}, N >= 1) to match a_on, "
                         f"got {q_on.shape}")
    v.require_shape("q_off", q_off, q_on.shape)
    if max_bytes is not None:
        max_bytes = float(v.require_positive("max_bytes", max_bytes, ndim=0))
        needed = tree_filter_bytes(a_on.shape[0])
        if needed > max_bytes:
            k = a_on.shape[0]
            raise ValueError(
                f"n_children K = {k} is too large for the exact joint filter: it needs "
                f"2^(K+1) = {2 ** (k + 1)} states and {needed / 2 ** 20:.0f} MiB for its "
                f"dense propagator, more than max_bytes = {max_bytes / 2 ** 20:.0f} MiB")
    return _Tree(r_on, r_off, a_on, a_off, q_on, q_off)


def _state_bits(n_children: int) -> np.ndarray:
    """(S, K+1) values of (y, x_0, ..) per joint state; y is the most significant bit."""
    n_variables = n_children + 1
    index = np.arange(2 ** n_variables)
    shifts = n_variables - 1 - np.arange(n_variables)
    return (index[:, None] >> shifts[None, :]) & 1


def _generator(tree: _Tree) -> tuple[np.ndarray, np.ndarray]:
    """Generator Q (S, S, row convention) and total input rate Lambda (S,)."""
    bits = _state_bits(tree.n_children)
    n_states, n_variables = bits.shape
    y = bits[:, 0]
    generator = np.zeros((n_states, n_states))
    rows = np.arange(n_states)
    generator[rows, rows ^ (1 << (n_variables - 1))] = np.where(y == 1, tree.r_off, tree.r_on)
    for j in range(tree.n_children):
        x = bits[:, j + 1]
        rate = np.where(x == 1, tree.a_off[j, y], tree.a_on[j, y])
        generator[rows, rows ^ (1 << (n_variables - 2 - j))] = rate
    generator[rows, rows] = -generator.sum(axis=1)
    child_bits = bits[:, 1:]
    total = (child_bits @ tree.q_on.sum(axis=1)) + ((1 - child_bits) @ tree.q_off.sum(axis=1))
    return generator, total


def _stationary(generator: np.ndarray) -> np.ndarray:
    n_states = generator.shape[0]
    system = np.vstack([generator.T, np.ones((1, n_states))])
    rhs = np.zeros(n_states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    pi = np.maximum(pi, 0.0)
    return pi / pi.sum()


def _initial(tree: _Tree, generator, initial_probs) -> np.ndarray:
    n_states = generator.shape[0]
    if initial_probs is None:
        return _stationary(generator)
    probs = v.require_nonnegative("initial_probs", initial_probs, ndim=1)
    v.require_shape("initial_probs", probs, (n_states,))
    if abs(probs.sum() - 1.0) > 1e-12:
        raise ValueError(f"initial_probs must sum to 1, got {probs.sum()!r}")
    return probs


def _trial_events(inputs: Spikes, trial, n_senders: int, duration: float):
    times, senders, counts = spike_arrays(inputs, trial)
    if times.size and (not np.all(np.isfinite(times)) or times[0] < 0 or times[-1] > duration):
        raise ValueError(f"inputs times must lie in [0, duration = {duration}] s")
    if times.size and np.any(np.diff(times) < 0):
        raise ValueError("inputs times must be sorted in time")
    if times.size and np.max(senders) >= n_senders:
        raise ValueError(f"inputs senders must be < K * N = {n_senders}, got {int(np.max(senders))}")
    return np.repeat(times, counts), np.repeat(senders, counts)


def _merge(times, senders, queries, duration):
    """Time-ordered items (gap, sender or -1); spikes before queries at equal times."""
    n_spikes, n_queries = times.size, queries.size
    all_times = np.concatenate([times, queries, [duration]])
    kind = np.concatenate([np.zeros(n_spikes), np.ones(n_queries), [2.0]])
    order = np.lexsort((kind, all_times))
    item_senders = np.concatenate([senders, np.full(n_queries + 1, -1)])[order]
    gaps = np.diff(all_times[order], prepend=0.0)
    position = np.empty(all_times.size, dtype=np.int64)
    position[order] = np.arange(all_times.size)
    return gaps, item_senders.astype(np.int32), position[n_spikes:n_spikes + n_queries]


def _bucket(length: int) -> int:
    return next_power_of_two(length, 64)


def _uniformized(rho, gap, jump, rate):
    """rho expm(M gap) up to the factor exp(-rate gap) (returned as a log), normalised."""
    total_lambda = rate * gap
    n_sub = jnp.maximum(1, jnp.ceil(total_lambda / _MAX_LAMBDA)).astype(jnp.int32)
    lam = total_lambda / n_sub

    def series_cond(state):
        k, weight, _, _ = state
        next_weight = weight * lam / (k + 1)
        done = ((k + 1) >= 2.0 * lam) & (next_weight <= _TAIL)
        return (~done) & (k < _MAX_TERMS)

    def series_body(state):
        k, weight, vector, acc = state
        vector = vector @ jump
        k = k + 1
        weight = weight * lam / k
        return k, weight, vector, acc + weight * vector

    def substep(_, carry):
        rho, log_norm = carry
        state = (jnp.zeros((), jnp.int32), jnp.ones((), rho.dtype), rho, rho)
        _, _, _, acc = jax.lax.while_loop(series_cond, series_body, state)
        total = jnp.sum(acc)
        return acc / total, log_norm + jnp.log(total) - lam

    return jax.lax.fori_loop(0, n_sub, substep, (rho, jnp.zeros((), rho.dtype)))


def _filter_scan(jump, rate, rho0, child_bits, top_bit, q_on_flat, q_off_flat, n_inputs,
                 gaps, senders):
    """Scan over items; returns per-item (prob (V,), log_odds (V,)) and log-likelihood."""
    bits = jnp.concatenate([top_bit[:, None], child_bits], axis=1).astype(rho0.dtype)

    def step(carry, item):
        rho, log_lik = carry
        gap, sender = item
        rho, log_norm = _uniformized(rho, gap, jump, rate)
        child = jnp.maximum(sender, 0) // n_inputs
        channel = jnp.maximum(sender, 0)
        factor = jnp.where(child_bits[:, child] == 1, q_on_flat[channel], q_off_flat[channel])
        factor = jnp.where(sender >= 0, factor, 1.0)
        unnorm = rho * factor
        total = jnp.sum(unnorm)
        rho = unnorm / total
        on = rho @ bits
        off = rho @ (1.0 - bits)
        record = (on / (on + off), jnp.log(on) - jnp.log(off))
        return (rho, log_lik + log_norm + jnp.log(total)), record

    (_, log_lik), records = jax.lax.scan(step, (rho0, jnp.zeros((), rho0.dtype)), (gaps, senders))
    return records, log_lik


@partial(jax.jit, static_argnames=("n_inputs", "batched"))
def _filter_jit(jump, rate, rho0, child_bits, top_bit, q_on_flat, q_off_flat, gaps, senders,
                positions, *, n_inputs, batched):
    """Batched over trials (a leading axis on ``gaps``, ``senders`` and ``positions``,
    the items that are queries); the records at the queries, (B, V, S), and the
    log-likelihoods (B,). ``batched=False`` drops the trial axis of a batch of one."""
    run = partial(_filter_scan, jump, rate, rho0, child_bits, top_bit, q_on_flat, q_off_flat,
                  n_inputs)
    (prob, log_odds), log_lik = jax.vmap(run)(gaps, senders)
    take = jax.vmap(lambda values, where: values[where].T)
    prob, log_odds = take(prob, positions), take(log_odds, positions)
    if not batched:
        return prob[0], log_odds[0], log_lik[0]
    return prob, log_odds, log_lik


def _prepare(params, duration, sample_times, initial_probs, max_bytes):
    require_x64("bayesnn.exact.hierarchy")
    tree = _check_tree(params, max_bytes)
    duration = float(v.require_positive("duration", duration, ndim=0))
    queries = v.as_array("sample_times", sample_times, ndim=1)
    if queries.size and (queries.min() < 0 or queries.max() > duration):
        raise ValueError(f"sample_times must lie in [0, duration = {duration}] s")
    generator, total = _generator(tree)
    rho0 = _initial(tree, generator, initial_probs)
    matrix = generator - np.diag(total)
    rate = float(np.max(-np.diag(matrix)))
    jump = np.eye(matrix.shape[0]) + matrix / rate
    bits = _state_bits(tree.n_children)
    # device_put, not jnp.asarray: no copy program per shape (core.to_device)
    consts = tuple(to_device(c) for c in (jump, rate, rho0, bits[:, 1:], bits[:, 0],
                                          tree.q_on.reshape(-1), tree.q_off.reshape(-1)))
    return tree, duration, queries, consts


def tree_filter(params, inputs: Spikes, *, duration: float, sample_times,
                initial_probs=None, max_bytes: float | None = DEFAULT_MAX_BYTES) -> TreeFilter:
    """Exact filtered marginals of the tree's variables given one trial's input spikes.

    Args:
        params: a record with ``r_on, r_off`` (() Hz), ``a_on, a_off`` ((K, 2) Hz) and
            ``q_on, q_off`` ((K, N) Hz), e.g. :class:`bayesnn.hierarchy.TreeParams`.
        inputs: one trial's :class:`bayesnn.core.Spikes`, sender j * N + i.
        duration: observation window [0, duration], s.
        sample_times: (S,) sorted or unsorted times in [0, duration], s.
        initial_probs: (2^(K+1),) law of the joint state at t = 0 (index: bits
            (y, x_0, .., x_{K-1}) with y most significant); default the stationary law.
        max_bytes: memory limit for the dense propagator (8 * 4^(K+1) bytes); None
            disables the check.

    Returns:
        :class:`TreeFilter`: ``prob`` and ``log_odds`` (K+1, S), ``log_likelihood`` ().

    Raises:
        ValueError: naming the argument (shapes, rates <= 0, K too large for
            ``max_bytes``, spikes outside [0, duration], senders >= K * N) before any
            work. PrecisionError: if JAX runs in float32.
    """
    return _filter(params, inputs, duration, sample_times, initial_probs, max_bytes, False)


def tree_filter_trials(params, inputs: Spikes, *, duration: float, sample_times,
                       initial_probs=None,
                       max_bytes: float | None = DEFAULT_MAX_BYTES) -> TreeFilter:
    """:func:`tree_filter` for a batch of B trials (``inputs`` with a leading trial
    axis; shared ``sample_times``); one jitted, vmapped program. Fields gain a leading
    axis B; trial b gives :func:`tree_filter`'s numbers on trial b."""
    return _filter(params, inputs, duration, sample_times, initial_probs, max_bytes, True)


def _filter(params, inputs, duration, sample_times, initial_probs, max_bytes, batched):
    tree, duration, queries, consts = _prepare(params, duration, sample_times, initial_probs,
                                               max_bytes)
    if not isinstance(inputs, Spikes) or inputs.times.ndim != (2 if batched else 1):
        raise ValueError("inputs must be a bayesnn.core.Spikes of shape "
                         + ("(trials, capacity)" if batched else "(capacity,) (one trial)"))
    n_trials = inputs.times.shape[0] if batched else 1
    merged, n_events = [], []
    for b in range(n_trials):
        times, senders = _trial_events(inputs, b if batched else None, tree.q_on.size, duration)
        merged.append(_merge(times, senders, queries, duration))
        n_events.append(times.size)
    length = _bucket(max(m[0].size for m in merged))
    gaps = np.zeros((n_trials, length))  # padding items: zero gap, no spike -> no-op
    item_senders = np.full((n_trials, length), -1, np.int32)
    for b, (g, s, _) in enumerate(merged):
        gaps[b, :g.size] = g
        item_senders[b, :s.size] = s
    positions = np.stack([m[2] for m in merged])
    prob, log_odds, log_lik = _filter_jit(*consts, to_device(gaps), to_device(item_senders),
                                          to_device(positions), n_inputs=tree.q_on.shape[1],
                                          batched=batched)
    n_events = np.asarray(n_events)
    return TreeFilter(queries, prob, log_odds, log_lik,
                      to_device(n_events if batched else n_events[0]))
