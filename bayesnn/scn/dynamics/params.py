r"""Parameter record of the spike-coding network that learns dynamics with local rules
(Bourdoukan & Denève 2015, NeurIPS 28; Alemi, Machens, Denève & Slotine 2018, AAAI).

Model (seconds; ``D`` signal dimensions, ``N`` neurons, ``P`` slow features)::

    target        dx/dt   = A x + c(t)            (linear)   or  f(x) + c(t)  (nonlinear)
    trace         dr~/dt  = -lambda_d r~ + o(t)                     (N,), a spike adds 1
    readout       x_hat   = Gamma r~                                (D,)
    error         e       = x - x_hat                               (D,)
    features      phi     = r~                                      (P = N, linear)
                  phi     = [x_hat ; exp(-|(x_hat - c_k) / s_k|^2 / 2)]  (P = D + M,
                            nonlinear dendrites: (x_hat - c_k)/s_k = sum_j (Gamma_j / s_k)
                            r~_j - c_k/s_k, so dendrite k sums its presynaptic traces
                            through fixed weights and applies a bump nonlinearity)
    leak part     nonlinear features add the fixed B13 leak term lambda_d Gamma^T x_hat
                  to the slow current, so W_s phi learns Gamma^T f(x_hat) itself
    voltage       dV/dt   = -lambda_V V + Gamma^T c + W_s phi + kappa r~ + K Gamma^T e
                            - Omega_f o + sigma_V eta
    fast weights  Omega_f = Gamma^T Gamma + mu lambda_d^2 I       (fixed, as in B13)
    slow rule     dW_s/dt = eta (Gamma^T e) phi^T                   (local: postsynaptic
                            error current / K times presynaptic feature)

The rule is adaptive control (Slotine & Li 1991, Ch. 8): in the latent picture
``W_s = Gamma^T Q`` and ``dx_hat/dt = -lambda_d x_hat + Q phi + c + K e``, so
``de/dt = (A - K) e - Theta phi`` with ``Theta = Q - (A + lambda_d I) Gamma``; the
Lyapunov function ``|e|^2/2 + tr(Theta^T Theta)/(2 eta)`` decreases as
``e^T (A - K) e`` when ``K I - A`` is positive definite, and ``Theta phi -> 0``. With
rich inputs the fixed point is the hand-set B13 weights
``W_s* = Gamma^T (A + lambda_d I) Gamma`` (:func:`closed_form_slow_weights`; the
derivation with the project's signs is in docs/scn_dynamics.md). Units: ``K`` in
s^-1, ``eta`` in s^-2 (``Q`` is in units of x per s), ``V`` in units of x^2 as in
:mod:`bayesnn.scn.network`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import as_leaf, params_record
from bayesnn.core.validation import as_array, require_nonnegative, require_positive, require_shape

__all__ = ["DynamicsParams", "make_dynamics_network", "closed_form_slow_weights",
           "bump_features", "bump_values", "features_of", "learned_field"]


@params_record
class DynamicsParams:
    """A spike-coding network with learnable slow weights (a JAX pytree).

    Build with :func:`make_dynamics_network`; building validates the values
    (``ValueError`` naming the field).

    Fields:
        Gamma: (D, N) decoder (= encoder), units of x.
        A: (D, D) target linear dynamics, s^-1, or ``None`` for a nonlinear target
            (then only the trajectory supervises learning).
        lambda_d, lambda_v: readout and membrane leaks, s^-1.
        mu, nu: quadratic and linear costs (B13 units, as in :class:`~bayesnn.scn.SCNParams`).
        sigma_v: voltage-noise amplitude per sqrt(s).
        dt: time step, s.
        thresholds: (N,) T_i = (||Gamma_i||^2 + nu lambda_d + mu lambda_d^2) / 2.
        feedback_gain: K > 0, s^-1, gain of the error feedback used while learning.
        learning_rate: eta >= 0, s^-2.
        learning_decay_time: tau_eta > 0, s: the rate at step k is
            ``eta / (1 + k dt / tau_eta)`` (Robbins-Monro annealing of the spike-noise
            random walk; ``inf``, the default, keeps it constant).
        feature_centers: (M, D) centres c_k of the dendritic bump features (units of
            x), or ``None`` (linear: phi = r~, P = N; else P = D + M).
        feature_widths: (M, D) widths s_k (> 0, units of x), or ``None``.
        W0: (N, P) initial slow weights (default zeros).
    """

    Gamma: jax.Array
    A: jax.Array = None
    lambda_d: jax.Array = 10.0
    lambda_v: jax.Array = 0.0
    mu: jax.Array = 1e-6
    nu: jax.Array = 0.0
    sigma_v: jax.Array = 0.0
    dt: jax.Array = 1e-4
    thresholds: jax.Array = None
    feedback_gain: jax.Array = 100.0
    learning_rate: jax.Array = 1.0
    learning_decay_time: jax.Array = float("inf")
    feature_centers: jax.Array = None
    feature_widths: jax.Array = None
    W0: jax.Array = None

    def _validate(self) -> dict:
        return _check_fields(self)

    @property
    def n_neurons(self) -> int:
        """N (static)."""
        return int(self.Gamma.shape[-1])

    @property
    def n_dims(self) -> int:
        """D (static)."""
        return int(self.Gamma.shape[-2])

    @property
    def n_features(self) -> int:
        """P (static): N for linear features."""
        if self.feature_centers is None:
            return self.n_neurons
        return self.n_dims + int(self.feature_centers.shape[-2])

    @property
    def linear(self) -> bool:
        """Whether the slow features are the traces themselves (static)."""
        return self.feature_centers is None

    @property
    def cost_quad(self) -> jax.Array:
        """mu lambda_d^2, the quadratic cost in r~ units."""
        return self.mu * self.lambda_d**2

    @property
    def kappa(self) -> jax.Array:
        """Slow self term (lambda_d - lambda_v) mu lambda_d^2 (exact closed form, as in
        :class:`~bayesnn.scn.SCNParams`)."""
        return (self.lambda_d - self.lambda_v) * self.cost_quad


def _check_fields(p: DynamicsParams) -> dict:
    G = as_array("Gamma", p.Gamma, ndim=2)
    D, N = G.shape
    if D < 1 or N < 1:
        raise ValueError(f"Gamma must have shape (D >= 1, N >= 1), got {G.shape}")
    norms = np.linalg.norm(G, axis=0)
    if np.any(norms == 0):
        raise ValueError(f"Gamma columns must have non-zero norm; columns "
                         f"{np.flatnonzero(norms == 0)[:5].tolist()} are zero")
    lambda_d = float(require_positive("lambda_d", p.lambda_d, ndim=0))
    lambda_v = float(require_nonnegative("lambda_v", p.lambda_v, ndim=0))
    mu = float(require_nonnegative("mu", p.mu, ndim=0))
    nu = float(require_nonnegative("nu", p.nu, ndim=0))
    sigma_v = float(require_nonnegative("sigma_v", p.sigma_v, ndim=0))
    dt = float(require_positive("dt", p.dt, ndim=0))
    K = float(as_array("feedback_gain", p.feedback_gain, ndim=0))
    if not K > 0:
        raise ValueError(f"feedback_gain must be > 0 (s^-1; the error feedback drives "
                         f"learning), got {K}")
    eta = float(require_nonnegative("learning_rate", p.learning_rate, ndim=0))
    tau_eta = float(np.asarray(p.learning_decay_time, float))
    if not tau_eta > 0 or np.ndim(p.learning_decay_time):
        raise ValueError(f"learning_decay_time must be a scalar > 0 s (inf: no decay), "
                         f"got {p.learning_decay_time!r}")
    for name, rate in (("lambda_d", lambda_d), ("lambda_v", lambda_v), ("feedback_gain", K)):
        if rate * dt >= 1:
            raise ValueError(f"dt must satisfy {name} * dt < 1, got {rate} * {dt} = "
                             f"{rate * dt:.3g}")
    A = None
    if p.A is not None:
        A = as_array("A", p.A, ndim=2)
        require_shape("A", A, (D, D))
        if np.max(np.abs(np.linalg.eigvals(A))) * dt >= 1:
            raise ValueError("dt must satisfy max|eig(A)| * dt < 1 (Euler stability)")
    if p.thresholds is None:
        T = (norms**2 + nu * lambda_d + mu * lambda_d**2) / 2
    else:
        T = require_positive("thresholds", p.thresholds)
        T = np.full(N, float(T)) if T.ndim == 0 else require_shape("thresholds", T, (N,))
    if (p.feature_centers is None) != (p.feature_widths is None):
        raise ValueError("feature_centers and feature_widths must be given together (nonlinear "
                         "features) or both be None (linear features)")
    Bw = bias = None
    P = N
    if p.feature_centers is not None:
        Bw = as_array("feature_centers", p.feature_centers, ndim=2)
        M = Bw.shape[0]
        require_shape("feature_centers", Bw, (None, D))
        bias = require_shape("feature_widths", require_positive(
            "feature_widths", p.feature_widths, ndim=2), (M, D))
        if M < 1:
            raise ValueError("feature_centers must have at least one row (M >= 1)")
        P = D + M
    W0 = (np.zeros((N, P)) if p.W0 is None
          else require_shape("W0", as_array("W0", p.W0, ndim=2), (N, P)))
    leaf = as_leaf
    return dict(Gamma=leaf(G), A=None if A is None else leaf(A), lambda_d=leaf(lambda_d),
                lambda_v=leaf(lambda_v), mu=leaf(mu), nu=leaf(nu), sigma_v=leaf(sigma_v),
                dt=leaf(dt), thresholds=leaf(T), feedback_gain=leaf(K), learning_rate=leaf(eta),
                learning_decay_time=leaf(tau_eta),
                feature_centers=None if Bw is None else leaf(Bw),
                feature_widths=None if bias is None else leaf(bias), W0=leaf(W0))


def make_dynamics_network(Gamma, A=None, *, lambda_d: float = 10.0, lambda_v: float = 0.0,
                          mu: float = 1e-6, nu: float = 0.0, sigma_v: float = 0.0,
                          dt: float = 1e-4, thresholds=None, feedback_gain: float = 100.0,
                          learning_rate: float = 1.0, learning_decay_time: float = float("inf"),
                          features=None, W0=None,
                          growth_bound: float = 0.0) -> DynamicsParams:
    """Build a network that learns ``dx/dt = A x + c`` (or a nonlinear field) with the
    local slow rule ``dW_s/dt = eta (Gamma^T e) phi^T`` (module docstring;
    Bourdoukan & Denève 2015 Eqs. 5-9, Alemi et al. 2018 Sec. 3).

    Args:
        Gamma: (D, N) decoder, no zero columns.
        A: (D, D) target dynamics, s^-1, or ``None`` (nonlinear target).
        lambda_d, lambda_v: leaks, s^-1 (lambda_v = 0 keeps V at its closed form).
        mu, nu, sigma_v: costs and voltage noise (as :func:`bayesnn.scn.make_network`).
        dt: time step, s; lambda_d dt, lambda_v dt, K dt, max|eig A| dt < 1.
        thresholds: optional (N,) or scalar thresholds > 0.
        feedback_gain: K > 0, s^-1 (switched off by ``simulate(..., feedback=False)``).
        learning_rate: eta >= 0, s^-2.
        learning_decay_time: tau_eta > 0, s: the rate at step k is
            ``eta / (1 + k dt / tau_eta)`` (Robbins-Monro annealing of the spike-noise
            random walk; ``inf``, the default, keeps it constant).
        features: ``None`` (linear, phi = r~) or a pair ``(centres (M, D), widths (M, D))``
            of bump dendritic features (:func:`bump_features`); then phi = [x_hat;
            bumps] and the fixed leak term lambda_d Gamma^T x_hat joins the slow current.
        W0: (N, P) initial slow weights (default zeros).
        growth_bound: s^-1, the largest real part allowed for an eigenvalue of A (default
            0: the target must not grow; a positive bound states the growth accepted).

    Returns:
        :class:`DynamicsParams`.

    Raises:
        ValueError: naming the field: bad shapes (Gamma vs A vs features vs W0), A with an
            eigenvalue of real part > growth_bound, feedback_gain <= 0, negative rates.
    """
    if A is not None:
        A_arr = as_array("A", A, ndim=2)
        D = np.shape(Gamma)[0] if np.ndim(Gamma) == 2 else None
        if D is not None:
            require_shape("A", A_arr, (D, D))
        bound = float(as_array("growth_bound", growth_bound, ndim=0))
        if A_arr.shape[0] == A_arr.shape[1]:
            growth = float(np.max(np.linalg.eigvals(A_arr).real))
            if growth > bound:
                raise ValueError(
                    f"A has an eigenvalue with real part {growth:.4g} s^-1 > growth_bound = "
                    f"{bound:.4g} s^-1: the target dynamics are unstable; pass growth_bound "
                    "to state the growth you accept")
    B, b = (None, None) if features is None else features
    return DynamicsParams(Gamma=Gamma, A=A, lambda_d=lambda_d, lambda_v=lambda_v, mu=mu, nu=nu,
                          sigma_v=sigma_v, dt=dt, thresholds=thresholds,
                          feedback_gain=feedback_gain, learning_rate=learning_rate,
                          learning_decay_time=learning_decay_time, feature_centers=B,
                          feature_widths=b, W0=W0)


def closed_form_slow_weights(params: DynamicsParams, A=None) -> np.ndarray:
    """The fixed point of the linear rule, B13's slow weights
    ``W_s* = Gamma^T (A + lambda_d I) Gamma`` (N, N), for ``params.A`` or a given ``A``
    (docs/scn_dynamics.md derives it from the voltage equation of
    :mod:`bayesnn.scn.network`)."""
    A = params.A if A is None else A
    if A is None:
        raise ValueError("A must be given (params.A is None: nonlinear target)")
    G = np.asarray(params.Gamma)
    A = require_shape("A", as_array("A", A, ndim=2), (G.shape[0], G.shape[0]))
    return G.T @ (A + float(params.lambda_d) * np.eye(G.shape[0])) @ G


def bump_features(box, n_per_dim: int, *, width_factor: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Bump features on a regular grid: ``n_per_dim`` centres per dimension spanning
    ``[-box_d, box_d]`` (``box`` a scalar or (D,), units of x), widths
    ``width_factor`` times the grid spacing. Returns (centres (M, D), widths (M, D)),
    M = n_per_dim^D. Local features keep the feature covariance well conditioned, so
    the local rule converges where the teacher goes (a random tanh basis is nearly
    collinear and converges orders of magnitude slower; docs/scn_dynamics.md)."""
    box = np.atleast_1d(require_positive("box", box))
    if box.ndim != 1:
        raise ValueError(f"box must be a scalar or a 1-D array, got shape {box.shape}")
    if n_per_dim < 2:
        raise ValueError(f"n_per_dim must be >= 2, got {n_per_dim}")
    wf = float(require_positive("width_factor", width_factor, ndim=0))
    axes = [np.linspace(-b, b, n_per_dim) for b in box]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, box.size)
    widths = np.broadcast_to(wf * 2 * box / (n_per_dim - 1), centres.shape).copy()
    return centres, widths


def bump_values(centres, widths, x):
    """``exp(-|(x - c_k) / s_k|^2 / 2)``, x (..., D) -> (..., M) (NumPy or JAX)."""
    u = (x[..., None, :] - centres) / widths
    return (jnp if isinstance(x, jax.Array) else np).exp(-0.5 * (u**2).sum(-1))


def features_of(params: DynamicsParams, rates: jax.Array, readout: jax.Array) -> jax.Array:
    """phi (P,): the traces (linear) or ``[x_hat; bumps(x_hat)]``."""
    if params.feature_centers is None:
        return rates
    return jnp.concatenate([readout, bump_values(params.feature_centers,
                                                 params.feature_widths, readout)])


def learned_field(params: DynamicsParams, W, x) -> np.ndarray:
    """The vector field a nonlinear network implements, ``f_hat(x) = Q phi(x)`` with
    ``Q = (Gamma Gamma^T)^-1 Gamma W_s`` (the part of W_s the readout sees); x (..., D)
    in units of x, returns (..., D) in units of x per s."""
    if params.feature_centers is None:
        raise ValueError("params must have nonlinear features (feature_centers)")
    G = np.asarray(params.Gamma)
    Q = np.linalg.solve(G @ G.T, G @ np.asarray(W))
    x = np.asarray(x)
    phi = np.concatenate([x, bump_values(np.asarray(params.feature_centers),
                                         np.asarray(params.feature_widths), x)], -1)
    return phi @ Q.T
