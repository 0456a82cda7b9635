"""Rebuild the docs gallery: run ``bayesnn validate`` with short settings, copy the PNG
figures it writes into docs/gallery/ (each shrunk below 200 kB) and rewrite
docs/gallery.md, one section per scenario.

    python docs/build_gallery.py                      # every scenario, 5 s trials
    python docs/build_gallery.py --scenario neuron --scenario scn --duration 10
    python docs/build_gallery.py --from DIR           # figures of an earlier validate run

Figures are named ``<scenario>_<figure>.png`` by ``bayesnn validate``; a scenario that
writes none is listed as such. The run's exit status is reported but does not stop the
gallery (short trials may fail a tolerance tuned for the default length). Takes a few
minutes on 2 cores (the learning scenario's NUTS runs dominate).
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parent
GALLERY = DOCS / "gallery"
PAGE = DOCS / "gallery.md"
MAX_BYTES = 200_000


def shrink(data: bytes, max_bytes: int = MAX_BYTES) -> bytes:
    """PNG bytes below ``max_bytes``: as they are if small enough, else quantised to a
    256-colour palette (plots have few colours), then scaled down by 0.85 per try."""
    if len(data) < max_bytes:
        return data
    image = Image.open(io.BytesIO(data)).convert("RGB")
    while True:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            buffer, format="PNG", optimize=True)
        if buffer.tell() < max_bytes:
            return buffer.getvalue()
        width, height = image.size
        if width < 400:
            raise ValueError(f"shrink: cannot bring the figure below {max_bytes} bytes")
        image = image.resize((int(width * 0.85), int(height * 0.85)), Image.LANCZOS)


def validate_flags(scenarios: list[str], duration: float, seed: int | None) -> list[str]:
    flags = [item for name in scenarios for item in ("--scenario", name)]
    if seed is not None:
        flags += ["--seed", str(seed)]
    return flags + ["--duration", f"{duration:g}"]


def run_validate(out: Path, flags: list[str]) -> int:
    command = [sys.executable, "-m", "bayesnn.cli", "validate", *flags, "--out", str(out),
               "--quiet"]
    print("$", " ".join(command[1:]), flush=True)
    return subprocess.run(command, stdout=subprocess.DEVNULL).returncode


def scenario_of(stem: str, registry) -> str | None:
    """The scenario whose name prefixes ``<scenario>_<figure>`` (longest match)."""
    names = sorted((n for n in registry if stem.startswith(n + "_")), key=len, reverse=True)
    return names[0] if names else None


# What the current figures show; a figure not listed is captioned by its file name.
CAPTIONS = {
    "neuron_neuron_trial": "One trial: the hidden state, the exact posterior with the "
        "neuron's sigmoid(L) on it and the decoded sigmoid(G); the input raster; L, G and "
        "the threshold G + g0/2; the residual L - L_exact (rounding, ~1e-14 nats); the "
        "output spikes (several at one instant form one event of multiplicity n).",
    "neuron_calibration": "Calibration of the exact neuron: observed frequency of x = 1 "
        "against the predicted P(x = 1), with 99.9 % binomial intervals.",
    "scn_integrator_box": "Spike-coding integrator (Boerlin et al. 2013): readout against "
        "target, the error inside the bounding box, and the raster sorted by decoder sign.",
    "scn_autoencoder": "2-D spike-coding autoencoder: readout against target, raster sorted "
        "by decoder angle, one neuron's voltage against its closed form, and the residual.",
    "log_odds_tracking": "Log-odds population in tracking mode against the exact "
        "posterior of one of the K variables, and the error split into spike coding (inside "
        "the box), time step and linearisation.",
    "log_odds_implementing": "The same in implementing mode, where linearisation "
        "dominates the error.",
    "log_odds_kl_vs_size": "KL from the exact posterior against population size: "
        "tracking falls as 1/N^2 (theory), implementing stays at its linearisation error.",
    "kalman_ou": "Spiking Kalman filter for an Ornstein-Uhlenbeck latent: readout against "
        "the exact Kalman-Bucy mean within the error bound, the error norm, and z-score "
        "histograms against N(0, 1).",
    "kalman_oscillator": "The same for the 2-D damped oscillator (first coordinate "
        "observed).",
    "accuracy_accuracy_vs_spikes": "KL from the exact posterior against output spikes "
        "per second: one Bayesian neuron (labels: g0) and tracking / implementing "
        "populations (labels: N).",
    "hierarchy_hierarchy_trial": "Hierarchy trial: exact P(y = 1 | inputs), the layer-2 "
        "neuron's sigmoid(L) and sigmoid(G), a reader fed the layer-1 log-odds; layer-1 "
        "spikes with the children's states x_j (grey).",
    "hierarchy_hierarchy_frontier": "KL of the readers from the exact marginal of y "
        "against the layer-1 output rate, for K = 1..6 children (mean and sd over trials).",
    "learning_em_log_likelihood": "Batch EM raises the log-likelihood at every iteration "
        "(continuous-time and binned EM).",
    "learning_learned_over_time": "Rates learned online from a 4x-wrong start: online "
        "EM, the local rule and the filtered-only rule (which cannot learn r_on, r_off).",
    "learning_tracking": "Online EM with a 10 s memory tracks q_on halving at 200 s.",
    "learning_error_vs_duration": "Error of the learned rates (slope -1/2) and KL of the "
        "learned posterior (slope -1) against the recording length.",
    "learning_coverage": "NUTS 90 % HDIs and maximum-likelihood estimates relative to the "
        "true rates over five data sets.",
}


def caption(stem: str, scenario: str) -> str:
    if stem in CAPTIONS:
        return CAPTIONS[stem]
    words = stem[len(scenario) + 1:] if stem.startswith(scenario + "_") else stem
    return words.replace("_", " ")


def write_page(figures: dict[str, list[str]], registry: dict, command: str) -> None:
    lines = ["# Gallery", "",
             "The figures `bayesnn validate` writes for each scenario (`<scenario>_<figure>.png`",
             "in the `--out` folder, beside `results.json` and the NetCDF traces). These were made",
             "with short settings by `docs/build_gallery.py`:", "",
             "```bash", command, "```", "",
             "Run `bayesnn validate --scenario all --out DIR` for the full-length versions; the",
             "theory pages say what each check and figure measures.", ""]
    for scenario, entry in registry.items():
        lines += [f"## `{scenario}`", "", f"{entry.description[0].upper()}{entry.description[1:]}.", ""]
        names = figures.get(scenario, [])
        if not names:
            lines += ["This scenario writes no figure yet.", ""]
        for name in names:
            stem = Path(name).stem
            alt = stem[len(scenario) + 1:].replace("_", " ")
            lines += [f"![{scenario}: {alt}](gallery/{name})", "",
                      f"*`{name}`: {caption(stem, scenario)}*", ""]
    PAGE.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", help="repeatable; default all")
    parser.add_argument("--duration", type=float, default=5.0, help="trial length, s")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for every scenario (default: each scenario's own)")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="use the PNGs of an earlier `bayesnn validate --out DIR` run "
                             "(give the --seed/--duration it used, for the page)")
    args = parser.parse_args(argv)
    if args.duration <= 0:
        parser.error(f"--duration: must be > 0, got {args.duration}")
    from bayesnn.validate import REGISTRY
    scenarios = args.scenario or ["all"]
    ran = list(REGISTRY) if "all" in scenarios else scenarios
    unknown = [name for name in ran if name not in REGISTRY]
    if unknown:
        parser.error(f"--scenario: unknown {unknown}; choose from {list(REGISTRY)}")
    flags = validate_flags(scenarios, args.duration, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        out = args.source or Path(folder)
        if args.source is None:
            status = run_validate(out, flags)
        elif not args.source.is_dir():
            parser.error(f"--from: {args.source} is not a folder")
        else:
            status = "not run"
        pngs = sorted(out.glob("*.png"))
        if not pngs:
            raise SystemExit(f"bayesnn validate (exit {status}) wrote no figure")
        GALLERY.mkdir(exist_ok=True)
        for old in GALLERY.glob("*.png"):
            if scenario_of(old.stem, REGISTRY) in ran:
                old.unlink()
        for png in pngs:
            if scenario_of(png.stem, REGISTRY) in ran:
                (GALLERY / png.name).write_bytes(shrink(png.read_bytes()))
    figures: dict[str, list[str]] = {}
    for png in sorted(GALLERY.glob("*.png")):
        figures.setdefault(scenario_of(png.stem, REGISTRY), []).append(png.name)
    # a partial rerun (--scenario NAME) refreshes those scenarios' figures with the same
    # trial length, so the page names the whole run
    shown = validate_flags(["all"], args.duration, args.seed)
    write_page(figures, REGISTRY, " ".join(["bayesnn validate", *shown, "--out DIR"]))
    total = sum(len(v) for v in figures.values())
    print(f"{total} figures in {GALLERY} (validate exit status {status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
