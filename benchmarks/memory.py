"""Peak memory of a benchmark process, shared by the benchmark scripts."""
from __future__ import annotations

import resource
import sys


def peak_rss_mib() -> float:
    """Peak resident memory of this process image, MiB.

    Linux: VmHWM from /proc (it starts afresh at exec; ``ru_maxrss`` of a child started
    by fork + exec would also count the parent's peak). Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)
