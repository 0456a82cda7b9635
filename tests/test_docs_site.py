"""The docs site (mkdocs.yml, docs/): every page is in the nav, every cited bibliography
key exists and every bibliography entry is used, one API page per public subpackage,
gallery images exist and are small, and (where mkdocs is installed) the strict build
passes."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIBLIOGRAPHY = DOCS / "bibliography.md"
SUBPACKAGES = ("core", "processes", "neuron", "scn", "posteriors", "hierarchy", "learning",
               "exact", "numpyro_models", "sweep", "metrics", "io", "validate")
# `[label](bibliography.md#key)` from docs/*.md, `(../bibliography.md#key)` from docs/api/
CITATION = re.compile(r"\]\((?:\.\./)*(?:docs/)?bibliography\.md#([A-Za-z0-9_-]+)\)")
ANCHOR = re.compile(r'<a id="([A-Za-z0-9_-]+)"></a>\*\*[^|*]+\*\* \| ([^|]+?) \((\d{4})\)')
INTERNAL_NOTES = re.compile(r"science notes?|bayesian-neuron\.md|spike-coding-networks\.md|"
                            r"hierarchies\.md|/work/shared")


def _config() -> dict:
    # mkdocs.yml holds no Python tags, so the safe loader reads it
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    raise TypeError(f"unexpected nav entry {node!r}")


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _bibliography() -> dict[str, tuple[str, str]]:
    """key -> (authors, year) of every entry."""
    return {key: (authors, year)
            for key, authors, year in ANCHOR.findall(BIBLIOGRAPHY.read_text())}


def test_nav_lists_every_page_once_and_nothing_else():
    nav = _nav_pages(_config()["nav"])
    pages = [str(page.relative_to(DOCS)) for page in _pages()]
    assert sorted(set(nav)) == sorted(nav), "a page is listed twice in the nav"
    assert sorted(nav) == sorted(pages)


def test_one_api_page_per_public_subpackage():
    for name in SUBPACKAGES:
        page = DOCS / "api" / f"{name}.md"
        assert page.is_file(), page
        assert f"::: bayesnn.{name}" in page.read_text()


def test_api_hook_lists_every_module_of_a_subpackage():
    spec = importlib.util.spec_from_file_location("api_hook", DOCS / "api" / "_submodules.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    for name in SUBPACKAGES:
        package = ROOT / "bayesnn" / name
        if not package.is_dir():
            continue
        page = hook.expand((DOCS / "api" / f"{name}.md").read_text())
        # modules of the package and of its sub-packages (scn.network.kernels, ...)
        modules = sorted(".".join(p.relative_to(package).with_suffix("").parts)
                         .removesuffix(".__init__")
                         for p in package.rglob("*.py")
                         if not p.stem.startswith("_") or (p.name == "__init__.py"
                                                           and p.parent != package))
        assert modules
        for module in modules:
            assert f"::: bayesnn.{name}.{module}\n" in page + "\n", (name, module)
    with pytest.raises(ValueError, match="not a package"):
        hook.submodules("bayesnn.no_such_package")


def test_bibliography_entries_parse():
    entries = _bibliography()
    # one anchor per table row: an entry whose row does not parse would go unchecked
    assert len(entries) == BIBLIOGRAPHY.read_text().count('<a id="')
    assert len(entries) >= 20
    for key in ("deneve2004", "deneve2008a", "deneve2008b", "boerlin2013", "barrett2016",
                "brendel2020", "calaim2022", "mongillo2008", "huh2018", "rabiner1989",
                "snyder1972", "snyder1975", "ryden1996", "kalman1961", "vanloan1978"):
        assert key in entries, key


def test_cited_keys_exist_in_the_bibliography():
    entries = _bibliography()
    cited = {}
    for page in _pages() + [ROOT / "README.md"]:
        for key in CITATION.findall(page.read_text()):
            cited.setdefault(key, page.name)
    assert cited, "no page cites the bibliography"
    missing = {key: page for key, page in cited.items() if key not in entries}
    assert not missing


def test_every_bibliography_entry_is_used():
    """Each entry's first author and year appear together in a page, docstring, paper
    script or test (a reference nobody cites does not belong in the list)."""
    sources = [p for p in _pages() if p != BIBLIOGRAPHY] + [ROOT / "README.md"]
    for folder in ("bayesnn", "papers", "examples", "tests"):
        sources += sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.md"))
    text = "\n".join(path.read_text(errors="replace") for path in sources)
    for key, (authors, year) in _bibliography().items():
        surname = re.match(r"(.+?)\s+[A-Z]\.", authors).group(1)   # "van Schaik A." -> "van Schaik"
        near = re.compile(re.escape(surname) + r".{0,80}?" + year, re.S)
        assert near.search(text) or f"bibliography.md#{key}" in text, (key, surname, year)


def test_docs_cite_papers_not_internal_notes():
    for page in _pages() + [ROOT / "README.md"]:
        hits = INTERNAL_NOTES.findall(page.read_text())
        assert not hits, (page.name, hits)


def test_gallery_images_exist_and_are_small():
    text = (DOCS / "gallery.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((gallery/[^)\s]+\.png)\)", text)
    files = sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "gallery").glob("*.png"))
    assert images, "the gallery shows no figure"
    assert sorted(set(images)) == files, "gallery.md and docs/gallery/ disagree"
    for name in files:
        size = (DOCS / name).stat().st_size
        assert size < 200_000, (name, size)


def test_known_docstring_warnings_are_still_current():
    """Each allow-listed warning still matches its file; a fixed one must be removed."""
    spec = importlib.util.spec_from_file_location("known", DOCS / "api" / "_known_warnings.py")
    known = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(known)
    for path, text in known.KNOWN:
        quoted = text.rsplit("from '", 1)[-1]   # the docstring line griffe quotes
        assert quoted in (ROOT / path).read_text(), (path, quoted)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings") is None,
                    reason='needs the docs extra: pip install ".[docs]" (.ci/run installs it '
                           'after the suite and builds the site strictly itself)')
def test_strict_build_passes(tmp_path):
    # about 15 s on 2 cores (static analysis only; nothing is imported or run)
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                          "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert (tmp_path / "site" / "bibliography" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "core" / "index.html").is_file()
