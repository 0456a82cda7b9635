"""The ``hierarchy`` validate scenario end to end, on small settings (slow: it compiles
the hierarchy for several tree sizes, the exact filters, and the maximum-likelihood
fit)."""
import numpy as np
import pytest

from bayesnn.hierarchy.validation import exactness_checks, hierarchy_scenario


@pytest.mark.slow
def test_exactness_checks_pass():
    checks, numbers = exactness_checks(seed=3)
    assert all(check.passed for check in checks), [c for c in checks if not c.passed]
    assert numbers["brute_force_events"] > 50  # the brute-force comparison saw real data


@pytest.mark.slow
def test_scenario_runs_and_passes_on_small_settings(tmp_path):
    # The default tree (K = 3, N = 20) with fewer, shorter trials: seed 0 passes with a
    # wide margin at the default size (prior-gain z = 8.6 over 8 x 20 s), so about 5
    # here (z scales with the square root of the data).
    result = hierarchy_scenario(seed=0, duration=10.0, n_trials=6,
                                frontier_children=(1, 2), frontier_g0=(1.0, 4.0),
                                frontier_trials=2, frontier_duration=3.0)
    failed = [check for check in result.checks if not check.passed]
    assert not failed, failed
    assert result.scenario == "hierarchy"
    assert {"summary", "ordering", "isi", "ml_fit", "frontier"} <= set(result.numbers)
    assert len(result.numbers["frontier"]) == 4
    assert set(result.figures) == {"trial", "frontier"}
    traces = result.traces
    assert traces["exact_log_odds_top"].dims == ("trial", "time")
    assert np.isfinite(traces["fed_log_odds"].values).all()
    summary = result.numbers["summary"]
    assert summary["kl_fed"]["mean"] < summary["kl_L"]["mean"]
