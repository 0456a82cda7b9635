"""The simulation core: parameter records as pytrees, the Spikes container and its one
overflow policy, seeds, the float64 policy, binning and the scans.

Float32 behaviour is tested in subprocesses, so that this suite's global x64 stays on.
"""
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.core import (
    PrecisionError,
    Spikes,
    append_spikes,
    as_key,
    as_leaf,
    bin_counts,
    bucket_capacity,
    empty_spikes,
    make_spikes,
    params_record,
    require_x64,
    run_growing,
    scan_chunked,
    scan_steps,
    scan_steps_chunked,
    spike_arrays,
    spike_times_of,
    stack_params,
    stack_spikes,
    trial_keys,
    unstack_params,
    x64_enabled,
)
from bayesnn.core.params import unchecked
from bayesnn.core.validation import require_positive


@params_record
class Decay:
    """A toy record: rate (Hz, > 0) and weights (N,)."""

    rate: jax.Array
    weights: jax.Array

    def _validate(self):
        return {"rate": as_leaf(require_positive("rate", self.rate, ndim=0)),
                "weights": as_leaf(np.asarray(self.weights, float))}


def _response(record: Decay, t):
    return jnp.sum(record.weights) * jnp.exp(-record.rate * t)


# ------------------------------------------------------------------ parameter records
def test_record_validates_names_the_field_and_is_frozen():
    record = Decay(2.0, [1.0, 2.0])
    assert record.rate.dtype == jnp.float64 and record.weights.shape == (2,)
    with pytest.raises(ValueError, match="rate must be > 0"):
        Decay(-1.0, [1.0])
    with pytest.raises(ValueError, match="rate must be > 0"):
        record.replace(rate=0.0)  # replace re-validates
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['speed'\]"):
        record.replace(speed=1.0)
    with pytest.raises(AttributeError):
        record.rate = 3.0
    assert "Decay(rate=2" in repr(record)
    # unchecked builds without validation (for records derived from validated ones)
    assert float(unchecked(Decay, rate=-1.0, weights=np.ones(1)).rate) == -1.0


def test_record_is_a_pytree_for_jit_vmap_and_grad():
    records = [Decay(rate, [1.0, 2.0]) for rate in (1.0, 2.0, 4.0)]
    batch = stack_params(records)
    assert batch.rate.shape == (3,) and batch.weights.shape == (3, 2)
    values = jax.jit(jax.vmap(_response, in_axes=(0, None)))(batch, 0.5)
    expected = [float(_response(r, 0.5)) for r in records]
    # same ops jitted + vmapped vs eager: at most a few ulp of exp (1e-15 ~ 4.5 ulp)
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-15)
    assert float(unstack_params(batch, 2).rate) == 4.0
    # grad with respect to the record: d/d rate = -t * sum(w) exp(-rate t), d/d w_i = exp(-rate t)
    # autodiff vs the closed form, both float64 products of exp(-0.5): a few ulp (< 1e-14)
    grad = jax.grad(_response)(records[0], 0.5)
    assert isinstance(grad, Decay)
    np.testing.assert_allclose(float(grad.rate), -0.5 * 3.0 * np.exp(-0.5), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(grad.weights), np.exp(-0.5) * np.ones(2), rtol=1e-14)
    with pytest.raises(ValueError, match="at least one"):
        stack_params([])


# ---------------------------------------------------------------------------- spikes
def test_make_spikes_pads_and_spike_arrays_removes_padding():
    spikes = make_spikes([0.1, 0.2, 0.2], [2, 0, 1], [1, 3, 1], n_senders=3, duration=1.0)
    assert spikes.capacity == 16 and int(spikes.n_events) == 3
    assert np.all(np.isinf(np.asarray(spikes.times[3:])))
    assert np.all(np.asarray(spikes.senders[3:]) == -1) and np.all(np.asarray(spikes.counts[3:]) == 0)
    times, senders, counts = spike_arrays(spikes)
    assert times.tolist() == [0.1, 0.2, 0.2] and senders.tolist() == [2, 0, 1]
    assert counts.tolist() == [1, 3, 1] and int(spikes.n_spikes) == 5
    assert spike_times_of(spikes, 0).tolist() == [0.2, 0.2, 0.2]  # repeated by multiplicity
    assert make_spikes([], n_senders=1).capacity == 16


@pytest.mark.parametrize("kwargs, message", [
    (dict(times=[0.2, 0.1]), "must be sorted"),
    (dict(times=[0.1, np.nan]), "must be finite"),
    (dict(times=[0.1], senders=[5], n_senders=3), "senders must be < 3"),
    (dict(times=[0.1], senders=[-1]), "senders must be >= 0"),
    (dict(times=[0.1], counts=[0]), "counts must be >= 1"),
    (dict(times=[2.0], duration=1.0), r"must lie in \[0, duration"),
    (dict(times=[0.1, 0.2], capacity=1), "capacity must be >="),
    (dict(times=[[0.1]]), r"shape \(K,\)"),
])
def test_make_spikes_rejects_bad_events(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_spikes(**kwargs)


def test_append_spikes_keeps_order_and_counts_overflow():
    spikes = empty_spikes(3)
    spikes = append_spikes(spikes, jnp.array([0.1, 0.2, 0.3]), jnp.array([4, 5, 6]), 1,
                           jnp.array([True, False, True]))
    spikes = append_spikes(spikes, jnp.array([0.4, 0.5]), 7, 2, jnp.array([True, True]))
    assert np.asarray(spikes.times).tolist() == [0.1, 0.3, 0.4]
    assert np.asarray(spikes.senders).tolist() == [4, 6, 7]
    assert np.asarray(spikes.counts).tolist() == [1, 1, 2]
    assert int(spikes.n_events) == 4 and bool(spikes.overflowed())
    with pytest.raises(ValueError, match="overflowed"):
        spike_arrays(spikes)  # an incomplete record is never handed out


def test_stack_spikes_pads_to_common_capacity_and_picks_trials():
    short = make_spikes([0.1], [0], n_senders=2)
    long = make_spikes(np.linspace(0.0, 1.0, 20), np.zeros(20, int), n_senders=2)
    batch = stack_spikes([short, long])
    assert batch.times.shape == (2, 32) and batch.batch_shape == (2,)
    assert np.asarray(batch.n_events).tolist() == [1, 20]
    assert spike_arrays(batch, trial=0)[0].tolist() == [0.1]
    assert spike_arrays(batch, trial=1)[0].size == 20
    with pytest.raises(ValueError, match="pass trial="):
        spike_arrays(batch)
    with pytest.raises(ValueError, match="smaller than a trial"):
        stack_spikes([long], capacity=16)


def test_bucket_capacity_is_a_power_of_two_above_the_poisson_tail():
    assert bucket_capacity(0.0) == 16
    # 100 + 10 * 10 + 16 = 216 -> 256; nearby expected counts share one size
    assert bucket_capacity(100.0) == 256 == bucket_capacity(110.0)
    for expected in (3.0, 57.0, 1e4):
        capacity = bucket_capacity(expected)
        assert capacity & (capacity - 1) == 0 and capacity >= expected + 10 * np.sqrt(expected)
    with pytest.raises(ValueError, match="expected must be finite"):
        bucket_capacity(-1.0)


def test_run_growing_reruns_until_nothing_overflows():
    calls = []

    def run(capacity):  # emits 100 events whatever its capacity; stores min(100, capacity)
        calls.append(capacity)
        return Spikes(jnp.zeros(capacity), jnp.zeros(capacity, jnp.int32),
                      jnp.ones(capacity, jnp.int32), jnp.asarray(100, jnp.int32))

    result = run_growing(run, 16, lambda out: out.n_events)
    assert calls == [16, 128] and result.capacity == 128 and not bool(result.overflowed())
    calls.clear()
    assert run_growing(run, 200, lambda out: out.n_events).capacity == 200 and calls == [200]


def test_bin_counts_grid_times_to_their_own_bin_and_end_point_to_last():
    dt = 1e-4
    spikes = make_spikes([0.00015, 0.001, 49 * dt], [1, 1, 0], [2, 1, 1], n_senders=2)
    counts = np.asarray(bin_counts(spikes, 2, dt, 50))
    assert counts.shape == (50, 2) and counts.sum() == 4
    assert counts[49, 0] == 1  # 49 * 1e-4 on the grid: bin 49, not 48 by rounding
    assert counts[1, 1] == 2 and counts[9, 1] == 0 and counts[10, 1] == 1
    end = np.asarray(bin_counts(make_spikes([0.001], [0], n_senders=1), 1, dt, 10))
    assert end[9, 0] == 1  # t = T dt belongs to the last bin


# ------------------------------------------------------------------------------ seeds
def test_as_key_accepts_int_seed_or_key_and_names_the_argument():
    assert np.array_equal(np.asarray(as_key(3)), np.asarray(jax.random.PRNGKey(3)))
    key = jax.random.PRNGKey(5)
    assert np.array_equal(np.asarray(as_key(key)), np.asarray(key))
    typed = jax.random.key(5)
    assert jnp.array_equal(jax.random.key_data(as_key(typed)), jax.random.key_data(typed))
    for bad in (-1, True, 1.5, "seed", jnp.zeros(3)):
        with pytest.raises(ValueError, match="seed must be"):
            as_key(bad, name="seed")
    with pytest.raises(ValueError, match="one key"):
        as_key(jax.random.split(typed, 2))


def test_trial_keys_fold_in_the_trial_index_whatever_the_batch_size():
    keys = trial_keys(7, 5)
    assert np.array_equal(np.asarray(keys[3]),
                          np.asarray(jax.random.fold_in(jax.random.PRNGKey(7), 3)))
    assert np.array_equal(np.asarray(trial_keys(7, 50)[3]), np.asarray(keys[3]))
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        trial_keys(7, 0)


# -------------------------------------------------------------------------- precision
def _run_float32(code: str) -> str:
    """Run ``code`` in a fresh interpreter with JAX in float32; returns its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "JAX_ENABLE_X64": "0"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_require_x64_passes_here_and_refuses_float32():
    assert x64_enabled()
    require_x64("this test")  # no error in float64
    out = _run_float32("""
        from bayesnn.core import PrecisionError, require_x64, x64_enabled
        assert not x64_enabled()
        try:
            require_x64("the exact filter")
        except PrecisionError as error:
            print("refused:", isinstance(error, RuntimeError), error)
    """)
    assert "refused: True the exact filter promises float64 accuracy" in out
    assert "enable_x64" in out
    assert issubclass(PrecisionError, RuntimeError)


def test_warn_if_float32_warns_once_per_caller():
    out = _run_float32("""
        import warnings
        from bayesnn.core import PrecisionWarning, warn_if_float32
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                warn_if_float32("model A")
            warn_if_float32("model B")
        print(len(caught), all(w.category is PrecisionWarning for w in caught))
        print(str(caught[0].message))
    """)
    count, message = out.strip().splitlines()
    assert count == "2 True"  # once for A, once for B
    assert "model A runs in float32" in message
    from bayesnn.core import warn_if_float32
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_float32("float64 run")  # silent in float64


# ------------------------------------------------------------------------------ scans
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


def test_bad_scan_layouts_are_rejected():
    with pytest.raises(ValueError, match="record_every must divide"):
        scan_steps(_cumulative_step, jnp.zeros(()), jnp.ones(10), record_every=3)
    with pytest.raises(ValueError, match="multiples of record_every"):
        scan_steps_chunked(_cumulative_step, jnp.zeros(()), None, 10, 4, record_every=3)
