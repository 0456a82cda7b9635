"""Names of a package bound on first use (PEP 562), shared by every lazy package.

``bayesnn``, ``bayesnn.core`` and ``bayesnn.sweep`` export names whose modules import
JAX, xarray or Dask (1-3 s); the command line reads its settings before it needs any
of them, so those packages bind their names when first read. Imports nothing itself.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_names"]


def lazy_names(package: str, where: Mapping[str, str], namespace: dict[str, Any],
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` (assign them at module level).

    Args:
        package: the package's ``__name__``.
        where: exported name -> absolute name of the module that defines it.
        namespace: the package's ``globals()``; a name read once is stored there, so
            later reads cost nothing. ``__dir__`` lists it with ``namespace["__all__"]``.

    Returns:
        ``__getattr__(name)``: the exported name (its module imported on first use), else
        a submodule not imported yet (``package.name``), else ``AttributeError``;
        ``__dir__()``: the sorted public names.
    """
    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
            namespace[name] = value
            return value
        try:  # a submodule not imported yet (``bayesnn.core.spikes``)
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
