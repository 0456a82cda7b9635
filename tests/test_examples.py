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


def test_neuron_vs_exact_example(tmp_path, capsys):
    rows = _load("examples/neuron_vs_exact.py").main(
        ["--duration", "1", "--out", str(tmp_path / "figure.png")])
    # The exact method is the exact filter: KL at rounding level (both computed in float64
    # to ~1e-13 nats in L, so KL ~ 1e-26; 1e-12 leaves room).
    assert rows["exact"]["kl_L"] < 1e-12
    assert rows["discrete"]["kl_L"] > rows["exact"]["kl_L"]
    assert set(rows) == {"exact", "discrete", "euler"}
    assert all(np.isfinite(row["kl_G"]) and row["rate_hz"] >= 0 for row in rows.values())
    assert "exact log-loss" in capsys.readouterr().out
    assert (tmp_path / "figure.png").stat().st_size > 10_000
