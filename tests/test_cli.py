"""The main job, ``bayesnn validate``, on a reduced neuron scenario; the driver's
dispatch, settings checks and float64 policy."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from bayesnn import validate
from bayesnn.cli import main

# The neuron at docs/gallery.toml's settings: the same shapes, so the same XLA programs as
# the gallery run of tests/test_validate_all.py (handed out first), which the suite's shared
# compilation cache then serves. The seed differs; it changes the drawn counts, but buffers
# are rounded to powers of two, and with seed 3 the CLI read 36 of its 37 programs from a
# cache the gallery's neuron had filled (measured). Only speed depends on this, never a result.
SMALL = "[neuron]\nduration = 4.0\ncalibration_trials = 4\n"


@pytest.mark.slow
def test_validate_writes_table_json_traces_and_figures(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    out = tmp_path / "out"
    status = main(["validate", "--config", str(config), "--out", str(out), "--seed", "3", "--quiet"])
    printed = capsys.readouterr().out
    payload = json.loads((out / "results.json").read_text())
    neuron = payload["scenarios"]["neuron"]
    checks = {row["name"]: row for row in neuron["checks"]}
    # Exactness claims hold at their tolerances whatever the size of the run.
    for name in ("event_driven_vs_continuous_filter", "decoder_rebuilds_prediction",
                 "discrete_vs_forward_filter", "discrete_log_likelihood",
                 "numpyro_enum_loglik_vs_hmm_rel", "numpyro_continuous_loglik_vs_mmpp_rel"):
        assert checks[name]["passed"], checks[name]
    assert "log_loss_gain_vs_rates_swapped" in checks  # asymmetric default rates
    # The statistical checks pass too: seed 3 is fixed, so the run is deterministic
    # (measured: 17 of 17 checks pass, e.g. calibration 7 of 7 bins, euler slope 1.02 in
    # [0.8, 1.2]); a validate that fails them must fail this test, not pass with status 1.
    assert status == 0 and payload["passed"], [r for r in neuron["checks"] if not r["passed"]]
    assert payload["passed"] == all(row["passed"] for row in neuron["checks"])
    assert "event_driven_vs_continuous_filter" in printed
    # > 10 kB: more than a blank default figure (2.4 kB measured, matplotlib Agg)
    assert (out / "neuron_trial.png").stat().st_size > 10_000
    assert neuron["numbers"]["output_rate_hz"] > 0  # smoke: the neuron fired (checks above test values)
    spread = neuron["numbers"]["kl_exact_to_decoded_G_over_5_trials"]
    # std > 0: the five trials have different keys, so identical KLs would mean one trial
    # was reused (an exact property, not a tolerance)
    assert len(spread["values"]) == 5 and spread["std"] > 0
    # Traces reload from NetCDF without pickle: L, G, state, exact log-odds, spikes.
    from bayesnn.io import load_dataset
    traces = load_dataset(out / "neuron_traces.nc")
    assert traces["time"].attrs["units"] == "s" and traces.attrs["r_off"] == 3.0
    for name in ("log_odds", "prediction", "exact_log_odds", "state", "spikes_time", "input_time"):
        assert name in traces, name
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.fixture
def stub_scenarios(monkeypatch, tmp_path):
    """Two stub scenarios in a throw-away module: one passing, one failing."""
    module = tmp_path / "stub_scenarios.py"
    module.write_text(textwrap.dedent("""
        from bayesnn.report import Check, ScenarioResult

        def good(*, seed=0, duration=1.0, progress=None, figures=True):
            progress(f"good with seed {seed}")
            return ScenarioResult("ignored", [Check("ok", 0.5, 1.0)], {"seed": seed,
                                  "duration": duration}, {}, None)

        def bad(*, level=2.0):
            return [Check("too_big", level, 1.0)], {"level": level}

        def triple(*, figures=True):
            from matplotlib.figure import Figure
            figure = Figure()
            figure.subplots().plot([0, 1], [1, 0])
            return [Check("fine", 1.0, 0.0, ">=")], {}, {"line": figure} if figures else {}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("stub_scenarios", None)  # a fresh import of this test's file
    import stub_scenarios as stubs
    registry = {"good": validate.Scenario(stubs.good, "passes"),
                "bad": validate.Scenario(stubs.bad, "fails"),
                "triple": validate.Scenario(stubs.triple, "figures")}
    monkeypatch.setattr(validate, "REGISTRY", registry)
    monkeypatch.setattr(validate, "SCENARIOS", tuple(registry))
    monkeypatch.setattr(validate, "DEFAULT_SCENARIO", "good")


def test_driver_dispatches_overrides_and_exit_status(stub_scenarios, tmp_path, capsys):
    lines = []
    results = validate.run(["all"], {"bad": {"level": 0.5}}, seed=7, duration=3.0,
                           progress=lines.append)
    assert [r.scenario for r in results] == ["good", "bad", "triple"]
    assert set(results[2].figures) == {"line"}
    assert results[0].numbers == {"seed": 7, "duration": 3.0}  # overrides where accepted
    assert results[1].passed and results[1].numbers == {"level": 0.5}
    assert "good with seed 7" in lines
    # A failed check: exit status 1, JSON still written.
    assert main(["validate", "--scenario", "good", "--scenario", "bad", "--scenario",
                 "triple", "--out", str(tmp_path), "--quiet"]) == 1
    # > 1000 B: a written, untruncated PNG (file check only; a blank figure is 2.4 kB)
    assert (tmp_path / "triple_line.png").stat().st_size > 1000
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["passed"] is False and payload["scenarios"]["good"]["passed"] is True
    assert "FAILED: 2 of 3 checks" in capsys.readouterr().out
    assert main(["validate", "--out", str(tmp_path), "--json", "--quiet"]) == 0
    assert set(json.loads(capsys.readouterr().out)["scenarios"]) == {"good"}


@pytest.mark.parametrize("text, message", [
    ("[neuron]\nr_on = -1.0\n", "r_on must be a number > 0"),
    ("[neuron]\nn_inputs = 2.5\n", "n_inputs must be an integer"),
    ("[neuron]\nspeed = 3\n", "unknown settings"),
    ("[elsewhere]\nx = 1\n", "unknown scenario"),
    ("[neuron\n", "Expected"),
])
def test_validate_rejects_bad_configuration_before_work(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["validate", "--config", str(config), "--out", str(tmp_path), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_unknown_scenario_and_listing(capsys, tmp_path):
    assert main(["validate", "--scenario", "nonsense", "--out", str(tmp_path), "--quiet"]) == 2
    assert "scenario must be one of" in capsys.readouterr().err
    assert main(["scenarios"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in validate.SCENARIOS)
    assert set(validate.settings_of(validate.scenario_function("neuron"))) >= {
        "seed", "duration", "r_on", "r_off", "numpyro"}
    assert validate.settings_of(validate.scenario_function("neuron"))["r_off"] == 3.0


def test_validate_refuses_float32():
    code = ("import bayesnn; bayesnn.enable_x64(False)\n"
            "from bayesnn import validate\n"
            "try:\n    validate.run(['neuron'])\n"
            "except bayesnn.core.PrecisionError as e:\n    print('refused:', e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "JAX_ENABLE_X64": "0"})
    assert "refused: bayesnn validate promises float64" in done.stdout, done.stderr


def test_registry_targets_name_functions_their_modules_define():
    # Statically (nothing imported): each lazy "module:function" entry names a module
    # file that defines that function, so `--scenario all` cannot fail on a typo.
    import ast
    from pathlib import Path

    root = Path(validate.__file__).resolve().parents[1]
    for name, entry in validate.REGISTRY.items():
        # a function here would import its family with bayesnn.validate, for every run
        assert isinstance(entry.target, str), (
            f"register {name!r} as Scenario('module:function', ...), imported when it runs")
        module, _, function = entry.target.partition(":")
        path = root / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), (name, module)
        defined = {node.name for node in ast.parse(path.read_text()).body
                   if isinstance(node, ast.FunctionDef)}
        assert function in defined, (name, entry.target)
        assert entry.where == f"{module}.{function}"


def test_start_up_imports_only_what_the_command_needs():
    # The command line decides whether to re-execute itself (bayesnn.cli) before JAX
    # starts: parsing and reading the cache folder start no JAX. The driver imports only
    # the scenarios that run: listing them imports none, and the neuron scenario imports
    # no other family.
    code = ("import sys\nfrom bayesnn.cli import _list_scenarios, _parser\n"
            "from bayesnn.core.compilation_cache import cache_dir\n"
            "_parser(); cache_dir()\n"
            "assert 'jax' not in sys.modules, 'jax imported'\n"
            "_list_scenarios()\n"
            "assert not any(m.endswith('validation') for m in sys.modules), 'imported'\n"
            "from bayesnn import validate\n"
            "validate.scenario_function('neuron')\n"
            "others = sorted({m.split('.')[1] for m in sys.modules if m.startswith('bayesnn.')}\n"
            "                & {'scn', 'posteriors', 'hierarchy', 'learning', 'stdp',\n"
            "                   'spike_gradients', 'neuromorphic'})\n"
            "assert others == [], others\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip().endswith("ok"), done.stderr
