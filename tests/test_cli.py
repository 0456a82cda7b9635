"""The main job, ``bayesnn validate``, on a reduced scenario."""
import json

import pytest

from bayesnn.cli import main


def test_validate_writes_table_json_traces_and_figures(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text("[neuron]\nduration = 4.0\ncalibration_trials = 4\nn_inputs = 10\n")
    out = tmp_path / "out"
    status = main(["validate", "--config", str(config), "--out", str(out), "--seed", "3", "--quiet"])
    printed = capsys.readouterr().out
    payload = json.loads((out / "results.json").read_text())
    neuron = payload["scenarios"]["neuron"]
    checks = {row["name"]: row for row in neuron["checks"]}
    # Exactness claims hold at their tolerances whatever the size of the run.
    for name in ("event_driven_vs_continuous_filter", "decoder_rebuilds_prediction",
                 "discrete_vs_forward_filter", "discrete_log_likelihood",
                 "numpyro_enum_loglik_vs_hmm_rel"):
        assert checks[name]["passed"], checks[name]
    assert status == (0 if payload["passed"] else 1)
    assert payload["passed"] == all(row["passed"] for row in neuron["checks"])
    assert "event_driven_vs_continuous_filter" in printed
    assert (out / "neuron_traces.nc").is_file()
    assert (out / "neuron_neuron_trial.png").stat().st_size > 10_000
    assert neuron["numbers"]["output_rate_hz"] > 0
    spread = neuron["numbers"]["kl_exact_to_decoded_G_over_5_trials"]
    assert len(spread["values"]) == 5 and spread["std"] > 0


def test_validate_json_flag_prints_machine_readable_results(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text("[neuron]\nduration = 2.0\ncalibration_trials = 2\n")
    main(["validate", "--config", str(config), "--out", str(tmp_path), "--json", "--quiet",
          "--no-figures"])
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["scenarios"]) == {"neuron"}


@pytest.mark.parametrize("text, message", [
    ("[neuron]\nr_on = -1.0\n", "r_on must be > 0"),
    ("[neuron]\nspeed = 3\n", "unknown settings"),
    ("[elsewhere]\nx = 1\n", "unknown scenario"),
])
def test_validate_rejects_bad_configuration_before_work(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["validate", "--config", str(config), "--out", str(tmp_path), "--quiet"]) == 2
    assert message in capsys.readouterr().err
