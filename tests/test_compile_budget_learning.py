"""Compile budget (issue 21) of the learning families: a learner called again on new
data of the same size, new starting rates or a new fixed ``initial_prob_on`` compiles
nothing (counted by :class:`bayesnn.validate.CompileMeter`). The ``learning`` and
``scn_learning`` scenarios' program budgets are asserted in the gallery run
(tests/test_validate_all.py). Nothing is timed.
"""
import time

import numpy as np
import pytest


def _meter_since(action):
    from bayesnn.core.compile_meter import CompileMeter

    meter = CompileMeter.get()
    start = time.time()
    action()
    return meter.since(start)


@pytest.mark.slow
def test_learners_called_again_compile_nothing():
    """EM (continuous and binned) and gradient ascent on a second data set of the same
    size, from other starting rates and with another fixed initial_prob_on, reuse the
    first call's programs: 0 XLA programs compiled."""
    from bayesnn.learning import em_binned, em_continuous, fit_gradient
    from bayesnn.learning.experiments import sample_data
    from bayesnn.processes import MMPPParams

    true = MMPPParams(r_on=2.0, r_off=2.0, q_on=np.array([30.0, 10.0]),
                      q_off=np.array([5.0, 10.0]))
    first, second = sample_data(true, 3, 10.0, 2)
    starts = [MMPPParams(r_on=1.0, r_off=3.0, q_on=np.array([25.0, 12.0]),
                         q_off=np.array([8.0, 8.0])),
              MMPPParams(r_on=0.7, r_off=2.5, q_on=np.array([20.0, 15.0]),
                         q_off=np.array([6.0, 9.0]))]
    calls = [
        lambda data, start, p0: em_continuous(start, data, duration=10.0, max_iterations=5,
                                              initial_prob_on=p0),
        lambda data, start, p0: em_binned(start, data, duration=10.0, dt=0.01,
                                          max_iterations=5, initial_prob_on=p0),
        lambda data, start, p0: fit_gradient(start, data, duration=10.0, max_steps=3,
                                             initial_prob_on=p0),
    ]
    for call in calls:
        for p0 in (None, 0.3):
            results = []
            call(first, starts[0], p0)
            again = _meter_since(lambda: results.append(
                call(second, starts[1], None if p0 is None else 0.6)))
            assert again["programs"] == 0, again["program_names"]
            # the second call did work on its own data (premise of the test)
            assert np.all(np.isfinite(np.asarray(results[0].params.q_on)))
