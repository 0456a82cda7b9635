"""Rebuild the docs gallery: run ``bayesnn validate`` with short settings, copy the PNG
figures it writes into docs/gallery/ (each shrunk below 200 kB) and rewrite
docs/gallery.md, one section per scenario.

    python docs/build_gallery.py                      # every scenario, 5 s trials, seed 0
    python docs/build_gallery.py --scenario neuron --scenario scn --duration 10

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


def run_validate(out: Path, scenarios: list[str], duration: float, seed: int) -> int:
    command = [sys.executable, "-m", "bayesnn.cli", "validate", "--out", str(out),
               "--seed", str(seed), "--duration", str(duration), "--quiet"]
    for name in scenarios:
        command += ["--scenario", name]
    print("$", " ".join(command[1:]), flush=True)
    return subprocess.run(command, stdout=subprocess.DEVNULL).returncode


def scenario_of(stem: str, registry) -> str | None:
    """The scenario whose name prefixes ``<scenario>_<figure>`` (longest match)."""
    names = sorted((n for n in registry if stem.startswith(n + "_")), key=len, reverse=True)
    return names[0] if names else None


def caption(stem: str, scenario: str) -> str:
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
            text = caption(Path(name).stem, scenario)
            lines += [f"![{scenario}: {text}](gallery/{name})", "", f"*{text}*", ""]
    PAGE.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", help="repeatable; default all")
    parser.add_argument("--duration", type=float, default=5.0, help="trial length, s")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.duration <= 0:
        parser.error(f"--duration: must be > 0, got {args.duration}")
    from bayesnn.validate import REGISTRY
    scenarios = args.scenario or ["all"]
    ran = list(REGISTRY) if "all" in scenarios else scenarios
    unknown = [name for name in ran if name not in REGISTRY]
    if unknown:
        parser.error(f"--scenario: unknown {unknown}; choose from {list(REGISTRY)}")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        status = run_validate(out, scenarios, args.duration, args.seed)
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
    flags = " ".join(f"--scenario {n}" for n in scenarios)
    write_page(figures, REGISTRY, f"bayesnn validate {flags} --seed {args.seed} "
                                  f"--duration {args.duration:g} --out DIR")
    total = sum(len(v) for v in figures.values())
    print(f"{total} figures in {GALLERY} (validate exit status {status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
