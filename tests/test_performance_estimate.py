"""The label-free performance estimate (CBPE): exact against brute force, close to realized
performance when the probabilities are calibrated, off when they are not."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from churnlab.monitor import estimate_performance, expected_pr_auc, expected_roc_auc


def _brute_force(p, s):
    """Every label vector of ``len(p)`` customers with its probability under Bernoulli(p):
    E[correctly ordered churner-stayer pairs] / E[churners x stayers] and
    E[churners x average precision] / E[churners]."""
    p, s = np.asarray(p, dtype=float), np.asarray(s, dtype=float)
    higher = (s[:, None] > s[None, :]) + 0.5 * (s[:, None] == s[None, :])
    auc_num = auc_den = ap_num = ap_den = 0.0
    for bits in itertools.product((0, 1), repeat=len(p)):
        y = np.array(bits, dtype=float)
        w = float(np.prod(np.where(y == 1, p, 1 - p)))
        pos = y.sum()
        auc_num += w * float(y @ higher @ (1 - y))  # i = j never counts: y_i (1 - y_i) = 0
        auc_den += w * pos * (len(y) - pos)
        if pos:
            ap_num += w * pos * average_precision_score(y, s)
            ap_den += w * pos
    return auc_num / auc_den, ap_num / ap_den


def test_the_expected_auc_by_hand():
    # p = (0.1, 0.1, 0.5, 0.9), ranked by p. Pairs (churner i, stayer j), weight p_i (1 - p_j):
    # 0.9 over the others 0.9 (0.9 + 0.9 + 0.5) = 2.07; 0.5 over the 0.1s 0.5 (0.9 + 0.9) = 0.9;
    # the two 0.1s tie, half of 2 x 0.1 x 0.9 = 0.09. Every pair: 1.6 x 2.4 - sum p (1 - p) = 3.32.
    assert expected_roc_auc([0.1, 0.1, 0.5, 0.9]) == pytest.approx((2.07 + 0.9 + 0.09) / 3.32, abs=1e-12)


@pytest.mark.parametrize("scores", [None, [1, 2, 2, 3, 1, 5, 4, 2]])
def test_expected_auc_and_average_precision_equal_brute_force_over_all_labelings(scores):
    p = [0.1, 0.1, 0.5, 0.9, 0.3, 0.3, 0.7, 0.05]  # ties in p, and in the second ranking
    s = p if scores is None else scores
    auc, ap = _brute_force(p, s)
    assert expected_roc_auc(p, scores) == pytest.approx(auc, abs=1e-12)
    assert expected_pr_auc(p, scores) == pytest.approx(ap, abs=1e-12)


@pytest.fixture(scope="module")
def calibrated():
    rng = np.random.default_rng(0)
    p = rng.beta(1.5, 3.5, 4000)
    labels = rng.random((300, p.size)) < p  # 300 fixed-seed label draws from the probabilities
    return p, labels


def test_the_estimate_is_close_to_realized_when_probabilities_are_calibrated(calibrated):
    p, labels = calibrated
    est = estimate_performance(p)
    aucs = np.array([roc_auc_score(y, p) for y in labels])
    aps = np.array([average_precision_score(y, p) for y in labels[:60]])
    # one realized list: within 3 standard deviations of the label draws (sd about 0.008 here)
    assert 0.005 < est["expected_roc_auc_sd"] < 0.012
    assert abs(aucs[0] - est["expected_roc_auc"]) < 3 * est["expected_roc_auc_sd"]
    assert abs(labels[0].mean() - est["expected_churn_rate"]) < 0.02
    # the mean over 300 lists: the ratio of expectations is the expectation to O(1/n)
    assert abs(aucs.mean() - est["expected_roc_auc"]) < 0.002
    assert abs(aps.mean() - est["expected_pr_auc"]) < 0.004
    # the stated spread is the spread of realized ROC-AUC
    assert est["expected_roc_auc_sd"] == pytest.approx(aucs.std(ddof=1), rel=0.2)
    assert estimate_performance(p) == est  # seeded


def test_the_estimate_is_off_when_the_probabilities_are_overconfident(calibrated):
    p, labels = calibrated
    logit = np.log(p / (1 - p))
    overconfident = 1 / (1 + np.exp(-2.5 * logit))  # same ranking, pushed towards 0 and 1
    realized = np.mean([roc_auc_score(y, p) for y in labels[:50]])
    assert expected_roc_auc(overconfident) - realized > 0.05


def test_degenerate_and_bad_inputs():
    assert np.isnan(expected_roc_auc([0.0, 0.0, 0.0])) and np.isnan(expected_roc_auc([0.4]))
    assert np.isnan(expected_pr_auc([0.0, 0.0]))
    empty = estimate_performance([])
    assert empty["n"] == 0 and np.isnan(empty["expected_churn_rate"]) and np.isnan(empty["expected_roc_auc"])
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        estimate_performance([0.2, 1.5])
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        expected_roc_auc([0.2, np.nan])
    with pytest.raises(ValueError, match=r"`scores` must have one value per probability \(2\), got 3"):
        expected_roc_auc([0.2, 0.3], [1, 2, 3])
    with pytest.raises(ValueError, match=r"`draws` must be an integer >= 0, got -1"):
        estimate_performance([0.2, 0.3], draws=-1)
