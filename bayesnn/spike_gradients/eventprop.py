r"""Exact spike-time gradients (EventProp; Wunderlich & Pehle 2021, "Event-based
backpropagation can compute exact gradients for spiking neural networks", Sci. Rep.
11: 12829) for a feed-forward, event-driven network of leaky integrate-and-fire neurons
with current-based synapses. Float64 NumPy; time in s.

**Forward** (exact, event by event). Neuron n of a layer, inputs j with spike times
t_jm::

    tau_m dV/dt = -V + I,    tau_s dI/dt = -I,    I_n += W_nj at each t_jm,
    V_n = theta (upward)  ->  spike t_k,  V_n <- 0.

With ``tau_s = tau_m / 2`` (as in Göltz et al. 2021, Nat. Mach. Intell. 3: 823) the
free solution from (V0, I0) is a quadratic in ``y = exp(-s / tau_m)``::

    V(s) = (V0 + I0) y - I0 y^2,     I(s) = I0 y^2,

so the next threshold crossing between two input events is the larger root
``y+ = ((V0 + I0) + sqrt((V0 + I0)^2 - 4 I0 theta)) / (2 I0)`` (root finding in closed
form; a crossing exists iff I0 > 0, the discriminant is >= 0 and y+ lies in the
interval). Equivalently ``V_n(t) = sum_jm W_nj kappa(t - t_jm) - theta sum_{t_e < t}
exp(-(t - t_e)/tau_m)`` with ``kappa(s) = exp(-s/tau_m) - exp(-2 s/tau_m)`` (s > 0).

**Backward** (the adjoint of Wunderlich & Pehle, Table 1, for this network). Between
events the adjoint obeys, backwards in time, ``tau_m lambda_V' = lambda_V``,
``tau_s lambda_I' = lambda_I - lambda_V`` (the loss depends on spike times only, so
there is no ``dl_V/dV`` source); at each spike k of neuron n the adjoint jumps by
``c_k = -(dL/dt_k) / V'(t_k^-)`` (``V'(t_k^-) = (I(t_k) - theta)/tau_m``, the slope
at threshold), where ``dL/dt_k`` is the total derivative: the loss's own term plus the
jumps of later spikes that this spike influences (through the reset of the same neuron,
``d V_n(t_q)/d t_k = -theta/tau_m exp(-(t_q - t_k)/tau_m)``, and through the synapses
of the next layer, ``d V_p(t_q)/d t_k = -W_pn kappa'(t_q - t_k)``). The adjoint's
closed-form solution gives the weight gradient as the sum over every later post spike
of the kernels seen at the presynaptic spikes (``= -tau_s sum_{t_jm} lambda_I,n(t_jm)``
in Wunderlich & Pehle's notation)::

    dL/dW_nj = sum_k c_k sum_{t_jm < t_k} kappa(t_k - t_jm).

Processing the spikes in reverse time order evaluates this exactly (no time grid).

**Limits** (documented behaviour): the gradient is that of the spike times with the
spike count fixed; creating or deleting a spike (a crossing appearing or vanishing) has
no gradient. A silent neuron contributes nothing: its gradient is exactly 0, never NaN.
A grazing crossing (``V'(t_k^-) -> 0``) gives a gradient that diverges like
``1 / V'`` (a true property of the hard network). Spikes beyond ``max_spikes`` per
neuron are counted in ``overflow`` and the run must be repeated with a larger cap.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["EventLIF", "LayerSpikes", "layer_forward", "layer_backward", "network_forward",
           "first_spike_loss", "network_grad", "kappa", "gradient_check"]


class EventLIF(NamedTuple):
    """tau_mem (s; tau_syn = tau_mem / 2), theta (threshold, > 0), t_end (s, run length),
    max_spikes (per neuron and sample)."""

    tau_mem: float = 10e-3
    theta: float = 1.0
    t_end: float = 40e-3
    max_spikes: int = 4

    def checked(self) -> "EventLIF":
        for name in ("tau_mem", "theta", "t_end"):
            v = float(getattr(self, name))
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite and > 0, got {v}")
        if int(self.max_spikes) < 1:
            raise ValueError(f"max_spikes must be >= 1, got {self.max_spikes}")
        return self


class LayerSpikes(NamedTuple):
    """times (B, N, K) spike times (inf: none);  vdot (B, N, K) slope V'(t^-) at each
    spike (1/s, NaN where none);  overflow: number of (sample, neuron) pairs that hit K."""

    times: np.ndarray
    vdot: np.ndarray
    overflow: int


def kappa(s, tau_m: float):
    """PSP kernel of a unit current jump, ``exp(-s/tau_m) - exp(-2 s/tau_m)``, 0 for s <= 0."""
    s = np.asarray(s, float)
    pos = s > 0
    sp = np.where(pos, s, 0.0)
    return np.where(pos, np.exp(-sp / tau_m) - np.exp(-2 * sp / tau_m), 0.0)


def _dkappa(s, tau_m: float):
    s = np.asarray(s, float)
    pos = s > 0
    sp = np.where(pos, s, 0.0)
    return np.where(pos, (-np.exp(-sp / tau_m) + 2 * np.exp(-2 * sp / tau_m)) / tau_m, 0.0)


def layer_forward(W: np.ndarray, t_in: np.ndarray, src: np.ndarray, p: EventLIF) -> LayerSpikes:
    """Exact event-driven run of one layer.

    Args:
        W: (N, Nin) weights (units of theta per unit current).
        t_in: (B, M) input spike times, s (inf: no spike).   src: (B, M) int source index.
        p: :class:`EventLIF`.

    Returns:
        :class:`LayerSpikes` with K = ``p.max_spikes``.
    """
    W = np.asarray(W, float)
    B, M = t_in.shape
    N = W.shape[0]
    K, tau, th = int(p.max_spikes), float(p.tau_mem), float(p.theta)
    order = np.argsort(t_in, axis=1, kind="stable")
    ts = np.take_along_axis(t_in, order, 1)
    ss = np.take_along_axis(src, order, 1)
    V = np.zeros((B, N))
    I = np.zeros((B, N))
    tloc = np.zeros((B, N))
    times = np.full((B, N, K), np.inf)
    vdot = np.full((B, N, K), np.nan)
    count = np.zeros((B, N), int)
    overflow = np.zeros((B, N), bool)
    rows = np.arange(B)[:, None]
    cols = np.arange(N)[None, :]
    for m in range(M + 1):
        t_next = np.minimum(ts[:, m], p.t_end) if m < M else np.full(B, float(p.t_end))
        while True:
            dt = np.maximum(t_next[:, None] - tloc, 0.0)
            y_end = np.exp(-dt / tau)
            a = V + I
            disc = a * a - 4 * I * th
            ok = (I > 0) & (disc >= 0) & (a > 0)
            yp = np.where(ok, (a + np.sqrt(np.where(ok, disc, 0.0))) / (2 * np.where(ok, I, 1.0)), 0.0)
            cross = ok & (yp < 1.0) & (yp >= y_end) & ~overflow
            if not cross.any():
                break
            s = -tau * np.log(np.where(cross, yp, 1.0))
            I_now = I * yp * yp
            k = np.minimum(count, K - 1)
            t_sp = tloc + s
            times[rows, cols, k] = np.where(cross, t_sp, times[rows, cols, k])
            vdot[rows, cols, k] = np.where(cross, (I_now - th) / tau, vdot[rows, cols, k])
            count = count + cross
            overflow |= count >= K
            V = np.where(cross, 0.0, V)
            I = np.where(cross, I_now, I)
            tloc = np.where(cross, t_sp, tloc)
        dt = np.maximum(t_next[:, None] - tloc, 0.0)
        y = np.exp(-dt / tau)
        V, I, tloc = (V + I) * y - I * y * y, I * y * y, np.broadcast_to(t_next[:, None], (B, N)).copy()
        if m < M:
            live = ts[:, m] < p.t_end
            I = I + np.where(live[:, None], W[:, ss[:, m]].T, 0.0)
    # the K-th spike is kept; a neuron that would fire again after it is an overflow
    n_over = int(np.sum(overflow & (count >= K)))
    return LayerSpikes(times, vdot, n_over)


def layer_backward(W: np.ndarray, t_in: np.ndarray, src: np.ndarray, out: LayerSpikes,
                   grad_t: np.ndarray, p: EventLIF) -> tuple[np.ndarray, np.ndarray]:
    """Adjoint pass of one layer (module docstring).

    Args:
        W, t_in, src, p: as in :func:`layer_forward`.   out: its result.
        grad_t: (B, N, K) dL/dt of each output spike from the loss and later layers
            (entries of missing spikes are ignored).

    Returns:
        ``(dL/dW (N, Nin), dL/dt_in (B, M))``.
    """
    tau, th = float(p.tau_mem), float(p.theta)
    T = out.times
    fired = np.isfinite(T)
    abar = np.where(fired, grad_t, 0.0).astype(float)
    K = T.shape[2]
    c = np.zeros_like(abar)
    for r in range(K - 1, -1, -1):
        c[:, :, r] = np.where(fired[:, :, r], -abar[:, :, r] / np.where(fired[:, :, r],
                                                                         out.vdot[:, :, r], 1.0), 0.0)
        if r:
            both = fired[:, :, r, None] & fired[:, :, :r]
            lag = np.where(both, np.where(both, T[:, :, r, None], 0.0) - np.where(both, T[:, :, :r], 0.0), np.inf)
            abar[:, :, :r] += c[:, :, r, None] * (-th / tau) * np.exp(-lag / tau)
    # (B, N, K, M) kernels of every input spike seen by every output spike
    seen = fired[..., None] & np.isfinite(t_in)[:, None, None, :]
    lag = np.where(seen, np.where(fired, T, 0.0)[..., None]
                   - np.where(np.isfinite(t_in), t_in, 0.0)[:, None, None, :], -1.0)
    kap, dkap = kappa(lag, tau), _dkappa(lag, tau)
    ck = np.einsum("bnk,bnkm->bnm", c, kap)                   # (B, N, M)
    Nin = W.shape[1]
    onehot = np.zeros(src.shape + (Nin,))
    np.put_along_axis(onehot, src[..., None], 1.0, axis=-1)
    gW = np.einsum("bnm,bmi->ni", ck, onehot)
    cd = np.einsum("bnk,bnkm->bnm", c, dkap)                  # (B, N, M)
    w_src = W[:, src].transpose(1, 0, 2)                      # (B, N, M)
    g_in = -np.sum(cd * w_src, axis=1)
    return gW, g_in


def _flatten(spk: LayerSpikes):
    B, N, K = spk.times.shape
    t = spk.times.reshape(B, N * K)
    src = np.broadcast_to(np.repeat(np.arange(N), K)[None], (B, N * K))
    return t, np.ascontiguousarray(src)


def network_forward(weights: Sequence[np.ndarray], t_in, src, p: EventLIF) -> list[LayerSpikes]:
    """Run the layers in order (layer l's spikes are layer l+1's inputs)."""
    p = p.checked()
    for l, W in enumerate(weights):
        if np.ndim(W) != 2 or not np.all(np.isfinite(W)):
            raise ValueError(f"weights[{l}] must be a finite 2-d array, got shape {np.shape(W)}")
    t, s = np.asarray(t_in, float), np.asarray(src, int)
    if t.ndim != 2 or s.shape != t.shape or np.isnan(t).any() or (t < 0).any():
        raise ValueError(f"t_in must be (B, M) spike times >= 0 s (inf: none) with src of the "
                         f"same shape, got {t.shape} and {s.shape}")
    if s.size and (s.min() < 0 or s.max() >= np.shape(weights[0])[1]):
        raise ValueError(f"src must index the {np.shape(weights[0])[1]} inputs of weights[0]")
    outs = []
    for W in weights:
        out = layer_forward(W, t, s, p)
        outs.append(out)
        t, s = _flatten(out)
    return outs


def first_spike_loss(times: np.ndarray, labels: np.ndarray, p: EventLIF, *, tau0: float = 5e-3,
                     alpha: float = 0.01, tau1: float = 20e-3):
    """Time-to-first-spike cross-entropy (Göltz et al. 2021, Eq. 4 with a regulariser):
    ``mean_b [-log softmax(-t_b / tau0)[y_b] + alpha (exp(t_{b,y}/tau1) - 1)]`` with t the
    first output spike time (``t_end`` for a silent neuron: constant, no gradient).
    Returns ``(loss, dL/dt (B, N))``."""
    first = times[:, :, 0]
    silent = ~np.isfinite(first)
    t = np.where(silent, p.t_end, first)
    B = t.shape[0]
    logits = -t / tau0
    logits = logits - logits.max(1, keepdims=True)
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    idx = np.arange(B)
    reg = alpha * (np.exp(t[idx, labels] / tau1) - 1)
    loss = np.mean(-np.log(prob[idx, labels]) + reg)
    g = prob.copy()
    g[idx, labels] -= 1.0
    g = -g / tau0
    g[idx, labels] += alpha * np.exp(t[idx, labels] / tau1) / tau1
    g = np.where(silent, 0.0, g) / B
    return loss, g


def network_grad(weights: Sequence[np.ndarray], t_in, src, labels, p: EventLIF, **loss_kw):
    """Loss of :func:`first_spike_loss` on the last layer and its exact gradient with
    respect to every weight matrix. Returns ``(loss, [dL/dW], outs)``."""
    outs = network_forward(weights, t_in, src, p)
    loss, g_first = first_spike_loss(outs[-1].times, np.asarray(labels), p, **loss_kw)
    g = np.zeros_like(outs[-1].times)
    g[:, :, 0] = g_first
    grads = [None] * len(weights)
    ins = [(np.asarray(t_in, float), np.asarray(src, int))] + [_flatten(o) for o in outs[:-1]]
    for l in range(len(weights) - 1, -1, -1):
        gW, g_in = layer_backward(weights[l], ins[l][0], ins[l][1], outs[l], g, p)
        grads[l] = gW
        if l:
            g = g_in.reshape(outs[l - 1].times.shape)
    return loss, grads, outs


def gradient_check(weights: Sequence[np.ndarray], t_in, src, labels, p: EventLIF, *,
                   n_directions: int = 6, step: float = 1e-5, seed: int = 0) -> dict:
    """EventProp's directional derivatives ``<grad, u>`` along ``n_directions`` random
    unit directions against central differences of the hard network's loss,
    ``(L(W + h u) - L(W - h u)) / 2h`` (h = ``step``: truncation O(h^2 L''') and rounding
    O(eps L / h), both ~1e-10 relative here), used only where the spike count is the
    same at W, W + h u and W - h u (``n_valid`` directions). Returns ``max_rel_error``
    (relative to max |derivative|), the two arrays and ``n_valid``."""
    rng = np.random.default_rng(seed)
    loss, grads, outs = network_grad(weights, t_in, src, labels, p)
    count = [int(np.isfinite(o.times).sum()) for o in outs]

    def at(ws):
        o = network_forward(ws, t_in, src, p)
        return (first_spike_loss(o[-1].times, np.asarray(labels), p)[0],
                [int(np.isfinite(x.times).sum()) for x in o])
    ad, fd = [], []
    for _ in range(int(n_directions)):
        u = [rng.normal(size=np.shape(w)) for w in weights]
        norm = np.sqrt(sum(float((a**2).sum()) for a in u))
        u = [a / norm for a in u]
        lp, cp = at([w + step * a for w, a in zip(weights, u)])
        lm, cm = at([w - step * a for w, a in zip(weights, u)])
        if cp != count or cm != count:
            continue
        fd.append((lp - lm) / (2 * step))
        ad.append(sum(float((g * a).sum()) for g, a in zip(grads, u)))
    ad, fd = np.array(ad), np.array(fd)
    scale = max(float(np.max(np.abs(ad))) if ad.size else 0.0, 1e-300)
    return {"max_rel_error": float(np.max(np.abs(ad - fd)) / scale) if ad.size else float("nan"),
            "eventprop": ad, "finite_difference": fd, "n_valid": int(ad.size), "loss": float(loss),
            "spike_counts": count, "step": step}
