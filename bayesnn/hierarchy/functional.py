r"""Public step functions of the spiking hierarchy: both layers, event by event.

Write your own loop with these (e.g. to put a learning rule for the readers in it). The
state holds every neuron's :class:`bayesnn.neuron.NeuronState` (Denève 2004, Eq. 1-2;
Denève 2008 I), stacked over the K layer-1 neurons and over the R readers; output spikes
go to :class:`bayesnn.core.Spikes` buffers, one row per neuron (sender 0, count =
multiplicity), exactly as :func:`bayesnn.neuron.functional.advance` and
:func:`bayesnn.neuron.functional.receive` write them.

* :func:`advance` — every neuron drifts to ``until``. Layer-1 spikes caused by drift
  alone (possible only when a layer-1 neuron's theta < 0) are found at their exact
  crossing times and delivered to the readers in time order, each reader drifting to the
  spike's time first;
* :func:`receive` — one input spike of sender ``j * N + i`` at ``state.time``: layer-1
  neuron j receives it; each of the n output spikes it emits is delivered to every
  reader at the same instant.

A loop of ``advance`` then ``receive`` over the time-sorted input events is the
hierarchy run event by event across layers; because the hierarchy is feed-forward it
gives the same spikes and states as :func:`bayesnn.hierarchy.simulate`, which runs
layer 1 over the trial first and then the readers on its output (tested). The
log-odds-fed reader (:mod:`bayesnn.hierarchy.fed`) is grid-based and not part of this
state.

Every function is pure and traceable (jit, vmap, grad with respect to ``params``).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.spikes import Spikes, empty_spikes
from bayesnn.neuron import functional as neuron_step
from bayesnn.neuron.output import spikes_needed

__all__ = ["HierarchyState", "init_state", "advance", "receive", "empty_buffers"]


class HierarchyState(NamedTuple):
    """State of the spiking hierarchy.

    Fields:
        layer1: :class:`bayesnn.neuron.NeuronState` stacked over the K children.
        layer2: NeuronState stacked over the R readers.
        undelivered: () int32 layer-1 drift spikes not delivered to the readers because
            the layer-1 buffer was full (0 when the buffers are large enough; grow them
            and rerun otherwise).
    """

    layer1: neuron_step.NeuronState
    layer2: neuron_step.NeuronState
    undelivered: jax.Array


def init_state(params) -> HierarchyState:
    """Every neuron at t = 0 with L = G = its prior log-odds log(r_on / r_off)."""
    dtype = jnp.result_type(float)
    layer1 = jax.vmap(partial(neuron_step.init_state, dtype=dtype))(params.layer1)
    layer2 = jax.vmap(partial(neuron_step.init_state, dtype=dtype))(params.layer2)
    return HierarchyState(layer1, layer2, jnp.zeros((), jnp.int32))


def empty_buffers(params, capacity1: int, capacity2: int) -> tuple[Spikes, Spikes]:
    """Output-spike buffers: (K, capacity1) for layer 1 and (R, capacity2) for the
    readers."""
    def rows(n, capacity):
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + a.shape),
                                      empty_spikes(capacity))

    return (rows(params.n_children, capacity1), rows(params.n_readers, capacity2))


def _deliver(params, readers, buffer2, time, channel, n_spikes):
    """Readers drift to ``time`` and receive ``n_spikes`` spikes on ``channel``."""
    advance = jax.vmap(partial(neuron_step.advance, drift_spikes=True), in_axes=(0, 0, None, 0))
    readers, buffer2 = advance(params.layer2, readers, time, buffer2)
    receive = jax.vmap(neuron_step.receive, in_axes=(0, 0, None, 0, None))

    def more(loop):
        return loop[0] < n_spikes

    def one(loop):
        count, readers, buffer2 = loop
        readers, buffer2 = receive(params.layer2, readers, channel, buffer2, True)
        return count + 1, readers, buffer2

    _, readers, buffer2 = jax.lax.while_loop(more, one, (jnp.zeros((), jnp.int32), readers,
                                                         buffer2))
    return readers, buffer2


def advance(params, state: HierarchyState, until, buffers: tuple[Spikes, Spikes], *,
            drift_spikes: bool = True) -> tuple[HierarchyState, tuple[Spikes, Spikes]]:
    """Drift every neuron from ``state`` to ``until`` (s), delivering layer-1 drift
    spikes to the readers at their exact times. ``drift_spikes=False`` (static) skips
    the layer-1 crossing search (exact when no layer-1 neuron can fire on drift,
    :func:`bayesnn.neuron.event_driven.drift_can_fire`)."""
    buffer1, buffer2 = buffers
    before = buffer1.n_events
    step = jax.vmap(partial(neuron_step.advance, drift_spikes=drift_spikes),
                    in_axes=(0, 0, None, 0))
    layer1, buffer1 = step(params.layer1, state.layer1, until, buffer1)
    readers, undelivered = state.layer2, state.undelivered
    if drift_spikes:
        # Merge the K neurons' new drift spikes (each row is in time order) and deliver
        # them one by one, earliest first (ties: lower j first, as in simulate).
        capacity = buffer1.capacity
        stop = jnp.minimum(buffer1.n_events, capacity)
        rows = jnp.arange(params.n_children)

        def pending(loop):
            return jnp.any(loop[0] < stop)

        def deliver(loop):
            pointer, readers, buffer2 = loop
            index = jnp.minimum(pointer, capacity - 1)
            times = jnp.where(pointer < stop, buffer1.times[rows, index], jnp.inf)
            j = jnp.argmin(times)
            readers, buffer2 = _deliver(params, readers, buffer2, times[j], j,
                                        buffer1.counts[j, index[j]])
            return pointer.at[j].add(1), readers, buffer2

        _, readers, buffer2 = jax.lax.while_loop(pending, deliver,
                                                 (jnp.minimum(before, capacity), readers, buffer2))
        lost = jnp.maximum(buffer1.n_events - capacity, 0) - jnp.maximum(before - capacity, 0)
        undelivered = undelivered + jnp.sum(lost).astype(jnp.int32)
    readers_advance = jax.vmap(partial(neuron_step.advance, drift_spikes=True),
                               in_axes=(0, 0, None, 0))
    readers, buffer2 = readers_advance(params.layer2, readers, until, buffer2)
    return HierarchyState(layer1, readers, undelivered), (buffer1, buffer2)


def receive(params, state: HierarchyState, sender, buffers: tuple[Spikes, Spikes],
            active=True) -> tuple[HierarchyState, tuple[Spikes, Spikes]]:
    """One input spike of tree sender ``j * N + i`` at ``state.layer1.time`` (where
    ``active``): layer-1 neuron j jumps by its weight w_i and emits n >= 0 spikes; the
    readers receive n spikes on channel j at the same instant."""
    buffer1, buffer2 = buffers
    n_inputs = params.n_inputs
    sender = jnp.asarray(sender)
    child = jnp.maximum(sender, 0) // n_inputs
    channel = jnp.maximum(sender, 0) % n_inputs
    mine = (jnp.arange(params.n_children) == child) & jnp.asarray(active, bool) & (sender >= 0)
    time = state.layer1.time[0]
    step = jax.vmap(neuron_step.receive, in_axes=(0, 0, None, 0, 0))
    layer1, buffer1 = step(params.layer1, state.layer1, channel, buffer1, mine)
    # The spikes receive emitted (its own rule, recomputed: the buffer may be full).
    before = jax.vmap(neuron_step.prediction, in_axes=(0, 0, None))(params.layer1,
                                                                     state.layer1, time)
    fired = jnp.sum(jnp.where(mine, spikes_needed(layer1.log_odds, before, params.layer1.g0), 0))
    readers, buffer2 = _deliver(params, state.layer2, buffer2, time, child, fired)
    return state._replace(layer1=layer1, layer2=readers), (buffer1, buffer2)
