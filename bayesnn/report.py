"""Validation results: one :class:`Check` per row of the table printed by ``bayesnn
validate``, and the :class:`ScenarioResult` every family's scenario returns.

A family owns its validation scenario (e.g. :func:`bayesnn.neuron.validation.
neuron_scenario`): a function ``scenario(*, progress, figures, **settings) ->
ScenarioResult``. :mod:`bayesnn.validate` only dispatches to them; the command line
prints the table, writes JSON, NetCDF and PNG files and exits non-zero if any check
failed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple

Progress = Callable[[str], None]
"""A progress callback: called with one line of text per stage."""


def silent(message: str) -> None:
    """The progress callback that prints nothing."""


@dataclass(frozen=True)
class Check:
    """One measured quantity against its tolerance.

    Fields:
        name: short identifier, e.g. ``"discrete_vs_forward_max_abs"``.
        value: the measured value.
        bound: the tolerance; a float for ``"<="`` / ``">="``, a (low, high) pair for
            ``"in"``.
        relation: ``"<="`` (value must not exceed bound), ``">="`` or ``"in"``.
        description: what is measured, in words (units included).
    """

    name: str
    value: float
    bound: Any
    relation: str = "<="
    description: str = ""

    @property
    def passed(self) -> bool:
        value = float(self.value)
        if not math.isfinite(value):
            return False
        if self.relation == "<=":
            return value <= float(self.bound)
        if self.relation == ">=":
            return value >= float(self.bound)
        if self.relation == "in":
            low, high = self.bound
            return float(low) <= value <= float(high)
        raise ValueError(f"relation must be '<=', '>=' or 'in', got {self.relation!r}")

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["value"] = float(self.value)
        row["bound"] = list(self.bound) if self.relation == "in" else float(self.bound)
        row["passed"] = self.passed
        return row


class ScenarioResult(NamedTuple):
    """Outcome of one validation scenario.

    Fields:
        scenario: its name (as given to ``bayesnn validate --scenario``).
        checks: the pass/fail rows (:class:`Check`).
        numbers: reported values (floats, lists, nested dicts) for ``results.json``.
        figures: name -> ``matplotlib.figure.Figure`` (written as PNG).
        traces: an ``xarray.Dataset`` of time series (written as NetCDF), or None.
    """

    scenario: str
    checks: list[Check]
    numbers: dict[str, Any]
    figures: dict[str, Any]
    traces: Any = None

    @property
    def passed(self) -> bool:
        """True when every check passed (and there is at least one)."""
        return bool(self.checks) and all(check.passed for check in self.checks)


def format_table(checks: list[Check]) -> str:
    """Plain-text table of checks (name, value, tolerance, PASS/FAIL)."""
    rows = [("check", "value", "tolerance", "result")]
    for check in checks:
        if check.relation == "in":
            tolerance = f"in [{check.bound[0]:.4g}, {check.bound[1]:.4g}]"
        else:
            tolerance = f"{check.relation} {float(check.bound):.4g}"
        rows.append((check.name, f"{float(check.value):.4g}", tolerance,
                     "PASS" if check.passed else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


__all__ = ["Progress", "silent", "Check", "ScenarioResult", "format_table"]
