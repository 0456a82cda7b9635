"""validate's stage timer (wall, CPU, compile per stage) and the CLI's fixed hash seed
for the persistent compilation cache. Correctness only: nothing here is timed."""
import jax
import jax.numpy as jnp
import pytest

from bayesnn import cli, validate


def test_stage_timer_reports_each_stage_and_counts_compilations():
    lines = []
    timer = validate.StageTimer(lines.append)
    timer("first")
    jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.25)(jnp.arange(7.0)).block_until_ready()
    timer("second")
    timer.finish()
    assert lines[0].startswith("[ 1]") and lines[0].endswith("first")
    assert lines[1].lstrip().startswith("^") and "CPU" in lines[1]
    assert lines[2].startswith("[ 2]") and lines[2].endswith("second")
    assert lines[-1].startswith("all stages:")
    first, second = timer.stages
    assert first["programs"] >= 1 and first["compile_s"] > 0
    assert first["compile_s"] <= first["wall_s"] + 1e-6
    assert second["programs"] == 0
    assert [s["message"] for s in timer.stages] == ["first", "second"]


@pytest.mark.parametrize("argv, env", [(["validate"], {"BAYESNN_JAX_CACHE": "/tmp/x"}),
                                       (None, {}),
                                       (None, {"BAYESNN_JAX_CACHE": "/tmp/x",
                                               "PYTHONHASHSEED": "7"})])
def test_no_reexec_unless_command_with_cache_and_random_hash_seed(monkeypatch, argv, env):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("BAYESNN_JAX_CACHE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli.os, "execve", lambda *a: pytest.fail(f"re-executed {a}"))
    cli._fixed_hash_seed_for_cache(argv)


def test_reexec_same_command_with_fixed_hash_seed(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setenv("BAYESNN_JAX_CACHE", "/tmp/x")
    monkeypatch.setattr(cli.sys, "orig_argv", ["python", "-m", "bayesnn.cli", "validate"])
    monkeypatch.setattr(cli.sys, "argv", ["/somewhere/bayesnn/cli.py", "validate"])
    calls = []
    monkeypatch.setattr(cli.os, "execve", lambda *a: calls.append(a))
    cli._fixed_hash_seed_for_cache(None)
    (program, command, environment), = calls
    assert command[1:] == ["-m", "bayesnn.cli", "validate"]
    assert environment["PYTHONHASHSEED"] == "0"
    assert environment["BAYESNN_JAX_CACHE"] == "/tmp/x"
