"""One figure style for every bayesnn figure: talk-ready at the size it is saved.

Every figure function in bayesnn (validate scenarios, papers/, examples/) builds its
figure through this module, so one set of rules holds everywhere:

* **Text >= 10 pt at the saved size.** Figures are saved at their ``figsize`` (inches),
  so a point is a point on the page or slide; :data:`RC` sets every text size to
  :data:`MIN_FONT_PT` or more, and :func:`audit` rejects smaller text.
* **Legends outside the data**: :func:`legend_outside` puts an axes' legend to its right
  (or above it); :func:`audit` rejects a legend that overlaps any axes.
* **Axis units**: labels read ``"quantity (unit)"`` (:func:`label`); dimensionless
  quantities say what they are (``"P(x = 1)"``, ``"KL (nats)"``).
* **A caption line** with the key parameters and the seed: :func:`caption` (a
  suptitle; :func:`audit` requires one that names the seed). A figure with a time axis
  states which window of the run it shows (:func:`window`, "shown: 5-6 s of a 20 s
  run"); run modes such as ``quick`` are not parameters of what is shown and stay out.
* **Sized for a slide**: at most :data:`SLIDE` (13.33 x 7.5 in, a 16:9 slide), so the
  saved size is the size on the slide and 10 pt stays 10 pt.
* **Legends a reader can use**: at most :data:`MAX_LEGEND_ENTRIES` entries per legend
  (split a product of settings into two keys, e.g. colour and line style), and no
  entry for a line that cannot be seen (hidden under another or outside the view).
* **A residual panel where two curves overlap exactly**: :func:`residual_panel` draws
  ``a - b`` under the overlapping curves, so "exact" is visible as a difference at
  rounding level rather than as one line hiding another.

Use ``@styled`` on a function that builds a figure (its text is created inside the
style's ``rc_context``), or ``with bayesnn.style.context():`` in scripts and notebooks.

One concern: the rules and the one audit that enforces them (the rules are defined by
what :func:`audit` checks, so they live in one module).
"""
from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

__all__ = ["MIN_FONT_PT", "DPI", "SLIDE", "MAX_LEGEND_ENTRIES", "WINDOW_PATTERN", "RC", "COLORS",
           "audit", "caption", "context", "describe", "figure", "label", "legend_outside",
           "hidden_legend_entries", "log_axes", "residual_panel", "styled", "use", "window"]

MIN_FONT_PT = 10.0
"""Smallest text size (points at the saved size) a bayesnn figure may use."""

DPI = 150
"""Resolution of saved PNGs (dots per inch); sizes in points do not depend on it."""

SLIDE = (13.33, 7.5)
"""Largest figure (width, height) in inches: a 16:9 slide (PowerPoint/Beamer widescreen)."""

MAX_LEGEND_ENTRIES = 8
"""Most entries one legend may hold."""

WINDOW_PATTERN = r"shown: (the whole [0-9.e+-]+ s run|[0-9.e+-]+-[0-9.e+-]+ s of an? [0-9.e+-]+ s run)"
"""How a caption states the time window a figure shows (:func:`window` writes it)."""

RC: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "lines.linewidth": 1.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "axes.formatter.use_mathtext": True,
    "savefig.dpi": DPI,
    "figure.constrained_layout.use": True,
}
"""matplotlib settings of the style (applied by :func:`styled`, :func:`context`, :func:`use`)."""

COLORS = {
    "exact": "black",        # exact references
    "model": "tab:blue",     # the spiking model's own variable (L, readout)
    "decoded": "tab:red",    # what a downstream reader decodes from spikes (G)
    "target": "0.45",        # targets the network should track
    "state": "0.85",         # hidden states (filled)
    "bound": "tab:orange",   # bounds and boxes
    "residual": "tab:purple",
}
"""One colour per role, the same in every figure."""


def context() -> AbstractContextManager:
    """``with bayesnn.style.context(): ...``: build figures in the style."""
    return matplotlib.rc_context(RC)


def use() -> None:
    """Apply the style globally (scripts and notebooks)."""
    matplotlib.rcParams.update(RC)


def styled(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a figure-building function inside :func:`context`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with context():
            return function(*args, **kwargs)
    return wrapper


def figure(width: float = 10.0, height: float = 6.0) -> Figure:
    """A new, unattached figure of ``width`` x ``height`` inches with constrained layout
    (call inside :func:`context` or a :func:`styled` function)."""
    return Figure(figsize=(float(width), float(height)), layout="constrained")


def label(quantity: str, unit: str | None = None) -> str:
    """Axis label ``"quantity (unit)"`` (``unit=None``: the quantity alone, for
    dimensionless quantities whose name says what they are)."""
    return quantity if not unit else f"{quantity} ({unit})"


def _format(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return str(value)


def describe(**parameters: Any) -> str:
    """``"name = value, ..."`` with numbers to 4 significant digits; a value given as a
    ``(value, unit)`` pair is written ``"name = value unit"``."""
    parts = []
    for name, value in parameters.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            parts.append(f"{name} = {_format(value[0])} {value[1]}")
        else:
            parts.append(f"{name} = {_format(value)}")
    return ", ".join(parts)


def window(start: float, stop: float, duration: float) -> str:
    """The caption phrase for the time window a figure shows: ``"shown: 5-6 s of a 20 s
    run"``, or ``"shown: the whole 2 s run"`` when ``[start, stop]`` covers ``[0,
    duration]`` (to 0.1 %). Times in s."""
    start, stop, duration = float(start), float(stop), float(duration)
    if not 0.0 <= start < stop or not duration > 0.0:
        raise ValueError(f"window needs 0 <= start < stop and duration > 0, got "
                         f"({start:g}, {stop:g}, {duration:g})")
    if start <= 1e-3 * duration and stop >= duration * (1 - 1e-3):
        return f"shown: the whole {duration:.4g} s run"
    total = f"{duration:.4g}"
    article = "an" if total.startswith("8") or total.split(".")[0] in ("11", "18") else "a"
    return f"shown: {start:.4g}-{stop:.4g} s of {article} {total} s run"


def caption(target: Figure, title: str, details: str | None = None, *, seed: Any = None,
            shown: str | None = None, **parameters: Any) -> str:
    """Set the figure's caption line: ``title`` and, on a second line, ``shown`` (the
    window phrase of :func:`window`, for figures with a time axis), ``details`` (if
    given) and the key ``parameters`` and the ``seed`` (:func:`describe`). Returns the
    text."""
    described = describe(**parameters, **({} if seed is None else {"seed": seed}))
    details = ", ".join(part for part in (shown, details, described) if part)
    text = title if not details else f"{title}\n{details}"
    target.suptitle(text, fontsize=RC["figure.titlesize"])
    return text


def legend_outside(axis, *, where: str = "right", ncol: int = 1, handles=None, labels=None,
                   **options):
    """The axes' legend outside its data: to the right (``where="right"``, top aligned)
    or above the axes (``where="top"``). Returns the Legend (None if nothing is
    labelled)."""
    if where not in ("right", "top"):
        raise ValueError(f"where must be 'right' or 'top', got {where!r}")
    if handles is None:
        handles, labels = axis.get_legend_handles_labels()
    if not handles:
        return None
    if where == "right":
        place = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        place = dict(loc="lower left", bbox_to_anchor=(0.0, 1.01))
    place.update(options)
    return axis.legend(handles, labels, ncol=ncol, borderaxespad=0.0,
                       fontsize=max(MIN_FONT_PT, float(RC["legend.fontsize"])), **place)


class _LogFormatter(matplotlib.ticker.Formatter):
    """Log-axis tick labels at talk size: plain numbers ("0.01", "50", "200") between
    1e-3 and 1e4, powers of ten outside; minor ticks labelled at every multiple of a
    decade while the view spans at most a factor 3 (else a narrow axis shows one label
    or none), only at 2 and 5 times a decade while it spans less than two decades (no
    crowded "3x10^1 4x10^1"), else not at all."""

    def __init__(self, minor: bool):
        self.minor = minor
        self.scientific = matplotlib.ticker.LogFormatterSciNotation()

    def __call__(self, value, pos=None):
        if value <= 0:
            return ""
        if self.minor:
            low, high = sorted(self.axis.get_view_interval())
            mantissa = value / 10.0 ** np.floor(np.log10(value) + 1e-12)
            shown = (2, 3, 4, 5, 6, 7, 8, 9) if 0 < low and high / low <= 3.0 else (2, 5)
            if low <= 0 or high / low > 100.0 or min(abs(mantissa - m) for m in shown) > 1e-6:
                return ""
        if 1e-3 <= value < 1e4:
            return f"{value:g}"
        self.scientific.set_axis(self.axis)
        return self.scientific(value, pos)


def log_axes(axis, *, x: bool = True, y: bool = True) -> None:
    """Log scale on the chosen axes with :class:`_LogFormatter` labels (plain numbers,
    sparse minor labels)."""
    for flag, scale, ticks in ((x, axis.set_xscale, axis.xaxis), (y, axis.set_yscale, axis.yaxis)):
        if flag:
            scale("log")
            ticks.set_major_formatter(_LogFormatter(minor=False))
            ticks.set_minor_formatter(_LogFormatter(minor=True))


def box_edges(axis, half_width: float, *, label: str | None = None) -> None:
    """Mark a tolerance box ``[-half_width, half_width]`` by its two edges, dashed, drawn
    above the data (``zorder`` 3). An error trace that fills its box (a spike-coding
    error oscillating at every spike) covers a shaded band, and the box can no longer
    be seen; its edges stay visible. ``label``: legend entry (default ``"box +-w"``)."""
    for sign in (1.0, -1.0):
        axis.axhline(sign * half_width, color=COLORS["bound"], ls="--", lw=1.5, zorder=3,
                     label=(label or f"box +-{half_width:.3g}") if sign > 0 else None)


def residual_panel(axis, x, a, b, *, quantity: str, unit: str | None = None,
                   names: tuple[str, str] = ("a", "b"), color: str = COLORS["residual"]):
    """Draw ``a - b`` against ``x`` with a zero line: the panel that goes under two
    curves that overlap exactly. The y label is ``"<names[0]> - <names[1]> (unit)"``
    and the legend (outside) gives ``max |a - b|``. Returns the max."""
    x, difference = np.asarray(x), np.asarray(a, float) - np.asarray(b, float)
    worst = float(np.max(np.abs(difference))) if difference.size else 0.0
    axis.axhline(0.0, color="0.6", lw=0.8)
    axis.plot(x, difference, color=color, lw=1.0,
              label=f"{names[0]} - {names[1]}\nmax |diff| = {worst:.2g}")
    axis.set_ylabel(label(f"{names[0]} - {names[1]}", unit) if quantity is None
                    else label(f"{quantity}\n{names[0]} - {names[1]}", unit))
    axis.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
    legend_outside(axis)
    return worst


def _visible_texts(target: Figure) -> Iterable:
    from matplotlib.text import Text
    for text in target.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            axes = text.axes
            if axes is not None and not axes.get_visible():
                continue
            yield text


def _has_data(artist) -> bool:
    """Whether an artist draws anything at all (a legend proxy, ``plot([], [])``, does
    not)."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    if isinstance(artist, Line2D):
        x, y = (np.asarray(a, float) for a in artist.get_data())
        return bool(x.size and np.any(np.isfinite(x) & np.isfinite(y)))
    if isinstance(artist, Collection):
        return len(artist.get_paths()) > 0 or len(artist.get_offsets()) > 0
    return True


def _parts(handle) -> list:
    from matplotlib.container import Container
    if isinstance(handle, Container):
        return [part for part in handle.get_children() if part is not None]
    return [handle]


def _apart_from(target: Figure, axis, renderer) -> list:
    """The figure's visible children (other axes, texts, legends) whose extent does not
    meet ``axis``'s; the figure background and anything without an extent are kept."""
    box = axis.get_tightbbox(renderer)
    apart = []
    for child in target.get_children():
        if child is axis or child is target.patch or not child.get_visible():
            continue
        extent = child.get_tightbbox(renderer)
        if extent is not None and box is not None and not box.overlaps(extent):
            apart.append(child)
    return apart


def hidden_legend_entries(target: Figure, *, dpi: float = 72.0,
                          visible_fraction: float = 0.25) -> list[str]:
    """Legend entries whose line (patch, collection) a reader cannot see: hidden under
    other artists or outside the view. Each labelled artist of an axes with a legend is
    drawn alone (its footprint) and removed from the full figure (what changes), each
    measured as the summed colour change of the pixels; an entry whose change is below
    ``visible_fraction`` of its footprint is hidden (a line drawn exactly under another
    keeps 15-20 % from its antialiased edges at 72 dpi; one in plain view 60-100 %).
    Artists without data (legend proxies) are keys and not checked. Renders at ``dpi``
    (a few renders per entry) with the layout computed once and kept for every render
    (a layout engine re-run per render moves the axes by a fraction of a pixel, which
    would count as change); returns one line per hidden entry. The figure's dpi and
    layout engine are restored."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend

    canvas = FigureCanvasAgg(target)
    original_dpi = target.get_dpi()
    layout = target.get_layout_engine()
    target.set_dpi(dpi)
    if layout is not None:
        # place the axes once: the renders compared below then differ only in the
        # artists toggled, and skip the layout engine (most of a draw's time)
        target.draw_without_rendering()
        target.set_layout_engine("none")

    def render() -> np.ndarray:
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.int16)

    def changed(a: np.ndarray, b: np.ndarray) -> float:
        # summed colour change: antialiased edges peeking out from under a covering
        # line weigh little, as they do to the eye
        return float(np.abs(a - b).max(axis=-1).sum())

    problems = []
    try:
        legend_texts = {}
        for legend in target.findobj(Legend):
            if legend.get_visible() and legend.axes is not None:
                legend_texts.setdefault(legend.axes, set()).update(
                    t.get_text() for t in legend.get_texts())
        for axis, texts in legend_texts.items():
            handles, labels = axis.get_legend_handles_labels()
            entries = [(label, [part for part in _parts(handle) if _has_data(part)])
                       for handle, label in zip(handles, labels) if label in texts]
            entries = [(label, parts) for label, parts in entries if parts]
            if not entries:
                continue
            drawn = [a for a in (*axis.lines, *axis.collections, *axis.patches) if a.get_visible()]
            # the layout is fixed, so what lies wholly outside this axes renders the same
            # in every comparison and cancels: leave it out of these renders
            apart = _apart_from(target, axis, canvas.get_renderer())
            for child in apart:
                child.set_visible(False)
            full = render()
            for artist in drawn:
                artist.set_visible(False)
            empty = render()
            for label, parts in entries:
                for artist in parts:
                    artist.set_visible(True)
                footprint = changed(render(), empty)
                for artist in parts:
                    artist.set_visible(False)
                for artist in drawn:
                    artist.set_visible(artist not in parts)
                seen = changed(full, render())
                for artist in drawn:
                    artist.set_visible(False)
                if footprint == 0 or seen < visible_fraction * footprint:
                    where = "outside the view" if footprint == 0 else \
                        f"{100 * seen / footprint:.0f}% of it visible"
                    problems.append(f"legend entry {label[:40]!r} cannot be seen ({where})")
            for artist in (*drawn, *apart):
                artist.set_visible(True)
    finally:
        target.set_dpi(original_dpi)
        if layout is not None:
            target.set_layout_engine(layout)
    return problems


def audit(target: Figure, *, require_caption: bool = True, visibility: bool = True) -> list[str]:
    """The style rules a figure breaks (empty list: none). Draws the figure once
    (without rendering) to measure its text and legends.

    Checks: the figure fits :data:`SLIDE`; every visible text >= :data:`MIN_FONT_PT`;
    no legend overlapping an axes' data area, none with more than
    :data:`MAX_LEGEND_ENTRIES` entries, none listing a line that cannot be seen
    (``visibility``: :func:`hidden_legend_entries`, a few renders per entry); every
    visible axes has a y label, and an x label where its x tick labels show;
    (``require_caption``) a caption line naming the seed, not mentioning ``quick``, and
    stating the window shown (:data:`WINDOW_PATTERN`) when an axes shows time
    (x label ``"time (...)"``).

    Returns:
        One line per broken rule.
    """
    import re

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend

    problems = []
    width, height = target.get_size_inches()
    if width > SLIDE[0] + 1e-6 or height > SLIDE[1] + 1e-6:
        problems.append(f"figure is {width:g} x {height:g} in, larger than a slide "
                        f"({SLIDE[0]:g} x {SLIDE[1]:g} in)")
    canvas = FigureCanvasAgg(target)  # an unattached Figure has no renderer of its own
    canvas.draw()
    renderer = canvas.get_renderer()
    for text in _visible_texts(target):
        if text.get_fontsize() < MIN_FONT_PT - 1e-9:
            problems.append(f"text {text.get_text()[:40]!r} is {text.get_fontsize():g} pt "
                            f"(< {MIN_FONT_PT:g})")
    axes = [axis for axis in target.axes if axis.get_visible() and axis.axison]
    data_axes = [axis for axis in axes if axis.get_label() != "<colorbar>"]
    legends = [legend for legend in target.findobj(Legend) if legend.get_visible()]
    for legend in legends:
        names = [t.get_text()[:20] for t in legend.get_texts()]
        if len(names) > MAX_LEGEND_ENTRIES:
            problems.append(f"legend {names[:3]} has {len(names)} entries "
                            f"(> {MAX_LEGEND_ENTRIES}: split it into two keys)")
        box = legend.get_window_extent(renderer)
        for axis in data_axes:
            frame = axis.get_window_extent(renderer)
            overlap_x = min(box.x1, frame.x1) - max(box.x0, frame.x0)
            overlap_y = min(box.y1, frame.y1) - max(box.y0, frame.y0)
            if overlap_x > 1.0 and overlap_y > 1.0:
                problems.append(f"legend {names[:3]} overlaps the data of an axes")
                break
    for index, axis in enumerate(data_axes):
        if axis.name == "polar":
            continue
        if not axis.get_ylabel().strip() and any(t.get_visible() and t.get_text()
                                                 for t in axis.get_yticklabels()):
            problems.append(f"axes {index} has no y label")
        if not axis.get_xlabel().strip() and any(t.get_visible() and t.get_text()
                                                 for t in axis.get_xticklabels()):
            problems.append(f"axes {index} has no x label")
    if require_caption:
        title = target._suptitle.get_text() if target._suptitle is not None else ""
        if "seed" not in title:
            problems.append("no caption line naming the seed (bayesnn.style.caption)")
        if re.search(r"\bquick\b", title, re.IGNORECASE):
            problems.append("the caption mentions 'quick' (a run mode, not a parameter)")
        if (any(axis.get_xlabel().startswith("time (") for axis in data_axes)
                and not re.search(WINDOW_PATTERN, title)):
            problems.append("a time axis but no caption phrase stating the window shown "
                            "(bayesnn.style.window)")
    if visibility:
        problems += hidden_legend_entries(target)
    return problems
