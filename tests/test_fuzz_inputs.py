"""Property-based fuzzing of every public constructor and entry point (failure kinds,
"fuzzing and properties").

Each test draws one argument of a valid call and replaces it by a bad value (NaN, inf,
negative or zero where positive is required, wrong shape, empty array, wrong dtype,
unsorted or out-of-range times, mismatched lengths or trials). The call must raise a
``ValueError`` whose message names that argument, before any simulation: no NaN result,
no JAX internal error, no hang (the pytest timeout and hypothesis' deadline bound each
example; a refused call compiles nothing, so it returns in milliseconds).

Examples are derandomised (the same inputs on every run) and bounded, so the module runs
in about 15 s. Bad inputs generated per entry point (checked by
``test_every_entry_point_was_fuzzed``, which also prints them; measured with
``pytest -s tests/test_fuzz_inputs.py``)::

    MMPPParams 24, NeuronParams 24, make_spikes 24, LGSSMParams 16,
    LinearGaussianParams 16, neuron.simulate 30, neuron.simulate_trials 12,
    neuron.filter_counts 16, exact.mmpp_filter 20, exact.hmm_forward 15,
    exact.kalman_filter 6, exact.discretize_lds 12, exact.tree_filter 12,
    likelihoods and smoothers (exact, innovations, smoother, NumPyro) 12,
    processes.sample_trial 12, processes.sample_binned 12,
    linear-Gaussian sampling and posterior 12, numpyro bin_spikes 12,
    scn.make_network 12, scn.simulate 9, posteriors.log_odds.simulate 12,
    learning em_continuous 24, em_binned 18, fit_gradient 15, local_rule 14,
    log_likelihood 13, online_em 6, hierarchy.simulate 15, scn.surrogate 15,
    io.load_dataset 12 (damaged files), sweep store resume 10;  total 462.
    Silent results: 0; raw (unnamed) exceptions: 0 (every case must raise a ValueError
    naming its argument, or, for the store and the loader, rerun / name the file).

Found and fixed by this suite: the continuous-time smoother accepted unsorted and NaN
spike times; ``as_key(None)`` raised a JAX message that did not name ``key``;
``n_trials = 2.5`` and ``n_inputs = 3.5`` were truncated silently.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesnn.core import Spikes, make_spikes

COUNTS: Counter = Counter()
MINIMUM = {"MMPPParams": 24, "NeuronParams": 24, "make_spikes": 24, "LGSSMParams": 16,
           "LinearGaussianParams": 16, "neuron.simulate": 30, "neuron.simulate_trials": 12,
           "neuron.filter_counts": 16, "exact.mmpp_filter": 20, "exact.hmm_forward": 15,
           "exact.kalman_filter": 6, "exact.discretize_lds": 12,
           "processes.sample_trial": 12, "processes.sample_binned": 12,
           "numpyro bin_spikes": 12, "scn.make_network": 12, "scn.simulate": 9,
           "posteriors.log_odds.simulate": 12, "exact.tree_filter": 12,
           "likelihoods and smoothers": 12, "linear-Gaussian sampling and posterior": 12,
           "hierarchy.simulate": 15, "scn.surrogate": 15, "io.load_dataset": 12,
           "sweep store resume": 10,
           **{f"learning {name}": 3 for name in ("em_continuous", "em_binned", "fit_gradient",
                                                 "online_em", "local_rule", "log_likelihood")}}


def _settings(n):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------------- bad values
NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])
NOT_NUMERIC = st.sampled_from(["abc", None, object(), 1 + 2j, {"a": 1}])


def bad_positive_scalar():
    """Anything but one finite number > 0."""
    return st.one_of(NON_FINITE, NOT_NUMERIC,
                     st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
                     st.lists(st.floats(0.1, 10.0), min_size=1, max_size=3),
                     st.just(np.zeros((2, 2)) + 1.0))


def bad_rate_vector(length):
    """A (length,) positive rate vector spoiled: a bad entry, wrong shape or empty."""
    @st.composite
    def spoiled(draw):
        kind = draw(st.sampled_from(["entry", "shape", "empty", "length", "dtype"]))
        good = np.full(length, 5.0)
        if kind == "entry":
            good[draw(st.integers(0, length - 1))] = draw(st.one_of(
                NON_FINITE, st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)))
            return good
        if kind == "shape":
            return good[None, :] if draw(st.booleans()) else good[:, None, None]
        if kind == "empty":
            return np.zeros(0)
        if kind == "length":
            return np.full(length + draw(st.integers(1, 3)), 5.0)
        return np.array(["a"] * length)
    return spoiled()


def _raises_naming(name, call, partner=None):
    """ValueError naming ``name`` (or, for a size mismatch, its ``partner`` field)."""
    with pytest.raises(ValueError) as error:
        call()
    names = (name,) if partner is None else (name, partner)
    assert any(n in str(error.value) for n in names), f"{names!r} not named in: {error.value}"


def _raw_spikes(times, senders, capacity=16):
    """A Spikes record built without make_spikes' checks (what a user can construct)."""
    import jax.numpy as jnp
    n = len(times)
    t = np.full(capacity, np.inf)
    t[:n] = times
    s = np.full(capacity, -1)
    s[:n] = senders
    c = np.zeros(capacity, int)
    c[:n] = 1
    return Spikes(jnp.asarray(t), jnp.asarray(s, jnp.int32), jnp.asarray(c, jnp.int32),
                  jnp.asarray(n, jnp.int32))


@st.composite
def bad_event_times(draw, duration=1.0, kinds=("unsorted", "nan", "inf", "negative", "late")):
    """Spike times that break the run: unsorted, non-finite, before 0 or after the end."""
    kind = draw(st.sampled_from(kinds))
    times = np.sort(draw(st.lists(st.floats(0.01, 0.99), min_size=3, max_size=6)))
    if kind == "unsorted":
        times = times[::-1].copy()
        times[0] += 0.005  # strictly decreasing somewhere
    elif kind == "nan":
        times[draw(st.integers(0, len(times) - 1))] = np.nan
    elif kind == "inf":
        times[-1] = np.inf
    elif kind == "negative":
        times[0] = -draw(st.floats(1e-9, 1e3))
    else:
        times[-1] = duration + draw(st.floats(1e-6, 1e3))
    return times


def _neuron_params():
    from bayesnn.neuron import NeuronParams
    return NeuronParams(1.0, 3.0, [20.0, 5.0, 12.0], [4.0, 15.0, 12.5], 0.7)


# ---------------------------------------------------------------------------- records
_PARTNER = {"q_on": "q_off", "q_off": "q_on"}  # lengths must agree: either may be named
@_settings(24)
@given(data=st.data())
def test_mmpp_params_refuse_bad_fields(data):
    from bayesnn.processes import MMPPParams
    fields = dict(r_on=1.0, r_off=3.0, q_on=[20.0, 5.0, 12.0], q_off=[4.0, 15.0, 12.5])
    name = data.draw(st.sampled_from(sorted(fields)))
    fields[name] = data.draw(bad_positive_scalar() if name.startswith("r_")
                             else bad_rate_vector(3))
    COUNTS["MMPPParams"] += 1
    _raises_naming(name, lambda: MMPPParams(**fields), _PARTNER.get(name))


@_settings(24)
@given(data=st.data())
def test_neuron_params_refuse_bad_fields(data):
    from bayesnn.neuron import NeuronParams
    fields = dict(r_on=1.0, r_off=3.0, q_on=[20.0, 5.0, 12.0], q_off=[4.0, 15.0, 12.5], g0=0.7)
    name = data.draw(st.sampled_from(sorted(fields)))
    fields[name] = data.draw(bad_rate_vector(3) if name.startswith("q_")
                             else bad_positive_scalar())
    COUNTS["NeuronParams"] += 1
    _raises_naming(name, lambda: NeuronParams(**fields), _PARTNER.get(name))


@_settings(24)
@given(data=st.data())
def test_make_spikes_refuses_bad_events(data):
    kind = data.draw(st.sampled_from(["times", "senders", "counts", "shape"]))
    times, senders, counts = [0.1, 0.2, 0.3], [0, 1, 2], [1, 1, 1]
    if kind == "times":
        times = data.draw(bad_event_times())
        senders, counts = [0] * len(times), [1] * len(times)
    elif kind == "senders":
        senders = data.draw(st.sampled_from([[0, -1, 2], [0, 1.5, 2], [0, 1], [0, 1, 3]]))
    elif kind == "counts":
        counts = data.draw(st.sampled_from([[1, 0, 1], [1, -2, 1], [1, 1], [1, 1.5, 1]]))
    else:
        times = data.draw(st.sampled_from([np.zeros((2, 2)), np.float64(0.5)]))
    COUNTS["make_spikes"] += 1
    _raises_naming("spikes", lambda: make_spikes(times, senders, counts, n_senders=3,
                                                 duration=1.0))


def _lgssm_fields():
    return dict(A=[[0.9, 0.1], [0.0, 0.8]], Q=np.eye(2), C=[[1.0, 0.0]], R=[[0.5]],
                m0=[0.0, 0.0], P0=np.eye(2))


BAD_MATRICES = {
    "A": [np.full((2, 2), np.nan), np.eye(3), np.ones(2), np.zeros((0, 0))],
    "Q": [-np.eye(2), [[1.0, 2.0], [0.0, 1.0]], np.eye(3), np.full((2, 2), np.inf)],
    "C": [np.ones((1, 3)), np.ones(2), np.zeros((0, 2)), [[np.nan, 0.0]]],
    "R": [[[0.0]], [[-1.0]], np.eye(2), [[np.inf]]],
    "m0": [np.zeros(3), np.zeros((2, 1)), [np.nan, 0.0]],
    "P0": [-np.eye(2), [[1.0, 3.0], [0.0, 1.0]], np.eye(1), np.full((2, 2), np.nan)],
}


@_settings(16)
@given(data=st.data())
def test_lgssm_params_refuse_bad_matrices(data):
    from bayesnn.processes import LGSSMParams
    fields = _lgssm_fields()
    name = data.draw(st.sampled_from(sorted(BAD_MATRICES)))
    fields[name] = data.draw(st.sampled_from(BAD_MATRICES[name]))
    COUNTS["LGSSMParams"] += 1
    _raises_naming(name, lambda: LGSSMParams(**fields), "Q" if name == "A" else None)


@_settings(16)
@given(data=st.data())
def test_linear_gaussian_params_refuse_bad_matrices(data):
    from bayesnn.processes import LinearGaussianParams
    fields = dict(A=[[-1.0, 0.5], [0.0, -2.0]], Q=np.eye(2), C=[[1.0, 0.0]], R=[[0.5]])
    bad = dict(BAD_MATRICES, A=BAD_MATRICES["A"] + [np.eye(2)])  # I: not Hurwitz (no P0)
    name = data.draw(st.sampled_from(["A", "Q", "C", "R", "m0"]))
    fields[name] = data.draw(st.sampled_from(bad[name]))
    COUNTS["LinearGaussianParams"] += 1
    # A of the wrong size is reported as the mismatch of Q (or C) with A's dimension.
    _raises_naming(name, lambda: LinearGaussianParams(**fields), "Q" if name == "A" else None)


# ---------------------------------------------------------------------------- neuron
@_settings(30)
@given(data=st.data())
def test_neuron_simulate_refuses_bad_arguments(data):
    from bayesnn.neuron import simulate
    params = _neuron_params()
    call = dict(inputs=make_spikes([0.1, 0.4], [0, 2]), duration=1.0, method="exact",
                dt=None, sample_times=[0.2, 0.5], record_every=1)
    name = data.draw(st.sampled_from(["inputs", "duration", "method", "dt", "sample_times",
                                      "record_every", "params"]))
    if name == "inputs":
        call["inputs"] = data.draw(st.one_of(
            bad_event_times().map(lambda t: _raw_spikes(t, [0] * len(t))),
            st.just(_raw_spikes([0.1, 0.2], [0, 3])),  # sender >= N
            st.sampled_from([np.array([0.1, 0.2]), [0.1], None])))
    elif name == "duration":
        call["duration"] = data.draw(bad_positive_scalar())
    elif name == "method":
        call["method"] = data.draw(st.sampled_from(["Exact", "rk4", "", None, 3]))
    elif name == "dt":
        call["method"] = "discrete"
        call["sample_times"] = None
        call["dt"] = data.draw(st.one_of(bad_positive_scalar(), st.just(0.3)))  # 1/0.3
    elif name == "sample_times":
        call["sample_times"] = data.draw(st.one_of(
            bad_event_times(), st.just(np.zeros((2, 1))), st.just(np.float64(0.5))))
    elif name == "record_every":
        call["record_every"] = data.draw(st.sampled_from([0, -1, 1.5, "2", None]))
    else:
        params = data.draw(st.sampled_from([None, {"r_on": 1.0}, np.ones(5)]))
    COUNTS["neuron.simulate"] += 1
    want = {"inputs": "inputs", "dt": "dt", "params": "params"}.get(name, name)
    if name == "dt":  # a non-divisor dt is refused naming duration and dt together
        with pytest.raises(ValueError, match="dt"):
            simulate(params, **call)
        return
    _raises_naming(want, lambda: simulate(params, **call))


@_settings(12)
@given(data=st.data())
def test_neuron_simulate_trials_refuses_mismatched_trials(data):
    from bayesnn.core import stack_spikes
    from bayesnn.neuron import simulate_trials
    kind = data.draw(st.sampled_from(["unbatched", "bad trial", "sender"]))
    good = make_spikes([0.1, 0.4], [0, 2])
    if kind == "unbatched":
        inputs = good
    elif kind == "bad trial":
        times = data.draw(bad_event_times())
        bad = _raw_spikes(times, [0] * len(times))
        inputs = stack_spikes([good, bad][:: data.draw(st.sampled_from([1, -1]))])
    else:
        inputs = stack_spikes([good, _raw_spikes([0.1], [7])])
    COUNTS["neuron.simulate_trials"] += 1
    _raises_naming("inputs", lambda: simulate_trials(_neuron_params(), inputs, duration=1.0))


@_settings(16)
@given(data=st.data())
def test_filter_counts_refuses_bad_counts(data):
    from bayesnn.neuron import filter_counts
    name = data.draw(st.sampled_from(["counts", "dt", "method", "observation"]))
    call = dict(counts=np.zeros((10, 3), int), dt=1e-3, method="discrete", observation="poisson")
    if name == "counts":
        call["counts"] = data.draw(st.sampled_from([
            np.zeros((10, 2)), np.zeros(10), np.full((10, 3), -1), np.full((10, 3), 0.5),
            np.zeros((0, 3)), np.full((10, 3), np.nan), np.zeros((2, 10, 3, 1)),
            np.array([["a"] * 3] * 10)]))
    elif name == "dt":
        call["dt"] = data.draw(bad_positive_scalar())
    else:
        call[name] = data.draw(st.sampled_from(["Discrete", "rk4", None, ""]))
    COUNTS["neuron.filter_counts"] += 1
    _raises_naming(name, lambda: filter_counts(_neuron_params(), **call))


# ---------------------------------------------------------------------------- exact
@_settings(20)
@given(data=st.data())
def test_mmpp_filter_refuses_bad_arguments(data):
    from bayesnn.exact import mmpp_filter
    name = data.draw(st.sampled_from(["inputs", "duration", "query_times", "initial_prob_on"]))
    call = dict(inputs=make_spikes([0.1, 0.4], [0, 2]), duration=1.0, query_times=[0.5])
    if name == "inputs":
        times = data.draw(bad_event_times())
        call["inputs"] = _raw_spikes(times, [0] * len(times))
    elif name == "duration":
        call["duration"] = data.draw(bad_positive_scalar())
    elif name == "query_times":
        call["query_times"] = data.draw(st.one_of(bad_event_times(),
                                                  st.just(np.zeros((1, 2)))))
    else:
        call["initial_prob_on"] = data.draw(st.one_of(
            NON_FINITE, st.floats(1.0001, 10.0), st.floats(-10.0, -1e-9)))
    COUNTS["exact.mmpp_filter"] += 1
    _raises_naming(name, lambda: mmpp_filter(_neuron_params(), **call))


@_settings(16)
@given(data=st.data())
def test_hmm_forward_refuses_bad_laws(data):
    from bayesnn.exact import hmm_forward
    name = data.draw(st.sampled_from(["initial", "transition", "log_likelihoods"]))
    call = dict(initial=[0.3, 0.7], transition=[[0.9, 0.1], [0.2, 0.8]],
                log_likelihoods=np.zeros((4, 2)))
    call[name] = data.draw(st.sampled_from({
        "initial": [[0.5, 0.6], [-0.1, 1.1], [np.nan, 1.0], [1.0], [[0.5, 0.5]]],
        "transition": [[[0.9, 0.2], [0.2, 0.8]], [[1.1, -0.1], [0.2, 0.8]], np.eye(3),
                       [[np.nan, 1.0], [0.0, 1.0]], [0.5, 0.5]],
        "log_likelihoods": [np.zeros((4, 3)), np.zeros(4), np.zeros((0, 2)),
                            np.full((4, 2), np.nan), np.full((4, 2), np.inf)],
    }[name]))
    COUNTS["exact.hmm_forward"] += 1
    _raises_naming(name, lambda: hmm_forward(**call))


@_settings(10)
@given(ys=st.sampled_from([np.zeros((5, 2)), np.zeros(5), np.zeros((0, 1)),
                           np.full((5, 1), np.nan), np.zeros((5, 1, 1)),
                           np.full((5, 1), -np.inf)]))
def test_kalman_filter_refuses_bad_observations(ys):
    from bayesnn.exact import kalman_filter
    from bayesnn.processes import LGSSMParams
    COUNTS["exact.kalman_filter"] += 1
    _raises_naming("ys", lambda: kalman_filter(LGSSMParams(**_lgssm_fields()), ys))


@_settings(12)
@given(data=st.data())
def test_discretize_lds_refuses_bad_arguments(data):
    from bayesnn.exact import discretize_lds
    name = data.draw(st.sampled_from(["A_cont", "noise_cov_cont", "dt"]))
    call = dict(A_cont=[[-1.0]], noise_cov_cont=[[1.0]], dt=0.1)
    call[name] = data.draw({"A_cont": st.sampled_from([[[np.nan]], [1.0], np.ones((1, 2))]),
                            "noise_cov_cont": st.sampled_from([[[-1.0]], np.eye(2), [[np.inf]]]),
                            "dt": bad_positive_scalar()}[name])
    COUNTS["exact.discretize_lds"] += 1
    _raises_naming(name, lambda: discretize_lds(**call))


@_settings(12)
@given(data=st.data())
def test_tree_filter_refuses_bad_arguments(data):
    from bayesnn.exact.hierarchy import tree_filter
    from bayesnn.hierarchy import make_tree
    tree = make_tree(1, r_on=1.0, r_off=3.0, follow=4.0, stray=0.5, q_on=[[20.0, 5.0]],
                     q_off=[[4.0, 15.0]])
    name = data.draw(st.sampled_from(["inputs", "duration", "sample_times"]))
    call = dict(inputs=make_spikes([0.1], [0]), duration=1.0, sample_times=[0.5])
    if name == "inputs":
        times = data.draw(bad_event_times())
        call["inputs"] = _raw_spikes(times, [0] * len(times))
    elif name == "duration":
        call["duration"] = data.draw(bad_positive_scalar())
    else:  # tree_filter documents unsorted sample times as accepted (any order)
        call["sample_times"] = data.draw(bad_event_times(kinds=("nan", "inf", "negative",
                                                                "late")))
    COUNTS["exact.tree_filter"] += 1
    _raises_naming(name, lambda: tree_filter(tree, **call))


# ---------------------------------------------------------------------------- processes
@_settings(12)
@given(data=st.data())
def test_sample_trial_refuses_bad_arguments(data):
    from bayesnn.processes import sample_trial
    name = data.draw(st.sampled_from(["duration", "initial_state", "key", "params"]))
    call = dict(params=_neuron_params(), key=0, duration=1.0, initial_state=None)
    call[name] = data.draw({"duration": bad_positive_scalar(),
                            "initial_state": st.sampled_from([2, -1, 0.5, "on"]),
                            "key": st.sampled_from([1.5, "seed", None, np.zeros(3)]),
                            "params": st.sampled_from([None, {"r_on": 1.0}, 3.0])}[name])
    COUNTS["processes.sample_trial"] += 1
    _raises_naming(name, lambda: sample_trial(call.pop("params"), **call))


@_settings(12)
@given(data=st.data())
def test_sample_binned_refuses_bad_arguments(data):
    from bayesnn.processes import sample_binned
    name = data.draw(st.sampled_from(["dt", "n_steps", "observation"]))
    call = dict(key=0, dt=1e-3, n_steps=10, observation="poisson")
    call[name] = data.draw({"dt": bad_positive_scalar(),
                            "n_steps": st.sampled_from([0, -3, 2.5, "10", None]),
                            "observation": st.sampled_from(["Poisson", "gauss", None])}[name])
    COUNTS["processes.sample_binned"] += 1
    _raises_naming(name, lambda: sample_binned(_neuron_params(), **call))


@_settings(12)
@given(data=st.data())
def test_numpyro_bin_spikes_refuses_bad_arguments(data):
    from bayesnn.numpyro_models.mmpp_binned import bin_spikes
    name = data.draw(st.sampled_from(["spikes", "n_inputs", "duration", "dt"]))
    call = dict(spikes=make_spikes([0.1], [0]), n_inputs=3, duration=1.0, dt=0.1)
    if name == "spikes":
        times = data.draw(bad_event_times())
        call["spikes"] = _raw_spikes(times, [0] * len(times))
    else:
        call[name] = data.draw({"n_inputs": st.sampled_from([0, 2.5, "3", None]),
                                "duration": bad_positive_scalar(),
                                "dt": st.one_of(bad_positive_scalar(), st.just(0.3))}[name])
    COUNTS["numpyro bin_spikes"] += 1
    # dt = 0.3 is no whole number of bins of 1 s: the message names duration and dt
    _raises_naming(name, lambda: bin_spikes(**call))


# ---------------------------------------------------------------------------- networks
@_settings(12)
@given(data=st.data())
def test_make_network_refuses_bad_arguments(data):
    from bayesnn.scn import make_network
    name = data.draw(st.sampled_from(["Gamma", "lambda_d", "dt"]))
    call = dict(Gamma=np.array([[0.1, -0.1, 0.05, -0.05]]), lambda_d=10.0, dt=1e-4)
    call[name] = data.draw({"Gamma": st.sampled_from([np.ones(4), np.full((1, 4), np.nan),
                                                      np.zeros((1, 0)), np.ones((1, 1, 4))]),
                            "lambda_d": bad_positive_scalar(),
                            "dt": bad_positive_scalar()}[name])
    COUNTS["scn.make_network"] += 1
    _raises_naming(name, lambda: make_network(**call))


@_settings(12)
@given(data=st.data())
def test_scn_simulate_refuses_bad_input(data):
    from bayesnn.scn import make_network, simulate
    params = make_network(np.array([[0.1, -0.1, 0.05, -0.05]]), lambda_d=10.0, dt=1e-4)
    name = data.draw(st.sampled_from(["c", "record_every"]))
    call = dict(c=np.zeros((20, 1)), record_every=1)
    call[name] = data.draw({"c": st.sampled_from([np.zeros((20, 2)), np.zeros(20),
                                                  np.zeros((0, 1)), np.full((20, 1), np.nan),
                                                  np.zeros((2, 20, 1))]),
                            "record_every": st.sampled_from([0, -2, 1.5, "3"])}[name])
    COUNTS["scn.simulate"] += 1
    _raises_naming(name, lambda: simulate(params, call.pop("c"), **call))


@_settings(12)
@given(data=st.data())
def test_log_odds_population_refuses_bad_arguments(data):
    from bayesnn.posteriors import log_odds
    from bayesnn.posteriors.log_odds_params import default_population
    params = default_population(n_variables=2, n_inputs=3, n_neurons=8)
    name = data.draw(st.sampled_from(["inputs", "duration", "dt", "mode"]))
    call = dict(inputs=make_spikes([0.01], [0]), duration=0.1, dt=1e-3, mode="tracking")
    if name == "inputs":
        times = data.draw(bad_event_times(duration=0.1))
        call["inputs"] = _raw_spikes(times, [0] * len(times))
    else:
        call[name] = data.draw({"duration": bad_positive_scalar(),
                                "dt": st.one_of(bad_positive_scalar(), st.just(0.03)),
                                "mode": st.sampled_from(["Tracking", "exact", None])}[name])
    COUNTS["posteriors.log_odds.simulate"] += 1
    with pytest.raises(ValueError) as error:
        log_odds.simulate(params, call.pop("inputs"), **call)
    named = {"dt": ("dt",), "duration": ("duration",)}.get(name, (name,))
    assert any(n in str(error.value) for n in named), str(error.value)


# ---------------------------------------------------------------------------- more entry points
@_settings(12)
@given(data=st.data())
def test_likelihoods_and_smoothers_refuse_bad_spikes(data):
    """The other spike-train entry points: exact and innovations log-likelihood, the
    continuous-time smoother, the NumPyro continuous likelihood."""
    from bayesnn.exact import mmpp_log_likelihood, mmpp_log_likelihood_innovations
    from bayesnn.exact.mmpp_smoother import mmpp_expected_statistics
    from bayesnn.numpyro_models.mmpp_continuous import continuous_log_likelihood
    from bayesnn.processes import model_of
    entry = data.draw(st.sampled_from(["exact", "innovations", "smoother", "numpyro"]))
    times = data.draw(bad_event_times())
    spikes = _raw_spikes(times, [0] * len(times))
    params = model_of(_neuron_params())
    call = {"exact": lambda: mmpp_log_likelihood(params, spikes, duration=1.0),
            "innovations": lambda: mmpp_log_likelihood_innovations(params, spikes, duration=1.0),
            "smoother": lambda: mmpp_expected_statistics(params, spikes, duration=1.0),
            "numpyro": lambda: continuous_log_likelihood(params, spikes, duration=1.0)}[entry]
    COUNTS["likelihoods and smoothers"] += 1
    with pytest.raises(ValueError) as error:
        call()
    assert "inputs" in str(error.value) or "spikes" in str(error.value), str(error.value)


@_settings(12)
@given(data=st.data())
def test_linear_gaussian_entry_points_refuse_bad_arguments(data):
    from bayesnn.exact import kalman_bucy_posterior
    from bayesnn.processes import ou_params, sample_linear_gaussian
    entry = data.draw(st.sampled_from(["sample dt", "sample n_steps", "posterior dy",
                                       "posterior dt"]))
    model = ou_params()
    if entry == "sample dt":
        bad = data.draw(bad_positive_scalar())
        call, name = lambda: sample_linear_gaussian(model, key=0, dt=bad, n_steps=5), "dt"
    elif entry == "sample n_steps":
        bad = data.draw(st.sampled_from([0, 2.5, -1, "5"]))
        call, name = lambda: sample_linear_gaussian(model, key=0, dt=0.1, n_steps=bad), "n_steps"
    elif entry == "posterior dy":
        bad = data.draw(st.sampled_from([np.zeros(5), np.zeros((5, 2)), np.zeros((0, 1)),
                                         np.full((5, 1), np.nan)]))
        call, name = lambda: kalman_bucy_posterior(model, bad, dt=0.1), "dy"
    else:
        bad = data.draw(bad_positive_scalar())
        call, name = lambda: kalman_bucy_posterior(model, np.zeros((5, 1)), dt=bad), "dt"
    COUNTS["linear-Gaussian sampling and posterior"] += 1
    _raises_naming(name, call)


def _learners():
    from bayesnn.learning import (em_binned, em_continuous, fit_gradient, local_rule,
                                  log_likelihood, online_em)
    return {"em_continuous": lambda p, s, **k: em_continuous(p, s, **k),
            "em_binned": lambda p, s, **k: em_binned(p, s, **{"dt": 0.1, **k}),
            "fit_gradient": lambda p, s, **k: fit_gradient(p, s, **k),
            "online_em": lambda p, s, **k: online_em(p, s, **{"dt": 0.1, **k}),
            "local_rule": lambda p, s, **k: local_rule(p, s, **{"dt": 0.1, **k}),
            "log_likelihood": lambda p, s, **k: log_likelihood(p, s, **k)}


@_settings(90)
@given(data=st.data())
def test_learning_entry_points_refuse_bad_input(data):
    """Every learner (and the objective) on one bad argument of a valid call: spike
    times, multiplicities (0 or negative: count 0 would drop a spike, -1 change the
    likelihood), float senders, duration, dt, a symmetric start, the initial law, and
    non-boolean ``smoothing`` (a truthy string is not True)."""
    import jax.numpy as jnp

    from bayesnn.processes import MMPPParams
    learners = _learners()
    entry = data.draw(st.sampled_from(sorted(learners)))
    start = MMPPParams(r_on=1.0, r_off=2.0, q_on=np.full(3, 8.0), q_off=np.full(3, 3.0))
    times = np.linspace(0.05, 0.95, 12)
    senders = np.arange(12) % 3
    kinds = ["times", "counts", "senders", "duration", "initial_prob_on"]
    if entry != "log_likelihood":
        kinds.append("initial")
    if entry in ("em_binned", "online_em", "local_rule"):
        kinds.append("dt")
    if entry == "local_rule":
        kinds.append("smoothing")
    kind = data.draw(st.sampled_from(kinds))
    spikes, kwargs, params, name = _raw_spikes(times, senders), {"duration": 1.0}, start, kind
    if kind == "times":
        bad = data.draw(bad_event_times())
        spikes, name = _raw_spikes(bad, np.arange(len(bad)) % 3), "times"
    elif kind == "counts":
        counts = np.asarray(spikes.counts).copy()
        counts[data.draw(st.integers(0, 11))] = data.draw(st.sampled_from([0, -1, -5]))
        spikes, name = Spikes(spikes.times, spikes.senders, jnp.asarray(counts),
                              spikes.n_events), "counts"
    elif kind == "senders":
        spikes = Spikes(spikes.times, jnp.asarray(np.asarray(spikes.senders), float),
                        spikes.counts, spikes.n_events)
    elif kind == "duration":
        kwargs["duration"] = data.draw(bad_positive_scalar())
    elif kind == "dt":
        kwargs["dt"] = data.draw(st.one_of(bad_positive_scalar(), st.just(0.3)))
        name = ("dt", "duration")  # 0.3 is no whole number of bins of 1 s: both named
    elif kind == "initial_prob_on":
        kwargs["initial_prob_on"] = data.draw(st.one_of(
            NON_FINITE, st.sampled_from([-0.1, 1.5, "0.5"])))
    elif kind == "initial":
        params = MMPPParams(r_on=2.0, r_off=2.0, q_on=np.full(3, 5.0), q_off=np.full(3, 5.0))
        name = "symmetric"
    else:
        kwargs["smoothing"] = data.draw(st.sampled_from(["no", "False", 0, 1, None]))
    COUNTS[f"learning {entry}"] += 1
    if isinstance(name, tuple):
        _raises_naming(name[0], lambda: learners[entry](params, spikes, **kwargs), name[1])
    else:
        _raises_naming(name, lambda: learners[entry](params, spikes, **kwargs))


@_settings(15)
@given(data=st.data())
def test_hierarchy_simulate_refuses_bad_spikes(data):
    """NaN times fail no range comparison: they are refused explicitly, as are
    unsorted, negative or late times, float senders and multiplicities < 1."""
    import jax.numpy as jnp

    from bayesnn.hierarchy import SpikingHierarchy, layer1_params, make_tree, reader_params
    from bayesnn.hierarchy import simulate as hierarchy_simulate
    tree = make_tree(2, r_on=1.0, r_off=3.0, follow=10.0, stray=0.5,
                     q_on=[[30.0, 20.0], [35.0, 25.0]], q_off=[[5.0, 10.0], [6.0, 4.0]])
    readers = reader_params(tree, np.array([[4.0, 30.0], [5.0, 25.0]]), 1.0, ("y", "not_y"))
    network = SpikingHierarchy(tree, layer1_params(tree, 0.4), readers)
    kind = data.draw(st.sampled_from(["times", "counts"]))
    if kind == "times":
        times = data.draw(bad_event_times())
        spikes = _raw_spikes(times, np.arange(len(times)) % 4)
    else:
        spikes = _raw_spikes([0.1, 0.2, 0.3], [0, 1, 2])
        counts = np.asarray(spikes.counts).copy()
        counts[data.draw(st.integers(0, 2))] = data.draw(st.sampled_from([0, -1]))
        spikes = Spikes(spikes.times, spikes.senders, jnp.asarray(counts), spikes.n_events)
    COUNTS["hierarchy.simulate"] += 1
    _raises_naming("inputs", lambda: hierarchy_simulate(network, spikes, duration=1.0))


def test_tree_filter_memory_guard_stops_at_k_11():
    """docs/hierarchy.md: the default limit stops at K = 10 (32 MiB); K = 11 (128 MiB,
    minutes per trial) is refused naming K before any work."""
    from bayesnn.exact.hierarchy import tree_filter
    from bayesnn.hierarchy import make_tree
    tree = make_tree(11, r_on=1.0, r_off=3.0, follow=4.0, stray=0.5,
                     q_on=np.full((11, 1), 20.0), q_off=np.full((11, 1), 4.0))
    with pytest.raises(ValueError, match="K = 11|11 children|K=11"):
        tree_filter(tree, make_spikes([0.1], [0]), duration=1.0, sample_times=[0.5])


@_settings(15)
@given(data=st.data())
def test_surrogate_refuses_bad_input(data):
    from bayesnn.scn.learning.surrogate import GateParams, gated_loss, gated_run
    rng = np.random.default_rng(0)
    F = rng.standard_normal((2, 4))
    weights = {"F": F, "Omega": -F.T @ F, "D": 0.1 * F}
    c, params = np.ones((30, 2)), GateParams(width=1.0, burn_in=5)
    kind = data.draw(st.sampled_from(["weights", "c", "burn_in"]))
    if kind == "weights":
        name = data.draw(st.sampled_from(["F", "Omega", "D"]))
        weights = {**weights, name: data.draw(st.sampled_from(
            [np.full(weights[name].shape, np.nan), np.zeros((3, 3, 3)), np.ones(4)]))}
    elif kind == "c":
        c = data.draw(st.sampled_from([np.zeros((30, 2)), np.ones((30, 5)), np.ones(30),
                                       np.full((30, 2), np.inf)]))
    else:
        params = GateParams(width=1.0, burn_in=data.draw(st.integers(30, 100)))
    which = data.draw(st.sampled_from(["run", "loss"]))
    if kind == "c" and which == "run" and c.ndim == 2 and c.shape[1] == 2 and not np.any(c):
        which = "loss"  # a zero input is a valid run; only the normalised loss is 0/0
    COUNTS["scn.surrogate"] += 1
    call = {"run": lambda: gated_run(params, weights, c),
            "loss": lambda: gated_loss({}, weights, params, c)}[which]
    _raises_naming(kind, call)


@_settings(12)
@given(data=st.data())
def test_netcdf_loader_names_damaged_files(data, tmp_path_factory):
    """io.load_dataset on an empty, truncated or overwritten file: a ValueError naming
    the file, never a raw h5py OSError."""
    import xarray as xr

    from bayesnn import io
    folder = tmp_path_factory.mktemp("nc")
    good = io.write_netcdf(folder / "good.nc", xr.Dataset({"x": ("t", np.arange(50.0))},
                                                          attrs={"flag": True}))
    raw = good.read_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    garbage = data.draw(st.binary(min_size=0, max_size=64))
    damaged = folder / "damaged.nc"
    damaged.write_bytes(data.draw(st.sampled_from([raw[:cut], garbage, garbage + raw[cut:]])))
    COUNTS["io.load_dataset"] += 1
    try:
        loaded = io.load_dataset(damaged)
    except ValueError as error:
        assert "damaged.nc" in str(error)
    else:  # a cut after the last byte HDF5 needs can still load: then it must be intact
        np.testing.assert_array_equal(loaded["x"].values, np.arange(50.0))


@_settings(10)
@given(data=st.data())
def test_sweep_store_resume_with_damaged_task_files(data, tmp_path_factory):
    """A store whose task files are damaged in any way (cut, garbage): resume reruns
    exactly the damaged tasks (with a warning naming each file) and equals one serial
    run; no raw exception."""
    import warnings

    import xarray as xr

    from bayesnn.sweep import IN_PROCESS, run_sweep
    from tests.sweep_setup import N_TASKS, TINY, serial_reference
    folder = tmp_path_factory.mktemp("store")
    run_sweep(TINY, out=folder, scheduler=IN_PROCESS, progress=False)
    damaged = sorted(data.draw(st.sets(st.integers(0, N_TASKS - 1), min_size=1)))
    for task in damaged:
        path = folder / "tasks" / f"task-{task:05d}.nc"
        raw = path.read_bytes()
        path.write_bytes(data.draw(st.sampled_from([b"", raw[:data.draw(st.integers(1, 2000))],
                                                    b"\x89HDF\r\n" + bytes(100)])))
    rerun = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_sweep(TINY, out=folder, scheduler=IN_PROCESS, progress=False,
                           on_task=lambda r: rerun.append(r.task_id))
    COUNTS["sweep store resume"] += 1
    assert sorted(rerun) == damaged
    for task in damaged:
        assert any(f"task-{task:05d}.nc is damaged" in str(w.message) for w in caught)
    xr.testing.assert_identical(result, serial_reference())


def test_every_entry_point_was_fuzzed():
    """Runs last in this module: each entry point saw its share of bad inputs (>= 200 in
    total); the counts are printed (pytest -s) and listed in the module docstring."""
    if not COUNTS:
        pytest.skip("run with the whole module")
    print("\nbad inputs by entry point:", dict(sorted(COUNTS.items())),
          "total", sum(COUNTS.values()))
    for name, minimum in MINIMUM.items():
        assert COUNTS[name] >= minimum, (name, COUNTS[name])
    assert sum(COUNTS.values()) >= 200
