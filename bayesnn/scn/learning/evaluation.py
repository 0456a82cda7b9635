r"""Measuring a learned network with frozen weights (Brendel et al. 2020, code
``Figure2/Learning.m`` and ``Figure4/FanoCV.m``).

For weights (F, Omega) (a snapshot of :func:`bayesnn.scn.learn`, or a batch of them):

- **decoding error of the optimal linear decoder**: run the frozen network on a
  training input, fit ``D = argmin sum_t ||x_t - D r~_t||^2`` (least squares, no
  intercept), run it on an independent test input and report
  ``sum_d var_t(x_d - (D r~)_d) / sum_d var_t(x_d)``; the same with the best-scaled
  decoder ``s F`` (the theory's decoder: after learning the optimal decoder is
  proportional to F).
- **rate** (Hz, population mean) and **voltage variance** on the test run.
- **ISI CV** under constant inputs: ``cv_directions`` random unit directions times
  ``cv_amplitude``, the run starting at the steady target ``x0 = c / lambda``; per
  neuron std/mean (ddof 0) of its ISIs (neurons with >= 3 spikes), averaged over
  neurons and directions (FanoCV.m).

Everything is accumulated in the scan (moments ``sum r r^T``, ``sum x r^T``, ...), so
memory does not grow with the duration. :func:`best_fixed_point` gives the optimal
recurrent weights for a learned F, the reference of the "known optimum" comparison.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.validation import as_array
from bayesnn.core import as_key
from bayesnn.core.params import to_device
from bayesnn.core.validation import require_int as check_int
from bayesnn.scn.learning.signals import SmoothedNoise, check_inputs, input_block
from bayesnn.scn.learning.statistics import (
    _Acc, accumulate, add_moments, decoding_error, empty_acc, optimal_decoder, zero_moments,
)
from bayesnn.scn.learning.plasticity import (
    LearningParams, LearningState, _positive, check_weights, learning_inputs, plastic_step,
)

__all__ = ["Evaluation", "evaluate_weights", "best_fixed_point"]


class Evaluation(NamedTuple):
    """Frozen-network measures (leading axes: those of the evaluated weights).

    Fields:
        error: normalised test error of the optimal linear decoder (0 = perfect).
        error_f: the same with the best-scaled decoder ``s F``.
        decoder: (..., D, N) optimal decoder.   decoder_scale: s.
        rate: population-mean rate on the test run, Hz.
        voltage_var: mean voltage variance per neuron on the test run.
        cv: mean ISI CV under constant inputs (NaN if no neuron has >= 3 spikes).
    """

    error: jax.Array
    error_f: jax.Array
    decoder: jax.Array
    decoder_scale: jax.Array
    rate: jax.Array
    voltage_var: jax.Array
    cv: jax.Array


def _run_frozen(params, F, Omega, c_of_block, key, n_blocks, block, x0, noisy, jittery):
    """Scan the frozen network; returns (moments, acc, n_steps)."""
    D, N = F.shape
    f = F.dtype
    state = LearningState(V=x0 @ F, rates=jnp.zeros(N, f), x=x0, F=F, OmegaT=Omega.T,
                          step=jnp.zeros((), jnp.int32))
    mom = zero_moments(D, N, f)

    def inner(carry, inp):
        st, m, acc = carry
        k = st.step
        st, rec = plastic_step(params, st, inp, plastic=False)
        m = add_moments(m, st.x, st.rates)
        return (st, m, accumulate(acc, k, st.V, rec.sender, rec.fired)), None

    def one_block(carry, b):
        st = carry[0]
        inp = learning_inputs(params, c_of_block(b), N, key=key, start_step=st.step,
                              noisy=noisy, jittery=jittery)
        carry, _ = jax.lax.scan(inner, carry, inp)
        return carry, None

    (_, mom, acc), _ = jax.lax.scan(one_block, (state, mom, empty_acc(N, f)),
                                    jnp.arange(n_blocks))
    return mom, acc


def _cv(acc: _Acc) -> jax.Array:
    ok = acc.n_isi >= 2
    m = acc.s1 / jnp.maximum(acc.n_isi, 1)
    sd = jnp.sqrt(jnp.maximum(acc.s2 / jnp.maximum(acc.n_isi, 1) - m * m, 0.0))
    cv = jnp.where(ok, sd / jnp.where(ok, m, 1.0), 0.0)
    return jnp.where(jnp.any(ok), jnp.sum(cv) / jnp.maximum(jnp.sum(ok), 1), jnp.nan)


@partial(jax.jit, static_argnames=("spec", "n_blocks", "block", "cv_blocks", "noisy",
                                   "jittery"))
def _evaluate_one(params, F, Omega, arr, key, directions, *, spec, n_blocks, block,
                  cv_blocks, noisy, jittery):
    D, N = F.shape
    inputs = spec if spec is not None else arr
    ktrain, ktest, kcv = (jax.random.fold_in(key, i) for i in range(3))
    zero = jnp.zeros(D, F.dtype)
    run = partial(_run_frozen, params, F, Omega, n_blocks=n_blocks, block=block,
                  noisy=noisy, jittery=jittery)
    mtrain, _ = run(lambda b: input_block(inputs, ktrain, b, block), ktrain, x0=zero)
    mtest, acc = run(lambda b: input_block(inputs, ktest, b, block), ktest, x0=zero)
    n = n_blocks * block
    dec = optimal_decoder(mtrain)
    s = jnp.sum(F * mtrain.XR) / jnp.sum((F @ mtrain.RR) * F)
    err, err_f = decoding_error(mtest, dec), decoding_error(mtest, s * F)
    rate = jnp.sum(acc.spikes) / (N * n * params.dt)
    vm = acc.v1 / n
    vvar = jnp.mean(acc.v2 / n - vm * vm)

    def cv_of(u, i):
        c = params.lambda_ * u   # constant input c = lambda x0 keeps x at x0
        _, a = run(lambda b: jnp.broadcast_to(c, (block, D)), jax.random.fold_in(kcv, i),
                   n_blocks=cv_blocks, x0=u)
        return _cv(a)

    cvs = jax.vmap(cv_of)(directions, jnp.arange(directions.shape[0]))
    return Evaluation(err, err_f, dec, s, rate, vvar, jnp.nanmean(cvs))


def evaluate_weights(params: LearningParams, F, Omega, inputs=SmoothedNoise(), *,
                     key: Any = 0, duration: float = 10.0, record_every: int = 1000,
                     cv_duration: float = 2.0, cv_directions: int = 4,
                     cv_amplitude: float = 1.8) -> Evaluation:
    """Measure frozen networks (module docstring).

    Args:
        params: :class:`~bayesnn.scn.learning.plasticity.LearningParams` (rates unused).
        F: (..., D, N), Omega: (..., N, N) weights (e.g. ``result.F_snapshots``);
            every leading index is evaluated on the same inputs and random numbers.
        inputs: :class:`~bayesnn.scn.learning.SmoothedNoise` or an array (T, D) for
            the training and test runs (an array serves both).
        key: int seed or JAX key (train, test and CV runs use fold_in(key, 0 / 1 / 2)).
        duration: s of each of the training and test runs (multiple of
            record_every * dt).
        record_every: steps per generated input block.
        cv_duration: s per constant-input direction.   cv_directions: >= 1.
        cv_amplitude: |x0| of the constant inputs (units of x; c = lambda x0).

    Returns:
        :class:`Evaluation`. ``ValueError`` naming the argument for bad input.
    """
    F = np.asarray(as_array("F", F))
    Omega = np.asarray(as_array("Omega", Omega))
    if F.ndim < 2 or Omega.ndim != F.ndim or Omega.shape[:-2] != F.shape[:-2]:
        raise ValueError(f"F (..., D, N) and Omega (..., N, N) must have the same leading "
                         f"axes, got {F.shape} and {Omega.shape}")
    lead = F.shape[:-2]
    Fb = F.reshape((-1,) + F.shape[-2:])
    Ob = Omega.reshape((-1,) + Omega.shape[-2:])
    check_weights(params, Fb[0], Ob[0])
    D, N = Fb.shape[1:]
    block = check_int("record_every", record_every, 1)
    data, n_steps = check_inputs(inputs, D, float(params.dt), duration, block)
    _, cv_steps = check_inputs(SmoothedNoise(D), D,
                               float(params.dt), cv_duration, block)
    cv_directions = check_int("cv_directions", cv_directions, 1)
    amp = float(as_array("cv_amplitude", cv_amplitude, ndim=0))
    if not amp > 0:
        raise ValueError(f"cv_amplitude must be > 0, got {amp}")
    key = as_key(key)
    u = np.asarray(_directions(key, cv_directions, D))
    u = amp * u / np.linalg.norm(u, axis=1, keepdims=True)
    f = jnp.result_type(float)
    spec = data if isinstance(data, SmoothedNoise) else None
    arr = None if spec is not None else to_device(data, f)
    static = dict(spec=spec, n_blocks=n_steps // block, block=block, cv_blocks=cv_steps // block,
                  noisy=_positive(params.sigma_v), jittery=_positive(params.jitter))
    u = to_device(u, f)
    # one weight set per call of one compiled program (the same program whatever the
    # number of weight sets), results gathered on the host
    outs = [jax.device_get(_evaluate_one(params, to_device(Fk, f), to_device(Ok, f), arr, key, u,
                                         **static))
            for Fk, Ok in zip(Fb, Ob)]
    return Evaluation(*(np.stack(field).reshape(lead + np.shape(field[0])) for field in zip(*outs)))


@partial(jax.jit, static_argnames=("n", "D"))
def _directions(key, n: int, D: int):
    """(n, D) standard normal draws of the constant-input directions (key fold 9)."""
    return jax.random.normal(jax.random.fold_in(key, 9), (n, D))


def best_fixed_point(F, Omega) -> tuple[np.ndarray, float, float]:
    """The fixed point ``s (-F^T F) - m I`` nearest to ``Omega`` in Frobenius norm
    (least squares in s and m): returns (matrix (N, N), s, m). With these weights the
    network is the B13 autoencoder with decoder ``Gamma = sqrt(s) F``,
    ``cost_quad = m``, driven by ``c / sqrt(s)``."""
    F = np.asarray(F, float)
    Omega = np.asarray(Omega, float)
    N = F.shape[1]
    W = -F.T @ F
    basis = np.stack([W.ravel(), -np.eye(N).ravel()], 1)
    (s, m), *_ = np.linalg.lstsq(basis, Omega.ravel(), rcond=None)
    return s * W - m * np.eye(N), float(s), float(m)
