"""Compile budget (issue 21): how many XLA programs the main job compiles.

XLA compilation dominates the project's run time, so the number of distinct programs
that ``bayesnn validate`` (the ``neuron`` scenario) compiles is held under a budget,
counted by :class:`bayesnn.validate.CompileMeter` (the meter that prints validate's
per-stage program counts). The scenario runs with small sizes: the programs it compiles
are the main job's (same stages, code paths and static options), only the trial length,
number of calibration trials and inputs are smaller. It runs in a fresh process, so no
program compiled by another test is reused. Nothing is timed.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The main job compiled 224 programs before issue 21 and 62 after (measured with
# `python -m bayesnn.cli validate`); the quick run below compiles the same stages. The
# budget is the measured count plus a few for JAX versions that split a program
# differently; the goal of <= 40 is not met yet (benchmarks/README.md).
MAIN_JOB_BUDGET = 66

_SCRIPT = """
import json, time
from bayesnn.core.precision import enable_x64
enable_x64()
from bayesnn import validate
from bayesnn.neuron.validation import neuron_scenario
meter = validate.CompileMeter.get()
start = time.time()
result = neuron_scenario(duration=4.0, calibration_trials=4, figures=False)
count = meter.since(start)
print(json.dumps({"passed": result.passed, "programs": count["programs"],
                  "names": count["program_names"]}))
"""


@pytest.mark.slow
def test_main_job_stays_under_its_program_budget():
    env = dict(os.environ, BAYESNN_JAX_CACHE="off", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["passed"]
    assert report["programs"] <= MAIN_JOB_BUDGET, sorted(report["names"])
