r"""E/I (Dale's law) learning of Brendel et al. 2020 (PLoS Comput. Biol. 16(3):e1007692,
Fig. 4; code ``Figure4/LearningDale.m`` and ``Learning.m``): an excitatory population
(NE) receives the input, an inhibitory one (NI) only E spikes; the rules of
:mod:`bayesnn.scn.learning.plasticity` are applied per connection type and *clipped* so that
every synapse keeps its sign (E->E and E->I >= 0, I->I and I->E <= 0).

Weights as applied to voltages (rows post, columns pre): ``FE`` (D, NE) feedforward,
``CEE`` (NE, NE) E->E, ``CEI`` (NI, NE) E->I, ``CII`` (NI, NI) I->I (diagonal: the I
self-reset), ``CIE`` (NE, NI) I->E. The E autapse is held at ``autapse`` (-0.02): E
neurons are reset by I neurons and a refractory period.

One step k (:func:`dale_plastic_step`; Brendel's order, spikes applied at once)::

    1. VE <- VE + dt (-lambda VE + FE^T c_k) + sigma_V sqrt(dt) xi;  VI <- VI - dt lambda VI
       + sigma_V sqrt(dt) xi';  x, traces r~ leak at lambda; input trace
       ibarE <- ibarE + dt (-lambda_input ibarE + c_k); E-spike trace ibarI leaks at
       lambda_spikes
    2. E: kE = argmax over non-refractory E of VE - TE - jitter eta; fires if > 0:
         FE[:, kE]   += eps_f (ibarE - FE[:, kE])
         CEE[:, kE]   = max(CEE[:, kE] - eps_r (VE + mu rE + CEE[:, kE]), 0);  CEE[kE, kE] = autapse
         VE += CEE[:, kE];  VI += CEI[:, kE];  ibarI[kE] += 1;  rE[kE] += 1
    3. I: kI likewise on VI - TI; fires if > 0:
         CEI[kI, :]   = max(CEI[kI, :] + eps_f (ibarI - CEI[kI, :]), 0)
         CII[:, kI]   = min(CII[:, kI] - eps_r (VI + mu rI + CII[:, kI] + mu e_kI), 0)
         CIE[:, kI]   = min(CIE[:, kI] - eps_r (VE + mu rE + CIE[:, kI]), 0)
         VI += CII[:, kI];  VE += CIE[:, kI];  rI[kI] += 1

Parameters (Brendel Fig. 4, :class:`DaleLearningParams` defaults): lambda = 50 s^-1,
dt = 0.1 ms, eps_f = 1e-5, eps_r = 1e-4, mu = 0.002, lambda_input = 6 lambda,
lambda_spikes = lambda, refractory 10 steps (1 ms), voltage noise 0.002 and threshold
noise 0.02 per step, TE = ||FE_i||^2 / 2 (0.5 for unit columns), TI = TE(1). The
paper's network is NE = 300, NI = 75, D = 3 for 2^20 x 1000 steps (~10^5 s);
:func:`brendel_dale_weights` builds its initial weights at any NE = 4 NI.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key
from bayesnn.core.params import as_leaf, params_record, to_device
from bayesnn.core.validation import as_array, require_nonnegative, require_positive, require_shape
from bayesnn.scn.network.kernels import pick_max
from bayesnn.scn.learning.plasticity import _positive, check_rate, draw_step_normals

__all__ = ["DaleLearningParams", "DaleLearningState", "DaleLearningInputs", "DaleLearningStepRecord",
           "brendel_dale_weights", "init_dale_learning_state", "dale_learning_inputs",
           "dale_plastic_step", "sign_violations", "DALE_WEIGHTS"]

DALE_WEIGHTS = ("FE", "CEE", "CEI", "CII", "CIE")


@params_record
class DaleLearningParams:
    """Parameters of the E/I learning network (validated; ``ValueError`` naming the
    field). Rates in (0, 1); ``lambda_`` dt, ``lambda_input`` dt, ``lambda_spikes`` dt < 1.

    Fields: lambda_ (s^-1), dt (s), thresholds_e () or (NE,), thresholds_i () or (NI,),
    mu, eps_f, eps_r, lambda_input (s^-1, leak of the input trace ibarE),
    lambda_spikes (s^-1, leak of the E-spike trace ibarI), sigma_v (per sqrt(s)),
    jitter (per step), refractory_steps (>= 0, integral), autapse (E self-weight, <= 0).
    """

    lambda_: jax.Array = 50.0
    dt: jax.Array = 1e-4
    thresholds_e: jax.Array = 0.5
    thresholds_i: jax.Array = 0.5
    mu: jax.Array = 0.002
    eps_f: jax.Array = 1e-5
    eps_r: jax.Array = 1e-4
    lambda_input: jax.Array = 300.0
    lambda_spikes: jax.Array = 50.0
    sigma_v: jax.Array = 0.002 / np.sqrt(1e-4)
    jitter: jax.Array = 0.02
    refractory_steps: jax.Array = 10.0
    autapse: jax.Array = -0.02

    def _validate(self) -> dict:
        dt = float(require_positive("dt", self.dt, ndim=0))
        out = {"dt": dt}
        for name in ("lambda_", "lambda_input", "lambda_spikes"):
            rate = float(require_positive(name, getattr(self, name), ndim=0))
            if rate * dt >= 1:
                raise ValueError(f"dt must satisfy {name} * dt < 1 (the leak's Euler step), "
                                 f"got {rate} * {dt} = {rate * dt:.3g}")
            out[name] = rate
        for name in ("thresholds_e", "thresholds_i"):
            T = require_positive(name, getattr(self, name))
            if T.ndim > 1:
                raise ValueError(f"{name} must be a scalar or a vector, got shape {T.shape}")
            out[name] = T
        for name in ("mu", "sigma_v", "jitter"):
            out[name] = require_nonnegative(name, getattr(self, name), ndim=0)
        for name in ("eps_f", "eps_r"):
            out[name] = check_rate(name, getattr(self, name))
        refr = float(require_nonnegative("refractory_steps", self.refractory_steps, ndim=0))
        if refr != round(refr):
            raise ValueError(f"refractory_steps must be an integer >= 0, got {refr}")
        out["refractory_steps"] = refr
        aut = float(as_array("autapse", self.autapse, ndim=0))
        if aut > 0:
            raise ValueError(f"autapse must be <= 0 (Dale: a self-weight of an E neuron "
                             f"may not excite it), got {aut}")
        out["autapse"] = aut
        return {name: as_leaf(value) for name, value in out.items()}


class DaleLearningState(NamedTuple):
    """State: VE (NE,), VI (NI,), rE (NE,), rI (NI,) traces r~, x (D,) target,
    ibarE (D,) input trace, ibarI (NE,) E-spike trace, weights FE, CEE, CEI, CII, CIE
    (module docstring), lastE (NE,), lastI (NI,) int32 step of the last spike (-10^6:
    none), step () int32."""

    VE: jax.Array
    VI: jax.Array
    rE: jax.Array
    rI: jax.Array
    x: jax.Array
    ibarE: jax.Array
    ibarI: jax.Array
    FE: jax.Array
    CEE: jax.Array
    CEI: jax.Array
    CII: jax.Array
    CIE: jax.Array
    lastE: jax.Array
    lastI: jax.Array
    step: jax.Array


class DaleLearningInputs(NamedTuple):
    """One step's inputs: c (D,), noise (NE + NI,) or (0,), jitter (NE + NI,) or (0,),
    offsets (2,) int32 (E, I tie-breaks)."""

    c: jax.Array
    noise: jax.Array
    jitter: jax.Array
    offsets: jax.Array


class DaleLearningStepRecord(NamedTuple):
    """senders (2,) int32 [E index, I index], fired (2,) bool."""

    senders: jax.Array
    fired: jax.Array


def brendel_dale_weights(n_dims: int = 3, n_i: int = 75, *, key: Any = 0) -> dict:
    """Brendel et al. 2020 Fig. 4 initial weights for NE = 4 NI (``LearningDale.m``):
    FE Gaussian with unit-norm columns, CEI = 0.5 [I I I I], CEE = -0.02 I,
    CII = -0.5 I, CIE = -0.3 CEI^T. Returns a dict of NumPy arrays (DALE_WEIGHTS)."""
    if min(int(n_dims), int(n_i)) < 1:
        raise ValueError(f"n_dims and n_i must be >= 1, got {n_dims}, {n_i}")
    FE = np.array(_normal(as_key(key), int(n_dims), 4 * int(n_i)), float)
    FE /= np.linalg.norm(FE, axis=0)
    CEI = 0.5 * np.tile(np.eye(n_i), (1, 4))
    return {"FE": FE, "CEE": -0.02 * np.eye(4 * n_i), "CEI": CEI, "CII": -0.5 * np.eye(n_i),
            "CIE": -0.3 * CEI.T}


@partial(jax.jit, static_argnames=("rows", "cols"))
def _normal(key, rows: int, cols: int):
    return jax.random.normal(key, (rows, cols))


def _check_dale_weights(params: DaleLearningParams, weights: dict) -> dict:
    missing = set(DALE_WEIGHTS) - set(weights)
    if missing:
        raise ValueError(f"weights must hold {DALE_WEIGHTS}, missing {sorted(missing)}")
    FE = as_array("FE", weights["FE"], ndim=2)
    D, NE = FE.shape
    CEI = as_array("CEI", weights["CEI"], ndim=2)
    NI = CEI.shape[0]
    if D < 1 or NE < 1 or NI < 1:
        raise ValueError(f"FE (D, NE) and CEI (NI, NE) must be non-empty, got {FE.shape}, {CEI.shape}")
    shapes = {"CEE": (NE, NE), "CEI": (NI, NE), "CII": (NI, NI), "CIE": (NE, NI)}
    out = {"FE": FE}
    for name, shape in shapes.items():
        out[name] = require_shape(name, as_array(name, weights[name], ndim=2), shape)
    for name, n in (("thresholds_e", NE), ("thresholds_i", NI)):
        T = np.asarray(getattr(params, name))
        if T.ndim == 1 and T.shape[0] != n:
            raise ValueError(f"{name} must have shape ({n},), got {T.shape}")
    if np.any(out["CEI"] < 0) or np.any(out["CII"] > 0) or np.any(out["CIE"] > 0) or np.any(
            out["CEE"] - np.diag(np.diag(out["CEE"])) < 0):
        raise ValueError("weights break Dale's law: need CEE off-diagonal >= 0, CEI >= 0, "
                         "CII <= 0, CIE <= 0")
    return out


def init_dale_learning_state(params: DaleLearningParams, weights: dict) -> DaleLearningState:
    """State at t = 0 (no spikes, zero voltages and traces) with ``weights`` (dict of
    DALE_WEIGHTS; shapes and signs checked, ``ValueError`` naming the array)."""
    w = _check_dale_weights(params, weights)
    f = jnp.result_type(float)
    D, NE = w["FE"].shape
    NI = w["CEI"].shape[0]
    # host values (NumPy) reach the device without compiled programs
    z = lambda n: to_device(np.zeros(n, f))  # noqa: E731
    return DaleLearningState(z(NE), z(NI), z(NE), z(NI), z(D), z(D), z(NE),
                             *(to_device(w[n], f) for n in DALE_WEIGHTS),
                             to_device(np.full(NE, -(10**6), np.int32)),
                             to_device(np.full(NI, -(10**6), np.int32)),
                             to_device(np.zeros((), np.int32)))


def dale_learning_inputs(params: DaleLearningParams, c, n_e: int, n_i: int, *, key: Any = 0,
                         start_step=0, noisy: bool | None = None,
                         jittery: bool | None = None) -> DaleLearningInputs:
    """Inputs of the steps ``start_step ..`` for ``c`` (T, D); draws as
    :func:`bayesnn.scn.learning.plasticity.learning_inputs` (step k from the key and k only)."""
    c = jnp.asarray(c, jnp.result_type(float))
    noisy = _positive(params.sigma_v) if noisy is None else noisy
    jittery = _positive(params.jitter) if jittery is None else jittery
    noise, jitter, offsets = draw_step_normals(as_key(key), start_step, c.shape[0],
                                               int(n_e) + int(n_i), (int(n_e), int(n_i)),
                                               bool(noisy), bool(jittery))
    return DaleLearningInputs(c, noise, jitter, offsets)


def dale_plastic_step(params: DaleLearningParams, state: DaleLearningState,
                      inputs: DaleLearningInputs, *, plastic: bool = True):
    """One step of the E/I learning network (module docstring); ``plastic=False``
    freezes the weights. Returns ``(new_state, DaleLearningStepRecord)``."""
    p, s = params, state
    dt, lam = p.dt, p.lambda_
    NE = s.VE.shape[0]
    k = s.step
    VE = s.VE + dt * (-lam * s.VE + inputs.c @ s.FE)
    VI = s.VI - dt * lam * s.VI
    if inputs.noise.shape[-1]:
        amp = p.sigma_v * jnp.sqrt(dt)
        VE, VI = VE + amp * inputs.noise[:NE], VI + amp * inputs.noise[NE:]
    x = s.x + dt * (-lam * s.x + inputs.c)
    ibarE = s.ibarE + dt * (-p.lambda_input * s.ibarE + inputs.c)
    ibarI = s.ibarI * (1.0 - p.lambda_spikes * dt)
    rE, rI = s.rE * (1.0 - lam * dt), s.rI * (1.0 - lam * dt)
    zE, zI = VE - p.thresholds_e, VI - p.thresholds_i
    if inputs.jitter.shape[-1]:
        zE, zI = zE - p.jitter * inputs.jitter[:NE], zI - p.jitter * inputs.jitter[NE:]
    okE = (k - s.lastE).astype(dt.dtype) > p.refractory_steps
    okI = (k - s.lastI).astype(dt.dtype) > p.refractory_steps
    FE, CEE, CEI, CII, CIE = s.FE, s.CEE, s.CEI, s.CII, s.CIE
    # E spike
    kE, mE = pick_max(jnp.where(okE, zE, -jnp.inf), inputs.offsets[0])
    fE = mE > 0
    if plastic:
        col = FE[:, kE]
        FE = FE.at[:, kE].set(jnp.where(fE, col + p.eps_f * (ibarE - col), col))
        col = CEE[:, kE]
        new = jnp.maximum(col - p.eps_r * (VE + p.mu * rE + col), 0.0).at[kE].set(p.autapse)
        CEE = CEE.at[:, kE].set(jnp.where(fE, new, col))
    fEf = fE.astype(VE.dtype)
    VE, VI = VE + fEf * CEE[:, kE], VI + fEf * CEI[:, kE]
    ibarI, rE = ibarI.at[kE].add(fEf), rE.at[kE].add(fEf)
    lastE = s.lastE.at[kE].set(jnp.where(fE, k, s.lastE[kE]))
    # I spike
    kI, mI = pick_max(jnp.where(okI, zI, -jnp.inf), inputs.offsets[1])
    fI = mI > 0
    if plastic:
        row = CEI[kI, :]
        CEI = CEI.at[kI, :].set(jnp.where(fI, jnp.maximum(row + p.eps_f * (ibarI - row), 0.0), row))
        col = CII[:, kI]
        target = VI + p.mu * rI + (jnp.arange(VI.shape[0]) == kI) * p.mu
        CII = CII.at[:, kI].set(jnp.where(fI, jnp.minimum(col - p.eps_r * (target + col), 0.0), col))
        col = CIE[:, kI]
        CIE = CIE.at[:, kI].set(jnp.where(fI, jnp.minimum(col - p.eps_r * (VE + p.mu * rE + col), 0.0),
                                          col))
    fIf = fI.astype(VI.dtype)
    VI, VE = VI + fIf * CII[:, kI], VE + fIf * CIE[:, kI]
    rI = rI.at[kI].add(fIf)
    lastI = s.lastI.at[kI].set(jnp.where(fI, k, s.lastI[kI]))
    new_state = DaleLearningState(VE, VI, rE, rI, x, ibarE, ibarI, FE, CEE, CEI, CII, CIE,
                                  lastE, lastI, k + 1)
    return new_state, DaleLearningStepRecord(jnp.stack([kE, kI]), jnp.stack([fE, fI]))


def sign_violations(state_or_weights) -> jax.Array:
    """Number of synapses with the wrong sign (0 under Dale's law): CEE off-diagonal
    < 0, CEI < 0, CII > 0, CIE > 0."""
    w = state_or_weights
    get = (lambda n: w[n]) if isinstance(w, dict) else (lambda n: getattr(w, n))
    CEE = get("CEE")
    off = CEE - jnp.diag(jnp.diagonal(CEE))
    return (jnp.sum(off < 0) + jnp.sum(get("CEI") < 0) + jnp.sum(get("CII") > 0)
            + jnp.sum(get("CIE") > 0))
