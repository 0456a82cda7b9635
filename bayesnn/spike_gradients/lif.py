r"""A plain feed-forward LIF network in discrete time, trained by surrogate gradients
(the method is not specific to spike-coding networks).

Same neuron as :mod:`bayesnn.spike_gradients.eventprop` (current-based synapses,
``tau_s = tau_m / 2``), stepped with the exact propagator of the linear part over one
step dt (``y = exp(-dt/tau_m)``)::

    I <- I + W s_in[k]                    (input spikes of step k, at its start)
    V <- (V + I) y - I y^2,   I <- I y^2   (exact over dt)
    s_k = H(V - theta)  (surrogate: fast sigmoid, width w),   V <- (1 - s_k) V

so the only difference from the event-driven network is that a spike is detected at
the end of its step (spike times quantised to dt). The first-spike time of an output
neuron is ``t_first = dt sum_k prod_{j<k} (1 - s_j)`` (``T dt`` if silent), which makes
the loss of :func:`bayesnn.spike_gradients.eventprop.first_spike_loss` a function
of the spikes that the surrogate can differentiate. BPTT via
:func:`~bayesnn.spike_gradients.bptt.scan_checkpointed`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.spike_gradients.bptt import scan_checkpointed
from bayesnn.spike_gradients.spike_fn import spike

__all__ = ["LIFNet", "lif_run", "first_spike_times", "lif_first_spike_times",
           "lif_first_spike_loss"]


class LIFNet(NamedTuple):
    """tau_mem (s), theta, dt (s), n_steps (run of n_steps dt), width (surrogate, V),
    checkpoint_every (steps per checkpointed chunk, divides n_steps)."""

    tau_mem: float = 10e-3
    theta: float = 1.0
    dt: float = 0.5e-3
    n_steps: int = 80
    width: float = 0.3
    checkpoint_every: int = 20


def _layers_step(weights, states, x, p: LIFNet, y: float):
    """One step of every layer: new states and each layer's spikes."""
    new, out = [], []
    for W, (V, I) in zip(weights, states):
        I = I + x @ W.T
        V, I = (V + I) * y - I * y * y, I * y * y
        s = spike(V - p.theta, p.width)
        V = (1.0 - s) * V
        new.append((V, I))
        out.append(s)
        x = s
    return new, out


def lif_run(weights: Sequence[jax.Array], s_in: jax.Array, p: LIFNet) -> list[jax.Array]:
    """Spikes (B, T, N_l) of every layer for input spikes ``s_in`` (B, T, Nin) (0/1 per
    step); ``weights[l]`` is (N_l, N_{l-1}). Traceable; differentiable (surrogate).
    Memory O(T B N) (the spike trains are returned); for training use
    :func:`lif_first_spike_times`."""
    y = float(np.exp(-p.dt / p.tau_mem))
    B = s_in.shape[0]

    def body(carry, s_k):
        return _layers_step(weights, carry, s_k, p, y)

    f = s_in.dtype
    init = [(jnp.zeros((B, W.shape[0]), f), jnp.zeros((B, W.shape[0]), f)) for W in weights]
    _, outs = scan_checkpointed(body, init, jnp.swapaxes(s_in, 0, 1), p.checkpoint_every)
    return [jnp.swapaxes(o, 0, 1) for o in outs]


def first_spike_times(s: jax.Array, dt: float) -> jax.Array:
    """``dt sum_k prod_{j<k} (1 - s_j)`` over the step axis of s (B, T, N): the first
    spike's step end time (s), ``T dt`` for a silent neuron."""
    alive = jnp.cumprod(1.0 - s, axis=1)
    before = jnp.concatenate([jnp.ones_like(alive[:, :1]), alive[:, :-1]], axis=1)
    return dt * jnp.sum(before, axis=1)


def lif_first_spike_times(weights: Sequence[jax.Array], k_in: jax.Array, p: LIFNet) -> jax.Array:
    """First-spike times (B, N_out) of the last layer (:func:`first_spike_times`) for
    inputs given as spike steps ``k_in`` (B, Nin) int (input j spikes once, in step
    ``k_in[b, j]``; -1: never). The input row of step k is made inside the scan and the
    first-spike sum is carried, so memory is O(B N) per checkpoint, T / chunk
    checkpoints, and one chunk recomputed at a time: it does not grow with T beyond
    the checkpoints."""
    y = float(np.exp(-p.dt / p.tau_mem))
    B = k_in.shape[0]
    f = weights[0].dtype
    No = weights[-1].shape[0]

    def body(carry, k):
        states, alive, tsum = carry
        states, out = _layers_step(weights, states, (k_in == k).astype(f), p, y)
        tsum = tsum + alive                 # prod_{j<k} (1 - s_j), before this step's spike
        return (states, alive * (1.0 - out[-1]), tsum), None

    init = ([(jnp.zeros((B, W.shape[0]), f), jnp.zeros((B, W.shape[0]), f)) for W in weights],
            jnp.ones((B, No), f), jnp.zeros((B, No), f))
    (_, _, tsum), _ = scan_checkpointed(body, init, jnp.arange(p.n_steps), p.checkpoint_every)
    return p.dt * tsum


def lif_first_spike_loss(weights, k_in, labels, p: LIFNet, *, tau0: float = 5e-3,
                         alpha: float = 0.01, tau1: float = 20e-3) -> jax.Array:
    """The time-to-first-spike cross-entropy of
    :func:`bayesnn.spike_gradients.eventprop.first_spike_loss` on the discrete network
    for input spike steps ``k_in`` (B, Nin) (silent output: ``T dt``; its surrogate
    gradient is not zero)."""
    t = lif_first_spike_times(weights, k_in, p)
    logp = jax.nn.log_softmax(-t / tau0, axis=1)
    ty = jnp.take_along_axis(t, labels[:, None], 1)[:, 0]
    nll = -jnp.take_along_axis(logp, labels[:, None], 1)[:, 0]
    return jnp.mean(nll + alpha * (jnp.exp(ty / tau1) - 1))
