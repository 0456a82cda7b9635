r"""The spiking hierarchy: Bayesian neurons that read Bayesian neurons.

Layer 1: one Bayesian neuron (Denève 2004, Sec. 1; Denève 2008 I) per child x_j, on that
child's N inputs, with the generative rates ``q_on[j]``, ``q_off[j]`` and the
flux-matched switching rates of x_j (:meth:`TreeParams.child_model`; x_j alone is not
Markov, so this is the best two-state description in that moment-matching sense).

Layer 2: R "reader" Bayesian neurons, each with K inputs, one per layer-1 neuron (the
layer-1 output spikes; several readers may read the same layer-1 population). A reader
for y treats the spikes of neuron j as Poisson with rate ``Q_on[j]`` while y = 1 and
``Q_off[j]`` while y = 0 (Denève 2004, Sec. 2: output spikes "can be used directly as an
input to other Bayesian neurons"), so its weights are ``w_j = log(Q_on[j]/Q_off[j])``
and its bias ``theta = sum_j (Q_on[j] - Q_off[j])``; its switching rates are y's. A
reader of "not y" swaps the roles (r_on <-> r_off, Q_on <-> Q_off). Where the rates
come from: :mod:`bayesnn.hierarchy.training`.

The hierarchy is feed-forward: layer 1 runs on its inputs with the exact event-driven
integrator, and its output spikes (exact crossing times, multiplicities expanded into
repeated events) are delivered at those times to layer 2, which runs with the same exact
integrator. With no feedback this equals interleaving the events of both layers in one
time-ordered loop.

The log-odds-fed reader that the readers are compared with is in
:mod:`bayesnn.hierarchy.fed`.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import params_record, to_device
from bayesnn.core.precision import warn_if_float32
from bayesnn.core.spikes import Spikes, bucket_capacity, next_power_of_two, spike_arrays
from bayesnn.core.validation import check_spikes, require_positive
from bayesnn.hierarchy.fed import log_odds_fed
from bayesnn.hierarchy.params import TreeParams, as_tree_params, child_effective_rates
from bayesnn.hierarchy.sizing import kernel_choices, layer1_capacity, stack_records
from bayesnn.neuron import NeuronParams
from bayesnn.neuron.kernels import event_kernel

__all__ = ["SpikingHierarchy", "HierarchyResult", "layer1_params", "reader_params",
           "split_inputs", "simulate", "simulate_trials"]


@params_record
class SpikingHierarchy:
    """Parameters of the spiking hierarchy (a JAX pytree of neuron records).

    Fields:
        tree: the generative :class:`TreeParams` (its rates drive the log-odds-fed
            reader).
        layer1: :class:`bayesnn.neuron.NeuronParams` stacked over the K children
            (r_on, r_off, g0 of shape (K,); q_on, q_off (K, N)).
        layer2: NeuronParams stacked over R readers (r_on, r_off, g0 (R,); q_on,
            q_off (R, K)): reader r's input j is layer-1 neuron j.

    Raises:
        ValueError: naming the field, for records of the wrong type or shapes that do
            not fit together (K, N, R).
    """

    tree: TreeParams
    layer1: NeuronParams
    layer2: NeuronParams

    def _validate(self) -> dict:
        if not isinstance(self.tree, TreeParams):
            raise ValueError(f"tree must be a TreeParams, got {type(self.tree).__name__}")
        for name in ("layer1", "layer2"):
            if not isinstance(getattr(self, name), NeuronParams):
                raise ValueError(f"{name} must be a stacked NeuronParams, got "
                                 f"{type(getattr(self, name)).__name__}")
        q1, q2 = np.asarray(self.layer1.q_on), np.asarray(self.layer2.q_on)
        if q1.ndim != 2 or np.ndim(self.layer1.r_on) != 1:
            raise ValueError(f"layer1 must be NeuronParams stacked over K children "
                             f"(q_on (K, N)), got q_on shape {q1.shape}")
        if q2.ndim != 2 or np.ndim(self.layer2.r_on) != 1:
            raise ValueError(f"layer2 must be NeuronParams stacked over R readers "
                             f"(q_on (R, K)), got q_on shape {q2.shape}")
        if q1.shape != tuple(np.shape(self.tree.q_on)):
            raise ValueError(f"layer1 must have one neuron per child with the tree's inputs: "
                             f"q_on {tuple(np.shape(self.tree.q_on))}, got {q1.shape}")
        if q2.shape[1] != q1.shape[0]:
            raise ValueError(f"layer2 readers must have one input per layer-1 neuron: "
                             f"q_on (R, K={q1.shape[0]}), got {q2.shape}")
        return {}

    @property
    def n_children(self) -> int:
        return int(self.layer1.q_on.shape[-2])

    @property
    def n_inputs(self) -> int:
        return int(self.layer1.q_on.shape[-1])

    @property
    def n_readers(self) -> int:
        return int(self.layer2.q_on.shape[-2])


def layer1_params(tree: TreeParams, g0: float) -> NeuronParams:
    """Layer-1 neurons (stacked over children): child j's input rates and x_j's
    flux-matched switching rates; jump ``g0`` (nats) per output spike."""
    tree = as_tree_params(tree)
    g0 = float(require_positive("g0", g0, ndim=0))
    records = []
    for j in range(tree.n_children):
        r_on, r_off = child_effective_rates(tree, j)
        records.append(NeuronParams(r_on, r_off, np.asarray(tree.q_on)[j],
                                    np.asarray(tree.q_off)[j], g0))
    return stack_records(records)


def reader_params(tree: TreeParams, rates_given_top, g0: float,
                  readers: tuple[str, ...] = ("y",)) -> NeuronParams:
    """Layer-2 readers (stacked) from the layer-1 rates in each state of y.

    Args:
        tree: the generative tree (gives y's switching rates).
        rates_given_top: (K, 2) rate of layer-1 neuron j while y = 0 and y = 1, Hz, > 0.
        g0: jump of each reader's G per output spike, nats.
        readers: "y" (reads y = 1) and/or "not_y" (reads y = 0: rates and r swapped).
    """
    tree = as_tree_params(tree)
    rates = require_positive("rates_given_top", rates_given_top, ndim=2)
    if rates.shape != (tree.n_children, 2):
        raise ValueError(f"rates_given_top must have shape (K={tree.n_children}, 2), got {rates.shape}")
    g0 = float(require_positive("g0", g0, ndim=0))
    records = []
    for reader in readers:
        if reader == "y":
            records.append(NeuronParams(tree.r_on, tree.r_off, rates[:, 1], rates[:, 0], g0))
        elif reader == "not_y":
            records.append(NeuronParams(tree.r_off, tree.r_on, rates[:, 0], rates[:, 1], g0))
        else:
            raise ValueError(f"readers must hold 'y' or 'not_y', got {reader!r}")
    return stack_records(records)


class HierarchyResult(NamedTuple):
    """Result of :func:`simulate`; :func:`simulate_trials` adds a leading trial axis to
    every field except ``times`` (the record times are the same for every trial).

    Fields:
        times: (S,) record times k dt, k = 1..S, s.
        layer1_log_odds: (K, S) L_j of the layer-1 neurons, nats.
        layer1_prediction: (K, S) G_j decoded from their spikes, nats.
        layer1_spikes: layer-1 output spikes, :class:`bayesnn.core.Spikes` (sender j,
            count = multiplicity).
        layer2_log_odds: (R, S) L of the readers (spike-fed), nats.
        layer2_prediction: (R, S) G of the readers, nats.
        layer2_spikes: reader output spikes (sender r).
        fed_log_odds: (S,) L of the log-odds-fed y-reader (:mod:`bayesnn.hierarchy.fed`),
            nats.
        decoded_fed_log_odds: (S,) the same reader fed with the layer-1 predictions G_j
            (decoded from the layer-1 spikes) in place of L_j, nats.
    """

    times: np.ndarray
    layer1_log_odds: jax.Array
    layer1_prediction: jax.Array
    layer1_spikes: Spikes
    layer2_log_odds: jax.Array
    layer2_prediction: jax.Array
    layer2_spikes: Spikes
    fed_log_odds: jax.Array
    decoded_fed_log_odds: jax.Array

    def to_xarray(self, attrs: dict | None = None):
        """An ``xarray.Dataset`` (dims child, reader, time; spikes on event dims)."""
        from bayesnn.io import record_to_dataset
        return record_to_dataset(self, RUN_SPEC, coords={"time": self.times}, attrs=attrs)


RUN_SPEC = {
    "layer1_log_odds": (("child", "time"), "nats", "layer-1 log-odds L_j of x_j = 1"),
    "layer1_prediction": (("child", "time"), "nats", "layer-1 prediction G_j"),
    "layer1_spikes": ((), "", "layer-1 output spikes (sender = child j)"),
    "layer2_log_odds": (("reader", "time"), "nats", "reader log-odds (spike-fed)"),
    "layer2_prediction": (("reader", "time"), "nats", "reader prediction G"),
    "layer2_spikes": ((), "", "reader output spikes (sender = reader)"),
    "fed_log_odds": (("time",), "nats", "log-odds-fed y-reader log-odds"),
    "decoded_fed_log_odds": (("time",), "nats", "y-reader fed with the decoded G_j"),
}


# ----------------------------------------------------------------------------- inputs


def split_inputs(inputs: Spikes, n_children: int, n_inputs: int, capacity: int | None = None
                 ) -> Spikes:
    """Per-child input spikes (K, capacity) from the tree's inputs (sender j * N + i
    becomes sender i of row j; an event of multiplicity n becomes n events, since the
    neuron kernels jump once per event); one trial, NumPy."""
    times, senders, sizes = _events_by_child(inputs, None, n_children, n_inputs)
    capacity = capacity or bucket_capacity(float(sizes.max(initial=0)), sigmas=0.0)
    return _to_device(_split_rows(times, senders, n_children, n_inputs, capacity), sizes)


def _events_by_child(inputs: Spikes, trial, n_children: int, n_inputs: int):
    """One trial's events, one per spike (NumPy), and the (K,) spikes per child."""
    times, senders, counts = spike_arrays(inputs, trial)
    times, senders = np.repeat(times, counts), np.repeat(senders, counts)  # one event per spike
    if senders.size and senders.max() >= n_children * n_inputs:
        raise ValueError(f"inputs senders must be < K * N = {n_children * n_inputs}, got "
                         f"{int(senders.max())}")
    sizes = (np.bincount(senders // n_inputs, minlength=n_children) if senders.size
             else np.zeros(n_children, int))
    return times, senders, sizes


def _split_rows(times, senders, n_children: int, n_inputs: int, capacity: int):
    """(K, capacity) NumPy times, senders (i), counts of one trial's events by child."""
    child = senders // n_inputs
    out_times = np.full((n_children, capacity), np.inf)
    out_senders = np.full((n_children, capacity), -1, np.int32)
    out_counts = np.zeros((n_children, capacity), np.int32)
    for j in range(n_children):
        pick = child == j
        n = int(pick.sum())
        out_times[j, :n] = times[pick]
        out_senders[j, :n] = senders[pick] % n_inputs
        out_counts[j, :n] = 1
    return out_times, out_senders, out_counts


def _to_device(rows, sizes) -> Spikes:
    times, senders, counts = rows
    return Spikes(to_device(times, float), to_device(senders), to_device(counts),
                  to_device(sizes, np.int32))


def expand_layer1(spikes: Spikes, capacity: int) -> Spikes:
    """Layer-1 output events (K, C) -> one time-sorted stream of ``capacity`` slots with
    sender j and every event of multiplicity n repeated as n events of count 1 (the
    readers jump once per spike). Traceable; ``n_events`` counts the spikes (more than
    ``capacity`` means overflow)."""
    n_children, slots = spikes.times.shape
    senders = jnp.broadcast_to(jnp.arange(n_children, dtype=jnp.int32)[:, None],
                               (n_children, slots)).reshape(-1)
    counts = jnp.where(spikes.senders >= 0, spikes.counts, 0).reshape(-1)
    times = jnp.where(counts > 0, spikes.times.reshape(-1), jnp.inf)
    times, senders, counts = jax.lax.sort((times, senders, counts), num_keys=1, is_stable=True)
    cumulative = jnp.cumsum(counts)
    total = cumulative[-1]
    slot = jnp.arange(capacity)
    event = jnp.minimum(jnp.searchsorted(cumulative, slot, side="right"), times.shape[0] - 1)
    valid = slot < total
    return Spikes(jnp.where(valid, times[event], jnp.inf),
                  jnp.where(valid, senders[event], -1).astype(jnp.int32),
                  valid.astype(jnp.int32), total.astype(jnp.int32))


def _one_trial(net: SpikingHierarchy, child_inputs: Spikes, grid, dt, *, capacity1,
               capacity_in, capacity2, drift1, drift2):
    layer1 = net.layer1
    first = jax.vmap(partial(event_kernel, capacity=capacity1, drift_spikes=drift1),
                     in_axes=(0, 0, None, 0, 0))(
        layer1, child_inputs, grid, layer1.prior_log_odds, layer1.prior_log_odds)
    delivered = expand_layer1(first.spikes, capacity_in)
    readers = net.layer2
    second = jax.vmap(partial(event_kernel, capacity=capacity2, drift_spikes=drift2),
                      in_axes=(0, None, None, 0, 0))(
        readers, delivered, grid[1:], readers.prior_log_odds, readers.prior_log_odds)
    fed = log_odds_fed(net.tree, first.log_odds, dt)
    decoded_fed = log_odds_fed(net.tree, first.prediction, dt)
    return (first.log_odds[:, 1:], first.prediction[:, 1:], first.spikes, delivered,
            second.log_odds, second.prediction, second.spikes, fed, decoded_fed)


@partial(jax.jit, static_argnames=("capacity1", "capacity_in", "capacity2", "drift1",
                                   "drift2", "record_every", "batched"))
def _run(net, child_inputs, grid, dt, *, capacity1, capacity_in, capacity2, drift1, drift2,
         record_every, batched):
    """Both layers and the log-odds-fed readers on the record grid (kept every
    ``record_every``-th point), spikes merged per layer, and the event counts of every
    buffer (for the overflow check): one program per stage, nothing left to do eagerly."""
    run = partial(_one_trial, net, grid=grid, dt=dt, capacity1=capacity1,
                  capacity_in=capacity_in, capacity2=capacity2, drift1=drift1, drift2=drift2)
    out = jax.vmap(lambda inputs: run(inputs))(child_inputs) if batched else run(child_inputs)
    l1_log_odds, l1_prediction, l1_spikes, delivered, l2_log_odds, l2_prediction, l2_spikes, \
        fed, decoded_fed = out
    keep = slice(record_every - 1, None, record_every)
    counts = (l1_spikes.n_events, delivered.n_events, l2_spikes.n_events)
    return (l1_log_odds[..., keep], l1_prediction[..., keep], _merge_rows(l1_spikes),
            l2_log_odds[..., keep], l2_prediction[..., keep], _merge_rows(l2_spikes),
            fed[..., keep], decoded_fed[..., keep]), counts


def _merge_rows(spikes: Spikes) -> Spikes:
    """Events of R neurons (..., R, C) -> one time-sorted stream (..., R*C) with sender
    r (multiplicities kept in counts)."""
    n_readers, slots = spikes.times.shape[-2:]
    batch = spikes.times.shape[:-2]
    senders = jnp.where(spikes.senders >= 0,
                        jnp.arange(n_readers, dtype=jnp.int32)[:, None], -1)
    flat = lambda a: a.reshape(batch + (n_readers * slots,))  # noqa: E731
    times, senders, counts = jax.lax.sort(
        (flat(spikes.times), flat(jnp.broadcast_to(senders, spikes.times.shape)),
         flat(spikes.counts)), num_keys=1, is_stable=True)
    return Spikes(times, senders, counts, jnp.sum(spikes.n_events, axis=-1))


def _simulate(net, inputs, duration, dt, record_every, capacity, batched) -> HierarchyResult:
    if not isinstance(net, SpikingHierarchy):
        raise ValueError(f"params must be a SpikingHierarchy, got {type(net).__name__}")
    if not isinstance(inputs, Spikes):
        raise ValueError(f"inputs must be a bayesnn.core.Spikes, got {type(inputs).__name__}")
    duration = float(require_positive("duration", duration, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) \
            or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    n_steps = int(round(duration / dt))
    if n_steps < 1 or abs(n_steps * dt - duration) > 1e-9 * max(duration, 1.0):
        raise ValueError(f"duration ({duration}) must be a positive multiple of dt ({dt})")
    want = 2 if batched else 1
    if np.ndim(inputs.times) != want:
        raise ValueError(f"inputs.times must have {want} dimension(s) here, got shape "
                         f"{np.shape(inputs.times)}")
    warn_if_float32("bayesnn.hierarchy.simulate")
    n_children, n_inputs = net.n_children, net.n_inputs
    n_trials = inputs.times.shape[0] if batched else 1
    host = Spikes(*(np.asarray(f) for f in inputs))  # one copy to the host, sliced there
    for b in range(n_trials):
        # finite, sorted, in [0, duration], counts >= 1 (a NaN time fails no range
        # comparison, so it is checked explicitly there); senders by split_inputs
        check_spikes(Spikes(*(f[b] for f in host)) if batched else host,
                     n_senders=np.iinfo(np.int32).max, duration=duration, name="inputs")
    events = [_events_by_child(host, b if batched else None, n_children, n_inputs)
              for b in range(n_trials)]
    expected, drift1, capacity1 = layer1_capacity(net.layer1, duration)
    # Deterministic size from the rates (so training and test runs share a program).
    largest = max(int(sizes.max(initial=0)) for _, _, sizes in events)
    capacity_inputs = max(bucket_capacity(expected),
                          bucket_capacity(float(largest), sigmas=0.0))
    rows = [_split_rows(t, s, n_children, n_inputs, capacity_inputs) for t, s, _ in events]
    sizes = np.stack([z for _, _, z in events])
    if batched:
        child_inputs = _to_device(tuple(np.stack(f) for f in zip(*rows)), sizes)
    else:
        child_inputs = _to_device(rows[0], sizes[0])
    grid_host = dt * np.arange(n_steps + 1)
    grid = to_device(grid_host)
    capacity1 = capacity or capacity1
    # Reader buffers follow from layer 1's (not from the readers' rates), so runs of one
    # layer 1 with different readers share a compiled program; overflow grows them.
    capacity_in = bucket_capacity(n_children * capacity1 / 2.0, sigmas=0.0)
    capacities = [capacity1, capacity_in, capacity_in]
    drift2, _ = kernel_choices(net.layer2, duration, 0)
    while True:
        out, counts = _run(net, child_inputs, grid, dt, capacity1=capacities[0],
                           capacity_in=capacities[1], capacity2=capacities[2], drift1=drift1,
                           drift2=drift2, record_every=int(record_every), batched=batched)
        needed = [int(np.max(np.asarray(c), initial=0)) for c in counts]
        if all(n <= c for n, c in zip(needed, capacities)):
            break
        capacities = [c if n <= c else next_power_of_two(n)
                      for n, c in zip(needed, capacities)]
    keep = slice(record_every - 1, None, record_every)
    return HierarchyResult(grid_host[1:][keep], *out)


def simulate(params: SpikingHierarchy, inputs: Spikes, *, duration: float,
             dt: float = 1e-3, record_every: int = 1,
             capacity: int | None = None) -> HierarchyResult:
    """Run the spiking hierarchy on one trial of the tree's input spikes.

    Args:
        params: :class:`SpikingHierarchy`.
        inputs: the tree's input spikes (one trial), sender j * N + i
            (``sample_tree(...).inputs``).
        duration: run length, s (a multiple of ``dt``).
        dt: record grid (s); also the bin of the log-odds-fed reader.
        record_every: keep every k-th grid point in the result (the neurons and the
            log-odds-fed reader still run on the full grid).
        capacity: output-event slots per layer-1 neuron (default from the expected
            rate; the readers' buffers follow from it); grown and rerun on overflow, so
            it only matters for compile reuse (equal capacities share one program).

    Returns:
        :class:`HierarchyResult` on the grid k dt, k = record_every, 2 record_every, ..

    Raises:
        ValueError: naming the argument, for bad input, before any work.
    """
    return _simulate(params, inputs, duration, dt, record_every, capacity, batched=False)


def simulate_trials(params: SpikingHierarchy, inputs: Spikes, *, duration: float,
                    dt: float = 1e-3, record_every: int = 1,
                    capacity: int | None = None) -> HierarchyResult:
    """:func:`simulate` over per-trial inputs (leading trial axis) in one compiled
    program; trial k equals ``simulate(params, inputs[k], ...)``."""
    return _simulate(params, inputs, duration, dt, record_every, capacity, batched=True)
