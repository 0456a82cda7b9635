"""Compile budget (issue 21) of the family scenarios other than ``neuron``: how many
XLA programs each ``bayesnn validate --scenario X`` compiles.

Issue 21's goal is <= 400 programs for ``--scenario all``; the eight family scenarios
compiled 584 before the issue-21 work (measured with ``python -m bayesnn.cli validate
--scenario X --no-figures --no-jax-cache``; benchmarks/README.md, issue 21). Most of them
were eager ``jax.numpy`` calls on host data (``jnp.asarray``, ``jnp.zeros``, indexing a
device array, derived parameters as properties), each compiling one small program per
shape. Two of them run here, each in a fresh process (tests/compile_counts.py: no
program in memory; a read from the suite's persistent cache counts as one program, as a
compilation would); the other six are counted in the gallery run
(tests/test_validate_all.py). The budget is the measured count plus a small margin for
JAX versions that split a program differently. Nothing is timed.
"""
import json

import pytest

from tests.compile_counts import run_fresh


# scenario -> (module, function, keyword settings, budget). Budget = programs measured
# with `python -m bayesnn.cli validate --scenario X --no-figures --no-jax-cache` (the
# scenario's defaults, as here) + 4. Before issue 21: log_odds 46, accuracy 58. The other
# family scenarios (scn, kalman, spike_gradients, stdp, neuromorphic, scn_dynamics) run
# at their quick defaults in the gallery run, where their budgets and checks are asserted
# (tests/test_validate_all.py); these two run here because the gallery runs them smaller.
SCENARIOS = {
    "log_odds": ("bayesnn.posteriors.validation", "log_odds_scenario", {}, 14 + 4),
    "accuracy": ("bayesnn.posteriors.validation", "accuracy_scenario", {}, 17 + 4),
}
# A cheap scenario for the cold/warm premise test below.
_SCN = ("bayesnn.scn.network.validation", "scn_scenario", {})

_SCRIPT = """
import importlib, json, sys, time
from bayesnn.core.precision import enable_x64
enable_x64()
from bayesnn import style, validate
module, function, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
figures = settings.pop("figures", False)
scenario = getattr(importlib.import_module(module), function)
meter = validate.CompileMeter.get()
start = time.time()
result = scenario(figures=figures, **settings)
count = meter.since(start)
print(json.dumps({"programs": count["programs"], "names": count["program_names"],
                  "n_checks": len(result.checks),
                  "failed": [c.name for c in result.checks if not c.passed],
                  "style": {name: style.audit(figure) for name, figure in result.figures.items()},
                  "numbers": result.numbers},
                 default=lambda value: value.tolist() if hasattr(value, "tolist") else repr(value)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_family_scenario_passes_within_its_program_budget(name):
    """The scenario at its defaults (those of ``bayesnn validate --scenario X``): every
    check passes, its figures pass the house-style audit where drawn, and it compiles at
    most its budget of programs, all in one run."""
    module, function, settings, budget = SCENARIOS[name]
    report = run_fresh(_SCRIPT, module, function, json.dumps(settings))
    assert report["failed"] == [], report["failed"]
    assert report["n_checks"] >= 1
    assert all(problems == [] for problems in report["style"].values()), report["style"]
    assert report["programs"] <= budget, sorted(report["names"])
    # premise: the count is that of a real run (each scenario compiles its own kernels)
    assert report["programs"] >= 1


@pytest.mark.slow
def test_program_count_is_the_same_cold_and_warm(tmp_path):
    """The premise of reading budgets through the suite's shared cache: a fresh process
    counts the same programs whether XLA compiles them (empty cache) or reads every one
    back (filled cache), and the second run's are all cache hits."""
    script = _SCRIPT.replace('"names": count["program_names"],',
                             '"names": count["program_names"], "hits": count["hits"],')
    assert script != _SCRIPT
    module, function, settings = _SCN
    folder = str(tmp_path / "cache")
    cold = run_fresh(script, module, function, json.dumps(settings), cache=folder)
    warm = run_fresh(script, module, function, json.dumps(settings), cache=folder)
    assert cold["programs"] >= 1 and cold["hits"] == 0
    assert warm["programs"] == cold["programs"] and warm["hits"] == warm["programs"]
    assert sorted(warm["names"]) == sorted(cold["names"])
