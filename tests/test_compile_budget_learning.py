"""Compile budget (issue 21) of the learning families: how many XLA programs the
``scn_learning`` scenario compiles (the ``learning`` scenario's budget is asserted by
tests/test_learning_slow.py, in the run whose checks it tests), and that a learner
called again on new data of the same size, new starting rates or a new fixed
``initial_prob_on`` compiles nothing.

The scenario runs at small sizes in a fresh process (tests/compile_counts.py: no
program in memory; one read from the suite's persistent cache counts as one program,
so the count is that of a cold run); the programs are those of the full run (same
stages, code paths and static options), counted by
:class:`bayesnn.validate.CompileMeter`. Nothing is timed.
"""
import time

import numpy as np
import pytest

from tests.compile_counts import run_fresh


# Measured (benchmarks/README.md, issue 21; `python -m bayesnn.cli validate --scenario X
# --no-figures --no-jax-cache`): scn_learning 135 -> 15 programs at its default sizes and
# 15 at the small sizes below. learning 268 -> 101, of which 36 before the NUTS stage; the
# rest are NumPyro's (run_nuts, which another change compiles as one program per shape;
# 42 with it). The budgets count every program of the run, NumPyro's included, so they
# hold before and after that change; each is the measured count plus 3 for JAX versions
# that split a program differently.
SCN_LEARNING_BUDGET = 18

_SCN_SCRIPT = """
import json, time
from bayesnn.core.precision import enable_x64
enable_x64()
from bayesnn import validate
from bayesnn.scn.learning.validation import scn_learning_scenario
meter = validate.CompileMeter.get()
start = time.time()
result = scn_learning_scenario(duration=8.0, n_neurons=8, eval_duration=1.0, cv_duration=1.0,
                               dale_duration=2.0, dale_n_i=3, train_iterations=5,
                               figures=False)
count = meter.since(start)
print(json.dumps({"programs": count["programs"], "names": count["program_names"]}))
"""

@pytest.mark.slow
def test_scn_learning_scenario_stays_under_its_program_budget():
    report = run_fresh(_SCN_SCRIPT, timeout=1800)
    assert report["programs"] <= SCN_LEARNING_BUDGET, sorted(report["names"])


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
