"""bayesnn <-> Neo spike trains, spike statistics against Elephant, and a NEST
spike-recorder file read by Neo driving the Bayesian neuron (optional extra ``neo``:
skipped cleanly without it)."""
import numpy as np
import pytest

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")
elephant_statistics = pytest.importorskip("elephant.statistics")

from bayesnn import metrics  # noqa: E402
from bayesnn.core import make_spikes, spike_arrays  # noqa: E402
from bayesnn.interop.neo import from_neo, to_neo  # noqa: E402

# Elephant 1.2 passes quantities' deprecated copy= argument (harmless, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity")


def _events(seed=0, n_senders=4, duration=30.0):
    """Gamma-renewal trains (shape 3, so ISI CV = 1/sqrt(3), not Poisson) with some
    events of count 2 or 3, as sorted bayesnn events."""
    rng = np.random.default_rng(seed)
    times, senders = [], []
    for sender in range(n_senders):
        t = np.cumsum(rng.gamma(3.0, 1.0 / (3.0 * (5 + 5 * sender)), 2000))
        t = t[t < duration]
        times.append(t)
        senders.append(np.full(t.size, sender))
    times, senders = np.concatenate(times), np.concatenate(senders)
    order = np.argsort(times, kind="stable")
    counts = rng.choice([1, 1, 1, 1, 2, 3], times.size)
    return times[order], senders[order], counts, duration


def test_round_trip_keeps_events_and_duration():
    times, senders, counts, duration = _events()
    spikes = make_spikes(times, senders, counts, n_senders=5, duration=duration)
    trains = to_neo(spikes, duration=duration, n_senders=5, t_start=2.0)
    assert len(trains) == 5 and len(trains[4]) == 0          # a silent sender: empty train
    assert all(train.t_start == 2.0 * pq.s and train.t_stop == 32.0 * pq.s for train in trains)
    assert sum(len(train) for train in trains) == counts.sum()  # count c -> c equal times
    assert trains[1].annotations["sender"] == 1
    back, back_duration = from_neo(trains)
    assert back_duration == pytest.approx(duration, abs=1e-12)
    t, s, c = spike_arrays(back)
    # float64 shift by t_start = 2 s and back: exact to an ulp of ~32 s (7e-15 s)
    np.testing.assert_allclose(t, times, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(s, senders)
    np.testing.assert_array_equal(c, counts)


def test_from_neo_rescales_units_and_reads_a_segment():
    segment = neo.Segment()
    segment.spiketrains.append(neo.SpikeTrain([10.0, 10.0, 250.0] * pq.ms, t_start=0 * pq.ms,
                                              t_stop=500 * pq.ms))
    segment.spiketrains.append(neo.SpikeTrain([0.1] * pq.s, t_stop=0.5 * pq.s))
    spikes, duration = from_neo(segment)
    t, s, c = spike_arrays(spikes)
    assert duration == pytest.approx(0.5)
    np.testing.assert_allclose(t, [0.01, 0.1, 0.25], rtol=1e-12)
    np.testing.assert_array_equal(s, [0, 1, 0])
    np.testing.assert_array_equal(c, [2, 1, 1])


def test_bad_input_is_named():
    spikes = make_spikes([0.5, 1.5], [0, 1], n_senders=2, duration=2.0)
    with pytest.raises(ValueError, match="duration"):
        to_neo(spikes, duration=1.0)
    with pytest.raises(ValueError, match="duration"):
        to_neo(spikes, duration=-1.0)
    with pytest.raises(ValueError, match="n_senders"):
        to_neo(spikes, duration=2.0, n_senders=1)
    with pytest.raises(ValueError, match="trains"):
        from_neo([])
    with pytest.raises(ValueError, match="trains\\[0\\]"):
        from_neo([np.array([0.1])])
    shifted = [neo.SpikeTrain([1.0] * pq.s, t_start=0.5 * pq.s, t_stop=2 * pq.s),
               neo.SpikeTrain([1.0] * pq.s, t_start=0.0 * pq.s, t_stop=2 * pq.s)]
    with pytest.raises(ValueError, match="t_start"):
        from_neo(shifted)
    with pytest.raises(ValueError, match="outside"):
        from_neo(shifted, t_start=1.5)


def test_spike_statistics_equal_elephant_on_the_same_trains():
    """ISI CV, Fano factor (counts in 1 s windows) and mean rate: bayesnn.metrics
    against Elephant on the same Neo trains. Both compute the same float64 formulas
    (population variance / mean, std / mean of the intervals): 1e-12 relative."""
    times, senders, counts, duration = _events(seed=1)
    spikes = make_spikes(times, senders, counts, n_senders=4, duration=duration)
    trains = to_neo(spikes, duration=duration)
    for sender, train in enumerate(trains):
        mine = senders == sender
        expanded = metrics.expand_counts(times[mine], counts[mine])
        # ISI CV: with multiplicities (zero intervals) and on the unique times
        ours = metrics.isi_cv(expanded)
        theirs = elephant_statistics.cv(elephant_statistics.isi(train).magnitude)
        assert ours == pytest.approx(float(theirs), rel=1e-12)
        # Fano factor over 1 s windows: Elephant's across-trains definition on the
        # train cut into windows
        windows = [train.time_slice(k * pq.s, (k + 1) * pq.s) for k in range(int(duration))]
        ours = metrics.fano_factor(expanded, duration, 1.0)
        theirs = elephant_statistics.fanofactor(windows)
        assert ours == pytest.approx(float(theirs), rel=1e-12)
        rate = elephant_statistics.mean_firing_rate(train).rescale(pq.Hz).magnitude
        assert metrics.firing_rate(expanded.size, duration) == pytest.approx(float(rate), rel=1e-12)
    # gamma(3) renewal trains: the CV is near 1/sqrt(3) (not a tautology of the above).
    # Basis (delta method): var(CV^) ~ (c^2 / n) (c^2 - g1 c + (k4 - 1) / 4) with c = 1/sqrt(3),
    # skewness g1 = 2/sqrt(3), kurtosis k4 = 5, i.e. 0.222 / n; n = 607 intervals gives
    # sd 0.019, and the bound is 4 sd (measured deviation 0.018, seed 1).
    n_isi = int((senders == 3).sum()) - 1
    cv = metrics.isi_cv(metrics.expand_counts(times[senders == 3], np.ones((senders == 3).sum())))
    assert abs(cv - 1 / np.sqrt(3)) < 4 * np.sqrt((2 / 9) / n_isi)


def test_nest_spike_file_read_by_neo_drives_the_bayesian_neuron(tmp_path):
    """A NEST spike-recorder file (gdf: neuron id, time in ms) of the generative model's
    input spikes, read with Neo's NestIO, runs the Bayesian neuron; the neuron equals the
    exact filter on the same spikes (both exact, so float64 rounding: measured 2.6e-15
    nats with |L| <= 4.5, bound 1e-14, ~4x)."""
    from bayesnn import neuron, processes
    from bayesnn.exact import mmpp_filter

    rng = np.random.default_rng(3)
    params = neuron.NeuronParams(1.0, 3.0, rng.uniform(5, 30, 6), rng.uniform(5, 30, 6), 1.0)
    trial = processes.sample_trial(params, key=3, duration=4.0)
    t, s, c = spike_arrays(trial.inputs)
    path = tmp_path / "spike_recorder-7-0.gdf"
    with path.open("w") as handle:  # NEST 2 layout: "gid\ttime_ms", gids from 1
        for time, sender, count in zip(t, s, c):
            for _ in range(int(count)):
                handle.write(f"{int(sender) + 1}\t{1e3 * time:.6f}\n")
    segment = neo.io.NestIO(filenames=str(path)).read_segment(
        gid_list=list(range(1, 7)), t_start=0 * pq.ms, t_stop=4000 * pq.ms)
    trains = sorted(segment.spiketrains, key=lambda train: train.annotations["id"])
    spikes, duration = from_neo(trains)
    assert duration == pytest.approx(4.0) and int(spikes.n_events) > 50
    nt, ns, nc = spike_arrays(spikes)
    np.testing.assert_array_equal(ns, s)
    np.testing.assert_allclose(nt, t, atol=1e-9)  # the file keeps 1 ns (1e-6 ms)
    grid = np.linspace(0.01, 4.0, 400)
    run = neuron.simulate(params, spikes, duration=duration, sample_times=grid)
    exact = mmpp_filter(params, spikes, duration=duration, query_times=grid).log_odds
    assert np.max(np.abs(np.asarray(run.log_odds) - np.asarray(exact))) < 1e-13
    back = to_neo(run.spikes, duration=duration)  # the neuron's output goes back to Neo
    assert sum(len(train) for train in back) == int(np.sum(spike_arrays(run.spikes)[2]))
