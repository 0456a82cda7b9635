"""Shared runner of the compile-budget tests: a script in a fresh Python process.

The budget tests count the XLA programs a scenario compiles. A fresh process with the
persistent cache off (``BAYESNN_JAX_CACHE=off``) reuses no program compiled by another
test, so the count is the scenario's own.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_fresh(script: str, *args: str, timeout: float = 900) -> dict:
    """Run ``python -c script *args`` from the repository root, cache off; the JSON
    object printed on its last line."""
    env = dict(os.environ, BAYESNN_JAX_CACHE="off", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
