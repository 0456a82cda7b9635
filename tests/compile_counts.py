"""Shared runner of the compile-budget tests: a script in a fresh Python process.

The budget tests count the XLA programs a scenario compiles. A fresh process has no
program in memory, so every program the scenario needs goes through XLA's compile entry
point, and :class:`bayesnn.validate.CompileMeter` counts each one whether XLA compiles
it or reads it back from the persistent cache (the read happens inside the same
``backend_compile`` span): the count is the same with an empty cache, a filled one or
none (checked by ``test_program_count_is_the_same_cold_and_warm``). The process
therefore uses the suite run's shared cache (``BAYESNN_JAX_CACHE``, set by
tests/conftest.py), so a program another test already compiled is read, not compiled
again; with ``BAYESNN_TEST_JAX_CACHE=off`` it runs without one.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run before the script: the persistent cache named by BAYESNN_JAX_CACHE (or none when
# it is "off"), set before anything compiles.
_PREAMBLE = ("from bayesnn.core.compilation_cache import enable_compilation_cache\n"
             "enable_compilation_cache()\n")


def run_fresh(script: str, *args: str, timeout: float = 900, cache: str | None = None) -> dict:
    """Run ``python -c script *args`` from the repository root in a fresh process with
    the suite's compilation cache (``cache``: another folder, or ``"off"``); the JSON
    object printed on its last line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if cache is not None:
        env["BAYESNN_JAX_CACHE"] = cache
    done = subprocess.run([sys.executable, "-c", _PREAMBLE + script, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
