"""Premise of the compile-budget tests (issue 21): a fresh process counts the same XLA
programs whether XLA compiles them or reads them back from the persistent cache.

Every scenario's budget is asserted in the gallery run (tests/test_validate_all.py),
in one fresh process whose persistent cache the rest of the suite may already have
filled; the count is only meaningful if a cache read counts as one program, as a
compilation would (tests/compile_counts.py). Nothing is timed.
"""
import pytest

from tests.compile_counts import run_fresh


# A cheap scenario (the scn family at its quick defaults) run twice on one cache.
_SCRIPT = """
import json, time
from bayesnn.core.precision import enable_x64
enable_x64()
from bayesnn import validate
from bayesnn.scn.network.validation import scn_scenario
meter = validate.CompileMeter.get()
start = time.time()
result = scn_scenario(figures=False)
count = meter.since(start)
print(json.dumps({"programs": count["programs"], "names": count["program_names"],
                  "hits": count["hits"]}))
"""


@pytest.mark.slow
def test_program_count_is_the_same_cold_and_warm(tmp_path):
    """The premise of reading budgets through the suite's shared cache: a fresh process
    counts the same programs whether XLA compiles them (empty cache) or reads every one
    back (filled cache), and the second run's are all cache hits."""
    folder = str(tmp_path / "cache")
    cold = run_fresh(_SCRIPT, cache=folder)
    warm = run_fresh(_SCRIPT, cache=folder)
    assert cold["programs"] >= 1 and cold["hits"] == 0
    assert warm["programs"] == cold["programs"] and warm["hits"] == warm["programs"]
    assert sorted(warm["names"]) == sorted(cold["names"])
