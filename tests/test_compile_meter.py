"""CompileMeter (bayesnn.core.compile_meter) counts compilations per thread: two threads
compiling different programs at the same time each see only their own, and the
all-threads count is their sum."""
import threading
import time

import jax
import jax.numpy as jnp

from bayesnn.core.compile_meter import CompileMeter


def test_since_counts_each_threads_own_programs():
    meter, start = CompileMeter.get(), time.time()
    barrier, idents = threading.Barrier(2), {}

    def work(name, offset):
        def body(x):  # a fresh function per thread: a program no other test compiled
            return jnp.cumsum(jnp.sin(x) + offset)
        body.__name__ = name
        barrier.wait()  # both threads compile at once
        jax.jit(body)(jnp.arange(5.0 + offset)).block_until_ready()
        idents[name] = threading.get_ident()

    threads = [threading.Thread(target=work, args=(f"meter_probe_{i}", i)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everywhere = meter.since(start)
    mine = {name: meter.since(start, thread=ident) for name, ident in idents.items()}
    for name, counts in mine.items():
        assert f"jit({name})" in counts["program_names"], counts
        others = [n for n in counts["program_names"] if n.startswith("jit(meter_probe_")]
        assert others == [f"jit({name})"], counts
    assert everywhere["programs"] == sum(counts["programs"] for counts in mine.values())
    assert meter.since(start, thread=threading.get_ident())["programs"] == 0  # this thread compiled nothing
