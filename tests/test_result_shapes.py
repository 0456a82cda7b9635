"""Documented shapes against returned ones, for every simulation result type.

Each result record documents its arrays in a ``Fields:`` section as ``name: (A, B)``
(symbols such as R, K, N, literal sizes, ``...`` for the optional trial axis, ``()``
for a scalar). For a tiny run of each family the test parses that section and checks
every documented array: its rank, literal sizes, and that one symbol means one size
across the fields of the record. For the batched run it checks the trial axis where
the docstring promises it: on fields written ``(..., S)``, or on every field when the
docstring says "every field" (less the fields it names after "except").
"""
from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from bayesnn import hierarchy, neuron, scn
from bayesnn.core import make_spikes, stack_spikes

FIELD = re.compile(r"(\w+(?:, \w+)*): \(([\w\s,.+]*)\)")


def documented_shapes(cls) -> dict[str, tuple[str, ...]]:
    doc = cls.__doc__ or ""
    assert "Fields:" in doc, f"{cls.__name__} documents no Fields: section"
    section = doc.split("Fields:", 1)[1]
    shapes = {}
    for names, dims in FIELD.findall(section):
        tokens = tuple(token.strip() for token in dims.split(",") if token.strip())
        for name in names.split(", "):
            if name in cls._fields:
                shapes.setdefault(name, tokens)
    assert shapes, f"{cls.__name__}: no field shapes found in its docstring"
    return shapes


def check_single(result) -> dict[str, int]:
    """Ranks, literal sizes and one size per symbol; returns the symbol sizes."""
    sizes: dict[str, int] = {}
    for name, tokens in documented_shapes(type(result)).items():
        value = getattr(result, name)
        if value is None:
            continue
        shape = np.shape(value)
        dims = [token for token in tokens if token != "..."]
        assert len(shape) == len(dims), f"{type(result).__name__}.{name}: documented " \
            f"{tokens}, got shape {shape}"
        for token, size in zip(dims, shape):
            if token.isdigit():
                assert size == int(token), f"{type(result).__name__}.{name}: {tokens} vs {shape}"
            else:
                assert sizes.setdefault(token, size) == size, \
                    f"{type(result).__name__}.{name}: {token} = {size}, elsewhere {sizes[token]}"
    return sizes


def check_batched(single, batched, n_trials: int) -> None:
    doc = " ".join((type(single).__doc__ or "").split())
    every = "every field" in doc or "every array field" in doc
    exempt = set(re.findall(r"except ``(\w+)``", doc))
    for name, tokens in documented_shapes(type(single)).items():
        one, many = getattr(single, name), getattr(batched, name)
        if one is None:
            continue
        expect_axis = (tokens[:1] == ("...",)) or (every and name not in exempt)
        expected = (n_trials,) + np.shape(one) if expect_axis else np.shape(one)
        assert np.shape(many) == expected, f"{type(single).__name__}.{name}: batched shape " \
            f"{np.shape(many)}, documented {'with' if expect_axis else 'without'} a trial axis"


def _scn():
    net = scn.make_network(scn.random_decoder(2, 12, 0.1, seed=4), A=np.zeros((2, 2)),
                           lambda_d=10, lambda_v=20, mu=1e-6, nu=1e-5, sigma_v=1e-2, dt=1e-4)
    t = np.arange(200) * 1e-4
    c = 20.0 * np.stack([np.cos(20 * t), np.sin(20 * t)], -1)
    # every optional record on, so no documented array is left empty
    opts = dict(key=1, capacity=256, record_every=10, record_voltages=(0, 3), record_rates=(1,),
                record_currents=True, track_balance=True)
    return (scn.simulate(net, c, **opts),
            scn.simulate_trials(net, np.stack([c, c]), **opts), 2)


def _dale():
    net = scn.make_dale_network(n_e=12, n_i=4, seed=2)
    x = np.linspace(0.2, 0.8, 201)[:, None]
    c = scn.autoencoder_input(x, float(net.dt), float(net.lambda_))
    opts = dict(key=3, capacity=128, record_every=10, record_neurons=(1, 13), record_traces=True)
    return (scn.simulate_dale(net, c, **opts),
            scn.simulate_dale_trials(net, np.stack([c, c]), **opts), 2)


def _neuron():
    params = neuron.NeuronParams(r_on=2.0, r_off=3.0, q_on=np.array([40.0, 15.0]),
                                 q_off=np.array([5.0, 10.0]), g0=0.5)
    spikes = make_spikes([0.1, 0.2, 0.35, 0.6], [0, 1, 0, 1], n_senders=2, duration=1.0,
                         capacity=16)
    sample_times = np.linspace(0.05, 1.0, 20)
    return (neuron.simulate(params, spikes, duration=1.0, sample_times=sample_times),
            neuron.simulate_trials(params, stack_spikes([spikes, spikes]), duration=1.0,
                                   sample_times=sample_times), 2)


def _generative():
    params = neuron.NeuronParams(r_on=2.0, r_off=3.0, q_on=np.array([40.0, 15.0]),
                                 q_off=np.array([5.0, 10.0]), g0=0.5)
    sample_times = np.linspace(0.05, 1.0, 20)
    return (neuron.simulate_generative(params, key=3, duration=1.0, sample_times=sample_times),
            neuron.simulate_generative(params, key=3, duration=1.0, n_trials=2,
                                       sample_times=sample_times), 2)


def _hierarchy():
    tree = hierarchy.make_tree(2, r_on=1.0, r_off=3.0, follow=4.0, stray=0.5,
                               q_on=[[30.0, 20.0], [35.0, 25.0]], q_off=[[5.0, 10.0], [6.0, 4.0]])
    net = hierarchy.make_hierarchy(tree, g0=0.4, reader_rates=np.array([[4.0, 30.0],
                                                                        [5.0, 25.0]]))
    trials = hierarchy.sample_trees(tree, key=4, n_trials=2, duration=1.0)
    return (hierarchy.simulate(net, trials.trial(0).inputs, duration=1.0, dt=1e-2),
            hierarchy.simulate_trials(net, trials.inputs, duration=1.0, dt=1e-2), 2)


RUNS = {"SCNResult": _scn, "DaleResult": _dale, "NeuronResult": _neuron,
        "GenerativeResult": _generative, "HierarchyResult": _hierarchy}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_documented_shapes_match_returned_ones(name):
    jax.config.update("jax_enable_x64", True)
    single, batched, n_trials = RUNS[name]()
    assert type(single).__name__ == name
    check_single(single)
    check_batched(single, batched, n_trials)


def test_checker_catches_a_wrong_shape():
    from typing import NamedTuple

    class Demo(NamedTuple):
        """Fields:
            a: (R, K) values.   b: (R,) times.
        """
        a: np.ndarray
        b: np.ndarray

    check_single(Demo(np.zeros((3, 2)), np.zeros(3)))
    with pytest.raises(AssertionError, match="R = 4"):
        check_single(Demo(np.zeros((3, 2)), np.zeros(4)))
    with pytest.raises(AssertionError, match="documented"):
        check_single(Demo(np.zeros(3), np.zeros(3)))
