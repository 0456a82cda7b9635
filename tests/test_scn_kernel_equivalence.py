"""The event-driven SCN kernel (noise-free, one spike per step: the closed form of the
spike-free steps, jumping from spike to spike; bayesnn/scn/network/eventdriven.py)
against the step-by-step kernel (same spikes, voltages to round-off) and against an
independent NumPy loop (spike for spike)."""
import importlib
import warnings

import jax
import numpy as np
import pytest

from bayesnn.core import spike_arrays, trial_keys
from bayesnn.scn import (make_network, random_decoder, simulate, simulate_trials,
                         step_inputs)
from bayesnn.scn.network.params import DriveMarginWarning

from bayesnn.scn.network import simulation as SIM
DT = 1e-4


def _net(N=40, sigma_v=0.0):
    G = random_decoder(2, N, 0.1, seed=3)
    return make_network(G, A=np.zeros((2, 2)), lambda_d=10.0, lambda_v=20.0, mu=1e-6,
                        nu=1e-5, sigma_v=sigma_v, dt=DT)


def _drive(n, phase=0.0):
    t = np.arange(n) * DT
    return 5 * np.stack([np.cos(2 * np.pi * t + phase), np.sin(2 * np.pi * t + phase)], 1)


def _both(fn, **kw):
    """(multi-step result, step-by-step result) of the same call."""
    out = []
    for flag in (True, False):
        core = SIM._simulate_core if fn is simulate else SIM._trials_core
        name = "_simulate_core" if fn is simulate else "_trials_core"
        original = getattr(SIM, name)
        setattr(SIM, name, lambda *a, _o=original, _f=flag, **k: _o(*a, multistep=_f, **k))
        try:
            out.append(fn(**kw))
        finally:
            setattr(SIM, name, original)
        assert getattr(SIM, name) is core
    return out


def _assert_identical(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# The closed form sums D + 2 products per voltage where stepping applies k successive
# updates: both round differently (measured: 3e-17 absolute on voltages of ~0.03, 1e-15
# of the scale). Float fields must agree to 1e-12 of their scale (a modelling or
# indexing error is >= 1e-9 of it); integer fields (spike senders, counts, steps) and
# the spike times ((k + 1) dt, the same expression) must be equal.
REL = 1e-12


def _assert_same_model(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        if not np.issubdtype(y.dtype, np.floating):
            np.testing.assert_array_equal(x, y)
            continue
        finite = np.isfinite(y)
        np.testing.assert_array_equal(np.isfinite(x), finite)
        np.testing.assert_array_equal(x[~finite], y[~finite])  # unused slots: inf / nan
        scale = np.max(np.abs(y[finite]), initial=0.0)
        np.testing.assert_allclose(x[finite], y[finite], rtol=0, atol=REL * scale)


@pytest.mark.parametrize("every, chosen", [(1, ()), (10, (0, 7, 39))])
def test_event_driven_equals_stepping(every, chosen):
    net = _net()
    fast, slow = _both(simulate, params=net, c=_drive(3000), key=2, record_every=every,
                       record_voltages=chosen, record_rates=chosen, x0=[0.3, -0.2])
    assert int(fast.spikes.n_events) > 30
    _assert_same_model(fast, slow)


def test_event_driven_continues_a_run_and_batches():
    """Continuation and batches agree with stepping; a trial of a batch equals the same
    run alone bit for bit (the same per-trial program)."""
    net = _net()
    first = simulate(net, _drive(1000), key=1)
    fast, slow = _both(simulate, params=net, c=_drive(1003)[3:], key=1, state0=first.final)
    _assert_same_model(fast, slow)
    c = np.stack([_drive(1500, p) for p in (0.0, 1.0, 2.0)])
    fast, slow = _both(simulate_trials, params=net, c=c, key=4, record_every=3,
                       record_voltages=(1, 2))
    _assert_same_model(fast, slow)
    one = simulate(net, c[2], key=trial_keys(4, 3)[2], record_every=3, record_voltages=(1, 2))
    _assert_identical(jax.tree_util.tree_map(lambda a: a[2], fast), one)
    # the concurrent trial loops (one per CPU core) do not change any trial's result
    args = (net, jax.numpy.asarray(c), trial_keys(4, 3), None,
            jax.tree_util.tree_map(lambda *a: jax.numpy.stack(a), *[SIM.init_state(net)] * 3))
    kw = dict(opts=SIM.SimOptions(), capacity=256, every=1, noisy=False)
    _assert_identical(SIM._trials_core(*args, **kw, lanes=1),
                      SIM._trials_core(*args, **kw, lanes=3))


def test_multistep_only_where_it_applies():
    opts = SIM.SimOptions()
    assert SIM.multistep_applies(opts, None, False)
    assert not SIM.multistep_applies(opts, None, True)                       # noise
    assert not SIM.multistep_applies(opts._replace(spike_mode="all"), None, False)
    assert not SIM.multistep_applies(opts._replace(delay_steps=2), None, False)
    assert not SIM.multistep_applies(opts._replace(refractory_steps=2), None, False)
    assert not SIM.multistep_applies(opts._replace(track_balance=True), None, False)


def _numpy_reference(net, c, offsets):
    """An independent loop of the B13 step (one spike per step, bayesnn's tie rule)."""
    G = np.asarray(net.Gamma); T = np.asarray(net.thresholds); M = np.asarray(net.slow_matrix)
    dt, lv = float(net.dt), float(net.lambda_v)
    dec, kap, cq = 1 - float(net.lambda_d) * dt, float(net.kappa), float(net.cost_quad)
    N = G.shape[1]
    V, r, xh = np.zeros(N), np.zeros(N), np.zeros(2)
    steps, senders, min_gap = [], [], np.inf
    for k in range(c.shape[0]):
        V = V + dt * (-lv * V + c[k] @ G + (M @ xh) @ G + kap * r)
        r, xh = r * dec, xh * dec
        z = V - T
        m = z.max()
        if m > 0:
            rank = (np.arange(N) - offsets[k]) % N
            i = int(np.argmin(np.where(z == m, rank, N)))
            min_gap = min(min_gap, m, m - np.sort(z)[-2])
            V = V - G[:, i] @ G
            V[i] -= cq
            r[i] += 1
            xh = xh + G[:, i]
            steps.append(k), senders.append(i)
        elif m > -1e-12:
            min_gap = min(min_gap, -m)  # a near miss: rounding could decide it
    return np.array(steps), np.array(senders), min_gap


def test_multistep_matches_an_independent_loop_spike_for_spike():
    net = _net()
    c = _drive(5000, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        run = simulate(net, c, key=9)
    offsets = np.asarray(step_inputs(net, c, key=9).offsets[:, 0])
    steps, senders, gap = _numpy_reference(net, c, offsets)
    assert gap > 1e-9  # no decision within rounding: the comparison is meaningful
    times, got, _ = spike_arrays(run.spikes)
    assert len(steps) > 50
    np.testing.assert_array_equal(np.rint(times / DT).astype(int) - 1, steps)
    np.testing.assert_array_equal(got, senders)
