"""The ``hierarchy`` validate scenario's exactness stage at another seed (slow: it
compiles the exact joint filter and its brute-force reference). The whole scenario
runs in tests/test_validate_all.py."""
import pytest

from bayesnn.hierarchy.validation import exactness_checks


@pytest.mark.slow
def test_exactness_checks_pass():
    checks, numbers = exactness_checks(seed=3)
    assert all(check.passed for check in checks), [c for c in checks if not c.passed]
    assert numbers["brute_force_events"] > 50  # the brute-force comparison saw real data


# The scenario itself (every stage, its checks and its program budget) runs in the
# gallery run at a small size: tests/test_validate_all.py.
