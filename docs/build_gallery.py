"""Rebuild the docs gallery from what ``bayesnn validate --scenario all`` writes: run it
with the short settings of docs/gallery.toml (or reuse a folder it already wrote), copy
every PNG into docs/gallery/ (each shrunk below 200 kB) and rewrite docs/gallery.md, one
section per scenario, listing exactly the figures of that run.

    python docs/build_gallery.py                  # runs validate (a few minutes on 2 cores)
    python docs/build_gallery.py --out DIR        # reuses DIR/results.json if DIR has one,
                                                  # else runs validate into DIR

CI (.ci/run) calls it with the folder tests/test_validate_all.py wrote its validate run into
(``BAYESNN_VALIDATE_OUT``), so the published site always shows the current figures
without a second run; that test also checks that the committed docs/gallery.md lists
exactly the figures validate writes (rerun this script when it fails). Which scenario a
figure belongs to comes from results.json, not from its file name. The run's exit status
(1 when a check fails at these short sizes) does not stop the gallery.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GALLERY = DOCS / "gallery"
PAGE = DOCS / "gallery.md"
CONFIG = DOCS / "gallery.toml"
MAX_BYTES = 200_000
IMAGE = re.compile(r"!\[[^\]]*\]\(gallery/([^)\s]+\.png)\)")


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


def gallery_config(registry) -> dict:
    """docs/gallery.toml's tables for the registered scenarios (a table for a scenario
    not registered yet is dropped: validate would refuse it)."""
    with CONFIG.open("rb") as handle:
        tables = tomllib.load(handle)
    return {name: table for name, table in tables.items() if name in registry}


def run_validate(out: Path, registry) -> int:
    """``bayesnn validate --scenario all`` with the gallery settings into ``out``."""
    config = out / "gallery_settings.toml"
    lines = []
    for name, table in gallery_config(registry).items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    config.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "bayesnn.cli", "validate", "--scenario", "all",
               "--config", str(config), "--out", str(out), "--quiet"]
    print("$", " ".join(command[1:]), flush=True)
    return subprocess.run(command, stdout=subprocess.DEVNULL, cwd=ROOT).returncode


def figures_of(out: Path) -> dict[str, list[str]]:
    """scenario -> the PNG file names it wrote, from ``out/results.json``."""
    payload = json.loads((out / "results.json").read_text())
    return {scenario: sorted(Path(f).name for f in entry["files"] if f.endswith(".png"))
            for scenario, entry in payload["scenarios"].items()}


def listed(page: str) -> list[str]:
    """The PNG file names a gallery page shows, sorted."""
    return sorted(IMAGE.findall(page))


# What the current figures show; a figure not listed is captioned by its file name.
CAPTIONS = {
    "neuron_trial": "One trial: the hidden state, the exact posterior with the "
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
    "accuracy_vs_spikes": "KL from the exact posterior against output spikes "
        "per second: one Bayesian neuron (labels: g0) and tracking / implementing "
        "populations (labels: N).",
    "hierarchy_trial": "Hierarchy trial: exact P(y = 1 | inputs), the layer-2 "
        "neuron's sigmoid(L) and sigmoid(G), a reader fed the layer-1 log-odds; layer-1 "
        "spikes with the children's states x_j (grey).",
    "hierarchy_frontier": "KL of the readers from the exact marginal of y "
        "against the layer-1 output rate: colour = number of children K, line style = "
        "reader (mean over trials; bars: sd of the spike-fed L).",
    "learning_em_log_likelihood": "Batch EM raises the log-likelihood at every iteration "
        "(continuous-time and binned EM).",
    "learning_learned_over_time": "Rates learned online from a 4x-wrong start: online "
        "EM, the local rule and the filtered-only rule (which cannot learn r_on, r_off).",
    "learning_tracking": "Online EM with a 10 s memory tracks q_on halving at 200 s.",
    "learning_error_vs_duration": "Error of the learned rates (slope -1/2) and KL of the "
        "learned posterior (slope -1) against the recording length.",
    "learning_coverage": "NUTS 90 % HDIs and maximum-likelihood estimates relative to the "
        "true rates, per data set (one here; five by default).",
    "scn_learning_convergence": "Brendel et al. 2020 learning rules (reduced Fig. 2): "
        "distance of the recurrent weights to the optimum, decoding error, rate and ISI CV "
        "against simulated learning time, during learning and in frozen test runs.",
    "scn_learning_weights": "Recurrent weights against -F^T F and the optimal decoder "
        "against F, before and after learning.",
    "scn_learning_dale": "E/I (Dale) learning: rates and in-sample decoding errors of both "
        "populations; no synapse changes sign.",
    "scn_learning_gradient": "Adam through the gated network lowers its readout error; "
        "autodiff directional derivatives against central finite differences.",
    "stdp_means": "Winner-take-all circuit with STDP (Nessler et al. 2013) on 8x8 digits: "
        "each component's read-out P(pixel on | k) after learning (top) beside batch EM's "
        "(bottom), columns matched by the Hungarian assignment.",
    "stdp_learning_curve": "Held-out log-likelihood of the STDP circuit and of online EM fed "
        "the same presentations, against presentations; batch EM's as a horizontal line.",
    "spike_gradients_transfer": "Surrogate-gradient BPTT trains the spike-coding network of "
        "Brendel et al. 2020 Fig. 2: decoding error of the hard spiking network per training "
        "method (log scale) and the surrogate's training loss per iteration.",
    "spike_gradients_eventprop_digits": "EventProp (Wunderlich & Pehle 2021) directional "
        "derivatives against central finite differences on the equality line, and test "
        "accuracy on 8x8 digits per classifier (two epochs here).",
    "scn_dynamics_weights": "Slow recurrent weights learned by the local rule (Bourdoukan & "
        "Deneve 2015) against the closed form Gamma^T (A + lambda_d I) Gamma, damped "
        "oscillator.",
    "scn_dynamics_phase_portraits": "Autonomous runs (feedback and learning off) after a "
        "kick: network readout against the true oscillator in the x1-x2 plane, for the "
        "learned network, the hand-set Boerlin et al. 2013 network and the learned network "
        "with 25 % of its neurons knocked out.",
    "scn_dynamics_learning_curves": "Relative distance of the slow weights to the closed "
        "form (goal 0.1) and readout error against learning time, damped oscillator and "
        "bistable system (Alemi et al. 2018 rule).",
    "neuromorphic_kl_vs_bits": "Chip number formats: KL of the neuron's spiking posterior "
        "and of its own state from the exact posterior, and the spike-coding network's "
        "readout RMSE, against weight mantissa bits for each state width, with the float64 "
        "values as dashed lines.",
    "neuromorphic_energy_frontier": "Accuracy against nominal energy per second at Loihi's "
        "per-event costs (Davies et al. 2018): the Bayesian neuron over g0 and the "
        "spike-coding network over threshold scale, per number format, with each Pareto front.",
}


def caption(name: str) -> str:
    """The gallery caption of figure ``<scenario>_<figure>`` (its file stem)."""
    return CAPTIONS.get(name, "(no gallery caption yet: add one to CAPTIONS in "
                              "docs/build_gallery.py)")


def page(figures: dict[str, list[str]], registry) -> str:
    """The Markdown of docs/gallery.md for ``figures`` (scenario -> PNG names)."""
    lines = ["# Gallery", "",
             "Every figure `bayesnn validate --scenario all` writes (`<scenario>_<figure>.png`",
             "in the `--out` folder, beside `results.json` and the NetCDF traces), at the short",
             "settings of `docs/gallery.toml`. The docs build regenerates this page and its",
             "images from a fresh run (`docs/build_gallery.py`, called by CI before `mkdocs",
             "build`), so it shows the current figures:", "",
             "```bash",
             "bayesnn validate --scenario all --config docs/gallery.toml --out DIR",
             "```", "",
             "Run `bayesnn validate --scenario all --out DIR` for the full-length versions; the",
             "theory pages say what each check and figure measures.", ""]
    for scenario in [*registry, *sorted(set(figures) - set(registry))]:
        if scenario not in figures:
            continue
        entry = registry.get(scenario)
        lines += [f"## `{scenario}`", ""]
        if entry is not None:
            lines += [f"{entry.description[0].upper()}{entry.description[1:]}.", ""]
        names = figures[scenario]
        if not names:
            lines += ["This scenario writes no figure.", ""]
        for name in names:
            stem = Path(name).stem
            alt = stem[len(scenario) + 1:].replace("_", " ") if stem.startswith(scenario + "_") else stem
            lines += [f"![{scenario}: {alt}](gallery/{name})", "",
                      f"*`{name}`: {caption(stem)}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def build(out: Path, registry) -> dict[str, list[str]]:
    """Copy ``out``'s figures into docs/gallery/ (replacing the old ones) and rewrite
    docs/gallery.md; returns scenario -> PNG names."""
    figures = figures_of(out)
    if not any(figures.values()):
        raise SystemExit(f"no figure in {out}/results.json")
    GALLERY.mkdir(exist_ok=True)
    for old in GALLERY.glob("*.png"):
        old.unlink()
    for names in figures.values():
        for name in names:
            (GALLERY / name).write_bytes(shrink((out / name).read_bytes()))
    PAGE.write_text(page(figures, registry))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="validate's output folder: reused when it holds results.json, "
                             "else validate runs into it (default: a temporary folder)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # bayesnn from this checkout
    from bayesnn.validate import REGISTRY
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        status = "reused"
        if not (out / "results.json").is_file():
            status = run_validate(out, REGISTRY)
        figures = build(out, REGISTRY)
    total = sum(len(names) for names in figures.values())
    print(f"{total} figures in {GALLERY} (validate: {status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
