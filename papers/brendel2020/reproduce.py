"""Reduced reproduction of Brendel et al. 2020 ("Learning to represent signals spike by
spike", PLoS Comput. Biol. 16(3):e1007692) Fig. 2 (weight convergence, decoding error,
rates, CV; weights before and after), a reduced Fig. 4 (E/I rules keep Dale's law),
and gradient descent through the Huh & Sejnowski 2017 gated network on the same task.
Runs the ``scn_learning`` validation scenario and writes its PNGs, results.json
(numbers and checks) and learning_records.nc to --out.

    python papers/brendel2020/reproduce.py --out out/brendel2020 [--small] [--seed 0]

Default: 2048 s of learning (the paper: 14,000 s), E/I 128 s at NE = 60, NI = 15
(the paper: ~10^5 s at 300/75). ``--small``: the sizes of
tests/test_scn_learning_runs.py (64 s, E/I 8 s).
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

from bayesnn.io import write_netcdf  # noqa: E402
from bayesnn.report import format_table  # noqa: E402
from bayesnn.scn.learning.validation import scn_learning_scenario  # noqa: E402

FULL = dict(duration=2048.0, eval_duration=5.0, cv_duration=2.0, dale_duration=128.0,
            train_iterations=300)
SMALL = dict(duration=64.0, eval_duration=2.0, cv_duration=1.0, dale_duration=8.0,
             train_iterations=40)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--small", action="store_true", help="reduced sizes (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = scn_learning_scenario(seed=args.seed, **(SMALL if args.small else FULL),
                                   progress=lambda line: print(f"{time.perf_counter() - start:7.1f} s  {line}",
                                                               flush=True))
    for name, figure in result.figures.items():
        figure.savefig(out / f"scn_learning_{name}.png", dpi=100)
    write_netcdf(out / "learning_records.nc", result.traces)
    saved = {"checks": [check.as_dict() for check in result.checks], **result.numbers}
    (out / "results.json").write_text(json.dumps(saved, indent=1, default=float))
    print(format_table(result.checks))
    return saved


if __name__ == "__main__":
    main()
