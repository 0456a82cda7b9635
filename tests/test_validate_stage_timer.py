"""validate's stage timer (wall, CPU, compile per stage) and the CLI's fixed hash seed
for the persistent compilation cache. Correctness only: nothing here is timed."""
from pathlib import Path

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
                                       (None, {"BAYESNN_JAX_CACHE": "off"}),
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


def test_reexec_by_default_since_the_cache_is_on_by_default(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("BAYESNN_JAX_CACHE", raising=False)
    monkeypatch.setattr(cli.sys, "orig_argv", ["python", "-m", "bayesnn.cli", "validate"])
    monkeypatch.setattr(cli.sys, "argv", ["/somewhere/bayesnn/cli.py", "validate"])
    calls = []
    monkeypatch.setattr(cli.os, "execve", lambda *a: calls.append(a))
    cli._fixed_hash_seed_for_cache(None)
    assert len(calls) == 1 and calls[0][2]["PYTHONHASHSEED"] == "0"


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no", "none", ""])
def test_cache_off_values(monkeypatch, value):
    from bayesnn.core.compilation_cache import cache_dir, enable_compilation_cache
    monkeypatch.setenv("BAYESNN_JAX_CACHE", value)
    assert cache_dir() is None
    before = jax.config.jax_compilation_cache_dir
    assert enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == before  # JAX's settings left alone


def test_cache_folder_from_env_else_user_cache_dir(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir

    from bayesnn.core.compilation_cache import cache_dir
    monkeypatch.setenv("BAYESNN_JAX_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert cache_dir("off") is None and cache_dir(tmp_path) == tmp_path
    monkeypatch.delenv("BAYESNN_JAX_CACHE")
    assert cache_dir() == Path(user_cache_dir("bayesnn")) / "jax"


def test_sweep_workers_share_the_cache_and_hash_seed(monkeypatch, tmp_path):
    from bayesnn.sweep.distributed import worker_env
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setenv("BAYESNN_JAX_CACHE", str(tmp_path))
    env = worker_env()
    assert env["BAYESNN_JAX_CACHE"] == str(tmp_path) and env["PYTHONHASHSEED"] == "0"
    monkeypatch.setenv("BAYESNN_JAX_CACHE", "off")
    assert worker_env()["BAYESNN_JAX_CACHE"] == "off"


def test_no_jax_cache_flag_turns_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESNN_JAX_CACHE", str(tmp_path / "never"))
    monkeypatch.setattr(cli, "_fixed_hash_seed_for_cache", lambda argv: None)
    monkeypatch.setattr(cli, "_setup_jax", lambda: None)
    import bayesnn.validate as validate_module

    def stop(*args, **kwargs):
        raise ValueError("stopped before any work")
    monkeypatch.setattr(validate_module, "run", stop)
    assert cli.main(["validate", "--no-jax-cache", "--quiet",
                     "--out", str(tmp_path / "out")]) == 2
    assert cli.os.environ["BAYESNN_JAX_CACHE"] == "off"
    assert not (tmp_path / "never").exists()
