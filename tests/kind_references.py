"""Independent references for tests/test_failure_kinds.py (written from the math, sharing
no code with bayesnn): the Van Loan integral in 60-digit arithmetic, and the linear-
Gaussian posterior by conditioning the joint Gaussian of all states and observations."""
from __future__ import annotations

import mpmath
import numpy as np


def discretized_noise_mp(A, sigma, dt, digits: int = 60) -> np.ndarray:
    """``Q = int_0^dt e^{As} Sigma e^{A^T s} ds`` through the eigen-decomposition
    ``A = V diag(l) V^-1`` in ``digits``-digit arithmetic (A diagonalisable):
    ``Q = V [S_ij (e^{(l_i + l_j) dt} - 1) / (l_i + l_j)] V^T``, ``S = V^-1 Sigma V^-T``.
    Only decaying exponentials appear, and expm1 carries no cancellation."""
    with mpmath.workdps(digits):
        a = mpmath.matrix(np.asarray(A, float).tolist())
        s = mpmath.matrix(np.asarray(sigma, float).tolist())
        eigenvalues, vectors = mpmath.eig(a)
        inverse = mpmath.inverse(vectors)
        rotated = inverse * s * inverse.T
        n = a.rows
        kernel = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                rate = eigenvalues[i] + eigenvalues[j]
                factor = mpmath.mpf(dt) if rate == 0 else mpmath.expm1(rate * dt) / rate
                kernel[i, j] = rotated[i, j] * factor
        q = vectors * kernel * vectors.T
        return np.array([[float(mpmath.re(q[i, j])) for j in range(n)] for i in range(n)])


def lgssm_joint_posterior(A, Q, C, R, m0, P0, ys):
    """Smoothed means (T, D) and covariances (T, D, D) of ``x_1..x_T`` by conditioning the
    joint Gaussian of ``(x_0..x_T, y_1..y_T)`` on y. Only ``Cov(y)`` is inverted, and it
    is positive definite whenever R is, so singular Q or P0 need no special case."""
    A, Q, C, R, m0, P0, ys = (np.asarray(a, float) for a in (A, Q, C, R, m0, P0, ys))
    n_steps, n_obs = ys.shape
    dim = A.shape[0]
    means, marginals = [m0], [P0]
    for _ in range(n_steps):
        means.append(A @ means[-1])
        marginals.append(A @ marginals[-1] @ A.T + Q)
    size = (n_steps + 1) * dim
    joint = np.zeros((size, size))
    for j in range(n_steps + 1):
        for k in range(j, n_steps + 1):
            block = np.linalg.matrix_power(A, k - j) @ marginals[j]  # Cov(x_k, x_j)
            joint[k * dim:(k + 1) * dim, j * dim:(j + 1) * dim] = block
            joint[j * dim:(j + 1) * dim, k * dim:(k + 1) * dim] = block.T
    observe = np.zeros((n_steps * n_obs, size))
    for k in range(1, n_steps + 1):
        observe[(k - 1) * n_obs:k * n_obs, k * dim:(k + 1) * dim] = C
    cov_y = observe @ joint @ observe.T + np.kron(np.eye(n_steps), R)
    mean = np.concatenate(means)
    gain = np.linalg.solve(cov_y, observe @ joint).T
    post_mean = (mean + gain @ (ys.ravel() - observe @ mean)).reshape(n_steps + 1, dim)
    post_cov = joint - gain @ observe @ joint
    covs = np.stack([post_cov[k * dim:(k + 1) * dim, k * dim:(k + 1) * dim]
                     for k in range(1, n_steps + 1)])
    return post_mean[1:], covs
