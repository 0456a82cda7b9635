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
    # The stepped methods carry an O(q dt) error in L, so KL ~ (q dt)^2 / 8 ~ 5e-5 for
    # q ~ 20 Hz, dt = 1 ms (measured: discrete 2.5e-5, euler 5.7e-5). A band of 10x either
    # side of that scale, not "larger than the exact method's ~1e-20", which any
    # non-zero error passes.
    for method in ("discrete", "euler"):
        assert 5e-6 < rows[method]["kl_L"] < 5e-4, (method, rows[method]["kl_L"])
    assert set(rows) == {"exact", "discrete", "euler"}
    assert all(np.isfinite(row["kl_G"]) and row["rate_hz"] >= 0 for row in rows.values())
    assert "exact log-loss" in capsys.readouterr().out
    # > 10 kB: more than a blank default figure (2.4 kB measured, matplotlib Agg)
    assert (tmp_path / "figure.png").stat().st_size > 10_000
