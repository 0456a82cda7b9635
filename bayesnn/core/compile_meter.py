"""Counting JAX compilation in one process (the compile budget of issue 21).

:class:`CompileMeter` listens to ``jax.monitoring``'s tracing, lowering and XLA
compilation spans and to the persistent cache's hit/miss events. ``bayesnn validate``
prints its per-stage counts, the Dask sweep reports each task's programs and cache hits,
and the compile-budget tests hold the counts under their budgets. It lives in the core
(it imports only JAX) so that every part may use it.
"""
from __future__ import annotations

import threading
import time

__all__ = ["CompileMeter"]

_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")


class CompileMeter:
    """JAX compilation as seen through ``jax.monitoring`` (one listener per process).

    Records the wall-clock spans of tracing, lowering and XLA compilation (which
    includes reading the persistent compilation cache) and counts XLA compilations and
    persistent-cache hits and misses, each with the thread that compiled (JAX reports
    them on that thread), so work running in several threads at once (a threaded Dask
    worker pool) can be told apart. Nested spans (a jit traced inside another) are
    merged, so :meth:`since` never counts a second twice.
    """

    _instance: "CompileMeter | None" = None

    def __init__(self) -> None:
        self.spans: list[tuple[float, float, int]] = []  # (start, end, thread id)
        self.events: list[tuple[float, str, str, int]] = []  # (time, kind, function name, thread id)

    @classmethod
    def get(cls) -> "CompileMeter":
        """The process's meter, its listeners registered on first use."""
        if cls._instance is None:
            import jax.monitoring

            meter = cls()
            jax.monitoring.register_event_time_span_listener(meter._on_span)
            jax.monitoring.register_event_listener(meter._on_event)
            cls._instance = meter
        return cls._instance

    def _on_span(self, event: str, start: float, end: float, **kwargs) -> None:
        if event in _COMPILE_EVENTS:
            thread = threading.get_ident()
            self.spans.append((start, end, thread))
            if event == _COMPILE_EVENTS[-1]:
                self.events.append((end, "compiled", str(kwargs.get("fun_name", "?")), thread))

    def _on_event(self, event: str, **_) -> None:
        if event.endswith("/cache_hits"):
            self.events.append((time.time(), "hit", "", threading.get_ident()))
        elif event.endswith("/cache_misses"):
            self.events.append((time.time(), "miss", "", threading.get_ident()))

    def since(self, start: float, end: float | None = None, thread: int | None = None) -> dict:
        """Compile seconds (merged spans), programs compiled (``programs``, persistent
        cache reads included; their function names in ``program_names``) and cache
        ``hits`` / ``misses`` between the ``time.time()`` instants ``start`` and ``end``
        (default now): in every thread, or only in the thread whose
        ``threading.get_ident()`` is ``thread``."""
        end = time.time() if end is None else end
        spans = sorted((max(a, start), min(b, end)) for a, b, who in self.spans
                       if b > start and a < end and thread in (None, who))
        seconds, low, high = 0.0, None, None
        for a, b in spans:
            if high is None or a > high:
                seconds += 0.0 if high is None else high - low
                low, high = a, b
            else:
                high = max(high, b)
        seconds += 0.0 if high is None else high - low
        inside = [(kind, name) for when, kind, name, who in self.events
                  if start <= when <= end and thread in (None, who)]
        kinds = [kind for kind, _ in inside]
        return {"compile_s": seconds, "programs": kinds.count("compiled"),
                "program_names": [name for kind, name in inside if kind == "compiled"],
                "hits": kinds.count("hit"), "misses": kinds.count("miss")}
