r"""Error bound of the spiking Kalman filter: box radius and error amplification.

With ``mu = 0`` (no quadratic cost) and ``sigma_v = 0`` the B13 voltage stays
``V = Gamma^T delta`` for a unique ``delta`` (Gamma has rank D), and one network step
(:func:`bayesnn.scn.network.functional.step`) gives exactly::

    x'_k = x_hat_k + delta_k,
    x'_{k+1} = x'_k + dt (A_net x'_k + c_k - B delta_k),      B = A_net + lambda_V I.

So ``e_k = x'_k - x_k`` obeys ``e_{k+1} = (I + dt A_net) e_k - dt B delta_k`` with
``e_0 = 0`` when ``x_hat_0 = 0`` and ``V_0 = Gamma^T x_0``, and::

    x_hat_k - mu_k = -delta_k - dt sum_{j<k} (I + dt A_net)^{k-1-j} B delta_j
    ||x_hat_k - mu_k|| <= rho (1 + dt sum_{m>=0} ||(I + dt A_net)^m B||_2) = rho * amplification

with ``rho = max ||delta||`` over the box polytope ``{delta: Gamma_i^T delta <= T_i}``
(:func:`box_radius`). In the "greedy" spike mode every ``V_i <= T_i`` after every step
unless the per-step cap is hit (``n_cap_hits``), so ``delta_k`` is in the box at every
recorded step and the bound is rigorous. With ``lambda_V = -trace(A_net) / D`` (the
scalar minimising ``||B||_F``) the 1-D amplification is exactly 1 and the bound is the
box half-width ``max_i T_i / |Gamma_i|``; in 2-D the rotational part of ``A_net`` cannot
be cancelled and :func:`error_amplification` sums the series exactly (with a rigorous
geometric tail). References: Boerlin et al. 2013 (the network and its bounding box);
the target is the steady-state Kalman-Bucy filter (Kalman & Bucy 1961) put into that
network as its linear system.
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import scipy.spatial

from bayesnn.core.validation import (
    as_array,
    require_nonnegative,
    require_positive,
    require_shape,
    require_square,
)

__all__ = ["KalmanBound", "box_radius", "error_amplification", "error_bound", "ROUNDOFF"]

ROUNDOFF = 1e-9  # absolute slack on the box bound for float64 round-off ([z]; errors ~1e-13)


class KalmanBound(NamedTuple):
    """The bound on ``||x_hat - mu_K||`` of a spiking Kalman filter ([z]).

    Fields:
        box_radius: max ||delta|| over the box polytope.
        amplification: :func:`error_amplification` of (A_net, lambda_v, dt), >= 1.
        error_bound: box_radius * amplification.
        rigorous: True when mu == 0 and sigma_v == 0 (it then holds at every step of a
            greedy run without cap hits).
    """

    box_radius: float
    amplification: float
    error_bound: float
    rigorous: bool


def error_bound(params) -> KalmanBound:
    """:class:`KalmanBound` of a :class:`bayesnn.posteriors.kalman.SpikingKalmanParams`."""
    net = params.network
    rho = box_radius(np.asarray(net.Gamma), np.asarray(net.thresholds))
    amp = error_amplification(np.asarray(net.A), float(net.lambda_v), float(net.dt))
    rigorous = float(net.mu) == 0.0 and float(net.sigma_v) == 0.0
    return KalmanBound(rho, amp, rho * amp, rigorous)


def box_radius(Gamma, thresholds) -> float:
    """Largest ``||delta||_2`` over the box polytope ``{delta: Gamma_i^T delta <= T_i}``.

    Exact: the maximum of a convex function over a bounded polytope is attained at a
    vertex; vertices are enumerated from D-subsets of the faces (D = 1: ``T_i/Gamma_i``;
    D = 2: pairwise intersections, O(N^3)). For ``N`` evenly spaced 2-D kernels of norm
    g and equal T this is ``(T / g) / cos(pi / N)``.

    Args:
        Gamma: (D, N) decoder.
        thresholds: (N,) T_i > 0.

    Raises:
        ValueError: if the kernels do not positively span R^D (the box is unbounded)
            or there are too many vertex candidates (> 2e6 D-subsets).
    """
    G = as_array("Gamma", Gamma, ndim=2)
    D, N = G.shape
    T = require_shape("thresholds", require_positive("thresholds", thresholds, ndim=1), (N,))
    if D == 1:
        g = G[0]
        if not (np.any(g > 0) and np.any(g < 0)):
            raise ValueError("Gamma must contain kernels of both signs (unbounded box)")
        return float(max(np.min(T[g > 0] / g[g > 0]), np.min(T[g < 0] / -g[g < 0])))
    if N <= D:
        raise ValueError(f"Gamma needs more than D = {D} kernels for a bounded box, got N = {N}")
    hull = scipy.spatial.ConvexHull(G.T)  # 0 strictly inside conv(Gamma) <=> box bounded
    if np.any(hull.equations[:, -1] >= -1e-12):
        raise ValueError("Gamma kernels must positively span R^D (0 inside their convex hull); "
                         "the box is unbounded")
    if math.comb(N, D) > 2_000_000:
        raise ValueError(f"box_radius: too many vertex candidates C({N}, {D})")
    tol = 1e-9 * float(np.max(T))
    if D == 2:  # all pairwise face intersections at once (Cramer's rule)
        i, j = np.triu_indices(N, 1)
        det = G[0, i] * G[1, j] - G[1, i] * G[0, j]
        ok = np.abs(det) > 1e-12 * np.linalg.norm(G[:, i], axis=0) * np.linalg.norm(G[:, j], axis=0)
        i, j, det = i[ok], j[ok], det[ok]
        verts = np.stack([(T[i] * G[1, j] - T[j] * G[1, i]) / det,
                          (G[0, i] * T[j] - G[0, j] * T[i]) / det], axis=1)
        feasible = np.all(verts @ G <= T + tol, axis=1)
        return float(np.max(np.linalg.norm(verts[feasible], axis=1)))
    best = 0.0
    for idx in itertools.combinations(range(N), D):
        sub = G[:, idx].T
        if abs(np.linalg.det(sub)) < 1e-12 * float(np.prod(np.linalg.norm(sub, axis=1))):
            continue
        vertex = np.linalg.solve(sub, T[list(idx)])
        if np.all(G.T @ vertex <= T + tol):
            best = max(best, float(np.linalg.norm(vertex)))
    return best


def error_amplification(A_net, lambda_v: float, dt: float) -> float:
    """``1 + dt sum_{m>=0} ||(I + dt A_net)^m (A_net + lambda_v I)||_2`` (module docstring).

    Summed in blocks of L steps (L dt ~ 1 / min|Re eig|) with the rigorous tail bound
    ``block_sum * r / (1 - r)``, ``r = ||(I + dt A_net)^L||_2 < 1``; stops when the tail is
    below 1e-9 of the sum. Equals 1 exactly when ``A_net = -lambda_v I``.
    """
    A = require_square("A_net", A_net)
    lam = float(require_nonnegative("lambda_v", lambda_v, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    D = A.shape[0]
    B = A + lam * np.eye(D)
    if np.max(np.abs(B)) == 0:
        return 1.0
    Phi = np.eye(D) + dt * A
    rate = -float(np.max(np.real(np.log(np.linalg.eigvals(Phi).astype(complex))))) / dt
    if not rate > 0:
        raise ValueError("A_net must be stable (spectral radius of I + dt A_net < 1)")
    L = max(64, int(math.ceil(1.0 / (rate * dt))))
    while np.linalg.norm(np.linalg.matrix_power(Phi, L), 2) >= 0.9:
        L *= 2
        if L * rate * dt > 1e3:
            raise ValueError("error_amplification: (I + dt A_net)^L does not contract")
    PL = np.linalg.matrix_power(Phi, L)
    r = float(np.linalg.norm(PL, 2))
    block = np.empty((L, D, D))
    X = B.copy()
    for j in range(L):
        block[j] = X
        X = Phi @ X
    total = 0.0
    for _ in range(100_000):
        s = float(np.sum(np.linalg.norm(block, 2, axis=(1, 2))))
        total += s
        tail = s * r / (1 - r)
        if tail <= 1e-9 * total:
            return 1.0 + dt * (total + tail)
        block = np.einsum("ij,mjk->mik", PL, block)
    return 1.0 + dt * (total + tail)  # pragma: no cover - series converges geometrically
