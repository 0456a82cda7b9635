"""Fixed-point execution (bayesnn.neuromorphic): exact integer rounding, presets,
batch invariance, saturation and errors, KL against bits, spikes per nat.

Sizes are tiny and shared (one trial shape per family) so that the module compiles few
programs; the scenario itself runs in tests marked slow.
"""
import jax
import numpy as np
import pytest

from bayesnn import processes
from bayesnn.neuron import NeuronParams, filter_counts
from bayesnn.neuromorphic import (FLOAT64, LOIHI, TRUENORTH, TRUENORTH_TRINARY, Precision,
                                  make_precision, simulate_fixed_neuron)
from bayesnn.neuromorphic.energy import neuron_events, pareto_front, signalled_nats
from bayesnn.neuromorphic.fixed_scn import simulate_fixed_scn
from bayesnn.neuromorphic.loss import knee, monotone_within_noise, neuron_bit_sweep
from bayesnn.neuromorphic.precision import codebook_weights, quantize_weights, round_shift
from bayesnn.scn import make_network, random_decoder, simulate

DT = 1e-3
T_NEURON = 1500
T_SCN = 600


@pytest.fixture(scope="module")
def neuron():
    r = np.random.default_rng(3)
    params = NeuronParams(1.0, 3.0, r.uniform(5, 30, 20), r.uniform(5, 30, 20), 1.0)
    trials = [processes.sample_binned(params, key=jax.random.PRNGKey(k), dt=DT, n_steps=T_NEURON)
              for k in range(3)]
    counts = np.stack([np.asarray(t.counts) for t in trials])
    states = np.stack([np.asarray(t.states) for t in trials])
    return params, counts, states


@pytest.fixture(scope="module")
def scn():
    net = make_network(random_decoder(2, 12, 0.1, seed=1), A=np.zeros((2, 2)), lambda_d=10.0,
                       lambda_v=20.0, mu=1e-6, nu=1e-5, sigma_v=1e-3, dt=1e-4)
    t = np.arange(T_SCN) * 1e-4
    c = np.stack([np.stack([10 * np.cos(2 * np.pi * 3 * t + k), 10 * np.sin(2 * np.pi * 2 * t)], 1)
                  for k in range(3)])
    return net, c


# ----------------------------------------------------------------------- integer rounding

def _reference_round(x: int, s: int, mode: str, u: int = 0) -> int:
    """Python-integer reference (arbitrary precision, independent of JAX)."""
    if s == 0:
        return x
    if mode == "nearest":
        return (x + (1 << (s - 1))) >> s
    if mode == "truncate":
        return x >> s if x >= 0 else -((-x) >> s)
    return (x + (u % (1 << s))) >> s


@pytest.mark.parametrize("mode", ["nearest", "truncate", "stochastic"])
def test_round_shift_matches_python_integers(mode, rng):
    x = rng.integers(-(2**40), 2**40, 400)
    s = rng.integers(0, 30, 400)
    u = rng.integers(0, 2**62, 400)
    got = np.asarray(round_shift(x, s, mode, u))
    want = [_reference_round(int(a), int(b), mode, int(w)) for a, b, w in zip(x, s, u)]
    assert got.tolist() == want


def test_stochastic_rounding_is_unbiased(rng):
    # x / 2^5 with x = 7 (fraction 7/32): mean of 20000 draws within 4 standard errors
    # of 7/32 (binomial s.e. of the rounding-up indicator).
    u = rng.integers(0, 2**62, 20000)
    r = np.asarray(round_shift(np.full(20000, 7), 5, "stochastic", u))
    p = 7 / 32
    assert abs(r.mean() - p) < 4 * np.sqrt(p * (1 - p) / r.size)


def test_loihi_dead_zone_regression():
    # Learning-and-hardware note 3.1 (independent check): decay d = 41 for 100 steps with
    # rounding toward zero takes 64, 640, 6400 LSB to 0, 200, 2308.
    x = np.array([64, 640, 6400])
    for _ in range(100):
        x = np.asarray(round_shift(x * (4096 - 41), 12, "truncate"))
    assert x.tolist() == [0, 200, 2308]


def test_weight_exponent_is_the_smallest_that_fits(rng):
    w = rng.normal(size=50)
    for bits in (2, 4, 8, 12):
        m, e, clips = quantize_weights(w, bits, None, "nearest")
        top = 2 ** (bits - 1) - 1
        assert int(np.max(np.abs(m))) <= top and int(clips) == 0
        # One exponent lower, the largest weight would not fit.
        assert np.ceil(np.max(np.abs(w)) / 2.0 ** (int(e) - 1)) > top
        assert np.max(np.abs(np.asarray(m) * 2.0 ** int(e) - w)) <= 2.0 ** int(e) / 2 + 1e-15


def test_truenorth_tables_hold_at_most_4_and_3_values(rng):
    w = rng.normal(size=(5, 30))
    four = codebook_weights(w, "codebook4")
    tri = codebook_weights(w, "trinary")
    for row4, row3 in zip(four, tri):
        assert len(np.unique(row4)) <= 4
        values = np.unique(np.abs(row3))
        assert len(values) <= 2 and values[0] == 0.0 or len(values) == 1


# ----------------------------------------------------------------------- presets, invariance

def test_float64_preset_is_the_plain_neuron(neuron):
    params, counts, _ = neuron
    ref = filter_counts(params, counts, dt=DT, method="discrete")
    got = simulate_fixed_neuron(params, counts, dt=DT, precision=FLOAT64)
    assert np.array_equal(np.asarray(got.log_odds), np.asarray(ref.log_odds))
    assert np.array_equal(np.asarray(got.prediction), np.asarray(ref.prediction))
    assert int(np.sum(got.n_spikes)) == int(np.sum(np.asarray(ref.spikes.counts)))


def test_float64_preset_is_the_plain_scn(scn):
    net, c = scn
    got = simulate_fixed_scn(net, c[0], precision=FLOAT64, key=4)
    ref = simulate(net, c[0], key=jax.random.fold_in(jax.random.PRNGKey(4), 0))
    assert np.array_equal(got.readout, np.asarray(ref.readout))
    assert int(got.n_spikes.sum()) == int(ref.spikes.n_events)


def test_integer_neuron_states_are_integers_of_the_lsb(neuron):
    params, counts, _ = neuron
    run = simulate_fixed_neuron(params, counts[0], dt=DT, precision=LOIHI)
    words = np.asarray(run.log_odds) / float(run.state_lsb)
    assert np.array_equal(words, np.round(words))
    assert float(run.state_lsb) == 2.0 ** -(24 - 7)
    w = np.asarray(run.weights)
    # 8-bit mantissas with one exponent: w = m 2^e, |m| <= 127, for the exponent that fits.
    e = int(np.ceil(np.log2(np.max(np.abs(w)) / 127)))
    m = w / 2.0**e
    assert np.array_equal(m, np.round(m)) and np.max(np.abs(m)) <= 127


def test_trial_alone_equals_trial_in_batch(neuron, scn):
    # Trial k uses fold_in(key, k) whatever the batch: trial 0 of 3 == trial 0 of 1, also
    # with stochastic rounding (random words per step). The SCN runs nearest rounding,
    # the program of the saturation test below.
    params, counts, _ = neuron
    prec = LOIHI._replace(rounding="stochastic")
    batch = simulate_fixed_neuron(params, counts, dt=DT, precision=prec, key=9)
    first = simulate_fixed_neuron(params, counts[:1], dt=DT, precision=prec, key=9)
    assert np.array_equal(np.asarray(batch.log_odds[0]), np.asarray(first.log_odds[0]))
    assert np.array_equal(np.asarray(batch.prediction[0]), np.asarray(first.prediction[0]))
    net, c = scn
    near = LOIHI._replace(rounding="nearest")
    sb = simulate_fixed_scn(net, c[:2], precision=near, key=9)
    s1 = simulate_fixed_scn(net, c[:1], precision=near, key=9)
    assert np.array_equal(np.asarray(sb.readout[0]), np.asarray(s1.readout[0]))
    assert np.array_equal(np.asarray(sb.senders[0]), np.asarray(s1.senders[0]))


def test_saturation_is_counted_and_overflow_without_it_raises(scn):
    net, c = scn
    coarse = make_precision(3, state_bits=16, rounding="nearest")
    run = simulate_fixed_scn(net, c[:1], precision=coarse)
    assert int(run.n_saturated[0]) > 0
    assert int(run.max_state[0]) <= int(run.state_limit[0])
    with pytest.raises(ValueError, match="state_bits"):
        simulate_fixed_scn(net, c[:1], precision=coarse._replace(saturate=False))


@pytest.mark.parametrize("field, value", [
    ("weight_bits", 0), ("weight_bits", 65), ("state_bits", 0), ("decay_bits", 70),
    ("threshold_bits", -1), ("weight_exp", 100), ("state_exp", -63), ("rounding", "banker"),
    ("weight_table", "codebook8"), ("saturate", "yes"), ("weight_bits", 8.0)])
def test_bad_precision_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        make_precision(**{field: value})


def test_model_limits_name_the_field(neuron, scn):
    params, counts, _ = neuron
    with pytest.raises(ValueError, match="state_bits"):
        simulate_fixed_neuron(params, counts[0], dt=DT, precision=LOIHI._replace(state_bits=8))
    with pytest.raises(ValueError, match="state_exp"):
        simulate_fixed_neuron(params, counts[0], dt=DT, precision=LOIHI._replace(state_exp=5))
    with pytest.raises(ValueError, match="precision"):
        simulate_fixed_neuron(params, counts[0], dt=DT, precision=(8, 24))
    net, c = scn
    with pytest.raises(ValueError, match="weight_bits"):
        simulate_fixed_scn(net, c[0], precision=LOIHI._replace(weight_bits=30, state_bits=40))


def test_presets_have_the_published_formats():
    assert (LOIHI.weight_bits, LOIHI.state_bits, LOIHI.decay_bits, LOIHI.rounding) == (8, 24, 12, "truncate")
    assert TRUENORTH.weight_table == "codebook4" and TRUENORTH_TRINARY.weight_table == "trinary"
    assert FLOAT64.exact_float and isinstance(FLOAT64, Precision)


# ----------------------------------------------------------------------- loss against bits

def test_kl_falls_with_bits_and_16_bits_match_float64(neuron):
    params, counts, states = neuron
    ds = neuron_bit_sweep(params, counts, states, dt=DT, weight_bits=(3, 6, 10, 16),
                          state_bits=(32,), base=LOIHI._replace(rounding="nearest"), key=0)
    kl_state = ds.kl_state.sel(state_bits=32).values
    assert monotone_within_noise(kl_state) <= 3.0
    # 16-bit weights, 32-bit state: the state KL is tiny against the 3-bit one...
    assert kl_state[-1].mean() < 1e-3 * kl_state[0].mean()
    # ...and the spiking posterior within 1 % of float64 (basis: L moves by ~1e-4 nats).
    rel = float(ds.kl_spiking.sel(state_bits=32, weight_bits=16).mean() / ds.kl_spiking_float64.mean())
    assert abs(rel - 1) < 0.01
    assert knee([3, 6, 10, 16], [0.5, 0.2, 0.101, 0.1], 0.1) == 10
    assert knee([3, 6], [0.5, 0.3], 0.1) is None


def test_spikes_per_nat_respect_the_floor_and_the_identity(neuron):
    params0, counts, _ = neuron
    for g0 in (0.5, 2.0):
        params = params0.replace(g0=g0)
        run = simulate_fixed_neuron(params, counts[0], dt=DT, precision=FLOAT64)
        J, resid = signalled_nats(params, run.log_odds, run.prediction, run.n_spikes, DT)
        n = float(np.sum(run.n_spikes))
        assert n >= J / g0 > 0      # Denève's floor: 1/g0 spikes per signalled nat
        assert resid <= 1e-9 * g0   # every spike moves G by exactly g0 (same flow)
        ev = neuron_events(counts[0], run.n_spikes, DT)
        assert ev.synaptic == counts[0].sum() + n and ev.updates == T_NEURON


def test_pareto_front():
    cost = [1.0, 2.0, 3.0, 1.5, 4.0]
    loss = [5.0, 3.0, 1.0, 6.0, 1.0]
    assert pareto_front(cost, loss).tolist() == [0, 1, 2]
