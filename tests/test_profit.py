"""EMPC and MP: known answers and an independent brute-force integration."""

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.metrics import roc_curve

from churnlab.models.profit import empc, profit_curve, roc_hull


# Reference values of R's EMP package (empChurn) as published in the empulse test suite
# (github.com/ShimantoRahman/empulse, tests/metrics/test_churn.py): 20 customers, half churners.
@pytest.mark.parametrize(
    "score,expected_empc,expected_frac,expected_mp,expected_mp_frac",
    [
        ([0, 1] * 10, 28.0000000000391, 0.499999999728095, 28.0, 0.5),  # perfect
        ([1, 0] * 10, 22.5007912244511, 0.9991601018889205, 22.5, 1.0),  # inverted
        ([1, 1] * 10, 22.5007912244511, 0.9991601018889205, 22.5, 1.0),  # uninformative
    ],
)
def test_reference_values_of_the_r_emp_package(score, expected_empc, expected_frac, expected_mp, expected_mp_frac):
    r = empc([0, 1] * 10, score)
    assert r["empc"] == pytest.approx(expected_empc, abs=1e-9)
    assert r["empc_fraction"] == pytest.approx(expected_frac, abs=1e-8)
    assert r["mp"] == pytest.approx(expected_mp, abs=1e-12) and r["mp_fraction"] == pytest.approx(expected_mp_frac)


def test_the_inverted_score_by_hand():
    """Targeting everyone earns 0.5 (190 g - 1) - 0.5 x 11 = 95 g - 6 per customer, positive
    for g > 6/95; nobody earns 0. EMPC = E[max(0, 95 g - 6)], g ~ Beta(6, 14)."""
    g = stats.beta(6, 14)
    by_hand = 95 * g.mean() - 6 + integrate.quad(lambda x: (6 - 95 * x) * g.pdf(x), 0, 6 / 95)[0]
    assert empc([0, 1] * 10, [1, 0] * 10)["empc"] == pytest.approx(by_hand, rel=1e-10)


def _brute_force(y, s, clv, d, f, alpha, beta):
    """max over EVERY ROC point (no hull) of the profit, integrated over gamma numerically."""
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    pi1 = y.mean()

    def best(g):
        return np.max((g * (clv - d) - f) * pi1 * tpr - (d + f) * (1 - pi1) * fpr)

    h = stats.beta(alpha, beta)
    kinks = np.linspace(0, 1, 401)
    value = sum(integrate.quad(lambda g: best(g) * h.pdf(g), a, b, limit=200)[0] for a, b in zip(kinks[:-1], kinks[1:]))
    g_mean = alpha / (alpha + beta)
    profits = (g_mean * (clv - d) - f) * pi1 * tpr - (d + f) * (1 - pi1) * fpr
    return value, profits.max()


@pytest.mark.parametrize("params", [{}, {"alpha": 2, "beta": 5}, {"clv": 50, "d": 5, "f": 2}, {"clv": 300, "d": 50, "f": 25, "alpha": 10, "beta": 7}])
def test_empc_equals_brute_force_integration(params):
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.3).astype(float)
    s = np.round(y * 0.4 + rng.random(400), 2)  # ties included
    kw = {"clv": 200.0, "d": 10.0, "f": 1.0, "alpha": 6.0, "beta": 14.0, **params}
    r = empc(y, s, **kw)
    expected, expected_mp = _brute_force(y, s, **kw)
    assert r["empc"] == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert r["mp"] == pytest.approx(expected_mp, rel=1e-12)


def test_profit_curve_peak_is_mp():
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.4).astype(float)
    s = y * 0.5 + rng.random(300)
    frac, profit = profit_curve(y, s, gamma=0.3)
    r = empc(y, s)
    assert profit.max() == pytest.approx(r["mp"], rel=1e-12)
    assert frac[np.argmax(profit)] == pytest.approx(r["mp_fraction"])


def test_hull_is_concave_and_spans_the_square():
    rng = np.random.default_rng(5)
    y = (rng.random(200) < 0.5).astype(float)
    fpr, tpr = roc_hull(y, y + rng.normal(size=200))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    slopes = np.diff(tpr) / np.where(np.diff(fpr) > 0, np.diff(fpr), np.nan)
    finite = slopes[np.isfinite(slopes)]
    assert np.all(np.diff(finite) < 0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"clv": 5.0}, "`clv` must exceed the incentive `d` (10.0), got 5.0"),
        ({"d": -1.0}, "`d` and `f` must be >= 0, got d=-1.0, f=1.0"),
        ({"alpha": 0.0}, "`alpha` and `beta` must be > 0, got alpha=0.0, beta=14.0"),
        ({"clv": float("nan")}, "`clv` must be a finite number, got nan"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError) as exc:
        empc([0, 1], [0.2, 0.7], **kwargs)
    assert str(exc.value) == message


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="must hold both 0 and 1"):
        empc([1, 1], [0.2, 0.7])
