"""Reduced reproduction of Wunderlich & Pehle 2021 ("Event-based backpropagation can
compute exact gradients for spiking neural networks", Sci. Rep. 11: 12829): EventProp's
gradients against central finite differences of the hard network (several seeds), and
a latency-coded classification task (scikit-learn's 8x8 digits instead of the paper's
Yin-Yang / latency MNIST) trained by EventProp and by surrogate gradients, next to a
logistic regression. Writes results.json and spike_gradients_eventprop_digits.png.

    python papers/wunderlich2021/reproduce.py --out out/wunderlich2021 [--small] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from bayesnn.spike_gradients.digits import (compare_gradients, load_digits_spikes,  # noqa: E402
                                            logistic_baseline, train_digits)
from bayesnn.spike_gradients.eventprop import EventLIF, gradient_check  # noqa: E402
from bayesnn.spike_gradients.plotting import plot_gradients  # noqa: E402

FULL = dict(seeds=5, digits=dict(epochs=15, learning_rate=1e-2))
SMALL = dict(seeds=2, digits=dict(epochs=1, n_train=128, n_test=100, n_hidden=20,
                                  learning_rate=1e-2))


def fd_checks(n_seeds: int) -> list[dict]:
    rows = []
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        B, Nin, Nh, No = 4, 16, 10, 4
        t_in = rng.uniform(0, 20e-3, (B, Nin))
        src = np.tile(np.arange(Nin), (B, 1))
        ws = [rng.normal(0.6, 0.6, (Nh, Nin)), rng.normal(1.0, 0.8, (No, Nh))]
        check = gradient_check(ws, t_in, src, rng.integers(0, No, B), EventLIF(), seed=seed)
        rows.append({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in check.items()})
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--small", action="store_true", help="reduced sizes (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = SMALL if args.small else FULL
    started = time.perf_counter()
    checks = fd_checks(cfg["seeds"])
    data = load_digits_spikes(seed=args.seed)
    runs = {m: train_digits(data, m, seed=args.seed, **cfg["digits"])
            for m in ("surrogate", "eventprop")}
    digits = {"accuracy": {"logistic": logistic_baseline(data),
                           **{m: r.test_accuracy for m, r in runs.items()}},
              "spikes_per_sample": {m: r.spikes_per_sample for m, r in runs.items()},
              "cpu_seconds": {m: r.cpu_seconds for m, r in runs.items()},
              "gradients_at_init": compare_gradients(data, seed=args.seed)}
    fig = plot_gradients({k: np.asarray(v) if isinstance(v, list) else v
                          for k, v in checks[0].items()}, digits, seed=args.seed)
    fig.savefig(out / "spike_gradients_eventprop_digits.png")
    result = {"fd_checks": checks,
              "fd_max_rel_error": max(c["max_rel_error"] for c in checks),
              "digits": digits, "settings": {"small": args.small, "seed": args.seed, **cfg},
              "seconds": time.perf_counter() - started}
    (out / "results.json").write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps({"fd_max_rel_error": result["fd_max_rel_error"], **digits["accuracy"]}))
    return result


if __name__ == "__main__":
    main()
