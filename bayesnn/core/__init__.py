"""Simulation core shared by every model family.

- :mod:`bayesnn.core.validation`: argument checks that raise ``ValueError`` naming the
  parameter and the constraint, before any simulation work.
- :mod:`bayesnn.core.stepping`: the one time loop (``lax.scan``) with decimated
  recording and chunking, and trial batching (``vmap`` over one PRNG key per trial).
- :mod:`bayesnn.core.events`: spike events (times, channels) with fixed-capacity
  buffers, so that memory grows with spikes, not with neurons x steps.
"""
from bayesnn.core.events import (
    EventBuffer,
    append_events,
    empty_buffer,
    events_to_counts,
    poisson_capacity,
)
from bayesnn.core.precision import enable_x64, x64_enabled
from bayesnn.core.stepping import (
    run_trials,
    scan_chunked,
    scan_steps,
    scan_steps_chunked,
    split_trial_keys,
)

__all__ = [
    "EventBuffer",
    "append_events",
    "empty_buffer",
    "events_to_counts",
    "poisson_capacity",
    "enable_x64",
    "x64_enabled",
    "run_trials",
    "scan_chunked",
    "scan_steps",
    "scan_steps_chunked",
    "split_trial_keys",
]
