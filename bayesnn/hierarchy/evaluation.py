r"""Measurements: how far the spiking hierarchy's posterior over y is from exact Bayes.

For every test trial the exact marginal :math:`P(y_t | \text{inputs})` of the joint
filter (:func:`bayesnn.exact.hierarchy.tree_filter_trials`) and the hierarchy's
candidate posteriors are compared on the record grid:

* ``L``: the spike-fed y-reader's log-odds; ``G``: its decoded prediction (Denève 2004,
  Eq. 1); ``not_y_G``: the "not y" reader's prediction, read as P(y = 1) =
  1 - sigmoid(G) (when that reader exists);
* ``fed``: the log-odds-fed reader (:mod:`bayesnn.hierarchy.spiking`);
* ``decoded_fed``: the same reader fed with the layer-1 predictions G_j decoded from
  the layer-1 spikes;
* ``prior``: the stationary P(y = 1), a constant.

Measures (nats, time-averaged over the grid, one value per trial):

* KL(exact || candidate): :math:`\frac1S\sum_t \mathrm{KL}(\mathrm{Bern}(p^{ex}_t) \|
  \mathrm{Bern}(p_t))`;
* log-loss against the true y: :math:`-\frac1S\sum_t \log P(y_t)`. The exact marginal
  minimises the expected log-loss among all functions of the inputs, which is what the
  information ordering check tests.

Reported as mean and standard deviation over trials; differences between candidates
are paired by trial (same inputs), with standard error sd / sqrt(n).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from bayesnn.core.keys import KeyLike, as_key
from bayesnn.exact.hierarchy import TreeFilter, tree_filter_trials
from bayesnn.hierarchy.params import TreeParams, as_tree_params
from bayesnn.hierarchy.sampling import TreeTrial, sample_trees
from bayesnn.hierarchy.spiking import (
    HierarchyResult,
    SpikingHierarchy,
    layer1_params,
    reader_params,
    simulate_trials,
)
from bayesnn.hierarchy.builder import make_hierarchy
from bayesnn.hierarchy.sizing import layer1_capacity
from bayesnn.hierarchy.training import TrainingRates, derived_reader_rates, measure_rates
from bayesnn.metrics import bernoulli_kl

__all__ = ["Evaluation", "build_network", "evaluate", "candidates_of", "scores",
           "paired_difference", "frontier"]


class Evaluation(NamedTuple):
    """Everything one evaluation produced (test trials on a leading axis B).

    Fields:
        tree: the generative model.
        network: the :class:`SpikingHierarchy` that was run.
        rates: the :class:`TrainingRates` of its training run.
        trials: test trials (:class:`TreeTrial`, batched).
        run: the hierarchy's :class:`HierarchyResult` on them.
        exact: the exact :class:`TreeFilter` on the same inputs and grid.
        top: (B, S) true y on the grid.
        per_trial: name -> (B,) measures (``kl_<candidate>``, ``log_loss_<candidate>``,
            ``layer1_rate`` and ``layer2_rate`` in Hz per neuron).
    """

    tree: TreeParams
    network: SpikingHierarchy
    rates: TrainingRates
    trials: TreeTrial
    run: HierarchyResult
    exact: TreeFilter
    top: np.ndarray
    per_trial: dict[str, np.ndarray]

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> {"mean", "sd"} over trials."""
        return {name: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))
                       if v.size > 1 else 0.0} for name, v in self.per_trial.items()}


def build_network(tree: TreeParams, *, g0: float, key: KeyLike, duration: float,
                  n_trials: int = 1, reader_g0: float | None = None,
                  reader_rates: str = "trained", readers: Sequence[str] = ("y", "not_y"),
                  dt: float = 1e-3, capacity: int | None = None
                  ) -> tuple[SpikingHierarchy, TrainingRates]:
    """Layer 1 from the model (``g0`` nats per spike) and readers whose rates come from
    a training run of ``n_trials`` x ``duration`` s (``reader_rates`` "trained":
    measured per state of y; "derived": model mixing of the per-x_j rates; see
    :mod:`bayesnn.hierarchy.training`)."""
    tree = as_tree_params(tree)
    if reader_rates not in ("trained", "derived"):
        raise ValueError(f"reader_rates must be 'trained' or 'derived', got {reader_rates!r}")
    reader_g0 = g0 if reader_g0 is None else reader_g0
    layer1 = layer1_params(tree, g0)
    provisional = SpikingHierarchy(tree, layer1, reader_params(
        tree, np.tile([1.0, 2.0], (tree.n_children, 1)), reader_g0, tuple(readers)))
    rates = measure_rates(tree, provisional, key=key, duration=duration, n_trials=n_trials,
                          dt=dt, capacity=capacity)
    given_top = rates.given_top if reader_rates == "trained" else derived_reader_rates(
        tree, rates.given_child)
    return make_hierarchy(tree, g0=g0, reader_rates=given_top, readers=readers,
                          reader_g0=reader_g0), rates


def candidates_of(run: HierarchyResult, readers: Sequence[str], prior_log_odds: float
                  ) -> dict[str, np.ndarray]:
    """name -> (B, S) log-odds of y = 1 for every candidate posterior of a run."""
    # indexed on the host (a device index compiles one program per shape)
    log_odds, prediction = np.asarray(run.layer2_log_odds), np.asarray(run.layer2_prediction)
    out = {"L": log_odds[:, 0], "G": prediction[:, 0],
           "fed": np.asarray(run.fed_log_odds),
           "decoded_fed": np.asarray(run.decoded_fed_log_odds)}
    if "not_y" in readers:
        out["not_y_G"] = -prediction[:, list(readers).index("not_y")]
    out["prior"] = np.full_like(out["L"], prior_log_odds)
    return out


def _log_loss_rows(log_odds, states) -> np.ndarray:
    """(B,) mean -log P(y_t) per trial."""
    return -np.mean(np.where(states == 1, -np.logaddexp(0.0, -log_odds),
                             -np.logaddexp(0.0, log_odds)), axis=-1)


def scores(top, exact_log_odds, candidates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-trial KL(exact || candidate) and log-loss (nats), plus the exact log-loss."""
    out = {"log_loss_exact": _log_loss_rows(exact_log_odds, top)}
    for name, log_odds in candidates.items():
        out[f"kl_{name}"] = np.mean(bernoulli_kl(exact_log_odds, log_odds), axis=-1)
        out[f"log_loss_{name}"] = _log_loss_rows(log_odds, top)
    return out


def paired_difference(worse, better) -> dict[str, float]:
    """Mean of ``worse - better`` over trials, its standard error and z = mean / se
    (one-sided test of "better is not better": z < -2.33 rejects at 1%)."""
    diff = np.asarray(worse) - np.asarray(better)
    se = float(np.std(diff, ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
    mean = float(np.mean(diff))
    return {"mean": mean, "se": se, "z": mean / se if se > 0 else float("inf")}


_fold_in = jax.jit(jax.random.fold_in)  # one program, not two eager ones per call


def evaluate(tree: TreeParams, *, g0: float, key: KeyLike, n_trials: int, duration: float,
             dt: float = 1e-3, train_trials: int | None = None, reader_g0: float | None = None,
             reader_rates: str = "trained", readers: Sequence[str] = ("y", "not_y"),
             network: SpikingHierarchy | None = None, capacity: int | None = None,
             trials: TreeTrial | None = None, exact: TreeFilter | None = None) -> Evaluation:
    """Train (unless ``network`` is given), then run the hierarchy and the exact filter
    on ``n_trials`` fresh test trials of ``duration`` s and score every candidate.

    The training run has ``train_trials`` (default ``n_trials``) trials of the same
    length and grid, so with equal ``capacity`` it reuses the test run's compiled
    program. Keys: training uses ``fold_in(key, 1)``, the test trials ``fold_in(key,
    2)``: training and test never share inputs.

    ``trials`` (and ``exact``, their exact filter on the record grid k dt, k = 1..S)
    replace the test trials (and the filter): pass an earlier :class:`Evaluation`'s
    ``trials`` and ``exact`` to score another network or g0 on the same test set
    without sampling and filtering it again (same numbers: the same programs on the
    same inputs).

    Raises:
        ValueError: naming the argument, for ``trials`` that are not ``n_trials``
            trials of ``duration`` s, or ``exact`` without ``trials`` or not on the
            record grid of these trials.
    """
    tree = as_tree_params(tree)
    base = as_key(key)
    rates = None
    if network is None:
        network, rates = build_network(
            tree, g0=g0, key=_fold_in(base, 1), duration=duration,
            n_trials=n_trials if train_trials is None else train_trials, reader_g0=reader_g0,
            reader_rates=reader_rates, readers=readers, dt=dt, capacity=capacity)
    if trials is None:
        if exact is not None:
            raise ValueError("exact must come with the trials it was computed on (trials=)")
        trials = sample_trees(tree, key=_fold_in(base, 2), n_trials=n_trials,
                              duration=duration)
    elif (np.ndim(trials.duration) != 1 or np.shape(trials.duration)[0] != n_trials
          or np.any(np.asarray(trials.duration) != duration)):
        raise ValueError(f"trials must be a batch of n_trials = {n_trials} trials of "
                         f"duration = {duration} s")
    run = simulate_trials(network, trials.inputs, duration=duration, dt=dt, capacity=capacity)
    if exact is None:
        exact = tree_filter_trials(tree, trials.inputs, duration=duration,
                                   sample_times=run.times)
    elif (not np.array_equal(np.asarray(exact.times), run.times)
          or np.shape(exact.log_odds)[0] != n_trials):
        raise ValueError("exact must be the exact filter of these trials on the record grid "
                         "k dt, k = 1..S (an earlier Evaluation's exact)")
    top = np.asarray(trials.top_at(run.times))
    exact_log_odds = np.asarray(exact.log_odds)[:, 0]  # indexed on the host
    prior = float(np.log(float(tree.r_on) / float(tree.r_off)))
    per_trial = scores(top, exact_log_odds, candidates_of(run, readers, prior))
    spikes1 = np.asarray(run.layer1_spikes.counts).sum(axis=-1)  # n_spikes, on the host
    spikes2 = np.asarray(run.layer2_spikes.counts).sum(axis=-1)
    per_trial["layer1_rate"] = spikes1 / (duration * tree.n_children)
    per_trial["layer2_rate"] = spikes2 / (duration * len(readers))
    return Evaluation(tree, network, rates, trials, run, exact, top, per_trial)


def frontier(make: Callable[[int], TreeParams], n_children: Sequence[int],
             g0_values: Sequence[float], *, key: KeyLike, n_trials: int, duration: float,
             dt: float = 1e-3, capacity: int | None = None,
             progress: Callable[[str], None] = lambda message: None) -> list[dict[str, Any]]:
    """The hierarchy's accuracy-against-spikes table: one row per (K, g0) with the
    layer-1 output rate and the mean/sd over trials of KL(exact || L), KL(exact || G),
    KL(exact || fed) and the log-losses. ``make(K)`` builds the tree for K children;
    the readers' g0 is fixed at 1 so that only layer 1's rate varies.

    Every g0 of a K runs on the same test trials (sampled and exactly filtered once per
    K) with one layer-1 buffer size: ``capacity`` (output-event slots per layer-1
    neuron; overflow still grows it) or, by default, the size for the smallest g0. So
    one compiled program serves a row, and a second table over other g0 values with the
    same ``capacity`` compiles nothing new (unless a g0 changes whether drift alone can
    make a layer-1 neuron fire, which selects another kernel)."""
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(
            capacity, (int, np.integer)) or capacity < 1):
        raise ValueError(f"capacity must be an integer >= 1 or None, got {capacity!r}")
    rows = []
    for k in n_children:
        tree = make(int(k))
        size = capacity or layer1_capacity(layer1_params(tree, float(min(g0_values))),
                                              duration)[2]
        test = None
        for g0 in g0_values:
            progress(f"frontier: K = {k}, g0 = {g0:g}")
            result = evaluate(tree, g0=float(g0), key=key, n_trials=n_trials,
                              duration=duration, dt=dt, reader_g0=1.0, readers=("y",),
                              capacity=size, **(test or {}))
            test = {"trials": result.trials, "exact": result.exact}
            summary = result.summary()
            row = {"n_children": int(k), "g0": float(g0)}
            for name in ("layer1_rate", "layer2_rate", "kl_L", "kl_G", "kl_fed",
                         "kl_decoded_fed", "kl_prior", "log_loss_exact", "log_loss_fed",
                         "log_loss_L", "log_loss_prior"):
                row[name] = summary[name]["mean"]
                row[f"{name}_sd"] = summary[name]["sd"]
            rows.append(row)
    return rows
