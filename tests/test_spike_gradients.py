"""Surrogate gradients on the hard spiking networks and EventProp (issue 19): forward
passes bit-identical to the library's steps, exact spike times, EventProp against
finite differences, the stop rule and bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.scn import autoencoder_input, make_autoencoder, random_decoder, simulate
from bayesnn.scn.learning.signals import SmoothedNoise, smoothed_noise
from bayesnn.scn.learning.plasticity import (LearningState, brendel_fig2_params, brendel_fig2_weights,
                                    plastic_step)
from bayesnn.spike_gradients import (EventLIF, LIFNet, brendel_surrogate_loss,
                                     brendel_surrogate_run, fast_sigmoid_grad, fit,
                                     gradient_check, layer_forward, lif_run, network_grad,
                                     scn_surrogate_loss, scn_surrogate_run, spike,
                                     surrogate_zero)
from bayesnn.spike_gradients.eventprop import kappa
from bayesnn.spike_gradients.scn_surrogate import brendel_inputs


@pytest.fixture(scope="module")
def b13():
    G = random_decoder(2, 10, norm=0.1, seed=0)
    p = make_autoencoder(G, lambda_=10.0, mu=1e-6, sigma_v=1e-3, dt=1e-4)
    t = np.arange(401) * 1e-4
    x = np.stack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 2 * t)], 1)
    return p, autoencoder_input(x, 1e-4, 10.0)


@pytest.fixture(scope="module")
def brendel():
    P = brendel_fig2_params()
    F0, Om0 = brendel_fig2_weights(2, 20, key=0)
    return P, {"F": F0, "Omega": Om0, "D": 0.1 * F0}, smoothed_noise(SmoothedNoise(2), 200, key=3)


def test_surrogate_function_forward_is_heaviside_and_derivative_has_unit_area():
    z = jnp.linspace(-2.0, 2.0, 9)
    assert np.array_equal(np.asarray(spike(z, 0.1)), (np.asarray(z) > 0).astype(float))
    assert np.all(np.asarray(surrogate_zero(z, 0.1)) == 0.0)
    g = jax.vmap(jax.grad(lambda u: spike(u, 0.1)))(z)
    assert np.allclose(g, fast_sigmoid_grad(z, 0.1), rtol=0, atol=0)
    g0 = jax.vmap(jax.grad(lambda u: surrogate_zero(u, 0.1)))(z)
    assert np.array_equal(np.asarray(g0), np.asarray(g))
    # int sigma' = 1 (adaptive quadrature of each half to 1e-12; the tails beyond 1e4 w
    # hold 1 / (1 + 1e4) of the area)
    from scipy.integrate import quad
    half = quad(lambda u: float(fast_sigmoid_grad(u, 0.1)), 0.0, 1e3, epsabs=1e-13, limit=200)[0]
    assert abs(2 * half - (1 - 1 / (1 + 1e4))) < 1e-9


def test_b13_surrogate_forward_is_simulate_bit_for_bit(b13):
    p, c = b13
    ref = simulate(p, c, key=3)
    run = scn_surrogate_run(p, c, key=3, width=0.05, checkpoint_every=100)
    assert np.array_equal(np.asarray(ref.readout), np.asarray(run.readout))
    assert int(np.sum(run.spikes)) == int(np.sum(np.asarray(ref.spike_counts)))
    assert np.array_equal(np.sum(np.asarray(run.spikes), 0), np.asarray(ref.spike_counts))


def test_brendel_surrogate_forward_is_plastic_step_bit_for_bit(brendel):
    P, w, c = brendel
    run = brendel_surrogate_run(P, w, c, key=5, width=0.1, checkpoint_every=50)
    st = LearningState(V=jnp.zeros(20), rates=jnp.zeros(20), x=jnp.zeros(2),
                       F=jnp.asarray(w["F"]), OmegaT=jnp.asarray(w["Omega"].T),
                       step=jnp.zeros((), jnp.int32))
    _, rec = jax.jit(lambda s, i: jax.lax.scan(
        lambda a, b: plastic_step(P, a, b, plastic=False), s, i))(st, brendel_inputs(P, c, 20, key=5))
    s = np.zeros((200, 20))
    s[np.arange(200), np.asarray(rec.sender)] = np.asarray(rec.fired)
    assert np.array_equal(s, np.asarray(run.spikes)) and s.sum() > 50


def test_checkpointing_leaves_the_gradient_unchanged_and_a_key_fixes_it(b13):
    p, c = b13
    loss, p0 = scn_surrogate_loss(p, c, key=3, width=0.05, checkpoint_every=50)
    plain, _ = scn_surrogate_loss(p, c, key=3, width=0.05, checkpoint_every=400)
    g1 = np.asarray(jax.jit(jax.grad(loss))(p0).Gamma)
    g2 = np.asarray(jax.jit(jax.grad(plain))(p0).Gamma)
    # same arithmetic recomputed; only float64 reassociation can differ (conftest floor)
    assert np.max(np.abs(g1 - g2)) <= 1e-13 * np.max(np.abs(g1)) and np.any(g1 != 0)
    g3 = np.asarray(jax.jit(jax.grad(loss))(p0).Gamma)
    assert np.array_equal(g1, g3)


def test_eventprop_spike_time_is_the_exact_threshold_crossing():
    # one input of weight w at t = 0: V(t) = w kappa(t); crossing by bisection on the
    # closed form (independent path) to 1e-15 s
    p = EventLIF(theta=1.0)
    w = 5.0
    out = layer_forward(np.array([[w]]), np.array([[0.0]]), np.array([[0]]), p)
    t = out.times[0, 0, 0]
    lo, hi = 0.0, p.tau_mem * np.log(2)      # kappa rises until tau ln 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if w * kappa(mid, p.tau_mem) < 1.0 else (lo, mid)
    assert abs(t - lo) < 1e-15 and np.isfinite(out.times[0, 0]).sum() == 1


def _net(seed=0):
    rng = np.random.default_rng(seed)
    B, Nin, Nh, No = 3, 10, 6, 3
    t_in = rng.uniform(0, 20e-3, (B, Nin))
    src = np.tile(np.arange(Nin), (B, 1))
    return ([rng.normal(0.6, 0.6, (Nh, Nin)), rng.normal(1.0, 0.8, (No, Nh))], t_in, src,
            rng.integers(0, No, B))


def test_eventprop_matches_central_differences():
    ws, t_in, src, y = _net()
    check = gradient_check(ws, t_in, src, y, EventLIF(), n_directions=4)
    # h = 1e-5: truncation O(h^2) and rounding O(eps/h) both ~1e-10 relative; measured ~1e-9
    assert check["n_valid"] >= 3 and check["max_rel_error"] <= 1e-6
    assert sum(check["spike_counts"]) > 10


def test_silent_neuron_gives_zero_gradient_not_nan():
    ws, t_in, src, y = _net()
    ws[0][0] = -1.0
    _, g, outs = network_grad(ws, t_in, src, y, EventLIF())
    assert not np.isfinite(outs[0].times[:, 0]).any()
    assert all(np.all(np.isfinite(a)) for a in g)
    assert np.all(g[0][0] == 0) and np.all(g[1][:, 0] == 0)


def test_lif_forward_equals_a_numpy_reference():
    rng = np.random.default_rng(1)
    p = LIFNet(n_steps=40, checkpoint_every=10)
    W = [rng.normal(0.5, 0.5, (5, 8)), rng.normal(1.0, 0.5, (3, 5))]
    s_in = (rng.uniform(size=(2, 40, 8)) < 0.1).astype(float)
    out = lif_run([jnp.asarray(a) for a in W], jnp.asarray(s_in), p)
    y = np.exp(-p.dt / p.tau_mem)
    x = s_in
    for l, Wl in enumerate(W):
        V = np.zeros((2, Wl.shape[0]))
        I = np.zeros_like(V)
        s = np.zeros((2, 40, Wl.shape[0]))
        for k in range(40):
            I = I + x[:, k] @ Wl.T
            V, I = (V + I) * y - I * y * y, I * y * y
            s[:, k] = V > p.theta
            V = np.where(s[:, k] > 0, 0.0, V)
        assert np.array_equal(s, np.asarray(out[l]))
        x = s
    assert np.asarray(out[0]).sum() > 0
    # the memory-flat first-spike path (inputs made in the scan, sum carried) agrees
    from bayesnn.spike_gradients import first_spike_times, lif_first_spike_times
    k_in = np.full((2, 8), -1)
    b, k, j = np.nonzero(s_in)
    k_in[b, j] = k                      # last spike of each input (< 10 % have two)
    one = np.zeros_like(s_in)
    b2, j2 = np.nonzero(k_in >= 0)
    one[b2, k_in[b2, j2], j2] = 1.0
    ref = first_spike_times(lif_run([jnp.asarray(a) for a in W], jnp.asarray(one), p)[-1], p.dt)
    got = lif_first_spike_times([jnp.asarray(a) for a in W], jnp.asarray(k_in), p)
    assert np.array_equal(np.asarray(ref), np.asarray(got))


def test_fit_stops_at_a_non_finite_loss_with_the_last_finite_weights():
    # sqrt(1 - a^2) is NaN once |a| > 1: a large step gets there
    res = fit(lambda w, i: jnp.sum(jnp.sqrt(1.0 - w["a"] ** 2)), {"a": jnp.array([0.5])},
              n_iterations=50, learning_rate=0.3)
    assert res.stopped and res.stop_iteration >= 1
    assert np.all(np.isfinite(np.asarray(res.weights["a"])))
    assert np.abs(np.asarray(res.weights["a"])).max() <= 1.0   # its loss was finite
    with pytest.raises(ValueError, match="initial"):
        fit(lambda w, i: jnp.sum(jnp.sqrt(1.0 - w["a"] ** 2)), {"a": jnp.array([2.0])},
            n_iterations=2)


def test_bad_input(b13, brendel):
    p, c = b13
    P, w, cb = brendel
    with pytest.raises(ValueError, match="width"):
        scn_surrogate_run(p, c, width=0.0)
    with pytest.raises(ValueError, match="width"):
        brendel_surrogate_run(P, w, cb, width=-1.0)
    with pytest.raises(ValueError, match="window"):
        scn_surrogate_loss(p, c, window=(100, 1000))
    with pytest.raises(ValueError, match="window"):
        brendel_surrogate_loss(P, w, cb, window=(-1, 10))
    with pytest.raises(ValueError, match="finite"):
        brendel_surrogate_run(P, {**w, "D": np.full_like(w["D"], np.nan)}, cb)
    with pytest.raises(ValueError, match="finite"):
        scn_surrogate_run(p.replace(Gamma=np.full_like(np.asarray(p.Gamma), np.nan)), c)
    with pytest.raises(ValueError, match="train"):
        brendel_surrogate_loss(P, w, cb, train=())
    with pytest.raises(ValueError, match="trainable"):
        fit(lambda w, i: 0.0, {}, n_iterations=1)
    with pytest.raises(ValueError, match="checkpoint_every"):
        scn_surrogate_run(p, c, checkpoint_every=7)
    with pytest.raises(ValueError, match="theta"):
        network_grad(*_net()[:3], _net()[3], EventLIF(theta=0.0))
    ws, t_in, src, y = _net()
    with pytest.raises(ValueError, match="weights"):
        network_grad([ws[0] * np.nan, ws[1]], t_in, src, y, EventLIF())
    with pytest.raises(ValueError, match="t_in"):
        network_grad(ws, t_in * np.nan, src, y, EventLIF())


def test_figures_follow_the_house_style():
    from bayesnn import style
    from bayesnn.spike_gradients.plotting import plot_gradients, plot_transfer

    names = ["random", "gate_1", "surrogate", "local", "optimal_local"]
    transfer = {"error": dict(zip(names, [0.08, 0.075, 0.026, 0.0034, 0.0034])),
                "surrogate_loss": list(np.geomspace(0.4, 0.04, 20)),
                "settings": {"n_neurons": 20, "iterations": 20, "width": 0.1}}
    check = {"finite_difference": np.array([0.1, -0.2, 0.3]),
             "eventprop": np.array([0.1, -0.2, 0.3]), "max_rel_error": 1e-9}
    digits = {"accuracy": {"logistic": 0.97, "surrogate": 0.85, "eventprop": 0.56}}
    for fig in (plot_transfer(transfer, seed=0), plot_gradients(check, digits, seed=0)):
        assert style.audit(fig) == []
