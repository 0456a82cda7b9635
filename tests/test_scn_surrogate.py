"""The surrogate-gradient network (bayesnn.scn.learning.surrogate): the gate function itself,
one new input per training iteration, and bad input refused naming the argument (NaN
weights, a zero input, burn_in >= T, wrong shapes, a missing weight)."""
import jax
import numpy as np
import pytest

from bayesnn.core import as_key
from bayesnn.scn.learning.signals import SmoothedNoise, noise_block
from bayesnn.scn.learning.surrogate import GateParams, gate_cdf, gated_loss, gated_run, train_gated


def _weights():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((2, 5))
    return {"F": F, "Omega": -F.T @ F, "D": 0.1 * F}


def test_gate_function_itself():
    """G(u) = u + 1/2 + sin(2 pi u)/(2 pi) on [-1/2, 1/2], 0 below, 1 above: its values
    at known points (closed form), its derivative 1 + cos(2 pi u) (the raised-cosine
    gate, >= 0, integral 1 over the zone; jax.grad against the closed form to rounding),
    C^1 at the edges, monotone. A gate of the wrong shape (e.g. a linear ramp or a
    shifted zone) fails the values or the derivative."""
    u = np.array([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0])
    expected = [0.0, 0.0, 0.25 - 1 / (2 * np.pi), 0.5, 0.75 + 1 / (2 * np.pi), 1.0, 1.0]
    np.testing.assert_allclose(np.asarray(gate_cdf(u)), expected, rtol=0, atol=1e-15)
    grid = np.linspace(-0.49, 0.49, 99)
    derivative = np.asarray(jax.vmap(jax.grad(gate_cdf))(grid))
    np.testing.assert_allclose(derivative, 1 + np.cos(2 * np.pi * grid), rtol=0, atol=1e-13)
    # C^1 at the edges: the gate vanishes there; flat outside
    for edge in (-0.5, 0.5):
        assert abs(float(jax.grad(gate_cdf)(edge))) < 1e-12
    assert float(jax.grad(gate_cdf)(0.7)) == 0.0
    dense = np.asarray(gate_cdf(np.linspace(-1, 1, 20001)))
    assert np.all(np.diff(dense) >= 0)
    # integral of the gate over the zone = G(1/2) - G(-1/2) = 1 (trapezoid, h = 1e-4:
    # error ~ h^2 |g'| ~ 1e-7)
    zone = np.linspace(-0.5, 0.5, 10001)
    assert abs(np.trapezoid(1 + np.cos(2 * np.pi * zone), zone) - 1.0) < 1e-7


def test_each_training_iteration_sees_a_new_input():
    """Iteration i trains on the smoothed noise of fold_in(key, i). At a learning rate
    of 1e-300 the weights do not move, so each recorded loss must equal the loss of the
    initial weights on that iteration's own sequence, recomputed independently here, and
    the losses must differ between iterations (a loop that reused one input would give
    equal losses, which here differ by O(10 %)). The same float64 computation, compiled
inside the training scan against eagerly here (different fusion of the sums over 60
steps): measured 6.1e-12 relative; bound 1e-10."""
    w = _weights()
    params = GateParams(width=1.0, burn_in=10)
    spec = SmoothedNoise(n_dims=2, sequence_steps=60)
    out = train_gated(params, w, spec, train=("D",), key=5, n_iterations=4,
                      sequence_steps=60, learning_rate=1e-300)
    fixed = {"F": w["F"], "Omega": w["Omega"]}
    for i in range(4):
        c = noise_block(spec, jax.random.fold_in(as_key(5), i), 0, 1)
        expected = float(gated_loss({"D": w["D"]}, fixed, params, np.asarray(c)))
        assert abs(out.loss[i] - expected) < 1e-10 * expected, i
    assert len(set(np.round(out.loss, 12))) == 4


@pytest.mark.parametrize("case, match", [
    ("nan weight", "weights\\['F'\\] must be finite"),
    ("missing weight", "missing \\['Omega'\\]"),
    ("not a dict", "weights must be a dict"),
    ("wrong shape", "Omega \\(N, N\\)"),
    ("zero input", "0/0"),
    ("burn_in >= T", "more than burn_in"),
    ("input shape", "c must be a finite"),
    ("nan input", "c must be"),
    ("params", "params must be a GateParams"),
])
def test_bad_input_is_refused(case, match):
    w, c, params = _weights(), np.ones((40, 2)), GateParams(width=1.0, burn_in=10)
    if case == "nan weight":
        w["F"] = np.full((2, 5), np.nan)
    elif case == "missing weight":
        del w["Omega"]
    elif case == "not a dict":
        w = [w["F"], w["Omega"], w["D"]]
    elif case == "wrong shape":
        w["Omega"] = np.zeros((4, 4))
    elif case == "zero input":
        c = np.zeros((40, 2))
    elif case == "burn_in >= T":
        params = GateParams(width=1.0, burn_in=40)
    elif case == "input shape":
        c = np.ones((40, 3))
    elif case == "nan input":
        c[3, 1] = np.nan
    else:
        params = {"width": 1.0}
    call = (lambda: gated_run(params, w, c)) if case != "zero input" else (
        lambda: gated_loss({}, w, params, c))
    with pytest.raises(ValueError, match=match):
        call()
    if case in ("nan weight", "missing weight", "not a dict"):
        with pytest.raises(ValueError, match=match):
            train_gated(GateParams(), w)
