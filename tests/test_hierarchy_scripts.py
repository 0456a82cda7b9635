"""Smoke tests of the hierarchy example and benchmark (tiny workloads, no timing goals;
slow because each compiles the hierarchy and the exact filter)."""
import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_hierarchy_example(tmp_path, capsys):
    out = _load("examples/hierarchy.py").main(
        ["--children", "2", "--inputs", "6", "--trials", "2", "--duration", "2",
         "--out", str(tmp_path / "trial.png")])
    printed = capsys.readouterr().out
    assert "exact log-loss" in printed and "fed" in printed
    assert set(out["candidates"]) == {"L", "G", "fed", "decoded_fed", "not_y_G", "prior"}
    # KL >= 0 is exact (Gibbs' inequality), not a tolerance
    assert all(math.isfinite(row["kl"]) and row["kl"] >= 0 for row in out["candidates"].values())
    # > 10 kB: more than a blank default figure (2.4 kB measured, matplotlib Agg)
    assert (tmp_path / "trial.png").stat().st_size > 10_000


@pytest.mark.slow
def test_hierarchy_benchmark(tmp_path, capsys):
    bench = _load("benchmarks/bench_hierarchy.py")
    results = bench.main(["--children", "2", "3", "--inputs", "4", "--duration", "0.5",
                          "--repeats", "1", "--in-process", "--json", str(tmp_path / "b.json")])
    printed = capsys.readouterr().out
    assert len(results["rows"]) == 4
    for row in results["rows"]:
        # smoke check only: the benchmark measured something (no performance bound here)
        assert row["run_s"] > 0 and row["compile_s"] >= 0 and row["peak_rss_mib"] > 0
    assert "GOAL time" in printed and "2->3" in results["exact_growth"]
    assert (tmp_path / "b.json").exists()
