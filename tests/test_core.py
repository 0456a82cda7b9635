"""The simulation core: the scans, trial keys and event buffers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.core import (
    append_events,
    empty_buffer,
    events_to_counts,
    poisson_capacity,
    scan_chunked,
    scan_steps,
    scan_steps_chunked,
    split_trial_keys,
)


def _cumulative_step(total, value):
    total = total + value
    return total, {"total": total, "empty": jnp.zeros((0,))}


@pytest.mark.parametrize("chunk", [7, 14, 35])  # 14: two chunks and a remainder
def test_chunked_scan_with_remainder_equals_one_scan(chunk):
    values = jnp.arange(35.0)
    _, reference = scan_steps(_cumulative_step, jnp.zeros(()), values, record_every=7)
    final, records = scan_steps_chunked(
        _cumulative_step, jnp.zeros(()),
        lambda index, length: jax.lax.dynamic_slice(values, (index * chunk,), (length,)),
        35, chunk, record_every=7)
    assert float(final) == float(values.sum())
    assert np.array_equal(np.asarray(records["total"]), np.asarray(reference["total"]))
    assert records["empty"].shape == (5, 0)


def test_chunked_scan_collects_once_per_chunk():
    def after_chunk(carry, records, index):
        return carry + 1000.0, records[-1]

    final, kept = scan_chunked(lambda c, x: (c + x, c + x), jnp.zeros(()),
                               lambda index: jnp.ones(4), 3, after_chunk=after_chunk)
    assert float(final) == 3 * 4 + 3 * 1000
    assert np.array_equal(np.asarray(kept), [4.0, 1008.0, 2012.0])


def test_bad_layouts_are_rejected():
    with pytest.raises(ValueError, match="record_every must divide"):
        scan_steps(_cumulative_step, jnp.zeros(()), jnp.ones(10), record_every=3)
    with pytest.raises(ValueError, match="multiples of record_every"):
        scan_steps_chunked(_cumulative_step, jnp.zeros(()), None, 10, 4, record_every=3)
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        split_trial_keys(jax.random.PRNGKey(0), 0)


def test_trial_keys_do_not_depend_on_batch_size():
    key = jax.random.PRNGKey(3)
    assert np.array_equal(np.asarray(split_trial_keys(key, 5)[2]),
                          np.asarray(split_trial_keys(key, 50)[2]))


def test_event_buffer_keeps_order_and_counts_overflow():
    buffer = empty_buffer(3)
    buffer = append_events(buffer, jnp.array([0.1, 0.2, 0.3]), jnp.array([4, 5, 6]),
                           jnp.array([True, False, True]))
    buffer = append_events(buffer, jnp.array([0.4, 0.5]), jnp.array([7, 8]), jnp.array([True, True]))
    assert np.array_equal(np.asarray(buffer.times), [0.1, 0.3, 0.4])
    assert np.array_equal(np.asarray(buffer.senders), [4, 6, 7])
    assert int(buffer.count) == 4 and bool(buffer.overflowed())


def test_events_to_counts_and_capacity():
    counts = events_to_counts(jnp.array([0.0, 0.05, 0.15, 0.3, 0.2]), jnp.array([0, 1, 1, 0, -1]),
                              2, 0.1, 3)
    assert np.array_equal(np.asarray(counts), [[1, 1], [0, 1], [0, 0]])
    assert poisson_capacity(100.0) == 100 + 100 + 16
    with pytest.raises(ValueError, match="expected must be finite"):
        poisson_capacity(-1.0)
