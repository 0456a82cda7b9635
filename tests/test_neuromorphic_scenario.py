"""The ``neuromorphic`` validation scenario end to end (slow: ~40 s of CPU in quick mode)."""
import pytest

from bayesnn import style
from bayesnn.neuromorphic.validation import neuromorphic_scenario


@pytest.mark.slow
def test_scenario_passes_with_styled_figures():
    result = neuromorphic_scenario(seed=0, quick=True)
    failed = [c.name for c in result.checks if not c.passed]
    assert not failed, failed
    assert len(result.checks) >= 6
    assert result.numbers["neuron"]["loihi_8_24_truncate"]["goal_below_10pct"]
    for name, fig in result.figures.items():
        assert style.audit(fig) == [], name
