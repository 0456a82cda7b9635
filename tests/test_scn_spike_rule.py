"""The SCN spike rule on decoders without ties, against an independent pick (failure
kinds, "choices that ties hide": with the +/- decoders of the other SCN tests every
neuron of one sign is identical, so which neuron fires was never tested).

Reference: a NumPy loop of the B13 autoencoder written from the equations of
:mod:`bayesnn.scn.network.params` (``A = -lambda I``, ``lambda_V = lambda_d = lambda``, so the
slow weights and kappa vanish): per step ``V <- V + dt (-lambda V + Gamma^T c_k)``, the
traces decay, and in ``"one"`` mode the neuron with the largest ``V_i - T_i > 0`` fires
(``numpy.argmax``), ``V <- V - Omega_f[:, i]``, ``Omega_f = Gamma^T Gamma + mu lambda^2 I``,
``T_i = (||Gamma_i||^2 + nu lambda + mu lambda^2) / 2``. No noise, so the run is
deterministic; the smallest gap between the two largest candidates is checked to be far
above rounding, so agreement is not luck.
"""
from __future__ import annotations

import warnings

import numpy as np

from bayesnn.core import spike_arrays
from bayesnn.scn import DriveMarginWarning, make_autoencoder, random_decoder, simulate
from bayesnn.scn.network.targets import autoencoder_input

DT, LAM, MU, NU = 1e-4, 10.0, 1e-5, 1e-4


def _reference_one(Gamma, c, x0):
    n_dims, n_neurons = Gamma.shape
    omega = Gamma.T @ Gamma + MU * LAM ** 2 * np.eye(n_neurons)
    thresholds = 0.5 * (np.sum(Gamma ** 2, axis=0) + NU * LAM + MU * LAM ** 2)
    V = Gamma.T @ x0
    fired, runner_up_gap, contested = [], np.inf, 0
    for k in range(c.shape[0]):
        V = V + DT * (-LAM * V + Gamma.T @ c[k])
        z = V - thresholds
        order = np.argsort(z)[::-1]
        if z[order[0]] > 0:
            i = int(order[0])
            runner_up_gap = min(runner_up_gap, z[order[0]] - z[order[1]])
            contested += int(z[order[1]] > 0)  # another neuron was also above threshold
            fired.append((k, i))
            V = V - omega[:, i]
    return fired, runner_up_gap, contested


def test_one_mode_fires_the_independently_picked_neuron():
    Gamma = random_decoder(2, 12, 0.2, seed=11)
    distance = np.linalg.norm(Gamma[:, :, None] - Gamma[:, None, :], axis=0)
    assert np.min(distance[np.triu_indices(12, 1)]) > 1e-3  # no two neurons alike
    n_steps = 10000
    t = np.arange(n_steps + 1) * DT
    x = np.stack([np.sin(2 * np.pi * 2 * t), 0.5 * np.cos(2 * np.pi * 3 * t)], 1)
    c = autoencoder_input(x, DT, LAM)
    net = make_autoencoder(Gamma, LAM, mu=MU, nu=NU, sigma_v=0.0, dt=DT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        run = simulate(net, c, key=0, x0=x[0], spike_mode="one")
    times, senders, _ = spike_arrays(run.spikes)
    steps = np.rint(times / DT).astype(int) - 1  # event time (k + 1) dt
    fired, gap, contested = _reference_one(Gamma, c, x[0])
    assert contested >= 5  # steps where the rule had to choose among candidates
    assert len(fired) > 80 and len(set(i for _, i in fired)) > 4  # many neurons take turns
    # Rounding basis: V is O(0.1) and carries ~1e-15 of rounding; a pick can only flip
    # when the two best candidates are that close.
    assert gap > 1e-9
    np.testing.assert_array_equal(np.stack([steps, senders], 1), np.array(fired))
