"""The heavier spike-gradient runs (marked slow): the validation scenario in quick mode
and the reduced Wunderlich & Pehle 2021 reproduction."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wunderlich2021_reduced_reproduction(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "wunderlich2021", ROOT / "papers" / "wunderlich2021" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--out", str(tmp_path), "--small"])
    # claim: EventProp gradients equal the hard network's derivative (central
    # differences, h = 1e-5, float64: truncation and rounding ~1e-10; bound 1e-6)
    assert out["fd_max_rel_error"] <= 1e-6
    assert all(c["n_valid"] >= 3 for c in out["fd_checks"])
    acc = out["digits"]["accuracy"]
    assert acc["logistic"] > 0.9                       # the non-spiking baseline
    assert all(np.isfinite(v) for v in acc.values())
    assert (tmp_path / "spike_gradients_eventprop_digits.png").stat().st_size > 20_000


def test_wunderlich2021_readme_names_claims_numbers_and_command():
    text = (ROOT / "papers" / "wunderlich2021" / "README.md").read_text()
    assert "| claim" in text and "python papers/wunderlich2021/reproduce.py" in text


@pytest.mark.slow
def test_bench_spike_gradients_smoke():
    spec = importlib.util.spec_from_file_location(
        "bench_spike_gradients", ROOT / "benchmarks" / "bench_spike_gradients.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--steps", "40", "--repeats", "1", "--batch", "4"])["rows"]
    assert rows[0]["spikes"] > 0 and np.isfinite(rows[0]["loss_eventprop"])
    # the discrete network's first-spike times are quantised to dt = 1 ms: losses agree
    # to O(dt / tau0) = 0.2 at most
    assert abs(rows[0]["loss_surrogate"] - rows[0]["loss_eventprop"]) < 0.2


# The scenario at its quick defaults (checks, figures' style, program budget): tests/
# test_validate_all.py (the gallery run).
