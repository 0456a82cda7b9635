"""mkdocs hook (listed under ``hooks:`` in mkdocs.yml): expand the line
``<!-- submodules of bayesnn.X -->`` of an API page into one ``::: bayesnn.X.<module>``
directive per module file of that package, in alphabetical order.

The API pages therefore list every module of a subpackage (and of its sub-packages),
including ones added later, without a hand-kept list; mkdocstrings (griffe, static
analysis) then renders each module's docstring and the members its ``__all__`` lists
(``filters: public`` in mkdocs.yml), so the reference is generated from those lists. Private modules (``_name.py``) are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- submodules of (bayesnn(?:\.\w+)*) -->[ \t]*$", re.M)


def submodules(package: str) -> list[str]:
    """Public module names (relative to ``package``, dotted) of ``package`` and of its
    sub-packages (a sub-package first, then its modules), sorted."""
    folder = ROOT.joinpath(*package.split("."))
    if not (folder / "__init__.py").is_file():
        raise ValueError(f"submodules: {package} is not a package under {ROOT}")
    names = [path.stem for path in folder.glob("*.py") if not path.stem.startswith("_")]
    for sub in folder.iterdir():
        if sub.is_dir() and (sub / "__init__.py").is_file() and not sub.name.startswith("_"):
            names.append(sub.name)
            names += [f"{sub.name}.{name}" for name in submodules(f"{package}.{sub.name}")]
    return sorted(names)


def expand(markdown: str) -> str:
    """The page with every marker replaced by its modules' directives."""
    def directives(match: re.Match) -> str:
        package = match.group(1)
        return "\n\n".join(f"::: {package}.{name}" for name in submodules(package))
    return MARKER.sub(directives, markdown)


def on_page_markdown(markdown, page, config, files, **kwargs):  # noqa: ARG001 - mkdocs API
    return expand(markdown)
