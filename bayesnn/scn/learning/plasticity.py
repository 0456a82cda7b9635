r"""Spike-by-spike plasticity of Brendel et al. 2020 ("Learning to represent signals
spike by spike", PLoS Comput. Biol. 16(3):e1007692; Bourdoukan et al. 2012, NIPS 25):
a spike-coding network with *free* feedforward weights F and recurrent weights Omega
that learns them with local rules applied on each spike.

Network (time in s, rates in Hz; D input dimensions, N neurons; unit-increment traces
r~, a spike adds 1)::

    target     x_{k+1} = x_k + dt (-lambda x_k + c_k)            (D,) leaky integral of c
    voltage    dV/dt   = -lambda V + F^T c(t) + Omega o(t) + sigma_V eta(t)
    spike      neuron argmax_i (V_i - T_i - jitter eta'_i) fires if that is > 0
    trace      dr~/dt  = -lambda r~ + o(t)

Weights as applied to voltages: ``F`` (D, N) column i = feedforward weights of
neuron i; ``Omega`` (N, N) rows post, columns pre, so a spike of k adds column k of
``Omega`` to V (the self-reset is the diagonal, negative).

**Rules** (Brendel et al. 2020, as implemented in the authors' code
``UnsupervisedLearning/Figure2/Learning.m``), applied when neuron k spikes, with V, r~
and x just before the spike::

    feedforward (k post)  F[:, k]     <- F[:, k] + eps_f (alpha x - F[:, k])
    recurrent   (k pre)   Omega[:, k] <- Omega[:, k] - eps_r (beta (V + mu r~)
                                                             + Omega[:, k] + mu e_k)

Each update is a convex step (0 < eps < 1) towards a target, so the weights stay
within the range of their targets. Derivation (Brendel et al. 2020; Bourdoukan et al.
2012; docs/scn_learning.md): the recurrent rule is a stochastic gradient step on the
post-spike voltage magnitude ``sum_i (V_i + mu r~_i)^2`` (a neuron's voltage is its share of the
coding error, so driving it to zero after each spike makes the spike cancel the error
it reported); the feedforward rule moves ``F[:, k]`` to the mean target seen when k
spikes, which makes the optimal decoder proportional to F. At the joint fixed point
``Omega ~ -F^T F - mu I`` up to a scale (the B13 autoencoder of
:mod:`bayesnn.scn.network.params` with decoder ``Gamma ~ F``).

**Discretisation** (one step, :func:`plastic_step`; the B13 autoencoder's order, see
:func:`bayesnn.scn.network.functional.step`)::

    1. V <- V + dt (-lambda V + F^T c_k) + sigma_V sqrt(dt) xi_k;  x <- x + dt (-lambda x + c_k)
    2. r~ <- (1 - lambda dt) r~
    3. k = argmax_i (V_i - T_i - jitter eta_i) (exact ties: cyclic offset); fires if > 0
    4. if it fires: the rules above (plastic=True), then V <- V + Omega[:, k] (the
       updated column), r~_k += 1.

Brendel's code applies the spike's column at the next step, after that step's leak;
applying it at once (as here and in bayesnn.scn.step) differs by a factor
``1 - lambda dt`` on the recurrent weights, which the best-scaled distance
(:func:`weight_distance`) does not see. With ``jitter = 0``, fixed weights
``Omega = -(F^T F + c_q I)`` and thresholds ``(||F_i||^2 + c_q)/2`` a step equals the
B13 autoencoder step of :func:`bayesnn.scn.step` (``Gamma = F``, ``cost_quad = c_q``)
up to rounding (tests/test_scn_learning.py).

Parameters of Brendel et al. 2020 Fig. 2 (code ``Figure2/Learning.m``), the defaults
of :func:`brendel_fig2_params`: N = 20, D = 2, lambda = 50 s^-1, dt = 1 ms,
eps_r = 1e-3, eps_f = 1e-4, alpha = 0.18, beta = 1/0.9, mu = 0.02/0.9, T = 0.5,
voltage noise 0.001 per step (sigma_V = 0.001/sqrt(dt)), threshold jitter 0.01.
The E/I (Dale's law) version: :mod:`bayesnn.scn.learning.plasticity_dale`.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import as_leaf, params_record, to_device
from bayesnn.core.validation import as_array, require_nonnegative, require_positive, require_shape
from bayesnn.core import as_key
from bayesnn.scn.network.kernels import pick_max

__all__ = ["LearningParams", "LearningState", "LearningInputs", "LearningStepRecord",
           "brendel_fig2_params", "brendel_fig2_weights", "init_learning_state",
           "learning_inputs", "plastic_step", "feedforward_update", "recurrent_update",
           "recurrent_update_rows", "weight_distance", "fixed_point", "check_weights"]


@params_record
class LearningParams:
    """Parameters of the learning network (a JAX pytree; every field is a leaf).
    Building validates the values (``ValueError`` naming the field).

    Fields:
        lambda_: () leak of voltages, traces and target, s^-1 (> 0).
        dt: () time step, s, with lambda_ dt < 1 (the leak's Euler step).
        thresholds: () or (N,) thresholds T (> 0), units of V.
        mu: () quadratic cost (r~ units, >= 0).
        alpha, beta: () scales of the feedforward and recurrent targets (> 0).
        eps_f, eps_r: () learning rates of the feedforward and recurrent rules, in
            (0, 1): each update is a convex step.
        sigma_v: () voltage noise per sqrt(s) (>= 0); a step adds sigma_v sqrt(dt) N(0,1).
        jitter: () threshold noise per step (>= 0, units of V): the spike is chosen
            on ``V - T - jitter N(0, 1)`` (Brendel's tie-breaking).
    """

    lambda_: jax.Array = 50.0
    dt: jax.Array = 1e-3
    thresholds: jax.Array = 0.5
    mu: jax.Array = 0.02 / 0.9
    alpha: jax.Array = 0.18
    beta: jax.Array = 1 / 0.9
    eps_f: jax.Array = 1e-4
    eps_r: jax.Array = 1e-3
    sigma_v: jax.Array = 0.001 / np.sqrt(1e-3)
    jitter: jax.Array = 0.01

    def _validate(self) -> dict:
        lam = float(require_positive("lambda_", self.lambda_, ndim=0))
        dt = float(require_positive("dt", self.dt, ndim=0))
        if lam * dt >= 1:
            raise ValueError(f"dt must satisfy lambda_ * dt < 1 (the leak's Euler step), "
                             f"got {lam} * {dt} = {lam * dt:.3g}")
        T = require_positive("thresholds", self.thresholds)
        if T.ndim > 1:
            raise ValueError(f"thresholds must be a scalar or have shape (N,), got {T.shape}")
        out = dict(lambda_=lam, dt=dt, thresholds=T,
                   mu=require_nonnegative("mu", self.mu, ndim=0),
                   alpha=require_positive("alpha", self.alpha, ndim=0),
                   beta=require_positive("beta", self.beta, ndim=0),
                   sigma_v=require_nonnegative("sigma_v", self.sigma_v, ndim=0),
                   jitter=require_nonnegative("jitter", self.jitter, ndim=0))
        for name in ("eps_f", "eps_r"):
            out[name] = check_rate(name, getattr(self, name))
        return {name: as_leaf(value) for name, value in out.items()}


def check_rate(name: str, value: Any) -> float:
    """A learning rate in (0, 1) (``ValueError`` naming it otherwise)."""
    rate = float(as_array(name, value, ndim=0))
    if not 0 < rate < 1:
        raise ValueError(f"{name} must lie in (0, 1) (each update is a convex step towards "
                         f"its target; >= 1 overshoots), got {rate}")
    return rate


class LearningState(NamedTuple):
    """State of the learning network.

    Fields:
        V: (N,) voltages.   rates: (N,) traces r~.   x: (D,) target (leaky integral of c).
        F: (D, N) feedforward weights.
        OmegaT: (N, N) recurrent weights stored transposed (pre, post): row k holds the
            outgoing weights of neuron k, ``Omega[:, k]``, so the rule updates a
            contiguous row (4-8x faster than a column at N = 400). The property
            ``Omega`` gives the matrix as applied to voltages (post, pre).
        step: () int32 index of the next step (time ``step * dt`` s).
    """

    V: jax.Array
    rates: jax.Array
    x: jax.Array
    F: jax.Array
    OmegaT: jax.Array
    step: jax.Array

    @property
    def Omega(self) -> jax.Array:
        """(N, N) recurrent weights as applied to voltages (rows post, columns pre)."""
        return jnp.swapaxes(self.OmegaT, -1, -2)


class LearningInputs(NamedTuple):
    """Inputs of one step (a leading time axis when stacked).

    Fields:
        c: (D,) input, units of x per s.   noise: (N,) N(0,1) voltage noise, or (0,).
        jitter: (N,) N(0,1) threshold noise, or (0,).   offsets: (1,) int32 tie-break.
    """

    c: jax.Array
    noise: jax.Array
    jitter: jax.Array
    offsets: jax.Array


class LearningStepRecord(NamedTuple):
    """What one step reports: time () s, sender () int32 (the argmax neuron),
    fired () bool, margin () V - T of the sender before the spike."""

    time: jax.Array
    sender: jax.Array
    fired: jax.Array
    margin: jax.Array


def brendel_fig2_params(**changes) -> LearningParams:
    """:class:`LearningParams` of Brendel et al. 2020 Fig. 2 (code ``Learning.m``),
    with ``changes`` (field=value) applied, validated."""
    return LearningParams(**changes)


def brendel_fig2_weights(n_dims: int = 2, n_neurons: int = 20, *, key: Any = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Brendel et al. 2020 Fig. 2 initial weights: F (D, N) Gaussian with unit-norm
    columns, ``Omega = -0.2 U(0, 1) - 0.5 I`` (N, N). ``key``: int seed or JAX key."""
    if min(int(n_dims), int(n_neurons)) < 1:
        raise ValueError(f"n_dims and n_neurons must be >= 1, got {n_dims}, {n_neurons}")
    F, U = _fig2_draws(as_key(key), int(n_dims), int(n_neurons))
    F = np.array(F, float)
    F /= np.linalg.norm(F, axis=0)
    return F, -0.2 * np.asarray(U, float) - 0.5 * np.eye(n_neurons)


@partial(jax.jit, static_argnames=("n_dims", "n_neurons"))
def _fig2_draws(key, n_dims: int, n_neurons: int):
    kf, ko = jax.random.split(key)
    return (jax.random.normal(kf, (n_dims, n_neurons)),
            jax.random.uniform(ko, (n_neurons, n_neurons)))


def check_weights(params: LearningParams, F, Omega) -> tuple[np.ndarray, np.ndarray]:
    """F (D, N) and Omega (N, N) as float arrays, finite, with shapes that agree with
    each other and with ``params.thresholds`` (``ValueError`` naming the argument)."""
    F = as_array("F", F, ndim=2)
    D, N = F.shape
    if D < 1 or N < 1:
        raise ValueError(f"F must have shape (D >= 1, N >= 1), got {F.shape}")
    Omega = require_shape("Omega", as_array("Omega", Omega, ndim=2), (N, N))
    T = np.asarray(params.thresholds)
    if T.ndim == 1 and T.shape[0] != N:
        raise ValueError(f"thresholds must have shape ({N},) to match F (D, N) = {F.shape}, "
                         f"got {T.shape}")
    return F, Omega


def init_learning_state(params: LearningParams, F, Omega, *, x0=None) -> LearningState:
    """State at t = 0: weights ``F`` (D, N) and ``Omega`` (N, N), no spikes, target
    ``x0`` (D,) (default 0) and ``V = F^T x0``. ``ValueError`` for shapes that disagree."""
    F, Omega = check_weights(params, F, Omega)
    D, N = F.shape
    x = np.zeros(D) if x0 is None else require_shape("x0", as_array("x0", x0, ndim=1), (D,))
    f = jnp.result_type(float)
    # host values (NumPy) reach the device without compiled programs
    return LearningState(V=to_device(x @ F, f), rates=to_device(np.zeros(N, f)),
                         x=to_device(x, f), F=to_device(F, f), OmegaT=to_device(Omega.T, f),
                         step=to_device(np.zeros((), np.int32)))


KEY_BLOCK = 16  # steps per PRNG key in learning_inputs


def learning_inputs(params: LearningParams, c, n_neurons: int, *, key: Any = 0,
                    start_step: int | jax.Array = 0, noisy: bool | None = None,
                    jittery: bool | None = None) -> LearningInputs:
    """The inputs :func:`plastic_step` reads for input ``c`` (T, D) over the steps
    ``start_step .. start_step + T - 1``: voltage noise and threshold jitter (N(0, 1),
    (T, N) each, or (T, 0) when not drawn) and the tie-break offset (T, 1). Step k's
    draws are row ``k % 16`` of draws from ``fold_in(fold_in(key, j), k // 16)``
    (j = 0 noise and jitter, 1 offset), so they depend on the key and k only, not on how
    a run is cut into blocks. ``noisy`` / ``jittery``: draw the voltage noise / jitter
    (default: where ``params.sigma_v`` / ``params.jitter`` > 0; give them when
    ``params`` is traced). Traceable in ``c`` and ``start_step``. Memory O(T N)."""
    c = jnp.asarray(c, jnp.result_type(float))
    noisy = _positive(params.sigma_v) if noisy is None else noisy
    jittery = _positive(params.jitter) if jittery is None else jittery
    noise, jitter, offsets = draw_step_normals(as_key(key), start_step, c.shape[0],
                                               int(n_neurons), (int(n_neurons),),
                                               bool(noisy), bool(jittery))
    return LearningInputs(c, noise, jitter, offsets)


@partial(jax.jit, static_argnames=("length", "n", "sizes", "noisy", "jittery"))
def draw_step_normals(key, start_step, length: int, n: int, sizes: tuple, noisy: bool,
                      jittery: bool):
    """Noise (length, n) or (length, 0), jitter likewise, offsets (length, P) (offset p
    uniform in [0, sizes[p])) of the steps ``start_step ..``; step k's draws are row
    ``k % 16`` of draws from ``fold_in(fold_in(key, j), k // 16)`` (j = 0 normals, drawn
    in float32 and converted, 1 offsets)."""
    dtype = jnp.result_type(float)
    words = n * (int(noisy) + int(jittery))
    first = start_step // KEY_BLOCK
    n_blocks = -(-length // KEY_BLOCK) + 1          # covers ``length`` rows at any alignment
    blocks = first + jnp.arange(n_blocks, dtype=jnp.int32)
    knoise, ktie = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

    def rows(values):
        flat = values.reshape((n_blocks * KEY_BLOCK,) + values.shape[2:])
        return jax.lax.dynamic_slice_in_dim(flat, start_step - first * KEY_BLOCK, length)

    # float32 normals (24-bit resolution: they are noise, not state) cost half of
    # float64 ones, whose erfinv dominated the step at N = 400
    normals = rows(jax.vmap(lambda b: jax.random.normal(
        jax.random.fold_in(knoise, b), (KEY_BLOCK, words), jnp.float32))(blocks)).astype(dtype)
    high = jnp.asarray(sizes, jnp.int32)
    offsets = rows(jax.vmap(lambda b: jax.random.randint(
        jax.random.fold_in(ktie, b), (KEY_BLOCK, len(sizes)), 0, high, jnp.int32))(blocks))
    noise = normals[:, :n] if noisy else normals[:, :0]
    jitter = normals[:, words - n:] if jittery else normals[:, :0]
    return noise, jitter, offsets


def _positive(value) -> bool:
    try:
        return bool(np.any(np.asarray(value) > 0))
    except jax.errors.TracerArrayConversionError:
        return True


def feedforward_update(F: jax.Array, k: jax.Array, x: jax.Array, eps_f, alpha,
                       fire: jax.Array) -> jax.Array:
    """Brendel et al. 2020 feedforward rule on a spike of k (post):
    ``F[:, k] += eps_f (alpha x - F[:, k])`` if ``fire``; F (D, N), x (D,)."""
    col = F[:, k]
    return F.at[:, k].set(jnp.where(fire, col + eps_f * (alpha * x - col), col))


def recurrent_update(Omega: jax.Array, k: jax.Array, V: jax.Array, r: jax.Array, eps_r,
                     beta, mu, fire: jax.Array) -> jax.Array:
    """Brendel et al. 2020 recurrent rule on a spike of k (pre): ``Omega[:, k] -=
    eps_r (beta (V + mu r~) + Omega[:, k] + mu e_k)`` if ``fire``; V, r~ (N,) just
    before the spike."""
    return recurrent_update_rows(Omega.T, k, V, r, eps_r, beta, mu, fire).T


def recurrent_update_rows(OmegaT: jax.Array, k: jax.Array, V: jax.Array, r: jax.Array, eps_r,
                          beta, mu, fire: jax.Array) -> jax.Array:
    """:func:`recurrent_update` on the transposed storage (row k = ``Omega[:, k]``)."""
    row = OmegaT[k]
    target = beta * (V + mu * r) + (jnp.arange(V.shape[0]) == k) * mu
    return OmegaT.at[k].set(jnp.where(fire, row - eps_r * (target + row), row))


def plastic_step(params: LearningParams, state: LearningState, inputs: LearningInputs,
                 *, plastic: bool = True):
    """Advance the learning network one step (pure; jit-, scan- and vmap-friendly).
    ``plastic=False`` freezes the weights (the same network without plasticity).

    Returns ``(new_state, LearningStepRecord)``. Equations: module docstring.
    """
    p = params
    dt = p.dt
    k = state.step
    V = state.V + dt * (-p.lambda_ * state.V + inputs.c @ state.F)
    if inputs.noise.shape[-1]:
        V = V + p.sigma_v * jnp.sqrt(dt) * inputs.noise
    x = state.x + dt * (-p.lambda_ * state.x + inputs.c)
    r = state.rates * (1.0 - p.lambda_ * dt)
    z = V - p.thresholds
    if inputs.jitter.shape[-1]:
        z = z - p.jitter * inputs.jitter
    idx, m = pick_max(z, inputs.offsets[0])
    fire = m > 0
    F, OmegaT = state.F, state.OmegaT
    if plastic:
        F = feedforward_update(F, idx, x, p.eps_f, p.alpha, fire)
        OmegaT = recurrent_update_rows(OmegaT, idx, V, r, p.eps_r, p.beta, p.mu, fire)
    firef = fire.astype(V.dtype)
    V = V + firef * OmegaT[idx]
    r = r.at[idx].add(firef)
    t = (k + 1).astype(dt.dtype) * dt
    new = LearningState(V=V, rates=r, x=x, F=F, OmegaT=OmegaT, step=k + 1)
    return new, LearningStepRecord(time=t, sender=idx, fired=fire, margin=m)


def fixed_point(F, mu: float = 0.0) -> np.ndarray:
    """The recurrent fixed point ``-F^T F - mu I`` (N, N) of the rules (up to scale)."""
    F = np.asarray(F, float)
    return -F.T @ F - float(mu) * np.eye(F.shape[-1])


def weight_distance(F, Omega, mu: float = 0.0):
    """Normalised distance of Omega to the best-scaled fixed point (Brendel et al.
    2020 Fig. 2, code ``Learning.m``): with ``W = -F^T F - mu I``,
    ``s = <Omega, W> / ||W||^2`` and ``d = ||Omega - s W||^2 / ||Omega||^2`` in [0, 1]
    (Frobenius norms; 0: Omega is a multiple of W). Works on NumPy or JAX arrays with
    leading batch axes: F (..., D, N), Omega (..., N, N) -> d (...)."""
    xp = jnp if isinstance(F, jax.Array) or isinstance(Omega, jax.Array) else np
    N = F.shape[-1]
    W = -xp.swapaxes(F, -1, -2) @ F - mu * xp.eye(N)
    s = xp.sum(Omega * W, axis=(-2, -1)) / xp.sum(W * W, axis=(-2, -1))
    resid = Omega - s[..., None, None] * W
    return xp.sum(resid**2, axis=(-2, -1)) / xp.sum(Omega**2, axis=(-2, -1))
