"""Bayesian neurons that read Bayesian neurons, against exact inference on the tree.

Builds the scenario's tree (K children that follow a top variable y, N = 20 Poisson
inputs per child), trains the readers' rates on a training run, runs the spiking
hierarchy and the exact joint filter on fresh test trials, and prints the KL divergence
from the exact marginal P(y | inputs) and the log-loss against the true y of: the
spike-fed reader's L and decoded G, the log-odds-fed reader, the reader fed with the
decoded layer-1 predictions, and the prior. With ``--frontier`` it also prints the table
of KL against layer-1 output rate for several g0 and K and saves its figure.

    python examples/hierarchy.py --trials 8 --duration 20 --out hierarchy.png
    python examples/hierarchy.py --frontier --frontier-children 1 2 3 4 6 --out-frontier f.png
"""
from __future__ import annotations

import argparse

import numpy as np

import bayesnn

bayesnn.enable_x64()  # the exact joint filter refuses float32

from bayesnn.core import spike_arrays  # noqa: E402
from bayesnn.hierarchy.evaluation import evaluate, frontier, paired_difference  # noqa: E402
from bayesnn.hierarchy.validation import default_tree  # noqa: E402

CANDIDATES = ("L", "G", "fed", "decoded_fed", "not_y_G", "prior")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=3, help="K")
    parser.add_argument("--inputs", type=int, default=20, help="N per child")
    parser.add_argument("--g0", type=float, default=2.0, help="layer-1 jump of G, nats")
    parser.add_argument("--reader-g0", type=float, default=1.0, help="readers' jump of G, nats")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="trial length, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="PNG path for the trial figure")
    parser.add_argument("--frontier", action="store_true", help="also run the KL-rate table")
    parser.add_argument("--frontier-children", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    parser.add_argument("--frontier-g0", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--frontier-trials", type=int, default=3)
    parser.add_argument("--frontier-duration", type=float, default=10.0)
    parser.add_argument("--out-frontier", default=None, help="PNG path for the frontier")
    args = parser.parse_args(argv)

    tree = default_tree(args.children, args.inputs, seed=args.seed)
    result = evaluate(tree, g0=args.g0, key=args.seed, n_trials=args.trials,
                      duration=args.duration, reader_g0=args.reader_g0)
    summary = result.summary()
    print(f"K = {args.children}, N = {args.inputs}, g0 = {args.g0:g}, {args.trials} trials x "
          f"{args.duration:g} s; layer-1 rate {summary['layer1_rate']['mean']:.1f} Hz, "
          f"reader rate {summary['layer2_rate']['mean']:.1f} Hz")
    print(f"exact log-loss {summary['log_loss_exact']['mean']:.4f} "
          f"(sd {summary['log_loss_exact']['sd']:.4f}) nats")
    print(f"{'candidate':<12} {'KL mean':>9} {'KL sd':>8} {'log-loss':>9} {'sd':>7}")
    rows = {}
    for name in CANDIDATES:
        kl, loss = summary[f"kl_{name}"], summary[f"log_loss_{name}"]
        rows[name] = {"kl": kl["mean"], "kl_sd": kl["sd"], "log_loss": loss["mean"],
                      "log_loss_sd": loss["sd"]}
        print(f"{name:<12} {kl['mean']:>9.4f} {kl['sd']:>8.4f} {loss['mean']:>9.4f} "
              f"{loss['sd']:>7.4f}")
    order = paired_difference(result.per_trial["log_loss_L"], result.per_trial["log_loss_fed"])
    print(f"spike-fed minus log-odds-fed log-loss: {order['mean']:.4f} +- {order['se']:.4f}")
    if args.out:
        from bayesnn.hierarchy.plotting import plot_hierarchy_trial
        times, senders, counts = spike_arrays(result.run.layer1_spikes, 0)
        states = np.asarray(result.trials.trial(0).state_at(result.run.times))
        figure = plot_hierarchy_trial(
            result.run.times, states[0], result.exact.log_odds_top[0],
            result.run.layer2_log_odds[0, 0], result.run.layer2_prediction[0, 0],
            result.run.fed_log_odds[0], states[1:], np.repeat(times, counts),
            np.repeat(senders, counts), window=(0.0, min(args.duration, 6.0)))
        figure.savefig(args.out, dpi=120)
    out = {"candidates": rows, "summary": summary}
    if args.frontier:
        table = frontier(lambda k: default_tree(k, args.inputs, seed=args.seed),
                         args.frontier_children, args.frontier_g0, key=args.seed + 1,
                         n_trials=args.frontier_trials, duration=args.frontier_duration,
                         progress=print)
        print(f"{'K':>2} {'g0':>5} {'rate Hz':>8} {'KL L':>8} {'KL G':>8} {'KL fed':>8} "
              f"{'KL prior':>8} {'LL exact':>8} {'LL L':>8}")
        for row in table:
            print(f"{row['n_children']:>2} {row['g0']:>5.2f} {row['layer1_rate']:>8.1f} "
                  f"{row['kl_L']:>8.4f} {row['kl_G']:>8.4f} {row['kl_fed']:>8.4f} "
                  f"{row['kl_prior']:>8.4f} {row['log_loss_exact']:>8.4f} "
                  f"{row['log_loss_L']:>8.4f}")
        if args.out_frontier:
            from bayesnn.hierarchy.plotting import plot_frontier
            plot_frontier(table).savefig(args.out_frontier, dpi=120)
        out["frontier"] = table
    return out


if __name__ == "__main__":
    main()
