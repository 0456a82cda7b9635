"""Reduced runs of papers/bourdoukan2015 and papers/alemi2018 (``--small``: 5 % of the
learning time), the scn_dynamics scenario's contract, and the benchmark's agreement
check on a tiny run. The full numbers are in the papers' READMEs."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow   # ~20 s CPU (two learning runs, knock-out, figures)
def test_bourdoukan2015_reduced_reproduction(tmp_path):
    numbers = _load("papers/bourdoukan2015/reproduce.py").main(["--out", str(tmp_path),
                                                                "--small"])
    assert json.loads((tmp_path / "results.json").read_text()) == numbers
    for name in ("damped_oscillator", "system_3d"):
        # 5 s of learning from W = 0: the Lyapunov descent has started (distance from
        # 1 at W = 0 well below 1) but not finished (the full run is in the README)
        assert 0.0 < numbers[name]["distance"] < 0.9
    assert len(list(tmp_path.glob("*.png"))) == 3


@pytest.mark.slow   # ~12 s CPU (two RK4 teachers in Python, learning, figure)
def test_alemi2018_reduced_reproduction(tmp_path):
    numbers = _load("papers/alemi2018/reproduce.py").main(["--out", str(tmp_path), "--small"])
    for name in ("van_der_pol", "bistable"):
        assert np.isfinite(numbers[name]["field_error"])
        # least squares on the same features is the floor no learning rule can beat
        assert numbers[name]["best_field_error"] <= numbers[name]["field_error"]
    assert (tmp_path / "alemi2018_phase_portraits.png").exists()


@pytest.mark.slow   # numba compilation ~10 s CPU
def test_benchmark_numba_loop_agrees():
    out = _load("benchmarks/bench_scn_dynamics.py").main(["--duration", "0.2", "--repeat", "1"])
    assert out["same_spike_counts"] and out["max_abs_weight_difference"] < 1e-9


# The scenario at its quick defaults (checks, figures' style, program budget): tests/
# test_validate_all.py (the gallery run).
