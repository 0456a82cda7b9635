"""Static choices of the spiking hierarchy's compiled program, made on the host.

The hierarchy compiles one program per tree size (:func:`bayesnn.hierarchy.simulate`);
what selects it besides the shapes is a power-of-two buffer size and whether drift
alone can make a neuron fire (a static kernel flag). Both follow from the rates, here
in NumPy: the neuron records' jitted rate properties would compile a program per
(K, N) shape, and eager ``jnp.stack`` one per stacked shape. No number of a run depends
on these choices (buffers only store and overflow grows them; the flag is exact on
both sides of its threshold), only which program runs.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from bayesnn.core.params import to_device, unchecked
from bayesnn.neuron import NeuronParams
from bayesnn.neuron.checks import default_capacity

__all__ = ["stack_records", "kernel_choices", "layer1_capacity"]


def stack_records(records: Sequence[NeuronParams]) -> NeuronParams:
    """Validated neuron records stacked on the host (leading axis on every field).

    The values are those of :func:`bayesnn.core.params.stack_params` (copies), without
    its device-side ``jnp.stack`` (one XLA program per new shape).

    Args:
        records: NeuronParams of one shape.

    Returns:
        One stacked :class:`bayesnn.neuron.NeuronParams`.

    Raises:
        ValueError: if ``records`` is empty.
    """
    if len(records) == 0:
        raise ValueError("records must hold at least one NeuronParams")
    return unchecked(NeuronParams, **{
        name: to_device(np.stack([np.asarray(getattr(r, name)) for r in records]))
        for name in NeuronParams.field_names})


class _HostRates(NamedTuple):
    """The two fields :func:`bayesnn.neuron.checks.default_capacity` reads, in NumPy."""

    evidence_rate_on: np.ndarray
    g0: np.ndarray


def kernel_choices(params: NeuronParams, duration: float, n_input_events: int
                   ) -> tuple[bool, int]:
    """Whether drift alone can make any neuron of a stacked record fire (theta < 0 and
    theta^2 > 4 alpha beta, :func:`bayesnn.neuron.event_driven.drift_can_fire`) and its
    default output-event slots (:func:`bayesnn.neuron.checks.default_capacity`).

    Args:
        params: NeuronParams, stacked over neurons or not.
        duration: run length, s.
        n_input_events: expected input events of the busiest neuron.

    Returns:
        (drift flag, slots: a power of two).
    """
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    r_on, r_off, g0 = (np.asarray(params.r_on), np.asarray(params.r_off),
                       np.asarray(params.g0))
    theta = np.sum(q_on - q_off, axis=-1)
    alpha, beta = r_on * (-np.expm1(-0.5 * g0)), r_off * np.expm1(0.5 * g0)
    drift = bool(np.any((theta < 0) & (theta * theta > 4.0 * alpha * beta)))
    rates = _HostRates(np.sum(q_on * np.log(q_on / q_off), axis=-1) - theta, g0)
    return drift, default_capacity(rates, duration, n_input_events)


def layer1_capacity(layer1: NeuronParams, duration: float) -> tuple[float, bool, int]:
    """Layer 1's sizes from its rates alone (so training and test runs, and every g0 of
    a frontier row given one capacity, share a program).

    Args:
        layer1: the layer-1 NeuronParams stacked over the K children.
        duration: run length, s.

    Returns:
        (expected input spikes of the busiest child, drift flag, default output-event
        slots per layer-1 neuron).
    """
    expected = float(np.max(np.sum(np.maximum(np.asarray(layer1.q_on),
                                              np.asarray(layer1.q_off)), axis=1))) * duration
    drift, capacity = kernel_choices(layer1, duration, int(expected))
    return expected, drift, capacity
