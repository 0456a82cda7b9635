"""The README's and docs' Python snippets run as written (each file's ```python blocks
in order, in one namespace, from a scratch directory)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_snippets_run(page, tmp_path, capsys):
    # A page that needs an optional extra says so on its first line, e.g.
    # "<!-- needs: neo -->"; CI installs every extra, a plain test install skips it.
    needs = re.match(r"<!-- needs: (\w+) -->", page.read_text())
    if needs:
        pytest.importorskip(needs.group(1))
    namespace: dict = {"__name__": "__snippet__"}
    previous = os.getcwd()
    os.chdir(tmp_path)
    idle = []
    try:
        for index, block in enumerate(_blocks(page)):
            code = compile(block, f"{page.name}[python block {index}]", "exec")
            before = dict(namespace)
            exec(code, namespace)  # noqa: S102 - the docs are ours (an exception fails)
            changed = namespace.keys() != before.keys() or any(
                namespace[name] is not before[name] for name in before)
            if not changed and not capsys.readouterr().out:
                idle.append(index)
    finally:
        os.chdir(previous)
    # A block that neither defines, rebinds nor prints anything shows the reader nothing.
    assert not idle, f"{page.name}: python blocks {idle} neither define nor print anything"
