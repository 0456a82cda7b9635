r"""Balanced spike-coding networks (Boerlin, Machens & Denève 2013): construction.

Model (time in seconds, rates in Hz; ``D`` signal dimensions, ``N`` neurons)::

    target        dx/dt   = A x + c(t)                               (D,)
    trace         dr~/dt  = -lambda_d r~ + o(t)                       (N,)  a spike adds 1
    readout       x_hat   = Gamma r~                                  (D,)
    loss          E(t)    = ||x - x_hat||^2 + nu lambda_d ||r~||_1 + mu lambda_d^2 ||r~||_2^2
    voltage       V_i     = Gamma_i^T (x - x_hat) - mu lambda_d^2 r~_i
    threshold     T_i     = (||Gamma_i||^2 + nu lambda_d + mu lambda_d^2) / 2
    dynamics      dV/dt   = -lambda_V V + Gamma^T c(t) + Omega_s r~ + kappa r~
                            - Omega_f o(t) + sigma_V eta(t)
    fast weights  Omega_f = Gamma^T Gamma + mu lambda_d^2 I           (diagonal = self-reset)
    slow weights  Omega_s = Gamma^T (A + lambda_d I) Gamma
    slow self     kappa   = (lambda_d - lambda_V) mu lambda_d^2       (0 if slow_self_term=False)
    spike of i    V -> V - Omega_f[:, i]   (self-reset Omega_f,ii; B13's V_reset = T_i - Omega_f,ii)

**Unit convention (used everywhere in bayesnn.scn).** Rates are the unit-increment
trace ``r~`` (Barrett 2016, Calaim 2022, Brendel 2020): a spike adds 1 and
``x_hat = Gamma r~``. B13's rates in Hz are ``r = lambda_d r~``. The costs ``mu`` and
``nu`` keep B13's meaning (they multiply ``||r||^2`` and ``||r||_1`` with ``r`` in Hz),
so in ``r~`` units they enter as ``cost_quad = mu lambda_d^2`` and
``cost_lin = nu lambda_d``. Every spike lowers the instantaneous loss by exactly
``2 (V_i - T_i)``.

The slow self term ``kappa r~`` is not in B13's published Omega_s; it is the exact
O(mu) term that makes ``V`` equal its closed form whenever ``A = -lambda_V I``: the
B13 integrator with ``lambda_V = 0`` (kappa = mu lambda_d^3) and the autoencoder with
``A = -lambda I``, ``lambda_V = lambda_d = lambda`` (kappa = 0). For other ``A`` the
voltage equation substitutes ``x -> x_hat`` inside ``A x`` (B13's approximation).

The weights are never formed as N x N matrices during simulation: the recurrent
input is applied through ``Gamma`` (low rank), so N = 10,000 costs O(N D) per step.
:func:`fast_weights` / :func:`slow_weights` build the dense matrices for inspection.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import as_leaf, params_record
from bayesnn.core.validation import (
    as_array,
    require_nonnegative,
    require_positive,
    require_shape,
)

__all__ = [
    "SCNParams",
    "DriveMarginWarning",
    "make_network",
    "make_autoencoder",
    "make_integrator",
    "fast_weights",
    "slow_weights",
    "box_margin",
    "host_derived",
    "closed_form_voltage",
    "instantaneous_loss",
    "pm_decoder",
    "random_decoder",
    "circular_decoder",
    "check_drive_margin",
]


class DriveMarginWarning(UserWarning):
    """The per-step input drive ``|Gamma_i^T c| dt`` may exceed the box margin
    ``2 T_i - ||Gamma_i||^2``: several neurons can then cross threshold in the same
    step (harmless in the default one-spike-per-step mode, ping-pong in ``"all"``)."""


@params_record
class SCNParams:
    """A B13 spike-coding network (a JAX pytree: every field is a leaf, so records
    can be stacked with :func:`bayesnn.core.stack_params` and ``jax.vmap``-ped).

    Build with :func:`make_network` (or :func:`make_autoencoder`,
    :func:`make_integrator`); building validates the values (``ValueError`` naming
    the field). Derived quantities are properties computed from the fields, so
    ``replace(...)`` never leaves them stale; ``replace(thresholds=None)`` restores
    the B13 thresholds for new costs.

    Fields:
        Gamma: (D, N) decoder; column i is neuron i's kernel, in units of x.
        A: (D, D) target dynamics, s^-1 (default 0: integrator).
        lambda_d: () readout / trace leak, s^-1 (> 0).
        lambda_v: () membrane leak, s^-1 (>= 0).
        mu: () quadratic cost (B13 units: multiplies ||r||^2 with r in Hz).
        nu: () linear cost (B13 units: multiplies ||r||_1 with r in Hz).
        sigma_v: () voltage-noise amplitude per sqrt(s); dV gets sigma_v sqrt(dt) N(0, 1)
            per step.
        dt: () time step, s, with lambda_d dt < 1, lambda_v dt < 1, max|eig A| dt < 1.
        thresholds: (N,) T_i (``None`` when building: B13's
            ``(||Gamma_i||^2 + nu lambda_d + mu lambda_d^2) / 2``).
        slow_self_term: () 1.0 to include the exact slow self term kappa r~, 0.0 for
            B13's published Omega_s.
        self_reset_scale: () >= 1, multiplies the self-reset Omega_f,ii (Calaim 2022:
            2**0.02); values other than 1 break the exact loss identity on purpose.

    Properties (derived): ``cost_quad`` = mu lambda_d^2, ``cost_lin`` = nu lambda_d,
    ``slow_matrix`` = A + lambda_d I (Omega_s = Gamma^T M Gamma), ``kappa`` =
    (lambda_d - lambda_v) cost_quad (times slow_self_term), ``gamma_sq`` =
    ||Gamma_i||^2 (N,), ``reset_extra`` = (self_reset_scale - 1) Omega_f,ii (N,).
    """

    Gamma: jax.Array
    A: jax.Array = None
    lambda_d: jax.Array = 10.0
    lambda_v: jax.Array = 20.0
    mu: jax.Array = 0.0
    nu: jax.Array = 0.0
    sigma_v: jax.Array = 0.0
    dt: jax.Array = 1e-4
    thresholds: jax.Array = None
    slow_self_term: jax.Array = 1.0
    self_reset_scale: jax.Array = 1.0

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
    def cost_quad(self) -> jax.Array:
        """mu lambda_d^2, the quadratic cost in r~ units."""
        return self.mu * self.lambda_d**2

    @property
    def cost_lin(self) -> jax.Array:
        """nu lambda_d, the linear cost in r~ units."""
        return self.nu * self.lambda_d

    @property
    def gamma_sq(self) -> jax.Array:
        """(N,) ||Gamma_i||^2."""
        return jnp.sum(self.Gamma**2, axis=-2)

    @property
    def slow_matrix(self) -> jax.Array:
        """(D, D) M = A + lambda_d I, so Omega_s = Gamma^T M Gamma."""
        eye = jnp.eye(self.n_dims, dtype=self.A.dtype)
        return self.A + jnp.asarray(self.lambda_d)[..., None, None] * eye

    @property
    def kappa(self) -> jax.Array:
        """Slow self-term coefficient (lambda_d - lambda_v) cost_quad (0 without it)."""
        return self.slow_self_term * (self.lambda_d - self.lambda_v) * self.cost_quad

    @property
    def reset_extra(self) -> jax.Array:
        """(N,) extra self-reset (self_reset_scale - 1) (||Gamma_i||^2 + cost_quad)."""
        scale = jnp.asarray(self.self_reset_scale)[..., None]
        return (scale - 1) * (self.gamma_sq + jnp.asarray(self.cost_quad)[..., None])


def _check_fields(net: SCNParams) -> dict:
    """Validated fields of an :class:`SCNParams` (``ValueError`` naming the field)."""
    G = as_array("Gamma", net.Gamma, ndim=2)
    D, N = G.shape
    if D < 1 or N < 1:
        raise ValueError(f"Gamma must have shape (D >= 1, N >= 1), got {G.shape}")
    norms = np.linalg.norm(G, axis=0)
    if np.any(norms == 0):
        bad = np.flatnonzero(norms == 0)[:5].tolist()
        raise ValueError(f"Gamma columns must have non-zero norm; columns {bad} are zero")
    A = np.zeros((D, D)) if net.A is None else as_array("A", net.A, ndim=2)
    require_shape("A", A, (D, D))
    lambda_d = float(require_positive("lambda_d", net.lambda_d, ndim=0))
    lambda_v = float(require_nonnegative("lambda_v", net.lambda_v, ndim=0))
    mu = float(require_nonnegative("mu", net.mu, ndim=0))
    nu = float(require_nonnegative("nu", net.nu, ndim=0))
    sigma_v = float(require_nonnegative("sigma_v", net.sigma_v, ndim=0))
    dt = float(require_positive("dt", net.dt, ndim=0))
    if lambda_d * dt >= 1:
        raise ValueError(f"dt must satisfy lambda_d * dt < 1, got {lambda_d} * {dt} = {lambda_d * dt}")
    if lambda_v * dt >= 1:
        raise ValueError(f"dt must satisfy lambda_v * dt < 1, got {lambda_v} * {dt} = {lambda_v * dt}")
    eig = np.max(np.abs(np.linalg.eigvals(A)))
    if eig * dt >= 1:
        raise ValueError(f"dt must satisfy max|eig(A)| * dt < 1 (Euler stability), got {eig * dt:.3g}")
    if net.thresholds is None:
        T = (norms**2 + nu * lambda_d + mu * lambda_d**2) / 2
    else:
        T = require_positive("thresholds", net.thresholds)
        T = np.full(N, float(T)) if T.ndim == 0 else require_shape("thresholds", T, (N,))
    slow = float(as_array("slow_self_term", net.slow_self_term, ndim=0))
    if slow not in (0.0, 1.0):
        raise ValueError(f"slow_self_term must be 0 or 1 (False or True), got {slow}")
    reset_scale = float(as_array("self_reset_scale", net.self_reset_scale, ndim=0))
    if reset_scale < 1:
        raise ValueError(f"self_reset_scale must be >= 1, got {reset_scale}")
    return dict(Gamma=as_leaf(G), A=as_leaf(A), lambda_d=as_leaf(lambda_d),
                lambda_v=as_leaf(lambda_v), mu=as_leaf(mu), nu=as_leaf(nu),
                sigma_v=as_leaf(sigma_v), dt=as_leaf(dt), thresholds=as_leaf(T),
                slow_self_term=as_leaf(slow), self_reset_scale=as_leaf(reset_scale))


def make_network(
    Gamma,
    A=None,
    lambda_d: float = 10.0,
    lambda_v: float = 20.0,
    mu: float = 0.0,
    nu: float = 0.0,
    sigma_v: float = 0.0,
    dt: float = 1e-4,
    thresholds=None,
    slow_self_term: bool = True,
    self_reset_scale: float = 1.0,
) -> SCNParams:
    """Build a B13 network for the target ``dx/dt = A x + c(t)`` (B13 Eqs. 1-9; the
    slow self term is explained in the module docstring).

    Args:
        Gamma: (D, N) decoder, no zero columns.
        A: (D, D) dynamics in s^-1 (default 0: integrator).
        lambda_d: readout leak (s^-1) > 0.  lambda_v: membrane leak (s^-1) >= 0.
        mu, nu: quadratic and linear costs >= 0 (B13 units, see module docstring).
        sigma_v: voltage-noise amplitude >= 0 (per sqrt(second)).
        dt: time step (s) > 0 with lambda_d dt < 1, lambda_v dt < 1, max|eig A| dt < 1.
        thresholds: optional (N,) or scalar thresholds > 0 overriding the B13 formula
            (e.g. a wider box, Calaim 2022).
        slow_self_term: include kappa r~ (exactness; B13's published form omits it).
        self_reset_scale: multiply the self-reset Omega_f,ii (Calaim 2022 use 2**0.02);
            >= 1. Values other than 1 trade the exact loss identity for regularity.

    Returns:
        :class:`SCNParams`.

    Raises:
        ValueError: naming the parameter and the constraint, for any bad input.
    """
    return SCNParams(Gamma=Gamma, A=A, lambda_d=lambda_d, lambda_v=lambda_v, mu=mu, nu=nu,
                     sigma_v=sigma_v, dt=dt, thresholds=thresholds,
                     slow_self_term=float(bool(slow_self_term)),
                     self_reset_scale=self_reset_scale)


def make_autoencoder(Gamma, lambda_: float = 10.0, mu: float = 0.0, nu: float = 0.0,
                     sigma_v: float = 0.0, dt: float = 1e-4, thresholds=None,
                     self_reset_scale: float = 1.0) -> SCNParams:
    """Autoencoder network (track a given x(t)): ``A = -lambda I``,
    ``lambda_v = lambda_d = lambda``; then ``Omega_s = 0`` and the voltage equation
    ``dV/dt = -lambda V + Gamma^T c - Omega_f o`` is exact. Drive it with
    :func:`bayesnn.scn.network.targets.autoencoder_input` (``c = dx/dt + lambda x``)."""
    lam = float(require_positive("lambda_", lambda_, ndim=0))
    D = np.shape(Gamma)[0] if np.ndim(Gamma) == 2 else 0
    return make_network(Gamma, A=-lam * np.eye(D) if D else None, lambda_d=lam,
                        lambda_v=lam, mu=mu, nu=nu, sigma_v=sigma_v, dt=dt,
                        thresholds=thresholds, self_reset_scale=self_reset_scale)


def make_integrator(Gamma, lambda_d: float = 10.0, lambda_v: float = 0.0, mu: float = 1e-6,
                    nu: float = 1e-5, sigma_v: float = 0.0, dt: float = 1e-4,
                    thresholds=None) -> SCNParams:
    """B13 integrator (``A = 0``); ``lambda_v = 0`` makes the voltage exact."""
    return make_network(Gamma, A=None, lambda_d=lambda_d, lambda_v=lambda_v, mu=mu, nu=nu,
                        sigma_v=sigma_v, dt=dt, thresholds=thresholds)


# ----------------------------------------------------------------------------- decoders
def pm_decoder(n_neurons: int, weight: float) -> np.ndarray:
    """1-D decoder: first half +weight, second half -weight. Shape (1, N)."""
    if n_neurons < 2 or n_neurons % 2:
        raise ValueError(f"n_neurons must be even and >= 2, got {n_neurons}")
    if not weight > 0:
        raise ValueError(f"weight must be > 0, got {weight}")
    return np.concatenate([np.full(n_neurons // 2, weight), np.full(n_neurons // 2, -weight)])[None, :]


def random_decoder(n_dims: int, n_neurons: int, norm: float = 1.0, seed: int = 0) -> np.ndarray:
    """Gaussian decoder columns normalised to ``norm`` (Calaim 2022). Shape (D, N)."""
    if n_dims < 1 or n_neurons < 1:
        raise ValueError(f"n_dims and n_neurons must be >= 1, got {n_dims}, {n_neurons}")
    G = np.random.default_rng(seed).standard_normal((n_dims, n_neurons))
    return norm * G / np.linalg.norm(G, axis=0)


def circular_decoder(n_neurons: int, norm: float = 1.0) -> np.ndarray:
    """2-D decoder with evenly spaced directions (Barrett 2016 Fig. 3). Shape (2, N)."""
    angles = 2 * np.pi * np.arange(n_neurons) / n_neurons
    return norm * np.stack([np.cos(angles), np.sin(angles)])


# ------------------------------------------------------------------ derived quantities
def _host_cost_quad(net: SCNParams) -> float:
    """``net.cost_quad`` on the host (Python floats, the same two roundings as the
    property: no XLA program is compiled for it outside a jitted function)."""
    lambda_d = float(net.lambda_d)
    return float(net.mu) * (lambda_d * lambda_d)


def _host_gamma_sq(net: SCNParams) -> np.ndarray:
    """``net.gamma_sq`` on the host (NumPy; equal to the property bit for bit: squares,
    then a sum over the D rows)."""
    G = np.asarray(net.Gamma)
    return np.sum(G**2, axis=-2)


def host_derived(net: SCNParams) -> dict[str, np.ndarray | float]:
    """The derived quantities of ``net`` (the :class:`SCNParams` properties
    ``cost_quad``, ``cost_lin``, ``gamma_sq``, ``slow_matrix``, ``kappa``,
    ``reset_extra``) computed on the host in NumPy float64 with the properties'
    operations in the same order, so equal to them bit for bit, without compiling an XLA
    program per quantity and shape (the properties are for traced code). Single
    (unbatched) records only.

    Returns:
        dict name -> float or ndarray ((N,) for gamma_sq and reset_extra, (D, D) for
        slow_matrix).
    """
    cost_quad = _host_cost_quad(net)
    lambda_d, lambda_v = float(net.lambda_d), float(net.lambda_v)
    gamma_sq = _host_gamma_sq(net)
    A = np.asarray(net.A)
    return {"cost_quad": cost_quad, "cost_lin": float(net.nu) * lambda_d, "gamma_sq": gamma_sq,
            "slow_matrix": A + lambda_d * np.eye(A.shape[-1], dtype=A.dtype),
            "kappa": float(net.slow_self_term) * (lambda_d - lambda_v) * cost_quad,
            "reset_extra": (float(net.self_reset_scale) - 1) * (gamma_sq + cost_quad)}


def fast_weights(net: SCNParams) -> np.ndarray:
    """Dense Omega_f = Gamma^T Gamma + mu lambda_d^2 I, (N, N). Small N only."""
    G = np.asarray(net.Gamma)
    return G.T @ G + _host_cost_quad(net) * np.eye(G.shape[1])


def slow_weights(net: SCNParams) -> np.ndarray:
    """Dense Omega_s = Gamma^T (A + lambda_d I) Gamma, (N, N) (without kappa)."""
    G = np.asarray(net.Gamma)
    return G.T @ host_derived(net)["slow_matrix"] @ G


def box_margin(net: SCNParams) -> np.ndarray:
    """Per-neuron box margin ``2 T_i - ||Gamma_i||^2`` (= nu lambda_d + mu lambda_d^2
    for the default thresholds), (N,)."""
    return 2 * np.asarray(net.thresholds) - _host_gamma_sq(net)


def closed_form_voltage(net: SCNParams, x, rates) -> np.ndarray:
    """``V = Gamma^T (x - Gamma r~) - mu lambda_d^2 r~``; x (..., D), rates (..., N)."""
    G = np.asarray(net.Gamma)
    x = np.asarray(x)
    r = np.asarray(rates)
    return (x - r @ G.T) @ G - _host_cost_quad(net) * r


def instantaneous_loss(net: SCNParams, x, rates) -> np.ndarray:
    """``||x - Gamma r~||^2 + nu lambda_d ||r~||_1 + mu lambda_d^2 ||r~||^2`` (r~ >= 0)."""
    G = np.asarray(net.Gamma)
    r = np.asarray(rates)
    err = np.asarray(x) - r @ G.T
    return (np.sum(err**2, -1) + float(net.nu) * float(net.lambda_d) * np.sum(np.abs(r), -1)
            + _host_cost_quad(net) * np.sum(r**2, -1))


def check_drive_margin(net: SCNParams, c) -> float:
    """Warn (:class:`DriveMarginWarning`) if the per-step drive bound
    ``max_t ||c_t|| ||Gamma_i|| dt`` exceeds the box margin of some neuron. Returns the
    largest ratio drive / margin (inf for a zero margin). O(T D + N)."""
    c = np.asarray(c)
    cmax = float(np.max(np.linalg.norm(c, axis=-1))) if c.size else 0.0
    drive = cmax * np.sqrt(_host_gamma_sq(net)) * float(net.dt)
    margin = box_margin(net)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(margin > 0, drive / np.where(margin > 0, margin, 1), np.where(drive > 0, np.inf, 0))
    worst = float(np.max(ratio)) if ratio.size else 0.0
    if worst > 1:
        warnings.warn(
            f"c: per-step drive max||c|| ||Gamma_i|| dt may reach {worst:.3g} x the box margin "
            "2 T_i - ||Gamma_i||^2; several neurons can cross threshold in one step "
            "(use spike_mode='one', a smaller dt or a wider box)", DriveMarginWarning, stacklevel=3)
    return worst
