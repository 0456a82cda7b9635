"""The same seed gives bit-identical results whatever the number of XLA CPU threads.

tests/thread_probe.py runs every model family and larger workloads (a 400-neuron SCN
over 8 trials, 64 sampled trials and their exact filters) in a fresh process, once
pinned to one core and once to two (XLA sizes its CPU thread pools to the cores the
process may use: 13 threads against 17 here), with the same XLA flags, and the two
result files are compared leaf by leaf with ``np.array_equal`` (no tolerance: bit
identity is the claim). Kernels keep it by writing their small per-step products as
elementwise sums in a fixed order rather than library ``dot`` calls, whose blocking may
follow the thread count.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("thread_probe.py")


def _run_probe(path: Path, cores: set[int]) -> dict[str, np.ndarray]:
    # No persistent compilation cache (the suite's run-wide one is in the environment):
    # each probe compiles its own programs under its own thread count.
    env = {**os.environ, "BAYESNN_PROBE_CORES": ",".join(map(str, sorted(cores))),
           "BAYESNN_JAX_CACHE": "off"}
    subprocess.run([sys.executable, str(PROBE), str(path)], check=True, env=env, timeout=900)
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="comparing one XLA thread with two needs two cores; on one core XLA "
                           "runs one thread either way, so there is nothing to compare")
def test_results_are_bit_identical_with_one_and_two_xla_threads(tmp_path):
    two_cores = set(sorted(os.sched_getaffinity(0))[:2])
    one = _run_probe(tmp_path / "one.npz", {min(two_cores)})
    two = _run_probe(tmp_path / "two.npz", two_cores)
    assert one.keys() == two.keys() and len(one) > 50
    differing = [name for name in one if not np.array_equal(one[name], two[name], equal_nan=True)]
    assert not differing, f"results differ between 1 and 2 XLA threads: {differing}"
