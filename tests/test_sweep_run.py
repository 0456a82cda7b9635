"""Running sweeps in this process: the scenario's numbers against independent code,
the resumable store (interrupted run + rerun equals one serial run bit for bit), a store
of another config refused before any task, and the plotting helper."""
import copy
import json

import jax
import matplotlib
import numpy as np
import pytest
import xarray as xr

matplotlib.use("Agg")

from bayesnn import metrics
from bayesnn.core.keys import as_key
from bayesnn.exact import mmpp_filter
from bayesnn.neuron import simulate
from bayesnn.processes import sample_trial
from bayesnn.sweep import IN_PROCESS, load_sweep, plot_sweep, run_sweep
from bayesnn.sweep.scenarios import neuron_params
from tests.sweep_setup import N_TASKS, TINY, serial_reference


def test_combined_dataset_layout_units_and_provenance():
    result = serial_reference()
    assert dict(result.sizes) == {"g0": 8, "seed": 2}
    assert result["kl"].dims == ("g0", "seed") and result["kl"].attrs["units"] == "nats"
    assert result["rate"].attrs["units"] == "Hz" and result["g0"].attrs["units"] == "nats"
    np.testing.assert_array_equal(result["g0"].values, TINY["grid"]["g0"])
    assert result.attrs["scenario"] == "bayesian_neuron" and len(result.attrs["config_hash"]) == 64
    assert json.loads(result.attrs["config"])["grid"] == TINY["grid"]
    assert result.attrs["bayesnn_version"] and result.attrs["fixed_n_inputs"] == 4
    assert np.all(np.isfinite(result["kl"])) and np.all(result["kl"] >= 0)  # KL >= 0 exactly


def test_scenario_numbers_match_independent_code(g0=1.0, k=1):
    """Per (point, seed): inputs resampled with the same key, exact L from the
    matrix-exponential filter (exact.mmpp_filter, code shared with nothing here), G from
    the public simulate, metrics from bayesnn.metrics (NumPy). Tolerance 1e-9 nats: L
    from the filter and the neuron agree to ~1e-12 (tests/test_neuron_exactness.py) and
    KL, log-loss are Lipschitz in L on these bounded traces. Measured (g0 = 1, seed 1):
    5.6e-17, 0, 2.1e-17 nats; 1e-9 is kept (wider than the 1e-13 floor, not tightened)."""
    result = serial_reference().sel(g0=g0, seed=k)
    point = {**TINY["fixed"], "g0": g0, "rate_spread": 0.0}
    params = neuron_params(**point)
    duration, dt = TINY["duration"], TINY["dt"]
    trial = sample_trial(params, key=jax.random.fold_in(as_key(TINY["seed"]), k), duration=duration)
    times = dt * np.arange(1, round(duration / dt) + 1)
    exact = np.asarray(mmpp_filter(params, trial.inputs, duration=duration, query_times=times).log_odds)
    run = simulate(params, trial.inputs, duration=duration, dt=dt)
    prediction = np.asarray(run.prediction)
    state = np.asarray(trial.state_at(times))
    n_out = int(np.sum(np.asarray(run.spikes.counts)))
    assert abs(float(result["kl"]) - metrics.mean_kl(exact, prediction)) < 1e-9
    assert abs(float(result["log_loss"]) - metrics.log_loss(prediction, state)) < 1e-9
    assert abs(float(result["log_loss_exact"]) - metrics.log_loss(exact, state)) < 1e-9
    assert int(result["n_output_spikes"]) == n_out and float(result["rate"]) == n_out / duration
    assert int(result["n_input_spikes"]) == int(trial.inputs.n_events)


class Stop(Exception):
    pass


def test_resume_skips_finished_tasks_and_equals_serial_run(tmp_path):
    store = tmp_path / "store"
    first = []

    def interrupt_after_two(result):
        first.append(result.task_id)
        if len(first) == 2:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False, on_task=interrupt_after_two)
    assert len(list((store / "tasks").glob("task-*.nc"))) == 2
    assert not (store / "sweep.nc").exists()
    second = []
    resumed = run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False,
                        on_task=lambda r: second.append(r.task_id))
    assert sorted(first + second) == list(range(N_TASKS)) and not set(first) & set(second)
    xr.testing.assert_identical(resumed, serial_reference())
    xr.testing.assert_identical(load_sweep(store), serial_reference())
    third = []
    again = run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False, on_task=third.append)
    assert third == []
    xr.testing.assert_identical(again, serial_reference())
    manifest = json.loads((store / "sweep.json").read_text())
    assert manifest["config_hash"] == serial_reference().attrs["config_hash"]
    assert manifest["bayesnn_version"] and manifest["n_points"] == 8


def test_store_of_another_config_is_refused_before_any_task(tmp_path):
    store = tmp_path / "store"
    run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False)
    ran = []
    other = copy.deepcopy(TINY)
    other["grid"]["g0"] = [0.5, 1.0]
    with pytest.raises(ValueError, match="^out: .* different config"):
        run_sweep(other, out=store, scheduler="tcp://127.0.0.1:9", progress=False, on_task=ran.append)
    with pytest.raises(ValueError, match="^batch_size"):
        run_sweep({**TINY, "batch_size": 4}, out=store, scheduler="tcp://127.0.0.1:9",
                  progress=False, on_task=ran.append)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(ValueError, match="^out: .* not empty"):
        run_sweep(TINY, out=tmp_path / "notes", progress=False, on_task=ran.append)
    with pytest.raises(ValueError, match="^out: .* is a file"):
        run_sweep(TINY, out=tmp_path / "notes" / "a.txt", progress=False, on_task=ran.append)
    assert ran == []


def test_plot_sweep_lines_heatmap_and_errors():
    rng = np.random.default_rng(0)
    g0, n = [0.25, 0.5, 1.0, 2.0], [5, 10, 20]
    data = xr.Dataset({"kl": (("g0", "n_inputs", "seed"), rng.random((4, 3, 5)), {"units": "nats"})},
                      coords={"g0": ("g0", g0, {"units": "nats"}), "n_inputs": n, "seed": np.arange(5)})
    for spread in ("sd", "sem", "quantiles"):
        figure = plot_sweep(data, "kl", x="g0", hue="n_inputs", spread=spread)
        assert len(figure.axes[0].lines) == 3 and figure.axes[0].get_xscale() == "log"
    figure = plot_sweep(data, "kl", x="g0", hue="n_inputs", kind="heatmap")
    assert len(figure.axes) == 2  # map + colour bar
    random = xr.Dataset({"kl": (("point", "seed"), rng.random((6, 3)))},
                        coords={"point": np.arange(6), "seed": np.arange(3),
                                "g0": ("point", rng.uniform(0.2, 4, 6))})
    assert plot_sweep(random, "kl", x="g0").axes
    for kwargs, field in (({"variable": "klx"}, "variable"), ({"x": "tau"}, "x"),
                          ({"kind": "bars"}, "kind"), ({"spread": "iqr"}, "spread"),
                          ({"hue": None, "kind": "lines"}, "x/hue"), ({"kind": "heatmap", "hue": None}, "hue")):
        with pytest.raises(ValueError, match=f"^{field}"):
            plot_sweep(data, **{"variable": "kl", "x": "g0", "hue": "n_inputs", **kwargs})
    import matplotlib.pyplot as plt
    plt.close("all")


def _toml(config: dict) -> str:
    lines, tables = [], []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {v!r}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {json.dumps(value)}\n")
    return "".join(lines) + "\n".join(tables)


def test_cli_runs_resumes_plots_and_shows_progress(tmp_path, capsys, monkeypatch):
    import argparse

    from bayesnn.sweep.cli import add_sweep_parser, run_sweep_command

    monkeypatch.setenv("BAYESNN_JAX_CACHE", "")  # leave this process's JAX config alone
    path = tmp_path / "tiny.toml"
    path.write_text(_toml(TINY))
    parser = argparse.ArgumentParser(prog="bayesnn")
    add_sweep_parser(parser.add_subparsers(dest="command"))
    argv = ["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", IN_PROCESS, "--plot"]
    assert run_sweep_command(parser.parse_args(argv)) == 0
    captured = capsys.readouterr()
    assert "sweep bayesian_neuron" in captured.err and "8/8" in captured.err  # tqdm bar
    assert "sweep.nc" in captured.out and (tmp_path / "out" / "kl.png").stat().st_size > 0
    xr.testing.assert_identical(load_sweep(tmp_path / "out"), serial_reference())
    # Rerun: nothing left to do, the bar starts full; --workers or --worker-processes with
    # a scheduler is refused.
    assert run_sweep_command(parser.parse_args(argv + ["--no-progress"])) == 0
    assert run_sweep_command(parser.parse_args(argv + ["--workers", "2"])) == 2
    assert capsys.readouterr().err.startswith("bayesnn sweep: error: workers")
    assert run_sweep_command(parser.parse_args(argv + ["--worker-processes"])) == 2
    assert capsys.readouterr().err.startswith("bayesnn sweep: error: worker_processes")


def test_resume_reruns_damaged_and_missing_tasks_anywhere_in_the_order(tmp_path):
    """Resume verifies every task file: an empty file and a truncated one (late tasks)
    are set aside with a warning naming them and rerun; missing tasks that are not the
    first ones in order rerun too; a stray non-task file is ignored; the result equals
    one serial run bit for bit."""
    store = tmp_path / "store"
    run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False)
    tasks = store / "tasks"
    last, before_last = tasks / f"task-{N_TASKS - 1:05d}.nc", tasks / f"task-{N_TASKS - 2:05d}.nc"
    last.write_bytes(b"")
    before_last.write_bytes(before_last.read_bytes()[:300])
    (tasks / f"task-{1:05d}.nc").unlink()  # a missing task in the middle
    (tasks / "notes.txt").write_text("a researcher's note")
    rerun = []
    with pytest.warns(UserWarning, match="is damaged") as record:
        resumed = run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False,
                            on_task=lambda r: rerun.append(r.task_id))
    assert any(before_last.name in str(w.message) for w in record)
    assert any(last.name in str(w.message) for w in record)
    assert sorted(rerun) == [1, N_TASKS - 2, N_TASKS - 1]
    assert (tasks / (last.name + ".damaged")).exists()
    xr.testing.assert_identical(resumed, serial_reference())
    # a damaged combined file names itself
    (store / "sweep.nc").write_bytes(b"\x89HDF")
    with pytest.raises(ValueError, match="sweep.nc is not a readable NetCDF file"):
        load_sweep(store)


def test_foreign_task_file_is_refused_naming_the_file(tmp_path):
    """A readable task file of another config put into a store is a mixed store, not
    damage: refused with a ValueError naming the file, before any task runs."""
    other = copy.deepcopy(TINY)
    other["grid"]["g0"] = list(np.asarray(TINY["grid"]["g0"]) * 2)
    run_sweep(other, out=tmp_path / "other", scheduler=IN_PROCESS, progress=False)
    store = tmp_path / "store"
    run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False)
    target = store / "tasks" / "task-00000.nc"
    target.write_bytes((tmp_path / "other" / "tasks" / "task-00000.nc").read_bytes())
    ran = []
    with pytest.raises(ValueError, match="task-00000.nc does not hold task 0 of this config"):
        run_sweep(TINY, out=store, scheduler=IN_PROCESS, progress=False, on_task=ran.append)
    assert ran == []
