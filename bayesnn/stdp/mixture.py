r"""Exact reference for the STDP circuit: the Bernoulli mixture over binary pixels.

Model (Nessler et al. 2013, Sec. "Results", "Definition of the generative model"; with
one on/off pair of input neurons per binary pixel the group-wise categorical model is
exactly this Bernoulli mixture):

.. math::

    p(k) = \pi_k, \qquad p(x \mid k) = \prod_j \mu_{kj}^{x_j} (1 - \mu_{kj})^{1 - x_j},
    \qquad p(k \mid x) = \operatorname{softmax}_k\Big(\log \pi_k + \sum_j x_j \log\mu_{kj}
    + (1 - x_j)\log(1 - \mu_{kj})\Big).

* :func:`batch_em`: EM (Dempster, Laird & Rubin 1977) with a symmetric Beta(1 + a, 1 + a)
  pseudo-count a per outcome and the means kept in [mu_min, 1 - mu_min] (a box-constrained
  M-step of a concave objective, still a generalised EM step). It never decreases the
  penalised objective ``sum_n log p(x_n) + a sum_kj log(mu_kj (1 - mu_kj))`` (recorded).
* :func:`online_em`: the stepwise online EM of Cappé & Moulines (2009) in the probability
  domain, fed presentations in a given order: mu_k <- mu_k + gamma_p r_k (x - mu_k) with
  soft responsibilities r = p(k | x) (or one sampled winner), prior fixed.
* :func:`log_likelihood`, :func:`responsibilities`, :func:`posterior_kl`,
  :func:`match_components` (Hungarian matching, scipy), :func:`cluster_accuracy`
  (majority-vote label of each component on the training split).

This module never imports the circuit it checks (bayesnn.stdp.wta); it shares only the
data helpers of :mod:`bayesnn.stdp.data`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from bayesnn.stdp.data import check_images

__all__ = ["BatchEMResult", "OnlineEMResult", "batch_em", "cluster_accuracy", "em_update", "joint_log_probs",
           "log_likelihood", "match_components", "online_em", "posterior_kl", "responsibilities"]


def _check_mixture(means, prior, n_pixels: int | None = None):
    means = np.asarray(means, np.float64)
    if means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(f"means must be (K, M) with K >= 2, got shape {means.shape}")
    if n_pixels is not None and means.shape[1] != n_pixels:
        raise ValueError(f"means must have {n_pixels} pixels per component, got {means.shape[1]}")
    if not np.all((means > 0.0) & (means < 1.0)):
        raise ValueError("means must lie strictly inside (0, 1)")
    prior = (np.full(means.shape[0], 1.0 / means.shape[0]) if prior is None
             else np.asarray(prior, np.float64))
    if prior.shape != (means.shape[0],) or np.any(prior <= 0) or abs(prior.sum() - 1) > 1e-9:
        raise ValueError(f"prior must be ({means.shape[0]},) positive and sum to 1")
    return means, prior


def joint_log_probs(means, prior, images) -> np.ndarray:
    """log pi_k + log p(x_n | k), shape (N, K), nats."""
    x = check_images(images)
    means, prior = _check_mixture(means, prior, x.shape[1])
    return np.log(prior) + x @ np.log(means).T + (1.0 - x) @ np.log1p(-means).T


def log_likelihood(means, prior, images) -> np.ndarray:
    """log p(x_n) per image (N,), nats. ``prior=None`` means uniform."""
    return logsumexp(joint_log_probs(means, prior, images), axis=1)


def responsibilities(means, prior, images) -> np.ndarray:
    """Exact posterior p(k | x_n), shape (N, K)."""
    joint = joint_log_probs(means, prior, images)
    return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


def posterior_kl(p, q) -> np.ndarray:
    """KL(p_n || q_n) per row (nats) of two (N, K) posteriors (0 log 0 = 0)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=1)


class BatchEMResult(NamedTuple):
    """Batch EM's answer.

    Fields:
        means: (K, M) P(pixel on | k).
        prior: (K,) pi_k.
        objectives: (I + 1,) penalised log-likelihood (nats, summed over images) of the
            start and of each iterate; non-decreasing (generalised EM).
        log_likelihoods: (I + 1,) mean log p(x_n) per training image (nats).
        n_iterations: I.
        converged: relative objective change fell below ``tol``.
    """

    means: np.ndarray
    prior: np.ndarray
    objectives: np.ndarray
    log_likelihoods: np.ndarray
    n_iterations: int
    converged: bool


def _objective(means, prior, x, pseudo_count):
    ll = log_likelihood(means, prior, x)
    return ll.sum() + pseudo_count * np.sum(np.log(means) + np.log1p(-means)), ll.mean()


def em_update(means, prior, images, *, pseudo_count: float = 1e-3, mu_min: float = 1e-4,
              learn_prior: bool = True):
    """One EM iteration: responsibilities r_nk (E-step), then mu_k = (sum_n r_nk x_n + a) /
    (sum_n r_nk + 2a) clipped to [mu_min, 1 - mu_min], pi_k = sum_n r_nk / N (M-step)."""
    x = check_images(images)
    r = responsibilities(means, prior, x)
    weight = r.sum(axis=0)
    new = (r.T @ x + pseudo_count) / (weight[:, None] + 2 * pseudo_count)
    new = np.clip(new, mu_min, 1.0 - mu_min)
    new_prior = np.maximum(weight / x.shape[0], 1e-300) if learn_prior else prior
    return new, new_prior / new_prior.sum()


def batch_em(images, initial_means, *, initial_prior=None, learn_prior: bool = True,
             pseudo_count: float = 1e-3, mu_min: float = 1e-4, tol: float = 1e-6,
             max_iterations: int = 500) -> BatchEMResult:
    """Batch EM for the Bernoulli mixture (float64, NumPy).

    Args:
        images: (N, M) binary images.
        initial_means: (K, M) start means in (0, 1).
        initial_prior: (K,) start prior (default uniform).
        learn_prior: update pi (True) or hold it fixed.
        pseudo_count: a >= 0, Beta(1 + a, 1 + a) pseudo-count per outcome.
        mu_min: floor of the means (and of 1 - means), in (0, 0.5).
        tol: stop when the relative change of the objective is <= tol.
        max_iterations: at most this many iterations.

    Returns:
        :class:`BatchEMResult`.

    Raises:
        ValueError: for bad images, means, prior, pseudo_count < 0, mu_min outside
            (0, 0.5), tol < 0 or max_iterations < 1.
    """
    x = check_images(images, binary=True)
    means, prior = _check_mixture(initial_means, initial_prior, x.shape[1])
    if pseudo_count < 0:
        raise ValueError(f"pseudo_count must be >= 0, got {pseudo_count}")
    if not 0.0 < mu_min < 0.5:
        raise ValueError(f"mu_min must lie in (0, 0.5), got {mu_min}")
    if tol < 0 or max_iterations < 1:
        raise ValueError(f"tol must be >= 0 and max_iterations >= 1, got {tol}, {max_iterations}")
    objective, mean_ll = _objective(means, prior, x, pseudo_count)
    objectives, lls, converged = [objective], [mean_ll], False
    for _ in range(int(max_iterations)):
        means, prior = em_update(means, prior, x, pseudo_count=pseudo_count, mu_min=mu_min,
                                 learn_prior=learn_prior)
        objective, mean_ll = _objective(means, prior, x, pseudo_count)
        objectives.append(objective)
        lls.append(mean_ll)
        if abs(objectives[-1] - objectives[-2]) <= tol * abs(objectives[-1]):
            converged = True
            break
    return BatchEMResult(means, prior, np.asarray(objectives), np.asarray(lls),
                         len(objectives) - 1, converged)


class OnlineEMResult(NamedTuple):
    """Online EM's answer.

    Fields:
        means: (K, M) final means.
        prior: (K,) the (fixed) prior.
        means_history: (R, K, M) means after presentation ``record_at[r]``.
        record_at: (R,) presentation counts at which means were recorded.
        wins: (K,) presentations won (largest responsibility, or the sampled winner).
    """

    means: np.ndarray
    prior: np.ndarray
    means_history: np.ndarray
    record_at: np.ndarray
    wins: np.ndarray


def online_em(images, order, initial_means, steps, *, prior=None, mu_min: float = 1e-4,
              sampled: bool = False, seed: int = 0, record_every: int | None = None,
              updates_per_presentation: int = 1) -> OnlineEMResult:
    """Stepwise online EM in the probability domain (Cappé & Moulines 2009, with the
    per-component step of Nessler et al. 2013's rule to first order in eta):

    ``mu_k <- clip(mu_k + gamma_p r_k (x_p - mu_k), mu_min, 1 - mu_min)``, with x_p =
    ``images[order[p]]``, r = p(k | x_p) under the current means and the fixed prior
    (``sampled``: r is a one-hot draw from it, NumPy ``default_rng(seed)``).

    Args:
        images: (N, M) binary images.
        order: (P,) image index of each presentation.
        initial_means: (K, M) start means.
        steps: (P,) gamma_p in (0, 1], or one float for all presentations.
        prior: (K,) fixed prior (default uniform).
        mu_min: floor of the means, in (0, 0.5).
        sampled: one sampled winner instead of soft responsibilities.
        seed: seed of the winner draws.
        record_every: record the means every this many presentations (default: only at
            the end); must divide P.
        updates_per_presentation: n >= 1 successive updates per presentation (each with
            step gamma_p and a fresh posterior): the circuit's ~R T output spikes per image.

    Returns:
        :class:`OnlineEMResult`.

    Raises:
        ValueError: for bad images, order, means, steps or record_every.
    """
    x = check_images(images, binary=True)
    means, prior = _check_mixture(initial_means, prior, x.shape[1])
    order = np.asarray(order)
    if order.ndim != 1 or order.size < 1 or order.min() < 0 or order.max() >= x.shape[0]:
        raise ValueError(f"order must be a non-empty 1-D array of indices in [0, {x.shape[0]})")
    steps = np.broadcast_to(np.asarray(steps, np.float64), order.shape)
    if np.any(~np.isfinite(steps)) or np.any(steps <= 0) or np.any(steps > 1):
        raise ValueError("steps must lie in (0, 1]")
    every = order.size if record_every is None else int(record_every)
    if every < 1 or order.size % every:
        raise ValueError(f"record_every must divide the number of presentations ({order.size}), "
                         f"got {record_every}")
    rng = np.random.default_rng(seed)
    log_prior = np.log(prior)
    means = means.copy()
    history, record_at, wins = [], [], np.zeros(means.shape[0], int)
    if int(updates_per_presentation) != updates_per_presentation or updates_per_presentation < 1:
        raise ValueError(f"updates_per_presentation must be an integer >= 1, got "
                         f"{updates_per_presentation!r}")
    for p, index in enumerate(order):
        y = x[index]
        for _ in range(int(updates_per_presentation)):
            joint = log_prior + np.log(means) @ y + np.log1p(-means) @ (1.0 - y)
            r = np.exp(joint - logsumexp(joint))
            if sampled:
                k = min(int(np.searchsorted(np.cumsum(r), rng.random() * r.sum())), r.size - 1)
                r = np.zeros_like(r)
                r[k] = 1.0
            wins[int(np.argmax(r))] += 1
            means += steps[p] * r[:, None] * (y - means)
            np.clip(means, mu_min, 1.0 - mu_min, out=means)
        if (p + 1) % every == 0:
            history.append(means.copy())
            record_at.append(p + 1)
    return OnlineEMResult(means, prior, np.asarray(history), np.asarray(record_at), wins)


def match_components(reference, other) -> np.ndarray:
    """Hungarian matching (``scipy.optimize.linear_sum_assignment``) of the rows of
    ``other`` (K, D) to the rows of ``reference`` (K, D) minimising the summed mean
    absolute difference: returns ``perm`` with ``other[perm]`` aligned to ``reference``."""
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"reference and other must have one 2-D shape, got {a.shape}, {b.shape}")
    cost = np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def cluster_accuracy(train_posterior, train_labels, test_posterior, test_labels) -> float:
    """Cluster-to-label accuracy: each component takes the most frequent training label
    among the training images it wins (argmax posterior); components that win none take
    the most frequent training label overall. Returns the fraction of test images whose
    winning component's label is right."""
    train_win = np.argmax(train_posterior, axis=1)
    test_win = np.argmax(test_posterior, axis=1)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    overall = np.bincount(train_labels).argmax()
    labels = np.full(np.shape(train_posterior)[1], overall)
    for k in np.unique(train_win):
        labels[k] = np.bincount(train_labels[train_win == k]).argmax()
    return float(np.mean(labels[test_win] == test_labels))
