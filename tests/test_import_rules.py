"""The import rules of bayesnn's parts, checked statically.

Every module under bayesnn/ is parsed with ``ast`` (nothing is imported); every
``import``/``from ... import`` counts, including those inside functions (a deferred
import is still a dependency). :data:`RULES` is the one statement of which part may
import which (docs/design.md, "Parts and imports", points here):

* no import cycle between bayesnn modules;
* ``core`` imports nothing of bayesnn outside ``core``;
* the references (``exact``, ``numpyro_models``) never import the models they check,
  nor anything above them (they share only the parameter records of ``processes``);
* every part imports only the parts its row allows, and every part has a row (a new
  sub-package of bayesnn must be placed in the table before it can land).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayesnn"

BASE = {"bayesnn", "core"}  # "bayesnn": the top-level package (enable_x64)
RECORDS = BASE | {"processes"}
REFERENCES = RECORDS | {"exact", "numpyro_models"}
# Leaf services any model may use: files, measures, the house style, scenario reports,
# shared figures. They import only core.
SERVICES = {"io", "metrics", "style", "report", "plotting"}
MODEL_BASE = REFERENCES | SERVICES

# part -> the parts it may import (its own modules always allowed).
RULES: dict[str, set[str]] = {
    "bayesnn": BASE,                      # the top-level __init__: the precision switch
    "core": BASE,
    "processes": RECORDS,
    "io": BASE,
    "metrics": BASE,
    "style": BASE,
    "report": BASE,
    "plotting": BASE | {"io", "metrics", "style"},
    "exact": RECORDS,
    "numpyro_models": RECORDS,
    "neuron": MODEL_BASE,
    "scn": MODEL_BASE,
    "posteriors": MODEL_BASE | {"neuron", "scn"},
    "hierarchy": MODEL_BASE | {"neuron", "scn"},
    "learning": MODEL_BASE | {"neuron"},
    # families announced in issue 18 (STDP circuits, gradients through spikes,
    # fixed-point execution): models on top of the neuron and the network
    "stdp": MODEL_BASE | {"neuron", "scn"},
    "spike_gradients": MODEL_BASE | {"neuron", "scn"},
    "neuromorphic": MODEL_BASE | {"neuron", "scn"},
    "interop": BASE | {"io"},
    "sweep": MODEL_BASE | {"neuron", "scn", "posteriors", "hierarchy", "learning"},
    "validate": MODEL_BASE | {"neuron", "scn", "posteriors", "hierarchy", "learning",
                              "stdp", "spike_gradients", "neuromorphic"},
    "cli": MODEL_BASE | {"validate", "sweep"},
}
# module -> extra parts it alone may import
EXCEPTIONS: dict[str, set[str]] = {
    # the NumPyro references' own validation compares them with the exact filters
    "bayesnn.numpyro_models.checks": {"exact", "report"},
}
MODEL_FAMILIES = {"neuron", "scn", "posteriors", "hierarchy", "learning", "stdp",
                  "spike_gradients", "neuromorphic"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """bayesnn modules imported anywhere in ``source`` (module ``name``): ``from a
    import b`` counts as ``a.b`` when that is a module, else as ``a``."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    return {module for module in found if module == "bayesnn" or module.startswith("bayesnn.")}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    known = set(paths)
    return {name: imports_of(path.read_text(encoding="utf-8"), name,
                             path.name == "__init__.py", known)
            for name, path in paths.items()}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus
    self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        part = part_of(module)
        if part not in RULES:
            bad.append(f"{module}: part {part!r} has no row in RULES")
            continue
        allowed = RULES[part] | {part} | EXCEPTIONS.get(module, set())
        for target in sorted(targets):
            if part_of(target) not in allowed:
                bad.append(f"{module} imports {target} ({part} may import {sorted(allowed)})")
    return bad


GRAPH = import_graph()


def test_parser_sees_every_kind_of_import():
    # the checks below are only as good as this parser: relative, deferred (function
    # level), `from package import submodule` and plain imports all count
    source = ("import bayesnn.io\nfrom . import kernels\nfrom ..core import Spikes\n"
              "def f():\n    from bayesnn.exact.mmpp import mmpp_filter\n")
    known = {"bayesnn.scn.network.kernels", "bayesnn.core", "bayesnn.exact.mmpp", "bayesnn.io"}
    found = imports_of(source, "bayesnn.scn.network.simulation", False, known)
    assert found == {"bayesnn.io", "bayesnn.scn.network.kernels", "bayesnn.scn.core",
                     "bayesnn.exact.mmpp"}
    assert len(GRAPH) > 100  # every module of the package was read


def test_cycle_detection_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_bayesnn_modules():
    assert cycles(GRAPH) == []


def test_rules_catch_an_upward_import():
    assert violations({"bayesnn.core.spikes": {"bayesnn.io"}}) == [
        "bayesnn.core.spikes imports bayesnn.io (core may import ['bayesnn', 'core'])"]
    assert violations({"bayesnn.exact.mmpp": {"bayesnn.neuron.params"}})
    assert violations({"bayesnn.newpart.x": set()})  # unplaced parts fail


@pytest.mark.parametrize("part", sorted({part_of(module) for module in GRAPH}))
def test_every_part_imports_only_what_its_rule_allows(part):
    assert violations({m: t for m, t in GRAPH.items() if part_of(m) == part}) == []


def test_core_and_references_import_no_model_family():
    for module, targets in GRAPH.items():
        if part_of(module) in {"core", "exact", "numpyro_models"}:
            reached = {part_of(target) for target in targets}
            assert not reached & (MODEL_FAMILIES | {"sweep", "validate", "cli"}), module
        if part_of(module) == "core":
            assert {part_of(target) for target in targets} <= {"core"}, module
