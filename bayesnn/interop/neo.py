"""bayesnn spike events to and from Neo ``SpikeTrain`` objects (optional extra ``neo``).

Neo (Garcia et al. 2014) is the interchange format of electrophysiology and of
simulators (NEST, Brian2, PyNN write it or are read by it); Elephant computes spike
statistics on its ``SpikeTrain`` objects. The mapping:

=========================================  ==========================================
bayesnn :class:`bayesnn.core.Spikes`        Neo
=========================================  ==========================================
sender ``i`` (input channel or neuron)      ``trains[i]`` (one ``SpikeTrain`` each)
time ``t`` (s, from 0)                      ``t_start + t`` (``quantities`` seconds)
count ``c`` (several spikes at one time)    the time repeated ``c`` times
``duration`` (s)                            ``t_stop - t_start``
=========================================  ==========================================

:func:`to_neo` and :func:`from_neo` are inverse: ``from_neo(to_neo(s, duration=T))``
gives back the same events (times, senders, counts) and ``T``.

Install with ``pip install "bayesnn[neo]"`` (Neo and Elephant); calling a function of
this module without Neo raises ImportError naming the extra.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bayesnn.core.spikes import Spikes, make_spikes, spike_arrays

__all__ = ["to_neo", "from_neo"]


def _neo():
    try:
        import neo
        import quantities
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("bayesnn.interop.neo needs Neo: pip install 'bayesnn[neo]'") from error
    return neo, quantities


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def to_neo(spikes: Spikes, *, duration: float, n_senders: int | None = None,
           trial: int | None = None, t_start: float = 0.0,
           annotations: dict[str, Any] | None = None) -> list:
    """One Neo ``SpikeTrain`` per sender, times in seconds.

    Args:
        spikes: one trial's events (:class:`bayesnn.core.Spikes`); a batched container
            needs ``trial``.
        duration: trial length, s (> 0, >= the last spike); ``t_stop = t_start +
            duration``.
        n_senders: number of trains (default: largest sender + 1); senders without
            spikes get empty trains.
        trial: which trial of a batched container.
        t_start: time of bayesnn's t = 0 on the Neo clock, s.
        annotations: added to every train (each train also gets ``sender``).

    Returns:
        ``list[neo.SpikeTrain]`` of length ``n_senders``; an event of count c appears
        as c equal times.

    Raises:
        ValueError: naming ``duration``, ``n_senders`` or ``t_start`` (a spike after
            ``duration``, a sender >= ``n_senders``), or from
            :func:`bayesnn.core.spike_arrays` (batched without ``trial``, overflowed).
        ImportError: without the ``neo`` extra.
    """
    duration = _positive("duration", duration)
    if isinstance(t_start, bool) or not np.isfinite(float(t_start)):
        raise ValueError(f"t_start must be a finite number, got {t_start!r}")
    times, senders, counts = spike_arrays(spikes, trial)
    if times.size and float(times[-1]) > duration:
        raise ValueError(f"duration ({duration} s) must be >= the last spike time "
                         f"({float(times[-1])} s)")
    largest = int(senders.max()) + 1 if senders.size else 0
    if n_senders is None:
        n_senders = largest
    elif isinstance(n_senders, bool) or int(n_senders) != n_senders or n_senders < largest:
        raise ValueError(f"n_senders must be an integer >= {largest} (largest sender + 1), "
                         f"got {n_senders!r}")
    neo, pq = _neo()
    start = float(t_start)
    trains = []
    for sender in range(int(n_senders)):
        mine = senders == sender
        values = start + np.repeat(times[mine], counts[mine])
        trains.append(neo.SpikeTrain(values * pq.s, t_start=start * pq.s,
                                     t_stop=(start + duration) * pq.s,
                                     name=f"sender {sender}",
                                     **{"sender": sender, "source": "bayesnn",
                                        **(annotations or {})}))
    return trains


def from_neo(trains: Sequence[Any], *, t_start: float | None = None,
             t_stop: float | None = None) -> tuple[Spikes, float]:
    """Neo ``SpikeTrain`` objects (or a ``neo.Segment``) as bayesnn events.

    Train ``i`` becomes sender ``i``; its times are rescaled to seconds and shifted so
    that ``t_start`` is bayesnn's t = 0; equal times of one train become one event with
    that count.

    Args:
        trains: a sequence of ``neo.SpikeTrain`` or a ``neo.Segment`` (its
            ``spiketrains``).
        t_start, t_stop: the window, s on the Neo clock (default: the trains' common
            ``t_start``, and their largest ``t_stop``).

    Returns:
        ``(spikes, duration)``: :class:`bayesnn.core.Spikes` (sorted; ``n_senders =
        len(trains)``) and ``duration = t_stop - t_start``, s.

    Raises:
        ValueError: naming ``trains`` (empty, not spike trains, different
            ``t_start`` without an explicit one), ``t_start`` / ``t_stop`` (an empty
            window, or spikes outside it).
        ImportError: without the ``neo`` extra.
    """
    neo, pq = _neo()
    if isinstance(trains, neo.Segment):
        trains = trains.spiketrains
    trains = list(trains)
    if not trains:
        raise ValueError("trains must hold at least one neo.SpikeTrain")
    for index, train in enumerate(trains):
        if not isinstance(train, neo.SpikeTrain):
            raise ValueError(f"trains[{index}] must be a neo.SpikeTrain, got "
                             f"{type(train).__name__}")
    starts = np.array([float(train.t_start.rescale(pq.s).magnitude) for train in trains])
    stops = np.array([float(train.t_stop.rescale(pq.s).magnitude) for train in trains])
    if t_start is None:
        if np.ptp(starts) > 0:
            raise ValueError("trains have different t_start; give t_start (s) to align them")
        t_start = float(starts[0])
    t_stop = float(stops.max()) if t_stop is None else float(t_stop)
    t_start = float(t_start)
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and t_stop > t_start):
        raise ValueError(f"t_stop must be > t_start, got t_start = {t_start} s, "
                         f"t_stop = {t_stop} s")
    times, senders, counts = [], [], []
    for index, train in enumerate(trains):
        values = np.sort(np.asarray(train.times.rescale(pq.s).magnitude, float))
        if values.size and (values[0] < t_start or values[-1] > t_stop):
            raise ValueError(f"trains[{index}] has spikes outside [t_start, t_stop] = "
                             f"[{t_start}, {t_stop}] s")
        unique, multiplicity = np.unique(values - t_start, return_counts=True)
        times.append(unique)
        senders.append(np.full(unique.size, index))
        counts.append(multiplicity)
    times, senders, counts = (np.concatenate(part) for part in (times, senders, counts))
    order = np.lexsort((senders, times))
    duration = t_stop - t_start
    spikes = make_spikes(np.clip(times[order], 0.0, duration), senders[order], counts[order],
                         n_senders=len(trains), duration=duration, name="trains")
    return spikes, duration
