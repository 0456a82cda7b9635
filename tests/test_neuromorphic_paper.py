"""papers/esser2016 at reduced size: the measured claims of its README hold."""
import importlib.util
import json
import pathlib

import pytest

PAPER = pathlib.Path(__file__).resolve().parents[1] / "papers" / "esser2016" / "reproduce.py"


@pytest.mark.slow  # ~17 s of CPU; the same formats are checked fast in test_neuromorphic.py
def test_esser2016_small(tmp_path):
    spec = importlib.util.spec_from_file_location("esser2016_reproduce", PAPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--out", str(tmp_path), "--small"])
    assert (tmp_path / "weights.png").stat().st_size > 20_000
    assert json.loads((tmp_path / "results.json").read_text())["seed"] == 0
    neuron = results["neuron"]
    # A 4-entry table keeps the neuron's posterior (within 10 % of float64: the spike
    # code's own loss dominates); trinary weights cost more than that.
    assert results["neuron_kl_ratio_codebook4"] < 1.10
    assert results["neuron_kl_ratio_trinary"] > 1.10
    assert neuron["TrueNorth 4-entry"]["distinct_weights"] <= 4
    assert neuron["trinary"]["distinct_weights"] <= 3
    # The SCN's balance does not survive trinary lateral weights mapped after the fact.
    assert results["scn"]["trinary"]["rmse"] > 5 * results["scn"]["float64"]["rmse"]


def test_bench_fixed_point_smoke(capsys):
    path = PAPER.parents[2] / "benchmarks" / "bench_fixed_point.py"
    spec = importlib.util.spec_from_file_location("bench_fixed_point", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--bins", "200", "--trials", "2", "--neurons", "20", "--steps", "200",
                       "--repeats", "1"])
    assert out["neuron"]["ratio_fixed_over_float"] > 0 and out["scn"]["ratio_fixed_over_float"] > 0
