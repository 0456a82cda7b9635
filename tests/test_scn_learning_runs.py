"""Learning runs (bayesnn.scn.learning, learning_dale, surrogate): reduced Brendel et
al. 2020 Fig. 2 convergence, bounded memory records, continuation, large learning
rates, E/I sign keeping, gated-network gradients against finite differences; the
papers/brendel2020 reduced run and the benchmark smoke run (slow)."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from bayesnn.io import load_dataset, write_netcdf
from bayesnn.scn.learning.training import LearningDivergedError, learn
from bayesnn.scn.learning.training_dale import learn_dale
from bayesnn.scn.learning.evaluation import evaluate_weights
from bayesnn.scn.learning.signals import SmoothedNoise
from bayesnn.scn.learning.plasticity import brendel_fig2_params, brendel_fig2_weights
from bayesnn.scn.learning.plasticity_dale import DaleLearningParams, brendel_dale_weights
from bayesnn.scn.learning.surrogate import GateParams, gated_run, gradient_check, train_gated

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fig2_run():
    """16 s of the Fig. 2 setting (N = 20, D = 2), 1-s records, log2 snapshots."""
    F, Om = brendel_fig2_weights(2, 20, key=0)
    return learn(brendel_fig2_params(), SmoothedNoise(2), F=F, Omega=Om, key=1, duration=16.0)


def test_reduced_fig2_converges(fig2_run, tmp_path):
    r = fig2_run
    np.testing.assert_allclose(np.asarray(r.snapshot_times), [0, 1, 2, 4, 8, 16])
    assert r.weight_distance.shape == r.rate.shape == r.error.shape == (16,)
    assert r.Omega_snapshots.shape == (6, 20, 20)
    from bayesnn.scn.learning.plasticity import weight_distance
    d = np.asarray(weight_distance(np.asarray(r.F_snapshots), np.asarray(r.Omega_snapshots)))
    # Seed 0/1 measured: 0.94 -> 0.10 in 16 s; 0.3 leaves a 3x margin for other seeds.
    assert d[-1] < 0.3 * d[0]
    # no relapse after 2 s: measured largest step -0.028 (d falls every record); 0.05
    # allows a small rise
    assert np.all(np.diff(d[2:]) < 0.05)
    # measured (keys 0/1): rate ratio 0.73, error ratio 0.37; margins 1.16x / 1.34x
    assert np.mean(r.rate[-4:]) < 0.85 * np.mean(r.rate[:4])
    assert np.mean(r.error[-4:]) < 0.5 * np.mean(r.error[:4])
    ds = r.to_xarray()
    write_netcdf(tmp_path / "r.nc", ds)
    back = load_dataset(tmp_path / "r.nc")
    np.testing.assert_array_equal(back["weight_distance"].values, np.asarray(r.weight_distance))
    assert back["time"].attrs["units"] == "s"


# The runs below use N = 20, D = 2, 1-s records like the fixture, so they share its
# compiled program (runs of < 16 blocks use the one-block program only).
def test_continuation_equals_one_run():
    p = brendel_fig2_params()
    F, Om = brendel_fig2_weights(2, 20, key=2)
    one = learn(p, SmoothedNoise(2), F=F, Omega=Om, key=3, duration=3.0, snapshots=None)
    a = learn(p, SmoothedNoise(2), F=F, Omega=Om, key=3, duration=1.0, snapshots=None)
    b = learn(p, SmoothedNoise(2), state0=a.final, key=3, duration=2.0, snapshots=None)
    np.testing.assert_array_equal(np.asarray(b.final.Omega), np.asarray(one.final.Omega))
    np.testing.assert_array_equal(np.asarray(b.rate), np.asarray(one.rate)[1:])
    np.testing.assert_array_equal(np.asarray(b.times), np.asarray(one.times)[1:])


def test_large_learning_rates_keep_weights_bounded():
    """eps = 0.9: each update is still a convex step, so no weight leaves the range of
    its targets (|V| stays O(threshold)); measured max |w| ~ 2."""
    F, Om = brendel_fig2_weights(2, 20, key=0)
    p = brendel_fig2_params(eps_r=0.9, eps_f=0.9)
    r = learn(p, SmoothedNoise(2), F=F, Omega=Om, key=1, duration=3.0, snapshots=None)
    # measured max |w| 2.04 (keys 0/1); 10 = ~5x, far below any divergence
    assert np.all(np.isfinite(np.asarray(r.max_weight))) and float(np.max(r.max_weight)) < 10


def test_overflow_is_a_clear_error(fig2_run):
    """Voltages at 1e308 overflow within a step: a LearningDivergedError naming the
    time, never NaN weights handed back."""
    state = fig2_run.final._replace(V=np.full(20, 1e308))
    with pytest.raises(LearningDivergedError, match="diverged.*t = 17 s"):
        learn(brendel_fig2_params(), SmoothedNoise(2), state0=state, key=1, duration=1.0)


def test_bad_run_arguments_name_them():
    p = brendel_fig2_params()
    F, Om = brendel_fig2_weights(2, 6, key=0)
    with pytest.raises(ValueError, match="inputs"):
        learn(p, np.zeros((1000, 3)), F=F, Omega=Om)
    with pytest.raises(ValueError, match="inputs.n_dims"):
        learn(p, SmoothedNoise(3), F=F, Omega=Om, duration=1.0)
    with pytest.raises(ValueError, match="record_every"):
        learn(p, SmoothedNoise(2), F=F, Omega=Om, duration=1.5)
    with pytest.raises(ValueError, match="duration"):
        learn(p, SmoothedNoise(2), F=F, Omega=Om)
    with pytest.raises(ValueError, match="Omega"):
        learn(p, SmoothedNoise(2), F=F, Omega=Om[:, :5], duration=1.0)
    with pytest.raises(ValueError, match="Omega"):
        evaluate_weights(p, F, Om[None], duration=1.0)


def test_dale_run_keeps_signs_at_every_record():
    p = DaleLearningParams(eps_r=0.01, eps_f=0.003)      # 100x the paper's: many clips
    w = brendel_dale_weights(3, 3, key=1)
    r = learn_dale(p, SmoothedNoise(3), weights=w, key=2, duration=0.3, decode_every=5)
    assert int(np.max(r.violations)) == 0
    CEE = np.asarray(r.snapshots["CEE"])
    assert np.all(CEE - CEE * np.eye(12) >= 0) and np.all(np.asarray(r.snapshots["CIE"]) <= 0)
    assert np.all(np.isfinite(np.asarray(r.error_e)))
    assert not np.allclose(np.asarray(r.final.CIE), w["CIE"])   # it did learn


def test_gated_gradient_equals_finite_differences():
    """The smoothed (gated) network's loss is differentiable: autodiff agrees with
    central differences (h = 1e-6; truncation ~h^2, rounding ~1e-16/h) to 1e-6."""
    F, Om = brendel_fig2_weights(2, 6, key=4)
    w = {"F": F, "Omega": Om, "D": 0.2 * F}
    c = 300 * np.random.default_rng(0).standard_normal((200, 2))
    check = gradient_check(GateParams(width=1.0, burn_in=20), w, c, n_directions=3)
    # measured 1.5e-9 (key 4, seed 0), margin ~650x; |derivative| measured 0.069 (> 1e-4:
    # a zero gradient would pass the relative check trivially)
    assert check["max_rel_error"] < 1e-6
    assert np.max(np.abs(check["autodiff"])) > 1e-4            # non-trivial derivative
    run = gated_run(GateParams(width=1.0), {k: np.asarray(v) for k, v in w.items()}, c)
    # measured 50.4 (soft) spikes: > 5 checks the gate lets the network fire at all
    assert np.all(np.asarray(run.spikes) >= 0) and float(np.sum(run.spikes)) > 5


def test_train_gated_lowers_the_loss_and_refuses_bad_input():
    F, Om = brendel_fig2_weights(2, 6, key=4)
    w = {"F": F, "Omega": Om, "D": 0.1 * F}
    out = train_gated(GateParams(width=1.0), w, train=("D",), n_iterations=30,
                      sequence_steps=200, learning_rate=0.02)
    # measured loss ratio 0.147 (deterministic), margin 3.4x
    assert np.mean(out.loss[-5:]) < 0.5 * np.mean(out.loss[:5])
    np.testing.assert_array_equal(np.asarray(out.weights["F"]), F)   # not trained
    with pytest.raises(ValueError, match="train"):
        train_gated(GateParams(), w, train=("W",))
    with pytest.raises(ValueError, match="width"):
        GateParams(width=0.0)
    with pytest.raises(ValueError, match="D must have shape"):
        train_gated(GateParams(), {**w, "D": np.zeros((2, 5))})
    with pytest.raises(ValueError, match="readout_map"):
        train_gated(GateParams(), w, readout_map=np.eye(3))


def test_train_gated_to_a_rotated_readout():
    """Target readout y = R x (R a 90-degree rotation): the decoder learns it."""
    F, Om = brendel_fig2_weights(2, 6, key=4)
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    w = {"F": F, "Omega": Om, "D": 0.1 * F}
    out = train_gated(GateParams(width=1.0), w, train=("D",), n_iterations=30,
                      sequence_steps=200, learning_rate=0.02, readout_map=R)
    # measured loss ratio 0.113 (deterministic), margin 4.4x
    assert np.mean(out.loss[-5:]) < 0.5 * np.mean(out.loss[:5])


@pytest.mark.slow
def test_brendel2020_reduced_reproduction(tmp_path):
    spec = importlib.util.spec_from_file_location("reproduce_b20", ROOT / "papers" / "brendel2020"
                                                  / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path), "--small"])
    for name in ("convergence", "weights", "dale", "gradient"):
        # > 1000 B: a written, untruncated PNG (file check only; a blank figure is 2.4 kB)
        assert (tmp_path / f"scn_learning_{name}.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    checks = {c["name"]: c for c in saved["checks"]}
    # At 64 s (the paper: 14,000 s) the decoder ~ F and CV claims are not yet reached;
    # everything else is (measured: see papers/brendel2020/README.md).
    for name in ("distance_ratio", "error_ratio", "error_vs_optimal", "rate_ratio",
                 "dale_sign_violations", "dale_error_ratio", "gradient_vs_fd", "gd_loss_ratio"):
        assert checks[f"scn_learning_{name}"]["passed"], checks[f"scn_learning_{name}"]
    assert (tmp_path / "learning_records.nc").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_scn_learning_smoke(capsys):
    spec = importlib.util.spec_from_file_location("bench_l", ROOT / "benchmarks"
                                                  / "bench_scn_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--duration", "2", "--sizes", "20", "--check-steps", "300",
                           "--repeats", "1"])
    printed = capsys.readouterr().out
    assert "GOAL" in printed
    row = results["rows"]["N=20"]
    # smoke check only: the benchmark produced positive speeds (no performance bound here)
    assert row["plastic_sim_s_per_s"] > 0 and row["frozen_sim_s_per_s"] > 0
    if results["numba"]:
        assert results["agreement"]["N=20"]["same_spikes"]
