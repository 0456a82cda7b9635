r"""An STDP convolutional feature layer in the spirit of Kheradpisheh et al. 2018.

Kheradpisheh, Ganjtabesh, Thorpe & Masquelier 2018, *Neural Networks* 99: 56-67
("STDP-based spiking deep convolutional neural networks for object recognition"),
reduced to one convolutional layer for 8x8 digits (the paper's network has three layers
on 28x28 MNIST; full MNIST is not available offline here). Not a probabilistic model:
judge it by linear-readout accuracy, not by likelihood.

* **Input**: on- and off-centre difference-of-Gaussians (DoG) of the image (2 channels),
  responses below ``input_threshold`` dropped; intensity-to-latency coding over T steps,
  at most one spike per input neuron (stronger = earlier): ``t = floor((1 - v / v_max) T)``.
  Spike waves are cumulative (a neuron that fired stays 1), as in SpykeTorch.
* **Layer**: non-leaky integrate-and-fire convolution, V_f(t, p) = sum W_f * s_cum(t)
  over a k x k x 2 patch; a neuron fires once, at the first t with V >= threshold.
  Pointwise lateral inhibition: at each position only the earliest map fires (ties:
  higher potential).
* **STDP (training only)**: per image, ``n_winners`` winners (earliest spike, ties by
  potential), each from a different map, none within ``radius`` of an earlier winner;
  the winner's shared kernel changes by
  ``dw = +a_plus w (1 - w)`` where the input was on at the winner's spike time (pre
  before or with post), ``-a_minus w (1 - w)`` elsewhere (the paper's simplified rule; the
  factor w (1 - w) keeps weights in (0, 1)). Weights start N(0.8, 0.05).
* **Features**: first-spike latencies after inhibition, ``pool`` x ``pool`` spike-based max
  pooling (the earliest spike wins), value (T - t) / T (0 if silent), read out by a scikit-learn
  linear classifier.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import as_key
from bayesnn.core.params import to_device
from bayesnn.stdp.data import check_images

__all__ = ["DIGITS", "ConvSTDPParams", "ConvSTDPResult", "dog_latencies", "features", "train"]


class ConvSTDPParams(NamedTuple):
    """Settings of the STDP convolutional layer (all dimensionless; time in steps).

    Fields:
        n_maps: feature maps F.
        kernel: kernel size k (odd).
        n_steps: latency steps T.
        threshold: firing threshold of the IF neurons (units of summed weights).
        n_winners: STDP winners per image.
        radius: inhibition radius around a winner (positions).
        a_plus, a_minus: STDP rates.
        dog_sigmas: (centre, surround) widths of the DoG (pixels).
        input_threshold: DoG responses (images in [0, 1]) at or below this do not spike.
        pool: size and stride of the spike-based max pooling of the features (1: none).
    """

    n_maps: int = 16
    kernel: int = 3
    n_steps: int = 10
    threshold: float = 4.0
    n_winners: int = 2
    radius: int = 1
    a_plus: float = 0.02
    a_minus: float = 0.015
    dog_sigmas: tuple = (0.5, 1.0)
    input_threshold: float = 0.05
    pool: int = 2

    def check(self) -> "ConvSTDPParams":
        """Validate; returns self. Raises ValueError naming the field."""
        for name in ("n_maps", "kernel", "n_steps", "n_winners"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {self.kernel}")
        if self.n_winners > self.n_maps:
            raise ValueError(f"n_winners ({self.n_winners}) must not exceed n_maps ({self.n_maps})")
        for name in ("threshold", "a_plus", "a_minus"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)}")
        if int(self.pool) != self.pool or self.pool < 1:
            raise ValueError(f"pool must be an integer >= 1, got {self.pool!r}")
        if self.radius < 0 or self.input_threshold < 0:
            raise ValueError("radius and input_threshold must be >= 0")
        if not 0 < self.dog_sigmas[0] < self.dog_sigmas[1]:
            raise ValueError(f"dog_sigmas must be (centre, surround) with 0 < centre < surround, "
                             f"got {self.dog_sigmas}")
        return self


DIGITS = ConvSTDPParams(n_maps=32, pool=1, threshold=2.0)
"""Settings for 8x8 digits, chosen on a validation split of the training half only (30 %
held out, LogisticRegression readout): 0.941 against 0.911-0.937 for (16 maps, no pool),
(32 maps, 2x2 pool) and threshold 3."""


def _dog_kernel(sigmas, size=5):
    r = np.arange(size) - size // 2
    d2 = r[:, None] ** 2 + r[None, :] ** 2
    g = [np.exp(-d2 / (2 * s * s)) / (2 * np.pi * s * s) for s in sigmas]
    kernel = g[0] - g[1]
    return kernel - kernel.mean()


def dog_latencies(images, shape, params: ConvSTDPParams) -> np.ndarray:
    """Cumulative spike waves (N, T, 2, H, W) of the on/off DoG channels: channel 0 on-centre
    (positive DoG), 1 off-centre (negative DoG); a neuron with response v > threshold spikes
    at step floor((1 - v / v_max) T) (v_max per image) and stays 1 afterwards."""
    from scipy.signal import convolve2d

    x = check_images(images).reshape((-1,) + tuple(shape))
    kernel = _dog_kernel(params.dog_sigmas)
    dog = np.stack([convolve2d(image, kernel, mode="same") for image in x])
    channels = np.stack([np.maximum(dog, 0), np.maximum(-dog, 0)], axis=1)  # (N, 2, H, W)
    top = channels.reshape(len(x), -1).max(axis=1).reshape(-1, 1, 1, 1)
    active = channels > params.input_threshold
    steps = np.floor((1 - channels / np.maximum(top, 1e-12)) * params.n_steps).clip(0, params.n_steps - 1)
    t = np.arange(params.n_steps).reshape(1, -1, 1, 1, 1)
    return (active[:, None] & (steps[:, None] <= t)).astype(np.float64)


def _potentials(waves, weights):
    """V (T, F, H, W) of one image's cumulative waves (T, 2, H, W)."""
    return jax.lax.conv_general_dilated(waves, weights, (1, 1), "SAME")


def _first_spikes(potentials, threshold, n_steps):
    """First-spike step (F, H, W) (n_steps: silent) and the potential at that step."""
    above = potentials >= threshold
    first = jnp.where(above.any(0), jnp.argmax(above, axis=0), n_steps)
    at = jnp.take_along_axis(potentials, jnp.minimum(first, n_steps - 1)[None], 0)[0]
    return first, at


def _inhibit(first, at, n_steps):
    """Pointwise lateral inhibition: per position only the earliest map (ties: higher V)."""
    score = first * 1e6 - at  # earlier first, then larger potential
    keep = jax.nn.one_hot(jnp.argmin(score, axis=0), first.shape[0], axis=0, dtype=bool)
    return jnp.where(keep & (first < n_steps), first, n_steps)


def _train_image(weights, waves, params):
    n_maps, _, k, _ = weights.shape
    n_steps = params.n_steps
    first, at = _first_spikes(_potentials(waves, weights), params.threshold, n_steps)
    h, w = first.shape[1:]
    score = jnp.where(first < n_steps, first * 1e6 - at, jnp.inf)
    half = k // 2
    padded = jnp.pad(waves, ((0, 0), (0, 0), (half, half), (half, half)))
    rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]

    def one_winner(carry, _):
        weights, score = carry
        index = jnp.argmin(score)
        valid = jnp.isfinite(score.reshape(-1)[index])
        f, i, j = jnp.unravel_index(index, score.shape)
        t = first[f, i, j]
        patch = jax.lax.dynamic_slice(padded[jnp.minimum(t, n_steps - 1)], (0, i, j), (2, k, k))
        kernel = weights[f]
        dw = jnp.where(patch > 0, params.a_plus, -params.a_minus) * kernel * (1 - kernel)
        weights = weights.at[f].set(jnp.where(valid, kernel + dw, kernel))
        near = (jnp.abs(rows - i) <= params.radius) & (jnp.abs(cols - j) <= params.radius)
        score = jnp.where(near[None] | (jnp.arange(n_maps) == f)[:, None, None], jnp.inf, score)
        return (weights, score), valid

    (weights, _), _ = jax.lax.scan(one_winner, (weights, score), None, length=params.n_winners)
    return weights


@partial(jax.jit, static_argnames=("params",))
def _train(weights, waves, order, params):
    def body(weights, index):
        return _train_image(weights, waves[index], params), None

    weights, _ = jax.lax.scan(body, weights, order)
    return weights


@partial(jax.jit, static_argnames=("params",))
def _features(weights, waves, params):
    def one(image_waves):
        first, at = _first_spikes(_potentials(image_waves, weights), params.threshold, params.n_steps)
        first = _inhibit(first, at, params.n_steps)
        f, h, w = first.shape
        q = params.pool
        pooled = first[:, : h // q * q, : w // q * q].reshape(f, h // q, q, w // q, q).min(axis=(2, 4))
        return ((params.n_steps - pooled) / params.n_steps).reshape(-1)

    return jax.lax.map(one, waves)


class ConvSTDPResult(NamedTuple):
    """Trained layer.

    Fields:
        weights: (F, 2, k, k) kernels in (0, 1).
        convergence: C = mean w (1 - w) of the final kernels (-> 0 as they binarise).
        params: the :class:`ConvSTDPParams` used.
        shape: image shape.
    """

    weights: np.ndarray
    convergence: float
    params: ConvSTDPParams
    shape: tuple


def train(images, shape, params: ConvSTDPParams = ConvSTDPParams(), *, key=0,
          n_epochs: int = 1) -> ConvSTDPResult:
    """Train the layer with STDP on ``images`` (N, H*W) in [0, 1], unsupervised, one image
    at a time in a random order per epoch (from ``key``).

    Raises:
        ValueError: for bad images, params or n_epochs < 1.
    """
    params = params.check()
    if int(n_epochs) != n_epochs or n_epochs < 1:
        raise ValueError(f"n_epochs must be an integer >= 1, got {n_epochs!r}")
    waves = to_device(dog_latencies(images, shape, params))  # no XLA program (jnp.asarray)
    key = as_key(key)
    weights = 0.8 + 0.05 * jax.random.normal(jax.random.fold_in(key, 0),
                                             (params.n_maps, 2, params.kernel, params.kernel))
    weights = jnp.clip(weights, 1e-3, 1 - 1e-3)
    order = jnp.concatenate([jax.random.permutation(jax.random.fold_in(key, e + 1), waves.shape[0])
                             for e in range(int(n_epochs))])
    weights = np.asarray(_train(weights, waves, order, params))
    return ConvSTDPResult(weights, float(np.mean(weights * (1 - weights))), params, tuple(shape))


def features(layer: ConvSTDPResult, images) -> np.ndarray:
    """Frozen features (N, F * (H/pool) * (W/pool)): pooled first-spike latencies, (T - t) / T."""
    waves = to_device(dog_latencies(images, layer.shape, layer.params))  # no XLA program
    return np.asarray(_features(to_device(layer.weights), waves, layer.params))
