r"""Gradient descent through a spiking network: the differentiable gate of Huh &
Sejnowski 2017 ("Gradient descent for spiking neural networks", NeurIPS 31, Sec. 2)
applied to the spike-coding network of :mod:`bayesnn.scn.learning.plasticity`.

Huh & Sejnowski replace the threshold-triggered synaptic pulse by a *gate* g(v),
non-zero only in an active zone of width ``Delta`` around threshold with
``int g dv = 1``: the synaptic drive is ``g(v) dv/dt``, so a neuron whose voltage
crosses the whole zone delivers exactly one spike's charge, a partial crossing a
graded part, and the network becomes a differentiable function of its weights. Here
(discrete time, step dt s) a neuron emits the part of the gate it newly crosses
upwards in the step::

    V^-   = V + dt (-lambda V + F^T c_k)         x <- x + dt (-lambda x + c_k)
    s_k   = max(G((V^- - T)/Delta) - G((V - T)/Delta), 0)      (N,) graded spikes
    V     <- V^- + Omega s_k,   r~ <- (1 - lambda dt) r~ + s_k,   readout y_hat = D r~

with G the cumulative gate: ``G(u) = 0`` below -1/2, ``u + 1/2 + sin(2 pi u)/(2 pi)``
in the zone (the raised-cosine gate, continuously differentiable), 1 above. The
rectification keeps the reset (a fall through the zone) from emitting negative spikes;
H&S's quadratic neurons leave the zone upwards only. Spikes reset through the
diagonal of Omega, as in the hard network, so nothing is discontinuous. As Delta -> 0
the model becomes the hard network with every supra-threshold neuron firing.

:func:`gated_loss` is ``mean_k ||y_k - D r~_k||^2 / mean_k ||y_k||^2`` over the steps
after ``burn_in``; its gradient (``jax.grad`` through the scan) is exact for the
smoothed model and is checked against central finite differences
(:func:`gradient_check`). :func:`train_gated` runs optax's Adam on it, one new input
sequence per iteration; :func:`bayesnn.scn.learning.evaluation.evaluate_weights` then
measures the trained weights in the hard spiking network.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key
from bayesnn.core.params import as_leaf, is_traced, params_record, to_device
from bayesnn.core.validation import as_array, require_positive
from bayesnn.core.validation import require_int as check_int
from bayesnn.scn.learning.signals import SmoothedNoise, _check_spec, noise_block

__all__ = ["GateParams", "gate_cdf", "gated_run", "gated_loss", "gradient_check",
           "TrainResult", "train_gated", "TRAINABLE"]

TRAINABLE = ("D", "F", "Omega")


@params_record
class GateParams:
    """Smoothed network parameters (validated; ``ValueError`` naming the field).

    Fields: lambda_ (s^-1, > 0), dt (s, lambda_ dt < 1), thresholds () or (N,) (> 0),
    width: gate width Delta (> 0, units of V), burn_in: steps left out of the loss
    (>= 0, integral).
    """

    lambda_: jax.Array = 50.0
    dt: jax.Array = 1e-3
    thresholds: jax.Array = 0.5
    width: jax.Array = 0.5
    burn_in: jax.Array = 50.0

    def _validate(self) -> dict:
        lam = float(require_positive("lambda_", self.lambda_, ndim=0))
        dt = float(require_positive("dt", self.dt, ndim=0))
        if lam * dt >= 1:
            raise ValueError(f"dt must satisfy lambda_ * dt < 1, got {lam * dt:.3g}")
        burn = float(as_array("burn_in", self.burn_in, ndim=0))
        if burn < 0 or burn != round(burn):
            raise ValueError(f"burn_in must be an integer >= 0, got {burn}")
        return {"lambda_": as_leaf(lam), "dt": as_leaf(dt),
                "thresholds": as_leaf(require_positive("thresholds", self.thresholds)),
                "width": as_leaf(require_positive("width", self.width, ndim=0)),
                "burn_in": as_leaf(burn)}


def gate_cdf(u: jax.Array) -> jax.Array:
    """Cumulative raised-cosine gate G(u), u = (V - T)/Delta: 0 for u <= -1/2, 1 for
    u >= 1/2, ``u + 1/2 + sin(2 pi u)/(2 pi)`` between (C^1, G' = 1 + cos(2 pi u))."""
    v = jnp.clip(u, -0.5, 0.5)
    return v + 0.5 + jnp.sin(2 * jnp.pi * v) / (2 * jnp.pi)


class GatedResult(NamedTuple):
    """readout (T, Dout) D r~;  spikes (T, N) graded spikes s_k;  target (T, D) x."""

    readout: jax.Array
    spikes: jax.Array
    target: jax.Array


def _check_run(params, weights, c, target=None, readout_map=None):
    """``ValueError`` naming the argument, before any work (skipped under a trace):
    GateParams, a dict of finite F (D, N), Omega (N, N), D (Dout, N), a finite input
    ``c`` (T, D) with T > burn_in, a finite ``target`` (T, Dout), and a target readout
    that is not identically zero after burn_in (the loss would be 0/0)."""
    if is_traced(weights, c, target):
        return
    if not isinstance(params, GateParams):
        raise ValueError(f"params must be a GateParams, got {type(params).__name__}")
    if not isinstance(weights, dict):
        raise ValueError(f"weights must be a dict with {TRAINABLE}, got {type(weights).__name__}")
    missing = sorted(set(TRAINABLE) - set(weights))
    if missing:
        raise ValueError(f"weights must hold {TRAINABLE}, missing {missing}")
    w = {}
    for name in TRAINABLE:
        w[name] = as_array(f"weights[{name!r}]", weights[name], ndim=2)
        if not np.all(np.isfinite(w[name])):
            raise ValueError(f"weights[{name!r}] must be finite")
    n_dims, n = w["F"].shape
    if w["Omega"].shape != (n, n) or w["D"].shape[1] != n:
        raise ValueError(f"weights must have F (D, N), Omega (N, N), D (Dout, N); got F "
                         f"{w['F'].shape}, Omega {w['Omega'].shape}, D {w['D'].shape}")
    c = as_array("c", c, ndim=2)
    if c.shape[1] != n_dims or not np.all(np.isfinite(c)):
        raise ValueError(f"c must be a finite (T, D = {n_dims}) input, got shape {c.shape}")
    burn_in = int(float(params.burn_in))
    if c.shape[0] <= burn_in:
        raise ValueError(f"c must have more than burn_in = {burn_in} steps (the loss is "
                         f"taken after them), got T = {c.shape[0]}")
    if target is not None:
        target = as_array("target", target, ndim=2)
        if target.shape != (c.shape[0], w["D"].shape[0]) or not np.all(np.isfinite(target)):
            raise ValueError(f"target must be finite with shape (T, Dout) = "
                             f"{(c.shape[0], w['D'].shape[0])}, got {target.shape}")
        if not np.any(target[burn_in:]):
            raise ValueError("target is zero after burn_in: the normalised loss is 0/0")
    elif not np.any(c) or (readout_map is not None and not np.any(np.asarray(readout_map))):
        raise ValueError("c (or readout_map) is zero: the target readout is zero and the "
                         "normalised loss is 0/0")


def gated_run(params: GateParams, weights: dict, c) -> GatedResult:
    """Run the smoothed network (module docstring) on ``c`` (T, D) from rest.
    ``weights``: dict with F (D, N), Omega (N, N), D (Dout, N).

    Raises:
        ValueError: naming the argument (:func:`_check_run`), unless traced.
    """
    _check_run(params, weights, c)
    F, Omega, D = weights["F"], weights["Omega"], weights["D"]
    p = params
    N = F.shape[1]
    f = F.dtype
    T = p.thresholds

    def step(carry, ck):
        V, g, r, x = carry
        Vm = V + p.dt * (-p.lambda_ * V + ck @ F)
        x = x + p.dt * (-p.lambda_ * x + ck)
        s = jnp.maximum(gate_cdf((Vm - T) / p.width) - g, 0.0)
        V = Vm + Omega @ s
        r = r * (1.0 - p.lambda_ * p.dt) + s
        return (V, gate_cdf((V - T) / p.width), r, x), (D @ r, s, x)

    zero = jnp.zeros(N, f)
    init = (zero, gate_cdf((zero - T) / p.width) * jnp.ones(N, f), zero, jnp.zeros(F.shape[0], f))
    _, (y, s, x) = jax.lax.scan(step, init, jnp.asarray(c, f))
    return GatedResult(y, s, x)


def gated_loss(trainable: dict, fixed: dict, params: GateParams, c, target=None,
               readout_map=None) -> jax.Array:
    """Normalised readout error ``sum_k ||y_k - D r~_k||^2 / sum_k ||y_k||^2`` over the
    steps after ``burn_in``. The target readout ``y`` is ``target`` (T, Dout) if given,
    else ``M x_k`` for ``readout_map`` M (Dout, D) (a linear readout of the leaky
    integral x of the input), else x itself (the autoencoder task of the local rules).
    Differentiable in ``trainable`` (a dict of some of TRAINABLE; the rest in ``fixed``).
    ``ValueError`` for bad input (finite weights and shapes, T > burn_in, a target
    readout that is not zero after burn_in) unless traced."""
    _check_run(params, {**fixed, **trainable}, c, target, readout_map)
    run = gated_run(params, {**fixed, **trainable}, c)
    y = run.target if readout_map is None else run.target @ jnp.asarray(readout_map).T
    y = y if target is None else target
    keep = (jnp.arange(y.shape[0]) >= params.burn_in)[:, None]
    err = jnp.sum(jnp.where(keep, (y - run.readout) ** 2, 0.0))
    return err / jnp.sum(jnp.where(keep, y**2, 0.0))


def _check_map(readout_map, weights: dict):
    if readout_map is None:
        return None
    M = as_array("readout_map", readout_map, ndim=2)
    if not np.all(np.isfinite(M)):
        raise ValueError("readout_map must be finite")
    D_out, D = np.shape(weights["D"])[0], np.shape(weights["F"])[0]
    if M.shape != (D_out, D):
        raise ValueError(f"readout_map must have shape (Dout, D) = {(D_out, D)} (rows of D, "
                         f"rows of F), got {M.shape}")
    return jnp.asarray(M, jnp.result_type(float))


def _split(weights: dict, train: Sequence[str]) -> tuple[dict, dict]:
    if not isinstance(weights, dict):
        raise ValueError(f"weights must be a dict with {TRAINABLE}, got {type(weights).__name__}")
    if isinstance(train, str):
        train = (train,)
    train = tuple(train)
    bad = set(train) - set(TRAINABLE)
    if not train or bad:
        raise ValueError(f"train must be a non-empty subset of {TRAINABLE}, got {train}")
    missing = set(TRAINABLE) - set(weights)
    if missing:
        raise ValueError(f"weights must hold {TRAINABLE}, missing {sorted(missing)}")
    w = {n: to_device(as_array(f"weights[{n!r}]", weights[n], ndim=2), jnp.result_type(float))
         for n in TRAINABLE}
    for name, value in w.items():
        if not np.all(np.isfinite(np.asarray(value))):  # on the host: no program per shape
            raise ValueError(f"weights[{name!r}] must be finite")
    Dm, N = w["F"].shape
    for name, shape in (("Omega", (N, N)), ("D", (None, N))):
        got = w[name].shape
        if got[1] != N or (shape[0] is not None and got[0] != shape[0]):
            raise ValueError(f"{name} must have shape {tuple('any' if s is None else s for s in shape)}"
                             f" for F of shape {(Dm, N)}, got {got}")
    return ({n: w[n] for n in train}, {n: w[n] for n in TRAINABLE if n not in train})


def gradient_check(params: GateParams, weights: dict, c, *, train=TRAINABLE, key: Any = 0,
                   n_directions: int = 6, step: float = 1e-6, target=None,
                   readout_map=None) -> dict:
    """Directional derivatives of :func:`gated_loss` along ``n_directions`` random unit
    directions in the trainable weights: autodiff ``<grad, u>`` against the central
    difference ``(L(w + h u) - L(w - h u)) / 2h`` (h = ``step``; truncation O(h^2),
    rounding O(eps/h) ~ 1e-10 relative in float64). Returns ``max_rel_error`` (relative
    to max |directional derivative|), ``autodiff`` and ``finite_difference`` arrays."""
    trainable, fixed = _split(weights, train)
    M = _check_map(readout_map, {**fixed, **trainable})
    _check_run(params, {**fixed, **trainable}, c, target, M)
    n_directions = check_int("n_directions", n_directions, 1)
    h = float(require_positive("step", step, ndim=0))
    # the unit directions and <grad, u> by eager JAX operations, as before this path was
    # compiled: fused into one program the norm and the dot sum in another order, and the
    # check's value (a difference of two near-equal derivatives) would move by ~1e-7
    # relative; each of these small programs is compiled once for all directions
    leaves = jax.tree_util.tree_leaves(trainable)
    size = sum(int(np.size(leaf)) for leaf in leaves)
    directions = []
    for raw in _normal_draws(as_key(key), n_directions, size, leaves[0].dtype):
        directions.append(raw / jnp.linalg.norm(raw))
    gflat, fd, value = _directional_derivatives(
        trainable, fixed, params, to_device(c, jnp.result_type(float)), target, M,
        tuple(directions), h)
    ad = np.array([float(gflat @ u) for u in directions])
    fd = np.asarray(fd)
    scale = max(float(np.max(np.abs(ad))), 1e-300)
    return {"max_rel_error": float(np.max(np.abs(ad - fd)) / scale), "autodiff": ad,
            "finite_difference": fd, "loss": float(value), "step": h}


@partial(jax.jit, static_argnames=("n", "size", "dtype"))
def _normal_draws(key, n: int, size: int, dtype):
    """n standard normal vectors (size,), draw i from ``fold_in(key, i)``."""
    return tuple(jax.random.normal(jax.random.fold_in(key, i), (size,), dtype) for i in range(n))


@jax.jit
def _directional_derivatives(trainable, fixed, params, c, target, M, directions, h):
    """The model work of :func:`gradient_check` as one compiled program: (flattened
    gradient, central differences along ``directions`` (n,), loss at ``trainable``)."""
    def loss(w):
        return gated_loss(w, fixed, params, c, target, M)

    grad = jax.grad(loss)(trainable)
    leaves, tree = jax.tree_util.tree_flatten(trainable)
    gflat = jnp.concatenate([g.ravel() for g in jax.tree_util.tree_leaves(grad)])
    fd = []
    for u in directions:
        parts, start = [], 0
        for leaf in leaves:
            parts.append(u[start:start + leaf.size].reshape(leaf.shape))
            start += leaf.size
        shift = lambda sign: jax.tree_util.tree_unflatten(  # noqa: E731
            tree, [a + sign * h * b for a, b in zip(leaves, parts)])
        fd.append((loss(shift(1.0)) - loss(shift(-1.0))) / (2 * h))
    return gflat, jnp.stack(fd), loss(trainable)


class TrainResult(NamedTuple):
    """weights: dict of all TRAINABLE after training;  loss: (I,) training loss per
    iteration (each on a new input sequence)."""

    weights: dict
    loss: np.ndarray


def train_gated(params: GateParams, weights: dict, inputs: SmoothedNoise = SmoothedNoise(), *,
                train: Sequence[str] = ("D", "F"), key: Any = 0, n_iterations: int = 200,
                sequence_steps: int = 1000, learning_rate: float = 1e-2,
                readout_map=None) -> TrainResult:
    """Adam (optax) on :func:`gated_loss`, iteration i on the smoothed-noise sequence
    from ``fold_in(key, i)`` of ``sequence_steps`` steps. ``train``: which of D, F,
    Omega move; ``readout_map`` (Dout, D): train the readout ``D r~`` to produce
    ``M x`` (default: x). ``ValueError`` naming the argument for bad input."""
    import optax

    if not isinstance(params, GateParams):
        raise ValueError(f"params must be a GateParams, got {type(params).__name__}")
    trainable, fixed = _split(weights, train)
    M = _check_map(readout_map, {**fixed, **trainable})
    spec = _check_spec(inputs)
    if spec.n_dims != fixed.get("F", trainable.get("F")).shape[0]:
        raise ValueError(f"inputs.n_dims must equal F's D, got {spec.n_dims}")
    n_iterations = check_int("n_iterations", n_iterations, 1)
    sequence_steps = check_int("sequence_steps", sequence_steps, 1)
    if sequence_steps <= int(float(params.burn_in)):
        raise ValueError(f"sequence_steps must exceed burn_in = {int(float(params.burn_in))}, "
                         f"got {sequence_steps}")
    lr = float(require_positive("learning_rate", learning_rate, ndim=0))
    opt = optax.adam(lr)
    spec = spec._replace(sequence_steps=sequence_steps)
    key = as_key(key)
    loss_grad = jax.value_and_grad(lambda w, c: gated_loss(w, fixed, params, c, None, M))

    @jax.jit
    def run(trainable):
        def one(carry, i):
            w, state = carry
            c = noise_block(spec, jax.random.fold_in(key, i), 0, 1)
            value, grad = loss_grad(w, c)
            updates, state = opt.update(grad, state, w)
            return (optax.apply_updates(w, updates), state), value

        (w, _), losses = jax.lax.scan(one, (trainable, opt.init(trainable)),
                                      jnp.arange(n_iterations))
        return w, losses

    w, losses = run(trainable)
    # checked on the host: no program per shape
    if not all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(jax.device_get(w))):
        raise FloatingPointError("train_gated: weights became non-finite; lower learning_rate")
    return TrainResult({**fixed, **w}, np.asarray(losses))
