"""The public surface, checked statically (``ast``; nothing is imported).

* Every public module has ``__all__`` and every name in it is defined or imported there.
* No module exports a name equal to its own module name (``neuron.simulate`` the
  function vs the module): a reader cannot tell which one a dotted name means.
* The number of names each package exports is recorded in :data:`EXPORTED`; a change
  of the surface is a deliberate edit of this table (issue 18 counted ~237 names with
  ``np``, ``json`` and ``xr`` leaking from ``io`` and ``metrics`` for lack of ``__all__``;
  counted this way, 300 before the clean-up).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayesnn"

# top-level package or module -> number of names in its __all__
EXPORTED = {
    "bayesnn": 3, "bayesnn.cli": 1, "bayesnn.core": 43, "bayesnn.exact": 31,
    "bayesnn.hierarchy": 22, "bayesnn.interop": 2, "bayesnn.io": 8, "bayesnn.learning": 11,
    "bayesnn.metrics": 9, "bayesnn.neuron": 22, "bayesnn.numpyro_models": 17,
    "bayesnn.plotting": 3, "bayesnn.posteriors": 18, "bayesnn.processes": 23,
    "bayesnn.report": 5, "bayesnn.scn": 46, "bayesnn.style": 20, "bayesnn.sweep": 17,
    "bayesnn.validate": 11,
    # wave-3 families
    "bayesnn.neuromorphic": 23, "bayesnn.spike_gradients": 25, "bayesnn.stdp": 20,
}
# Modules still named after a function they export, each with the reason it waits.
PENDING_RENAMES: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))
           if not path.stem.startswith("_") or path.name == "__init__.py"}


def exports(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(getattr(target, "id", None) == "__all__" for target in targets):
            return list(ast.literal_eval(node.value))
    return None


def defined(tree: ast.Module) -> set[str]:
    """Names bound at module level (definitions, assignments, imports), including those
    bound inside top-level ``if``/``try`` blocks."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_public_module_has_all_and_its_names_exist(name):
    names = exports(TREES[name])
    assert names is not None, f"{name} has no __all__"
    assert len(names) == len(set(names)), f"{name}: __all__ lists a name twice"
    missing = set(names) - defined(TREES[name])
    assert not missing, f"{name}: __all__ names {sorted(missing)} that the module does not bind"


def test_no_module_exports_its_own_name():
    offenders = {name for name in MODULES
                 if MODULES[name].name != "__init__.py"
                 and name.rpartition(".")[2] in (exports(TREES[name]) or [])}
    assert offenders == PENDING_RENAMES


def test_exported_name_counts_are_the_recorded_ones():
    counted = {name: len(exports(TREES[name]) or []) for name in MODULES
               if name.count(".") == 0 or (name.count(".") == 1 and (
                   MODULES[name].name == "__init__.py" or MODULES[name].parent == PACKAGE))}
    assert counted == EXPORTED
    assert sum(counted.values()) == 380  # 304 after issue 18; + issue 22 (labelling, binning), the figure audit's
    # rules in style (SLIDE, MAX_LEGEND_ENTRIES, WINDOW_PATTERN, window, hidden_legend_entries),
    # three new families
