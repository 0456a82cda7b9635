"""Interchange with the field's tools (optional extras).

* :mod:`bayesnn.interop.neo`: :class:`bayesnn.core.Spikes` to and from Neo
  ``SpikeTrain`` lists (``pip install "bayesnn[neo]"``), so spike trains recorded or
  simulated elsewhere (NEST, Brian2, acquisition systems: anything Neo reads) come in,
  and bayesnn's go out. See docs/interop.md.

Nothing here is imported by ``import bayesnn``; the extra is needed only when a
function is called (``neo`` is imported inside it).
"""
from bayesnn.interop.neo import from_neo, to_neo

__all__ = ["from_neo", "to_neo"]
