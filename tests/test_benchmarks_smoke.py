"""Smoke tests of the benchmark scripts under benchmarks/ (tiny workloads, no timing goals)."""
import importlib.util
import math
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_bench_neuron_smoke(tmp_path, capsys):
    bench = _load("bench_neuron")
    results = bench.main(["--neurons", "4", "--duration", "0.2", "--repeats", "1",
                          "--in-process", "--json", str(tmp_path / "neuron.json")])
    printed = capsys.readouterr().out
    # In-process runs skip the float32 modes (precision is chosen per process).
    assert set(results["rows"]) == set(bench.MODES) - set(bench.FLOAT32_MODES)
    for mode, row in results["rows"].items():
        assert any(line.startswith(mode) for line in printed.splitlines()), mode
        for field in ("compile_s", "run_s", "neuron_s_per_s", "peak_rss_mib"):
            assert math.isfinite(row[field]) and row[field] >= 0, (mode, field, row[field])
        assert row["run_s"] > 0
    for mode in results["rows"]:
        if mode != "inputs":
            assert results["rows"][mode]["out_rate_hz"] > 0
    assert "GOAL 1" in printed and "GOAL 2" in printed
    check = results["correctness"]
    assert all(math.isfinite(value["mean_abs_dL"]) and value["mean_abs_dL"] < 0.5
               for value in check.values() if isinstance(value, dict))
    assert (tmp_path / "neuron.json").exists()


@pytest.mark.timeout(120)
def test_bench_neuron_alternate_smoke(capsys):
    # discrete vs the NumPy loop on the same events: the loop steps the same recursion
    # (its G by the one-bin prior flow, bayesnn's from the last spike: equal to rounding),
    # so the report's agreement line must show equal spike counts in every neuron.
    results = _load("bench_neuron").main(["--alternate", "--neurons", "3", "--duration", "0.2",
                                          "--repeats", "1"])
    printed = capsys.readouterr().out
    assert "numpy_ev / discrete" in printed
    assert "spike counts equal in 3/3 neurons" in printed
    assert results["report"]


@pytest.mark.timeout(180)
def test_bench_sweep_smoke(tmp_path, capsys):
    bench = _load("bench_sweep")
    results = bench.main(["--values", "2", "--trials", "2", "--duration", "0.2",
                          "--inputs", "4", "--in-process", "--json", str(tmp_path / "s.json")])
    printed = capsys.readouterr().out
    assert set(results["rows"]) == set(bench.MODES)
    for mode, row in results["rows"].items():
        assert any(line.startswith(mode) for line in printed.splitlines()), mode
        assert row["total_s"] > 0 and row["compile_s"] >= 0 and row["compilations"] >= 1
    assert results["rows"]["sweep"]["kernel_compilations"] == 1
    # Same keys, same inputs: every mode gives the same L and G (bit for bit here).
    for agreement in results["agreement"].values():
        assert agreement["max_abs_dL"] < 1e-12 and agreement["max_abs_dG"] < 1e-12
        assert agreement["spike_counts_equal"]
    assert "GOAL sweep compiles the neuron once" in printed
    assert (tmp_path / "s.json").exists()


@pytest.mark.timeout(300)  # numba compiles two reference kernels (D = 2 written out)
def test_bench_scn_smoke(capsys):
    results = _load("bench_scn").main(["--steps", "400", "--trials", "2", "--big-n", "200",
                                       "--numpy-steps", "100", "--repeats", "1",
                                       "--trial-repeats", "1", "--regimes", "dense"])
    printed = capsys.readouterr().out
    assert "single trial vs NumPy loop" in printed and "peak memory at N = 200" in printed
    single = results["N=400, 400 steps"]
    assert single["bayesnn"]["wall_s"] > 0 and single["numpy_run_s"] > 0
    assert results["N=400, 2 trials"]["bayesnn"]["cpu_s"] > 0  # per-trial inputs, one program
    for block in [results["unpinned"]] + ([results["1 core"]] if "1 core" in results else []):
        for case in block.values():  # the benchmark's own agreement check
            assert case["check"][0] and case["check"][2] < 1e-13


@pytest.mark.timeout(180)
def test_bench_kalman_smoke(capsys):
    _load("bench_posteriors_kalman").main(["--neurons", "20", "--duration", "0.1",
                                           "--repeats", "1", "--in-process"])
    printed = capsys.readouterr().out
    assert "GOAL" in printed and "ratio spiking / exact_ss" in printed


@pytest.mark.timeout(300)
def test_bench_numpyro_smoke(tmp_path, capsys):
    results = _load("bench_numpyro").main(["--bins", "50", "--inputs", "3", "--warmup", "20",
                                           "--samples", "20", "--json", str(tmp_path / "n.json")])
    assert (tmp_path / "n.json").exists()
    assert all(math.isfinite(value) for value in results.values() if isinstance(value, float))


@pytest.mark.timeout(180)
def test_bench_log_odds_smoke(capsys):
    rows = _load("bench_posteriors_log_odds").main(["--neurons", "16", "--duration", "0.2",
                                                    "--repeats", "1"])
    assert "GOAL tracking population" in capsys.readouterr().out
    assert all(row["run_s"] > 0 for row in rows.values())


@pytest.mark.timeout(300)
def test_bench_w1_smoke(tmp_path, capsys):
    """Both W1 paths (sample-then-run and inputs drawn inside the run) on 4 neurons x
    0.5 s, each in its own subprocess, with their rows saved."""
    bench = _load("bench_w1")
    bench.main(["--configs", "4x0.5", "--repeats", "1", "--json", str(tmp_path / "w1.json")])
    import json
    rows = json.loads((tmp_path / "w1.json").read_text())
    assert sorted(row["mode"] for row in rows) == ["generative", "today"]
    for row in rows:
        assert row["n"] == 4 and row["duration"] == 0.5
    assert capsys.readouterr().out.strip()


@pytest.mark.timeout(300)
def test_bench_memory_stepped_smoke(tmp_path, capsys):
    bench = _load("bench_memory_stepped")
    result = bench.main(["--steps", "2000", "20000", "--record-every", "1000",
                         "--chunk-steps", "1000", "--json", str(tmp_path / "memory.json")])
    assert [row["n_steps"] for row in result["rows"]] == [2000, 20000]
    assert all(row["records"] == row["n_steps"] // 1000 for row in result["rows"])
    assert result["verdict"] in ("FLAT", "GROWS") and "peak RSS" in capsys.readouterr().out


@pytest.mark.timeout(300)
def test_bench_w1_numba_smoke(capsys):
    """The W1 exact run against the plain numba loop of the same algorithm on 6 neurons
    x 1 s: the script raises unless both give the same output spikes (times and counts)
    and samples of L and G within 1e-12 nats (libm and XLA transcendentals differ by an
    ulp; a few dozen flows per trial accumulate that to ~1e-14)."""
    # numba is the reference's compiler, in the optional `bench` extra (pyproject.toml):
    # without it there is no reference to agree with; bayesnn's own W1 path is tested
    # by the neuron tests either way
    pytest.importorskip("numba", reason="the numba reference needs the bench extra")
    bench = _load("bench_w1_numba")
    result = bench.main(["--neurons", "6", "--duration", "1", "--repeats", "1",
                         "--threads", "1"])
    assert result["same_spikes"] and max(result["diff"]) <= 1e-12
    assert "GOAL bayesnn <= 1.5x the numba loop" in capsys.readouterr().out
