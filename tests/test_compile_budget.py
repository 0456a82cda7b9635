"""Compile budget (issue 21): a grid call over new values compiles nothing.

The main job's program budget (``bayesnn validate``, the ``neuron`` scenario: <= 40
programs is the issue's goal) and every other scenario's are asserted in the gallery
run (tests/test_validate_all.py), one fresh process that counts each scenario's
programs with :class:`bayesnn.validate.CompileMeter`. Nothing is timed.
"""


def test_second_frontier_over_new_g0_compiles_nothing():
    """The hierarchy's grid call (:func:`bayesnn.hierarchy.evaluation.frontier`) over
    other g0 values with a given layer-1 capacity reuses the first call's programs:
    0 XLA programs compiled, and the same rows as without the capacity."""
    import numpy as np

    from bayesnn.hierarchy.evaluation import frontier
    from bayesnn.hierarchy.params import make_tree
    from bayesnn.hierarchy.sizing import layer1_capacity
    from bayesnn.hierarchy.spiking import layer1_params
    from bayesnn.core.compile_meter import CompileMeter
    import time

    # q_on > q_off on every input: theta > 0, so drift alone never fires and every g0
    # runs the same kernel
    tree = make_tree(1, r_on=1.0, r_off=1.0, follow=10.0, stray=0.5,
                     q_on=np.array([30.0, 25.0, 20.0]), q_off=np.array([5.0, 8.0, 4.0]))
    options = dict(key=3, n_trials=2, duration=1.0, capacity=1024)
    # premise: without capacity= the two g0 sets get different default buffers (a
    # recompilation), so the test can fail
    sizes = [layer1_capacity(layer1_params(tree, g0), 1.0)[2] for g0 in (1.0, 0.2)]
    assert sizes[0] != sizes[1]
    frontier(lambda k: tree, [1], [1.0, 2.0], **options)
    meter = CompileMeter.get()
    start = time.time()
    second = frontier(lambda k: tree, [1], [0.2, 0.3], **options)
    assert meter.since(start)["programs"] == 0, meter.since(start)["program_names"]
    # the capacity changes nothing but the buffer: same rows as the default capacity
    default = frontier(lambda k: tree, [1], [0.2, 0.3], **{**options, "capacity": None})
    assert second == default
    assert second[0]["layer1_rate"] > second[1]["layer1_rate"] > 0  # g0 changed the run


def test_second_sweep_over_new_values_compiles_nothing():
    """A sweep over other values of g0 (same grid size, trials, record grid and a given
    output capacity) reuses the first sweep's program: 0 XLA programs compiled."""
    import numpy as np

    from bayesnn import neuron
    from bayesnn.core.compile_meter import CompileMeter
    import time

    base = neuron.NeuronParams(r_on=1.0, r_off=3.0, q_on=np.array([30.0, 12.0, 25.0]),
                               q_off=np.array([10.0, 20.0, 5.0]), g0=1.0)
    options = dict(key=7, n_trials=2, duration=0.5, dt=0.05, capacity=256)
    # premise: without capacity= the two grids get different default buffers (a
    # recompilation), so the test can fail
    from bayesnn.neuron.checks import default_capacity
    sizes = [default_capacity(base.replace(g0=min(values)), 0.5, int(75 * 0.5))
             for values in ([1.0, 2.0], [0.3, 0.6])]
    assert sizes[0] != sizes[1]
    first = neuron.simulate_grid(lambda g0: base.replace(g0=g0), {"g0": [1.0, 2.0]}, **options)
    meter = CompileMeter.get()
    start = time.time()
    second = neuron.simulate_grid(lambda g0: base.replace(g0=g0), {"g0": [0.3, 0.6]}, **options)
    assert meter.since(start)["programs"] == 0, meter.since(start)["program_names"]
    assert second.attrs["n_compilations"] == 1  # no overflow rerun either
    # the capacity changes nothing but the buffer: same values as the default capacity
    default = neuron.simulate_grid(lambda g0: base.replace(g0=g0), {"g0": [0.3, 0.6]},
                           **{**options, "capacity": None})
    np.testing.assert_array_equal(second["log_odds"].values, default["log_odds"].values)
    np.testing.assert_array_equal(second["prediction"].values, default["prediction"].values)
    assert not np.array_equal(first["prediction"].values, second["prediction"].values)
