r"""Classification of scikit-learn's 8x8 digits (1797 images, shipped with the package,
offline) by a small LIF network trained by surrogate gradients
(:mod:`~bayesnn.spike_gradients.lif`) and by EventProp
(:mod:`~bayesnn.spike_gradients.eventprop`), next to a non-spiking logistic regression
on the same pixels.

Encoding (latency code): pixel value v in 0..16 spikes once at
``t = t_max (1 - v/16)`` rounded to the grid of dt (v = 0: no spike), so the brightest
pixels spike first; both networks get the same spike times. Prediction: the output
neuron that spikes first (ties and silence: the lowest index among the earliest).
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.spike_gradients.eventprop import EventLIF, network_forward, network_grad
from bayesnn.spike_gradients.lif import LIFNet, first_spike_times, lif_first_spike_loss, lif_run

__all__ = ["DigitsData", "load_digits_spikes", "logistic_baseline", "init_weights",
           "DigitsResult", "train_digits", "predict_eventprop", "predict_surrogate",
           "compare_gradients"]


class DigitsData(NamedTuple):
    """Latency-coded split: t_train (n, 64) s (inf: none), y_train (n,), same for test,
    x_train / x_test (n, 64) pixels / 16."""

    t_train: np.ndarray
    y_train: np.ndarray
    t_test: np.ndarray
    y_test: np.ndarray
    x_train: np.ndarray
    x_test: np.ndarray


def load_digits_spikes(*, t_max: float = 20e-3, dt: float = 0.5e-3, test_size: float = 0.25,
                       seed: int = 0) -> DigitsData:
    """Load, split (stratified, ``seed``) and latency-encode the 8x8 digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    xtr, xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed,
                                          stratify=y)

    def enc(x):
        t = np.round(t_max * (1 - x) / dt) * dt
        return np.where(x > 0, t, np.inf)
    return DigitsData(enc(xtr), ytr, enc(xte), yte, xtr, xte)


def logistic_baseline(data: DigitsData) -> float:
    """Test accuracy of scikit-learn's LogisticRegression on the pixels (non-spiking)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=5000).fit(data.x_train, data.y_train)
    return float(clf.score(data.x_test, data.y_test))


def init_weights(n_hidden: int, *, seed: int = 0, n_in: int = 64, n_out: int = 10):
    """Gaussian weights scaled so that most hidden and output neurons spike."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.2, 0.3, (n_hidden, n_in)),
            rng.normal(0.4, 0.5, (n_out, n_hidden))]


def _to_k(t, p: LIFNet):
    """(B, Nin) int spike step of each input (-1: none or past the run)."""
    k = np.where(np.isfinite(t), np.round(np.where(np.isfinite(t), t, 0.0) / p.dt), -1).astype(int)
    return np.where(k < p.n_steps, k, -1)


def _to_steps(t, p: LIFNet):
    """(B, T, Nin) 0/1 input spikes from times (inf: none)."""
    B, M = t.shape
    k = np.where(np.isfinite(t), np.round(t / p.dt), -1).astype(int)
    s = np.zeros((B, p.n_steps, M))
    b, m = np.nonzero((k >= 0) & (k < p.n_steps))
    s[b, k[b, m], m] = 1.0
    return s


def predict_eventprop(weights, t, p: EventLIF):
    """(predicted labels (B,), spikes per sample (B,))."""
    src = np.tile(np.arange(t.shape[1]), (t.shape[0], 1))
    outs = network_forward(weights, t, src, p)
    first = np.where(np.isfinite(outs[-1].times[:, :, 0]), outs[-1].times[:, :, 0], np.inf)
    n = sum(np.isfinite(o.times).sum(axis=(1, 2)) for o in outs)
    return np.argmin(first, axis=1), n


def predict_surrogate(weights, t, p: LIFNet):
    """(predicted labels (B,), spikes per sample (B,)) of the discrete network."""
    put = jax.device_put  # no XLA program (jnp.asarray compiles one per shape)
    labels, n = _predict_surrogate([put(np.asarray(w)) for w in weights],
                                   put(_to_steps(t, p)), p)
    return np.asarray(labels), np.asarray(n)


@partial(jax.jit, static_argnames="p")
def _predict_surrogate(weights, s_in, p: LIFNet):
    """The forward pass and its read-out as one program (eagerly, each jnp call
    compiled a program of its own per batch shape)."""
    outs = lif_run(weights, s_in, p)
    first = first_spike_times(outs[-1], p.dt)
    n = sum(jnp.sum(o, axis=(1, 2)) for o in outs)
    return jnp.argmin(first, axis=1), n


class DigitsResult(NamedTuple):
    """weights (those of the best validation epoch); loss (iterations,); test_accuracy;
    spikes_per_sample (test mean); cpu_seconds of training; method; validation_accuracy
    (per epoch); best_epoch (1-based; 0: the initial weights)."""

    weights: list
    loss: np.ndarray
    test_accuracy: float
    spikes_per_sample: float
    cpu_seconds: float
    method: str
    validation_accuracy: list
    best_epoch: int


def train_digits(data: DigitsData, method: str, *, n_hidden: int = 40, epochs: int = 5,
                 batch_size: int = 64, learning_rate: float = 3e-3, seed: int = 0,
                 n_train: int | None = None, n_test: int | None = None,
                 event: EventLIF = EventLIF(), lif: LIFNet = LIFNet(),
                 clip: float | None = None) -> DigitsResult:
    """Train by ``method`` = "surrogate" or "eventprop" with Adam (optax), minibatches
    in a per-epoch permutation from ``seed`` (``clip``: global-norm gradient clipping
    before Adam). The last fifth of the training images is held out for validation; the
    weights of the epoch with the best validation accuracy are kept (early stopping:
    EventProp's exact gradients silence neurons that then get no gradient, and its
    accuracy can fall with more epochs), then evaluated on the test split."""
    import optax

    if method not in ("surrogate", "eventprop"):
        raise ValueError(f"method must be 'surrogate' or 'eventprop', got {method!r}")
    t_tr, y_tr = data.t_train[:n_train], data.y_train[:n_train]
    n_val = len(y_tr) // 5
    t_va, y_va = t_tr[len(y_tr) - n_val:], y_tr[len(y_tr) - n_val:]
    t_tr, y_tr = t_tr[:len(y_tr) - n_val], y_tr[:len(y_tr) - n_val]
    predict = (lambda w, t: predict_surrogate(w, t, lif)) if method == "surrogate" else (
        lambda w, t: predict_eventprop(w, t, event))
    t_te, y_te = data.t_test[:n_test], data.y_test[:n_test]
    put = jax.device_put  # host arrays in without an XLA program each (jnp.asarray)
    w = [put(a) for a in init_weights(n_hidden, seed=seed)]
    opt = optax.adam(learning_rate)
    if clip is not None:
        opt = optax.chain(optax.clip_by_global_norm(float(clip)), opt)
    state = opt.init(w)
    rng = np.random.default_rng(seed + 1)
    losses = []
    if method == "surrogate":
        vg = jax.jit(jax.value_and_grad(lambda w, s, y: lif_first_spike_loss(w, s, y, lif)))
    started = time.process_time()
    best_w = [np.asarray(a) for a in w]
    val = [float(np.mean(predict(best_w, t_va)[0] == y_va))]
    best = 0
    stopped = False
    for epoch in range(epochs):
        if stopped:
            break
        perm = rng.permutation(len(y_tr))
        for i in range(0, len(perm) - batch_size + 1, batch_size):
            idx = perm[i:i + batch_size]
            if method == "surrogate":
                value, g = vg(w, put(_to_k(t_tr[idx], lif)), put(np.asarray(y_tr[idx])))
            else:
                src = np.tile(np.arange(64), (len(idx), 1))
                value, g, _ = network_grad([np.asarray(a) for a in w], t_tr[idx], src,
                                           y_tr[idx], event)
                g = [put(np.asarray(a)) for a in g]
            # checked on the host (the same test, no XLA program per weight shape)
            if not (np.isfinite(float(value)) and all(np.all(np.isfinite(np.asarray(a)))
                                                      for a in g)):
                stopped = True     # documented stop: keep the best finite weights so far
                break
            upd, state = opt.update(g, state, w)
            w = optax.apply_updates(w, upd)
            losses.append(float(value))
        now = [np.asarray(a) for a in w]
        val.append(float(np.mean(predict(now, t_va)[0] == y_va)))
        if val[-1] > val[best]:
            best, best_w = epoch + 1, now
    seconds = time.process_time() - started
    pred, n = predict(best_w, t_te)
    return DigitsResult(best_w, np.asarray(losses), float(np.mean(pred == y_te)),
                        float(np.mean(n)), seconds, method, val, best)


def compare_gradients(data: DigitsData, *, n_hidden: int = 40, batch_size: int = 64,
                      seed: int = 0, event: EventLIF = EventLIF(max_spikes=8),
                      lif: LIFNet = LIFNet()) -> dict:
    """EventProp's exact gradient and the surrogate gradient of the discrete network
    (the same first-spike loss, weights and images) at the initial weights: per layer
    cosine similarity and norms; both losses."""
    w = init_weights(n_hidden, seed=seed)
    t, y = data.t_train[:batch_size], data.y_train[:batch_size]
    src = np.tile(np.arange(t.shape[1]), (len(y), 1))
    le, ge, _ = network_grad(w, t, src, y, event)
    ls, gs = jax.value_and_grad(lambda w: lif_first_spike_loss(
        w, jnp.asarray(_to_k(t, lif)), jnp.asarray(y), lif))([jnp.asarray(a) for a in w])
    gs = [np.asarray(a) for a in gs]
    return {"loss_eventprop": float(le), "loss_surrogate": float(ls),
            "cosine": [float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))
                       for a, b in zip(ge, gs)],
            "norm_eventprop": [float(np.linalg.norm(a)) for a in ge],
            "norm_surrogate": [float(np.linalg.norm(b)) for b in gs]}
