"""Reduced reproductions of Bourdoukan & Denève 2015 and Alemi et al. 2018, shared by
the validation scenario, the papers/ scripts, the notebook and the benchmark.

- :func:`linear_experiment`: learn ``dx/dt = A x + c`` from zero slow weights, then run
  the network autonomously (feedback and learning off) from a kick and compare with
  the exact solution (:func:`bayesnn.scn.lds_exact`) beside the hand-set B13 network
  (:func:`bayesnn.scn.simulate` on :func:`bayesnn.scn.make_network`, same Gamma).
- :func:`nonlinear_experiment`: learn a nonlinear field with bump dendritic features,
  measure the vector-field error on a grid and the autonomous limit cycle / wells.
- :func:`knockout_experiment`: silence a fraction of the neurons of a learned network
  (linear target) and compare the autonomous error before and after with a
  non-spiking rate network of the same size trained by least squares, then let
  learning continue with the knock-out in place.
"""
from __future__ import annotations

import numpy as np

from bayesnn.scn import lds_exact, make_network, make_perturbations, random_decoder, target_at
from bayesnn.scn import simulate as scn_simulate
from bayesnn.scn.dynamics.params import (
    bump_features, bump_values, closed_form_slow_weights, learned_field, make_dynamics_network,
)
from bayesnn.scn.dynamics.run import learn, simulate
from bayesnn.scn.dynamics.systems import (
    bistable, exploration_input, field_error, limit_cycle_stats, rk4_trajectory, van_der_pol,
)

__all__ = ["DAMPED_OSCILLATOR", "SYSTEM_3D", "linear_experiment", "nonlinear_experiment",
           "knockout_experiment", "kick_input", "visited"]

# B13 Fig. 6B damped oscillator (secondary source; bayesnn.scn.network.targets) and a 3-D system
# (a damped rotation in the x1-x2 plane coupled to a slower decaying third mode).
DAMPED_OSCILLATOR = np.array([[-4.8, -22.4], [40.0, 0.0]])
SYSTEM_3D = np.array([[-2.0, -15.0, 0.0], [15.0, -2.0, 3.0], [0.0, -3.0, -4.0]])


def kick_input(n_steps: int, dt: float, n_dims: int, *, value: float = 60.0,
               width: float = 0.05) -> np.ndarray:
    """A kick along every dimension for ``width`` s at the start, then nothing (the
    autonomous test input)."""
    c = np.zeros((n_steps, n_dims))
    c[: int(round(width / dt))] = value / np.sqrt(n_dims)
    return c


def visited(grid, x, axes, min_fraction: float = 1e-3, counts: bool = False) -> np.ndarray:
    """Mask of the grid points whose cell (centred on the point, one grid spacing wide)
    holds at least ``min_fraction`` of the teacher's samples (1e-3: 40 ms of a 40 s
    run): the vector-field error is measured where the teacher went, since no local
    rule can learn the field where the state never is. ``counts``: return each point's
    sample count instead (the occupancy weights of the weighted field error)."""
    edges = [np.concatenate([a[:1] - (a[1] - a[0]) / 2, (a[:-1] + a[1:]) / 2,
                             a[-1:] + (a[-1] - a[-2]) / 2]) for a in axes]
    hist, _ = np.histogramdd(np.asarray(x), bins=edges)
    idx = [np.clip(np.searchsorted(e, grid[:, d]) - 1, 0, len(e) - 2)
           for d, e in enumerate(edges)]
    per_point = hist[tuple(idx)]
    return per_point if counts else per_point >= min_fraction * len(x)


def _rms(a) -> float:
    return float(np.sqrt(np.mean(np.sum(np.asarray(a)**2, -1))))


def linear_experiment(A=DAMPED_OSCILLATOR, *, n_neurons: int = 20, gamma_norm: float = 0.2,
                      duration: float = 40.0, test_duration: float = 2.0, dt: float = 1e-4,
                      feedback_gain: float = 10.0, learning_rate: float = 10.0,
                      amplitude: float = 30.0, record_every: int = 1000, seed: int = 0) -> dict:
    """Learn A from zero weights; return the learning record, distances and the
    autonomous errors (RMS ``|x_hat - x|`` over the test, relative to RMS ``|x|``) of
    the learned and the hand-set networks, both against :func:`lds_exact`."""
    A = np.asarray(A, float)
    D = A.shape[0]
    G = random_decoder(D, n_neurons, gamma_norm, seed=seed)
    p = make_dynamics_network(G, A, dt=dt, feedback_gain=feedback_gain,
                              learning_rate=learning_rate)
    n = int(round(duration / dt))
    c = exploration_input(n, dt, D, amplitude=amplitude, seed=seed + 1)
    x = lds_exact(A, c, dt)
    res = learn(p, c, x, key=seed, record_every=record_every)
    W_star = closed_form_slow_weights(p)
    nt = int(round(test_duration / dt))
    ct = kick_input(nt, dt, D)
    xt = lds_exact(A, ct, dt)
    aut = simulate(p, ct, x=xt, W=res.W, key=seed + 7, record_every=10)
    hand = scn_simulate(make_network(G, A, lambda_d=float(p.lambda_d), lambda_v=0.0,
                                     mu=float(p.mu), dt=dt), ct, key=seed + 7, x0=xt[0])
    x_ref = target_at(hand, xt)
    scale = _rms(xt)
    return {
        "params": p, "learning": res, "W_star": W_star, "autonomous": aut,
        "distance": float(np.asarray(res.weight_distance)[-1]),
        "autonomous_error": _rms(np.asarray(aut.readout) - np.asarray(aut.target)) / scale,
        "handset_error": _rms(np.asarray(hand.readout) - x_ref) / scale,
        "handset": hand, "handset_target": x_ref, "test_target": xt,
        "max_abs_readout": float(np.max(np.abs(np.asarray(aut.readout)))),
    }


def nonlinear_experiment(system: str = "van_der_pol", *, n_neurons: int = 50,
                         n_per_dim: int = 8, gamma_norm: float = 0.1, duration: float = 40.0,
                         test_duration: float = 4.0, dt: float = 1e-4, feedback_gain: float = 10.0,
                         learning_rate: float = 10.0, amplitude: float = 5.0,
                         record_every: int = 1000, seed: int = 0,
                         learning_decay_time: float = float("inf")) -> dict:
    """Learn ``van_der_pol`` (2-D) or ``bistable`` (1-D) with bump dendritic features;
    grid vector-field error, least-squares best error of the same features, and the
    autonomous run (limit cycle period/amplitude, or the well reached)."""
    if system == "van_der_pol":
        field, D, box, x0 = van_der_pol, 2, np.array([3.0, 4.0]), np.array([2.0, 0.0])
        axes = [np.linspace(-2.5, 2.5, 21), np.linspace(-3.0, 3.0, 21)]
    elif system == "bistable":
        field, D, box, x0 = bistable, 1, np.array([1.6]), np.array([0.3])
        axes = [np.linspace(-1.5, 1.5, 61)]
    else:
        raise ValueError(f"system must be 'van_der_pol' or 'bistable', got {system!r}")
    G = random_decoder(D, n_neurons, gamma_norm, seed=seed)
    centres, widths = bump_features(box, n_per_dim)
    p = make_dynamics_network(G, None, dt=dt, feedback_gain=feedback_gain,
                              learning_rate=learning_rate, features=(centres, widths),
                              learning_decay_time=learning_decay_time)
    n = int(round(duration / dt))
    c = exploration_input(n, dt, D, amplitude=amplitude, seed=seed + 3)
    x = rk4_trajectory(field, c, dt, x0)
    res = learn(p, c, x, key=seed, record_every=record_every)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, D)
    n_grid = grid.shape[0]
    occupancy = visited(grid, x, axes, min_fraction=0.0, counts=True)
    grid = grid[visited(grid, x, axes)]
    occupancy = occupancy[visited(np.stack(np.meshgrid(*axes, indexing="ij"), -1)
                                  .reshape(-1, D), x, axes)]
    f_true = field(grid)
    f_hat = learned_field(p, res.W, grid)
    phi = np.concatenate([grid, bump_values(centres, widths, grid)], 1)
    best = phi @ np.linalg.lstsq(phi, f_true, rcond=None)[0]
    nt = int(round(test_duration / dt))
    ct = np.zeros((nt, D))
    xt = rk4_trajectory(field, ct, dt, x0)
    aut = simulate(p, ct, x=xt, W=res.W, key=seed + 7, record_every=10)
    out = {"params": p, "learning": res, "grid": grid, "grid_fraction": grid.shape[0] / n_grid,
           "f_true": f_true, "f_hat": f_hat,
           "field_error": field_error(f_hat, f_true), "best_field_error": field_error(best, f_true),
           "weighted_field_error": field_error(f_hat * np.sqrt(occupancy)[:, None],
                                               f_true * np.sqrt(occupancy)[:, None]),
           "autonomous": aut, "system": system}
    if system == "van_der_pol":
        skip = test_duration / 2
        out["period"], out["amplitude"] = limit_cycle_stats(aut.times, aut.readout, skip=skip)
        out["true_period"], out["true_amplitude"] = limit_cycle_stats(aut.times, aut.target,
                                                                      skip=skip)
    else:
        out["final_state"] = float(np.asarray(aut.readout)[-1, 0])
    return out


def _rate_network_error(G, A, lambda_d, x, c, ct, xt, dt, alive):
    """Non-spiking reference of the same size: rates ``r = max(0, ...)`` are replaced by
    the linear rate network ``dr/dt = -lambda_d r + W r + Gamma^+ c`` with W fitted by
    least squares to the teacher's rates (``r = Gamma^+ x``, minimum-norm decoding), so
    ``Gamma r`` follows ``A Gamma r + c``; knocked-out units are held at zero."""
    Gp = np.linalg.pinv(G)
    R = x @ Gp.T                                           # (T+1, N) teacher rates
    dR = (R[1:] - R[:-1]) / dt - (c @ Gp.T) + lambda_d * R[:-1]
    W = np.linalg.lstsq(R[:-1], dR, rcond=None)[0].T       # (N, N) least squares
    r = Gp @ xt[0]
    out = np.empty((ct.shape[0], G.shape[0]))
    for k in range(ct.shape[0]):
        r = r + dt * (-lambda_d * r + W @ r + Gp @ ct[k])
        r = r * alive
        out[k] = G @ r
    return _rms(out - xt[1:]) / _rms(xt)


def knockout_experiment(lin: dict, *, fraction: float = 0.25, repair_duration: float = 20.0,
                        amplitude: float = 30.0, seed: int = 0) -> dict:
    """Knock out ``fraction`` of the neurons of a learned linear network (``lin`` from
    :func:`linear_experiment`): autonomous error before / after, the least-squares rate
    network's error before / after, then ``repair_duration`` s of continued learning
    with the knock-out in place and the error after repair."""
    p, W = lin["params"], lin["learning"].W
    A, dt = np.asarray(p.A), float(p.dt)
    N, D = p.n_neurons, p.n_dims
    dead = np.random.default_rng(seed + 11).choice(N, int(round(fraction * N)), replace=False)
    pert = make_perturbations(p, silence=dead)
    xt, ct = lin["test_target"], None
    nt = xt.shape[0] - 1
    ct = kick_input(nt, dt, D)
    scale = _rms(xt)
    after = simulate(p, ct, x=xt, W=W, key=seed + 7, record_every=10, perturbations=pert)
    err_after = _rms(np.asarray(after.readout) - np.asarray(after.target)) / scale
    n = int(round(repair_duration / dt))
    c = exploration_input(n, dt, D, amplitude=amplitude, seed=seed + 21)
    x = lds_exact(A, c, dt)
    repair = learn(p, c, x, W=W, key=seed + 3, record_every=1000, perturbations=pert)
    fixed = simulate(p, ct, x=xt, W=repair.W, key=seed + 7, record_every=10, perturbations=pert)
    err_fixed = _rms(np.asarray(fixed.readout) - np.asarray(fixed.target)) / scale
    G = np.asarray(p.Gamma)
    alive = np.ones(N)
    alive[dead] = 0
    nfit = min(x.shape[0] - 1, int(round(5.0 / dt)))
    rate_before = _rate_network_error(G, A, float(p.lambda_d), x[: nfit + 1], c[:nfit], ct, xt,
                                      dt, np.ones(N))
    rate_after = _rate_network_error(G, A, float(p.lambda_d), x[: nfit + 1], c[:nfit], ct, xt,
                                     dt, alive)
    return {"dead": dead, "error_before": lin["autonomous_error"], "error_after": err_after,
            "error_repaired": err_fixed, "rate_error_before": rate_before,
            "rate_error_after": rate_after, "after": after, "repaired": fixed,
            "repair_learning": repair}
