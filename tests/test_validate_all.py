"""``bayesnn validate --scenario all`` at the docs gallery's settings (docs/gallery.toml),
run once for every test that needs a whole scenario run:

- every figure of every available scenario -- whatever it returns, new scenarios
  included -- passes :func:`bayesnn.style.audit` and the file-name rule, each scenario
  writes its PNGs and its traces, and docs/gallery.md lists exactly those figures;
- every scenario compiles at most its budget of XLA programs (issue 21), the main job
  (``neuron``) included;
- the scenarios run at their defaults, quick defaults or a stated smaller size
  (CHECKED) pass every check, with at least six where the family promised them, and the
  hierarchy and learning runs report every stage.

The run happens in a fresh process (tests/compile_counts.py). Before each scenario it
clears JAX's in-memory caches, so the scenario's count is what a fresh process compiles:
every program it needs goes through XLA's compile entry point again, and a read from
the suite's persistent cache counts as one program, as a compilation would
(``test_program_count_is_the_same_cold_and_warm``). CI sets ``BAYESNN_VALIDATE_OUT`` so
the docs build reuses this run for the gallery. Nothing is timed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.compile_counts import ROOT, run_fresh
from tests.test_figures import figure_name_problems

# Program budgets (issue 21), asserted on every scenario of the run. Budget = programs
# measured in this run (fifth session of issue 21; the main job's 37 equal the count of
# `python -m bayesnn.cli validate --no-figures --no-jax-cache`: figures compile no
# program) + 4 for JAX versions that split a program differently.
# Before issue 21: neuron (the main job) 224, log_odds 46, accuracy 58, scn 23, kalman
# 36, hierarchy 765-802, learning 268, scn_learning 135, spike_gradients 177, stdp 42,
# neuromorphic 173, scn_dynamics 29. The goals: <= 40 for the main job, <= 400
# for all scenarios (302 here).
BUDGETS = {"neuron": 37 + 4, "log_odds": 13 + 4, "accuracy": 16 + 4, "scn": 4 + 4,
           "kalman": 20 + 4, "hierarchy": 25 + 4, "learning": 40 + 4, "scn_learning": 14 + 4,
           "spike_gradients": 43 + 4, "stdp": 25 + 4, "neuromorphic": 53 + 4,
           "scn_dynamics": 14 + 4}
# The gallery's settings of the scenarios whose checks must all pass in this run (their
# defaults, quick defaults, or a smaller size at which they pass with a stated margin):
# the premise test below holds docs/gallery.toml to them. scn_learning runs smaller in
# the gallery than its checks need (tests/test_scn_learning_runs.py tests them).
CHECKED = {
    "neuron": {"duration": 4.0, "calibration_trials": 4},  # the main job's stages, shorter
    "log_odds": {}, "accuracy": {}, "scn": {"quick": True}, "kalman": {"quick": True},
    # the default tree with fewer, shorter trials: seed 0 passes the prior-gain check
    # with z of about 5 (8.6 over 8 x 20 s at the defaults; z grows as the square root of
    # the data); two frontier sizes, g0 on both sides of the drift-kernel switch
    "hierarchy": {"duration": 10.0, "n_trials": 6, "frontier_children": [1, 2],
                  "frontier_g0": [0.5, 4.0], "frontier_trials": 2, "frontier_duration": 3.0},
    # NUTS coverage over the acceptance's 5 data sets
    "learning": {"quick": True},
    "spike_gradients": {"quick": True}, "stdp": {"quick": True},
    "neuromorphic": {"quick": True}, "scn_dynamics": {"quick": True}}
# Families whose scenario promises at least six checks (their own acceptance).
MIN_CHECKS = {"spike_gradients": 6, "stdp": 6, "neuromorphic": 6, "scn_dynamics": 6}

_SCRIPT = """
import importlib.util, json, sys, time
from pathlib import Path
import jax
from bayesnn.core.precision import enable_x64
enable_x64()
from bayesnn import style, validate
from bayesnn.cli import _write_outputs
spec = importlib.util.spec_from_file_location("build_gallery", sys.argv[1])
gallery = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gallery)
out = Path(sys.argv[2])
config = gallery.gallery_config(validate.REGISTRY)
meter = validate.CompileMeter.get()
results, report = [], {}
for name in validate.resolve(["all"]):
    jax.clear_caches()  # the scenario compiles (or reads back) every program it needs
    start = time.time()
    result, = validate.run([name], config)
    count = meter.since(start)
    results.append(result)
    report[name] = {"programs": count["programs"], "names": count["program_names"],
                    "figures": sorted(result.figures),
                    "style": {figure: style.audit(drawn) for figure, drawn in result.figures.items()}}
_write_outputs(results, out)
print(json.dumps({"order": [result.scenario for result in results], "scenarios": report}))
"""


@pytest.fixture(scope="module")
def gallery_run(tmp_path_factory):
    """The run's report (per scenario: programs, their names, figure names, style
    problems), its output folder and its results.json."""
    out = Path(os.environ.get("BAYESNN_VALIDATE_OUT") or tmp_path_factory.mktemp("out"))
    out.mkdir(parents=True, exist_ok=True)
    report = run_fresh(_SCRIPT, str(ROOT / "docs" / "build_gallery.py"), str(out))
    return report, out, json.loads((out / "results.json").read_text())


def _gallery_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_gallery",
                                                  ROOT / "docs" / "build_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_every_scenario_figure_passes_the_audit_and_the_gallery_lists_them(gallery_run):
    """Every figure of every available scenario passes the audit and the file-name rule;
    each scenario writes at least one PNG and its traces (NetCDF, reloading without
    pickle); the committed docs/gallery.md lists exactly the figures written (else rerun
    ``python docs/build_gallery.py``). Pass/fail of the checks of the scenarios without
    a budget below is not the point here (their own tests cover them)."""
    from bayesnn import io, validate

    report, out, _ = gallery_run
    assert report["order"] == list(validate.available_scenarios())
    broken = {}
    for scenario, entry in report["scenarios"].items():
        problems = figure_name_problems(scenario, entry["figures"])
        problems += [f"{name}: {problem}" for name, found in entry["style"].items()
                     for problem in found]
        if problems:
            broken[scenario] = problems
    assert broken == {}
    for scenario in report["order"]:
        pngs = sorted(out.glob(f"{scenario}_*.png"))
        assert pngs and all(path.stat().st_size > 20_000 for path in pngs), scenario
        traces = io.load_dataset(out / f"{scenario}_traces.nc")
        assert traces.data_vars, scenario
    gallery = _gallery_module()
    written = sorted(name for names in gallery.figures_of(out).values() for name in names)
    assert written == sorted(path.name for path in out.glob("*.png"))
    assert gallery.listed(gallery.PAGE.read_text()) == written, (
        "docs/gallery.md is stale: run python docs/build_gallery.py")


def test_checked_scenarios_run_at_their_stated_settings_in_the_gallery():
    """The premise of reading checks and budgets from the gallery run: docs/gallery.toml
    gives each checked scenario exactly the settings stated in CHECKED (``quick = true``
    where that is the default counts as no table), every scenario has a budget, and
    the families reading ``quick`` from the gallery default to it."""
    import inspect

    from bayesnn import validate

    config = _gallery_module().gallery_config(validate.REGISTRY)
    assert set(BUDGETS) == set(validate.REGISTRY)
    assert set(CHECKED) <= set(BUDGETS)
    for name, settings in CHECKED.items():
        defaults = {key: parameter.default for key, parameter in
                    inspect.signature(validate.scenario_function(name)).parameters.items()}
        if settings.get("quick"):
            assert defaults["quick"] is True, name
        assert config.get(name, {}) in (settings, {key: value for key, value in settings.items()
                                                   if key != "quick"}), (name, config.get(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUDGETS))
def test_scenario_compiles_within_its_program_budget(gallery_run, name):
    """Each scenario compiles at most its budget of programs (fresh caches before it)."""
    entry = gallery_run[0]["scenarios"][name]
    assert entry["programs"] <= BUDGETS[name], sorted(entry["names"])
    # premise: the count is that of a real run (each scenario compiles its own kernels)
    assert entry["programs"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKED))
def test_scenario_passes_every_check(gallery_run, name):
    """Every check passes at the stated settings (at least 6 where the family's
    acceptance asked for them); for neuromorphic, the 8-bit-weight / 24-bit-state Loihi
    preset meets the issue's goal (truncation)."""
    _, _, payload = gallery_run
    checks = payload["scenarios"][name]["checks"]
    assert [check["name"] for check in checks if not check["passed"]] == []
    assert len(checks) >= MIN_CHECKS.get(name, 1)
    if name == "neuromorphic":
        numbers = payload["scenarios"][name]["numbers"]
        assert numbers["neuron"]["loihi_8_24_truncate"]["goal_below_10pct"] is True


@pytest.mark.slow
def test_hierarchy_scenario_reports_every_stage(gallery_run):
    """The hierarchy run: every stage's numbers, the 2 x 2 frontier, its figures, trials
    x time traces of the exact top-level log-odds, finite fed-forward log-odds, and the
    fed-forward reader closer to the exact posterior than the layer-1-only reader."""
    import numpy as np

    from bayesnn import io

    report, out, payload = gallery_run
    numbers = payload["scenarios"]["hierarchy"]["numbers"]
    assert {"summary", "ordering", "isi", "ml_fit", "frontier"} <= set(numbers)
    assert len(numbers["frontier"]) == 4
    assert report["scenarios"]["hierarchy"]["figures"] == ["frontier", "trial"]
    traces = io.load_dataset(out / "hierarchy_traces.nc")
    assert list(traces["exact_log_odds_top"].dims) == ["trial", "time"]
    assert np.isfinite(traces["fed_log_odds"].values).all()
    assert numbers["summary"]["kl_fed"]["mean"] < numbers["summary"]["kl_L"]["mean"]


@pytest.mark.slow
def test_learning_scenario_reports_every_stage(gallery_run):
    """The learning run: the acceptance's checks are there (EM monotone, online equals
    batch, gradient optimum equals EM, NUTS coverage over 5 data sets, the filtered-only
    control, error against recording length) and every figure is drawn."""
    report, _, payload = gallery_run
    scenario = payload["scenarios"]["learning"]
    names = [check["name"] for check in scenario["checks"]]
    for required in ("em_continuous_monotone", "online_equals_batch_no_discount",
                     "gradient_optimum_equals_em", "ml_inside_nuts_hdi90",
                     "filtered_only_r_does_not_move", "error_vs_duration_slope"):
        assert required in names
    assert scenario["numbers"]["coverage"]["n_datasets"] >= 5
    assert report["scenarios"]["learning"]["figures"] == sorted(
        {"em_log_likelihood", "learned_over_time", "tracking", "error_vs_duration", "coverage"})
