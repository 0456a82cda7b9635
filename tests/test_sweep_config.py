"""Sweep configs, plans and the ``bayesnn sweep`` command line: every bad input is a
ValueError naming the field, raised before any task is submitted (no JAX work here
except building parameter records)."""
import argparse
import copy
from pathlib import Path

import numpy as np
import pytest

from bayesnn.sweep import IN_PROCESS, load_config, make_plan, run_sweep
from bayesnn.sweep.cli import add_sweep_parser, run_sweep_command
from tests.sweep_setup import TINY

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep_g0.toml"


def changed(**changes):
    config = copy.deepcopy(TINY)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        table = config
        for name in parents:
            table = table.setdefault(name, {})
        if value is None:
            table.pop(leaf, None)
        else:
            table[leaf] = value
    return config


BAD = [
    (changed(scenario="no_such_model"), "scenario"),
    (changed(scenario=None), "scenario"),
    (changed(grid__tau=[1.0]), "grid.tau"),
    (changed(fixed__tau=1.0), "fixed.tau"),
    (changed(grid__g0=[1.0, 0.0]), "grid.g0"),
    (changed(grid__g0=[-1.0]), "grid.g0"),
    (changed(grid__g0=[]), "grid.g0"),
    (changed(grid__g0=[1.0, 1.0]), "grid.g0"),
    (changed(grid__g0=[1.0, float("nan")]), "grid.g0"),
    (changed(grid__g0=["1"]), "grid.g0"),
    (changed(grid__r_on=[1.0, -2.0]), "grid.r_on"),
    (changed(fixed__q_off=-8.0), "fixed.q_off"),
    (changed(fixed__n_inputs=2.5), "fixed.n_inputs"),
    (changed(fixed__n_inputs=0), "fixed.n_inputs"),
    (changed(fixed__rate_spread=1.0), "fixed.rate_spread"),
    (changed(fixed__g0=1.0), "fixed.g0"),  # also swept
    (changed(duration=-0.25), "duration"),
    (changed(dt=0.003), "dt"),  # duration not a multiple of dt
    (changed(n_seeds=0), "n_seeds"),
    (changed(batch_size=1.5), "batch_size"),
    (changed(seed=-1), "seed"),
    (changed(colour="red"), "colour"),
    (changed(random={"n_points": 4, "g0": {"low": 0.5, "high": 2.0}}), "grid"),  # two designs
    (changed(grid=None), "grid"),  # no design
    (changed(grid=None, random={"g0": {"low": 0.5, "high": 2.0}}), "random.n_points"),
    (changed(grid=None, random={"n_points": 4, "g0": {"low": 0.0, "high": 2.0}}), "random.g0.low"),
    (changed(grid=None, random={"n_points": 4, "g0": {"low": 2.0, "high": 1.0}}), "random.g0.high"),
    (changed(grid=None, random={"n_points": 4, "g0": {"low": 1.0, "high": 2.0, "scale": "exp"}}),
     "random.g0.scale"),
    (changed(grid=None, random={"n_points": 4, "r_off": {"low": -1.0, "high": 2.0}}), "random.r_off.low"),
]


@pytest.mark.parametrize("config, field", BAD, ids=[field for _, field in BAD])
def test_bad_config_names_the_field_before_any_task(config, field):
    ran = []
    # An unreachable scheduler: the error must come before any connection or task.
    with pytest.raises(ValueError) as error:
        run_sweep(config, scheduler="tcp://127.0.0.1:9", progress=False, on_task=ran.append)
    assert str(error.value).startswith(field), str(error.value)
    assert ran == []


def test_bad_workers_and_scheduler_before_any_task():
    with pytest.raises(ValueError, match="^workers"):
        run_sweep(TINY, workers=0, progress=False)
    with pytest.raises(ValueError, match="^workers"):
        run_sweep(TINY, workers=2, scheduler="tcp://127.0.0.1:9", progress=False)
    with pytest.raises(ValueError, match="^scheduler"):
        run_sweep(TINY, scheduler=8786, progress=False)


def test_grid_plan_groups_points_into_tasks_by_static_size():
    config = load_config(changed(fixed__n_inputs=None, grid={"g0": [0.5, 1.0, 2.0], "n_inputs": [3, 6]}))
    plan = make_plan(config)
    assert config.shape == (3, 2) and plan.n_points == 6
    # C order (last name fastest); tasks never mix N (one compiled shape per task).
    assert [p["n_inputs"] for p in plan.points] == [3, 6, 3, 6, 3, 6]
    assert [t.point_ids for t in plan.tasks] == [(0, 2), (4,), (1, 3), (5,)]
    assert all(isinstance(p["n_inputs"], int) for p in plan.points)
    assert make_plan(load_config(config.to_dict())).tasks == plan.tasks
    assert load_config(config.to_dict()).hash == config.hash


def test_hash_ignores_batch_size_and_sees_everything_else():
    base = load_config(TINY)
    assert load_config(changed(batch_size=4)).hash == base.hash
    for other in (changed(seed=8), changed(n_seeds=3), changed(duration=0.5),
                  changed(fixed__q_on=31.0), changed(grid__g0=[0.25, 0.5])):
        assert load_config(other).hash != base.hash


def test_random_design_is_reproducible_and_inside_its_ranges():
    raw = changed(grid=None, fixed__n_inputs=None,
                  random={"n_points": 50, "seed": 3, "g0": {"low": 0.25, "high": 4.0, "scale": "log"},
                          "n_inputs": {"low": 2, "high": 5}})
    config = load_config(raw)
    points = config.points()
    assert points == load_config(raw).points()
    g0 = np.array([p["g0"] for p in points])
    n = np.array([p["n_inputs"] for p in points])
    # the design's own ranges (exact); 50 draws of 4 values all equal: probability 4^-49
    assert np.all((g0 >= 0.25) & (g0 <= 4.0)) and set(n) <= {2, 3, 4, 5} and len(set(n)) > 1
    # every bound is drawn: each integer of [2, 5] appears (a design that never draws its
    # upper bound, e.g. randint(low, high), fails; P(a value is missed) = 4 (3/4)^50 =
    # 2e-6), and g0 reaches the lowest and highest fifth of its log range (P(an end
    # fifth is empty) = 2 x 0.8^50 = 3e-5; a linear-scale draw puts ~1 % of 50 there)
    assert set(n) == {2, 3, 4, 5}
    log_position = np.log(g0 / 0.25) / np.log(4.0 / 0.25)
    assert log_position.min() < 0.2 and log_position.max() > 0.8
    # log-uniform: the median of log g0 sits mid-range (sd of the median of 50 uniform
    # draws ~ 0.07; 0.25 is > 3 sd), which a uniform-in-g0 draw (median 0.76) fails
    assert abs(np.median(log_position) - 0.5) < 0.25
    assert config.shape == (50,)
    raw["random"]["seed"] = 4
    assert load_config(raw).points() != points


def test_example_config_loads_and_plans():
    config = load_config(EXAMPLE)
    plan = make_plan(config)
    assert config.scenario == "bayesian_neuron" and config.design == "grid"
    assert {"g0", "n_inputs"} <= set(config.swept) and config.n_seeds >= 10
    assert sum(len(t.point_ids) for t in plan.tasks) == plan.n_points


def _parser():
    parser = argparse.ArgumentParser(prog="bayesnn")
    add_sweep_parser(parser.add_subparsers(dest="command"))
    return parser


def test_sweep_help_documents_the_config_format(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["sweep", "--help"])
    text = capsys.readouterr().out
    for needle in ("[grid]", "[random]", "n_seeds", "batch_size", "--scheduler", "--workers",
                   "--out", "examples/sweep_g0.toml", "tcp://"):
        assert needle in text


def test_cli_bad_config_exits_2_naming_the_field(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('scenario = "bayesian_neuron"\n[grid]\ng0 = [1.0, -1.0]\n')
    args = _parser().parse_args(["sweep", str(path), "--out", str(tmp_path / "out"),
                                 "--scheduler", IN_PROCESS])
    assert run_sweep_command(args) == 2
    assert "grid.g0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    args = _parser().parse_args(["sweep", str(EXAMPLE), "--dry-run"])
    assert run_sweep_command(args) == 0
    assert "tasks" in capsys.readouterr().out


def test_random_design_combines_on_point_and_refuses_missing_or_repeated_points():
    from bayesnn.sweep import combine, get_scenario
    from bayesnn.sweep.tasks import task_dataset

    config = load_config(changed(grid=None, fixed__n_inputs=None, n_seeds=3, random={
        "n_points": 7, "seed": 2, "g0": {"low": 0.5, "high": 2.0}, "n_inputs": {"low": 2, "high": 3}}))
    plan = make_plan(config)
    scenario = get_scenario(config.scenario)

    def part(task):  # stand-in outputs: value = 10 * point + seed
        payload = plan.payload(task)
        values = 10.0 * np.asarray(task.point_ids)[:, None] + np.arange(3)[None, :]
        return task_dataset(scenario, payload, {name: values for name in scenario.outputs})

    parts = [part(task) for task in plan.tasks]
    combined = combine(plan, parts[::-1])  # any order
    assert combined["kl"].dims == ("point", "seed") and combined.sizes["point"] == 7
    np.testing.assert_array_equal(combined["kl"].values,
                                  10.0 * np.arange(7)[:, None] + np.arange(3)[None, :])
    np.testing.assert_array_equal(combined["g0"].values, [p["g0"] for p in plan.points])
    assert combined["n_inputs"].dtype == np.int64 and combined["n_inputs"].dims == ("point",)
    with pytest.raises(ValueError, match="^results: points missing"):
        combine(plan, parts[1:])
    with pytest.raises(ValueError, match="repeated"):
        combine(plan, parts + parts[:1])
