"""Example scripts run with tiny arguments so that they never rot."""
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_neuron_vs_exact_example(tmp_path):
    rows = _load("examples/neuron_vs_exact.py").main(
        ["--duration", "2", "--out", str(tmp_path / "figure.png")])
    assert rows["exact"]["kl_L"] < 1e-12  # the exact method is the exact filter (KL at rounding level)
    assert rows["discrete"]["kl_L"] > rows["exact"]["kl_L"]
    assert np.isfinite(rows["euler"]["kl_G"])
    assert (tmp_path / "figure.png").stat().st_size > 10_000
