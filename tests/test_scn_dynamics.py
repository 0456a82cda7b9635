"""Spike-coding networks learning dynamics (bayesnn.scn.dynamics): the frozen network
against the hand-set B13 network (independent code path), one step against a NumPy
transcription of the equations, the closed form as a fixed point of the rule, learning
from zero, knock-outs, determinism, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from bayesnn.core import spike_arrays
from bayesnn.scn import lds_exact, make_network, make_perturbations, random_decoder
from bayesnn.scn import simulate as scn_simulate
from bayesnn.scn.dynamics import (
    DynamicsStepInputs, bump_features, closed_form_slow_weights, dynamics_step,
    init_dynamics_state, learn, learned_field, make_dynamics_network, relative_distance,
    simulate,
)
from bayesnn.scn.dynamics.experiments import DAMPED_OSCILLATOR, kick_input
from bayesnn.scn.dynamics.systems import (
    bistable, exploration_input, field_error, limit_cycle_stats, rk4_trajectory, van_der_pol,
)
from bayesnn.scn.learning import LearningDivergedError

A = DAMPED_OSCILLATOR
DT = 1e-4


def _net(N=12, **kw):
    kw = {"feedback_gain": 10.0, "learning_rate": 10.0, **kw}
    return make_dynamics_network(random_decoder(2, N, 0.2, seed=3), A, dt=DT, **kw)


def _teacher(n, seed=0, amplitude=30.0):
    c = exploration_input(n, DT, 2, amplitude=amplitude, seed=seed)
    return c, lds_exact(A, c, DT)


def test_frozen_closed_form_network_is_the_handset_b13_network():
    # W_s = Gamma^T (A + lambda_d I) Gamma, no feedback, lambda_v = 0: the same equations
    # as bayesnn.scn.simulate, computed through the dense matrix instead of Gamma^T M
    # x_hat; float64 round-off (~1e-15 per step) must not move a spike in 3000 steps.
    p = _net()
    n = 3000
    c = kick_input(n, DT, 2)
    x = lds_exact(A, c, DT)
    ours = simulate(p, c, x=x, W=closed_form_slow_weights(p), record_every=1, x0=np.zeros(2))
    hand = scn_simulate(make_network(np.asarray(p.Gamma), A, lambda_d=10.0, lambda_v=0.0,
                                     mu=float(p.mu), dt=DT), c, key=0)
    _, senders, _ = spike_arrays(hand.spikes)
    assert np.array_equal(np.asarray(ours.spike_counts),
                          np.bincount(senders, minlength=p.n_neurons))
    assert np.max(np.abs(np.asarray(ours.readout) - np.asarray(hand.readout))) < 1e-9


def test_one_step_matches_a_numpy_transcription():
    p = _net(sigma_v=0.3, learning_rate=50.0)
    rng = np.random.default_rng(1)
    N = p.n_neurons
    s0 = init_dynamics_state(p, W=rng.normal(size=(N, N)) * 0.01)._replace(
        V=np.asarray(p.thresholds) * rng.uniform(0.5, 1.5, N), rates=rng.uniform(0, 3, N))
    s0 = s0._replace(readout=np.asarray(p.Gamma) @ np.asarray(s0.rates))
    c, x, xi = rng.normal(size=2) * 10, rng.normal(size=2), rng.normal(size=N)
    s1, rec = dynamics_step(p, s0, DynamicsStepInputs(c, x, xi))
    G, W, V, r = (np.asarray(a) for a in (p.Gamma, s0.W, s0.V, s0.rates))
    e = x - G @ r
    cq = float(p.mu) * 100.0
    V = V + DT * (G.T @ c + W @ r + 10.0 * cq * r + 10.0 * G.T @ e) + 0.3 * np.sqrt(DT) * xi
    W = W + 50.0 * DT * np.outer(G.T @ e, r)
    r = (1 - 10.0 * DT) * r
    z = V - np.asarray(p.thresholds)
    i = int(np.argmax(z))
    assert z[i] > 0   # the draw above puts some neuron over threshold
    V = V - (G.T @ G[:, i] + cq * np.eye(N)[i])
    r[i] += 1
    for got, want in ((s1.V, V), (s1.W, W), (s1.rates, r), (s1.readout, G @ r)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12)
    assert int(rec.sender) == i and float(rec.sq_error) == pytest.approx(e @ e, rel=1e-14)


def test_closed_form_is_a_fixed_point_and_learning_approaches_it():
    p = _net()
    W_star = closed_form_slow_weights(p)
    c, x = _teacher(50000)                       # 5 s
    stay = learn(p, c, x, W=W_star, record_every=5000)
    # spike noise makes W_star a fixed point only in expectation: its random walk over
    # 5 s at eta = 10 moved it by ~0.5 % in trial runs; 3 % leaves room, far below the
    # 100 % distance of the zero start
    assert float(stay.weight_distance[-1]) < 0.03
    go = learn(p, c, x, record_every=5000)
    d = np.asarray(go.weight_distance)
    assert d[0] < 1.0 and d[-1] < 0.7 * d[0]      # Lyapunov descent from W = 0
    assert relative_distance(go.W, W_star) == pytest.approx(d[-1], rel=1e-12)


def test_knockout_silences_and_repair_continues_learning():
    p = _net()
    W_star = closed_form_slow_weights(p)
    c = kick_input(4000, DT, 2)
    x = lds_exact(A, c, DT)
    dead = [0, 3, 5]
    res = simulate(p, c, x=x, W=W_star, perturbations=make_perturbations(p, silence=dead))
    assert np.all(np.asarray(res.spike_counts)[dead] == 0)
    assert np.asarray(res.spike_counts).sum() > 0
    ds = res.to_xarray()
    assert {"readout", "sq_error", "W"} <= set(ds.data_vars)


def test_determinism_per_key_with_noise():
    p = _net(sigma_v=1e-3)
    c, x = _teacher(2000)
    a, b = learn(p, c, x, key=5), learn(p, c, x, key=5)
    other = learn(p, c, x, key=6)
    assert np.array_equal(np.asarray(a.W), np.asarray(b.W))
    assert np.array_equal(np.asarray(a.readout), np.asarray(b.readout))
    assert not np.array_equal(np.asarray(a.W), np.asarray(other.W))


def test_diverging_learning_rate_stops_with_last_finite_weights():
    p = _net(learning_rate=1e12)
    c, x = _teacher(20000)
    with pytest.raises(LearningDivergedError) as info:
        learn(p, c, x, record_every=100)
    assert np.all(np.isfinite(info.value.last_finite_weights))
    assert info.value.last_finite_time >= 0


def test_bad_input_names_the_field():
    G = random_decoder(2, 8, 0.2, seed=0)
    with pytest.raises(ValueError, match="growth_bound"):
        make_dynamics_network(G, np.array([[1.0, 0.0], [0.0, -1.0]]))
    make_dynamics_network(G, np.array([[1.0, 0.0], [0.0, -1.0]]), growth_bound=1.0)
    for K in (0.0, -5.0):
        with pytest.raises(ValueError, match="feedback_gain"):
            make_dynamics_network(G, A, feedback_gain=K)
    with pytest.raises(ValueError, match="A must have shape"):
        make_dynamics_network(G, np.eye(3) * -1)
    with pytest.raises(ValueError, match="learning_rate"):
        make_dynamics_network(G, A, learning_rate=-1.0)
    with pytest.raises(ValueError, match="W0"):
        make_dynamics_network(G, A, W0=np.zeros((8, 7)))
    with pytest.raises(ValueError, match="feature_widths"):
        make_dynamics_network(G, None, features=(np.zeros((4, 2)), np.zeros((4, 2))))
    with pytest.raises(ValueError, match="feature_centers"):
        make_dynamics_network(G, None, features=(np.zeros((4, 3)), np.ones((4, 3))))
    p = make_dynamics_network(G, A)
    c = np.zeros((100, 2))
    with pytest.raises(ValueError, match="c must have shape"):
        learn(p, np.zeros((100, 3)), np.zeros((101, 3)))
    with pytest.raises(ValueError, match="x must have shape"):
        learn(p, c, np.zeros((100, 2)))
    with pytest.raises(ValueError, match="teacher"):
        learn(p, c, None)
    with pytest.raises(ValueError, match="record_every"):
        learn(p, c, np.zeros((101, 2)), record_every=7)


def test_learned_field_reads_the_latent_matrix_back():
    G = random_decoder(2, 10, 0.2, seed=1)
    centres, widths = bump_features([1.0, 2.0], 3)
    p = make_dynamics_network(G, None, features=(centres, widths))
    Q = np.random.default_rng(0).normal(size=(2, p.n_features))
    grid = np.random.default_rng(1).normal(size=(50, 2))
    phi = np.concatenate([grid, np.exp(-0.5 * (((grid[:, None] - centres) / widths)**2)
                                       .sum(-1))], 1)
    np.testing.assert_allclose(learned_field(p, G.T @ Q, grid), phi @ Q.T, atol=1e-12)
    assert field_error(phi @ Q.T, phi @ Q.T) == 0.0


def test_systems_helpers_against_closed_forms():
    c = exploration_input(300, DT, 2, amplitude=5.0, seed=2)
    x = rk4_trajectory(lambda v: v @ A.T, c, DT, np.array([0.5, -0.2]))
    # RK4 local error O((|A| dt)^5) ~ 1e-12 per step for |A| dt ~ 4e-3
    np.testing.assert_allclose(x, lds_exact(A, c, DT, x0=np.array([0.5, -0.2])), atol=1e-10)
    t = np.arange(0, 5, 1e-3)
    period, amp = limit_cycle_stats(t, np.stack([np.sin(2 * np.pi * t / 0.7)], 1), skip=0.5)
    assert period == pytest.approx(0.7, abs=1e-5) and amp == pytest.approx(2.0, abs=1e-4)


def _rk4_loop(field, c, dt, x):
    """Independent path: the classical RK4 step as a plain NumPy loop."""
    out = [x]
    for ck in c:
        k1 = field(x) + ck
        k2 = field(x + dt / 2 * k1) + ck
        k3 = field(x + dt / 2 * k2) + ck
        k4 = field(x + dt * k3) + ck
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("field, x0", [(van_der_pol, [2.0, 0.0]), (bistable, [0.3])],
                         ids=["van_der_pol", "bistable"])
def test_compiled_rk4_equals_a_numpy_loop(field, x0):
    # Same operations in the same order; XLA may contract a*b + c into one rounding, so
    # states of order 1-4 agree to ~1e-16 per step, and 2000 steps of these smooth,
    # non-chaotic fields keep the gap far below 1e-12 (measured 1.5e-12 after 2e5
    # steps of Van der Pol, whose phase drifts freely along the cycle).
    c = exploration_input(2000, DT, len(x0), amplitude=5.0, seed=4)
    x = rk4_trajectory(field, c, DT, np.array(x0))
    assert isinstance(x, np.ndarray) and x.dtype == np.float64 and x.shape == (2001, len(x0))
    np.testing.assert_allclose(x, _rk4_loop(field, c, DT, np.array(x0)), rtol=0, atol=1e-12)
    # NumPy in, NumPy out: the fields still serve NumPy callers (grids, figures)
    assert isinstance(field(np.array(x0)), np.ndarray)


def test_rk4_reads_the_field_of_this_call():
    # Each call traces the field afresh: a closure whose values changed between calls
    # gives the new trajectory (a program cached on the field object would replay the
    # old values). Rotation by 1 rad in 100 steps of 0.01 s, then a zero field.
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    field = lambda x: x @ A.T
    c, x0 = np.zeros((100, 2)), np.array([1.0, 0.0])
    # RK4's error over one radian at h = 0.01: 100 steps x h^5/120 ~ 1e-10
    np.testing.assert_allclose(rk4_trajectory(field, c, 1e-2, x0)[-1], [np.cos(1), -np.sin(1)],
                               atol=1e-9)
    A[:] = 0.0
    np.testing.assert_array_equal(rk4_trajectory(field, c, 1e-2, x0)[-1], x0)
    # a field may return a list of its D components
    listed = rk4_trajectory(lambda x: [x[1], -x[0]], c, 1e-2, x0)
    np.testing.assert_allclose(listed[-1], [np.cos(1), -np.sin(1)], atol=1e-9)


def test_rk4_rejects_bad_fields_and_inputs():
    c = np.zeros((5, 1))
    for untraceable in (lambda v: np.asarray(v) * 2.0,             # converts its argument
                        lambda v: v if v[0] > 0 else -v):          # Python `if` on a value
        with pytest.raises(ValueError, match="field cannot be traced by JAX"):
            rk4_trajectory(untraceable, c, DT, np.array([0.1]))
    with pytest.raises(ValueError, match="field must return the state's shape"):
        rk4_trajectory(lambda v: np.ones(2) * v[0], c, DT, np.array([0.1]))
    with pytest.raises(ValueError, match="both must have the state's dimension D"):
        rk4_trajectory(bistable, np.zeros((5, 3)), DT, np.array([0.1, 0.2]))
    # x' = x^3 from x = 2 with dt = 1 s overflows within 3 steps: an error, not infs
    with pytest.raises(ValueError, match="became non-finite at step 2.*reduce dt"):
        rk4_trajectory(lambda v: v**3, np.zeros((10, 1)), 1.0, np.array([2.0]))


def test_figures_follow_the_house_style():
    from bayesnn import style
    from bayesnn.scn.dynamics.plotting import (
        plot_learning_curves, plot_phase_portraits, plot_weights_vs_closed_form,
    )

    rng = np.random.default_rng(0)
    t = np.linspace(0.1, 2.0, 20)
    figures = [
        plot_weights_vs_closed_form(rng.random((5, 5)), rng.random((5, 5)), caption="N = 5",
                                    seed=0),
        plot_phase_portraits([("2-D", t, rng.random((20, 2)), rng.random((20, 2))),
                              ("1-D", t, rng.random((20, 1)), rng.random((20, 1)))],
                             caption=style.window(0.0, 2.0, 2.0), seed=0),
        plot_learning_curves({"distance": [("a", t, 1 / t)], "error": [("a", t, 1 / t)]},
                             caption=style.window(0.0, 2.0, 2.0), seed=0),
    ]
    assert [style.audit(f) for f in figures] == [[], [], []]


def test_learning_rate_decay_follows_robbins_monro_schedule():
    # two steps from the same state: the update at step k is eta / (1 + k dt / tau)
    p = _net(learning_rate=40.0, learning_decay_time=0.01)
    s = init_dynamics_state(p)._replace(rates=np.ones(p.n_neurons))
    inp = DynamicsStepInputs(np.zeros(2), np.array([0.3, -0.2]), np.zeros(p.n_neurons))
    first, _ = dynamics_step(p, s, inp)
    later, _ = dynamics_step(p, s._replace(step=np.int32(100)), inp)
    # 100 steps of 0.1 ms = tau: the rate halves
    np.testing.assert_allclose(np.asarray(later.W), np.asarray(first.W) / 2, atol=1e-15)
    with pytest.raises(ValueError, match="learning_decay_time"):
        _net(learning_decay_time=0.0)
