"""Inputs that used to pass silently (issue 22, item 4): a knock-out scheduled after
the run ends, untracked E/I input written as zeros, enable_x64() after building
records in float32. (Learner inputs, the hierarchy's NaN times, the surrogate module,
the tree filter's K = 11 guard and damaged files are in tests/test_fuzz_inputs.py.)"""
import os
import subprocess
import sys

import numpy as np
import pytest

from bayesnn.scn import make_network, make_perturbations, simulate
from bayesnn.scn import random_decoder

DT, N_STEPS = 1e-4, 400


def _net():
    return make_network(random_decoder(2, 20, 0.1, seed=4), A=np.zeros((2, 2)), lambda_d=10,
                        lambda_v=20, mu=1e-6, nu=1e-5, sigma_v=0.0, dt=DT)


def _drive():
    t = np.arange(N_STEPS) * DT
    return 20.0 * np.stack([np.cos(6 * np.pi * t), np.sin(6 * np.pi * t)], -1)


@pytest.mark.parametrize("kind", ["silence", "thresholds", "noise"])
def test_perturbation_after_the_run_ends_is_refused(kind):
    net = _net()
    after = N_STEPS * DT + 0.01  # 0.05 s into a 0.04 s run
    pert = {"silence": lambda: make_perturbations(net, silence=[0, 1], silence_time=after),
            "thresholds": lambda: make_perturbations(net, thresholds=1.0, threshold_time=after),
            "noise": lambda: make_perturbations(net, extra_noise=0.1, noise_time=after)}[kind]()
    name = {"silence": "silence_time", "thresholds": "threshold_time", "noise": "noise_time"}[kind]
    with pytest.raises(ValueError, match=f"perturbations.{name} lies after the end"):
        simulate(net, _drive(), key=0, perturbations=pert)
    # within the run it is accepted
    inside = make_perturbations(net, silence=[0, 1], silence_time=0.01)
    simulate(net, _drive(), key=0, perturbations=inside)


def test_untracked_ei_input_is_not_written_as_zeros():
    net = _net()
    plain = simulate(net, _drive(), key=0)
    assert plain.e_input is None and plain.i_input is None
    dataset = plain.to_xarray()
    assert "e_input" not in dataset and "i_input" not in dataset
    tracked = simulate(net, _drive(), key=0, track_balance=True)
    assert "e_input" in tracked.to_xarray()
    assert float(np.sum(np.asarray(tracked.e_input))) > 0  # a real measurement


def test_enable_x64_after_building_float32_records_warns():
    """In a fresh process (JAX starts in float32): a record built before enable_x64()
    keeps float32 values; enable_x64() says so with a PrecisionWarning."""
    code = (
        "import warnings, numpy as np\n"
        "from bayesnn.neuron import NeuronParams\n"
        "import bayesnn\n"
        "p = NeuronParams(r_on=1.0, r_off=2.0, q_on=[5.0], q_off=[1.0], g0=1.0)\n"
        "assert p.q_on.dtype == np.float32\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    bayesnn.enable_x64()\n"
        "print([type(w.message).__name__ + ': ' + str(w.message) for w in caught])\n")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
    assert "PrecisionWarning: enable_x64() after" in out.stdout, out.stdout + out.stderr
    assert "rebuild them" in out.stdout
