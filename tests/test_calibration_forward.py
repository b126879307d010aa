"""Calibration that holds forward: stacked out-of-time calibration, calibration cutoffs and the
reliability table, with known answers."""

import numpy as np
import pandas as pd
import pytest

from churnlab.models import ChurnModel
from churnlab.models.calibration import Calibrator, out_of_time_scores
from churnlab.models.evaluate import calibration_table, expected_calibration_error
from churnlab.models.split import calibration_cutoffs, time_split
from churnlab.workflows.compare import reliability_tables, table_ece

H = 29  # days: each monthly cutoff's label window ends by the next cutoff
CUTS = pd.date_range("2024-01-01", periods=6, freq="MS")
# churn rate per period moves (a season): the log-odds offset of each cutoff
OFFSET = dict(zip(CUTS, [-1.0, -1.0, -1.0, -1.0, 1.5, -0.3]))


@pytest.fixture(scope="module")
def periods():
    rng = np.random.default_rng(0)
    rows = []
    for c in CUTS:
        x = rng.normal(size=800)
        p = 1 / (1 + np.exp(-(1.5 * x + OFFSET[c])))
        rows.append(pd.DataFrame({"cutoff": c, "x": x, "churned": (rng.random(800) < p).astype(int)}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def chosen(periods):
    train, val = periods[periods["cutoff"] <= CUTS[3]], periods[periods["cutoff"] == CUTS[4]]
    return ChurnModel(num_boost_round=40, imbalance="none", num_threads=1).fit(
        train[["x"]], train["churned"], validation=(val[["x"]], val["churned"]))


def test_out_of_time_scores_train_each_cutoff_on_the_earlier_labels_only(periods, chosen):
    s = out_of_time_scores(chosen, periods, ["x"], CUTS[2:5], H)
    # by hand: cutoff c is scored by a model trained on the cutoffs before it (c' + 29 days <= c)
    assert s.groupby("cutoff")["train_rows"].first().tolist() == [1600, 2400, 3200]
    assert s.groupby("cutoff").size().tolist() == [800, 800, 800]
    # the scorer of the first calibration cutoff never saw it: refitting on its rows changes its scores
    first = periods[periods["cutoff"] == CUTS[2]]
    seen = chosen.refit(periods[periods["cutoff"] <= CUTS[2]][["x"]], periods[periods["cutoff"] <= CUTS[2]]["churned"])
    assert not np.allclose(s.loc[s["cutoff"] == CUTS[2], "score"], seen.predict_raw(first[["x"]]))


def test_stacked_calibration_matches_the_pooled_rate_and_one_period_does_not(periods, chosen):
    cal = CUTS[2:5]
    s = out_of_time_scores(chosen, periods, ["x"], cal, H)
    pooled = periods.loc[periods["cutoff"].isin(cal), "churned"].mean()  # by hand: the three periods' labels
    stacked = Calibrator("platt").fit(s["score"], s["churned"]).transform(s["score"])
    # a logistic calibration with an intercept reproduces its fitting rows' rate (the MLE's score equation)
    assert stacked.mean() == pytest.approx(pooled, abs=1e-4)
    one = s[s["cutoff"] == CUTS[4]]
    single = Calibrator("platt").fit(one["score"], one["churned"]).transform(s["score"])
    # period 5's rate (offset +1.5 against -1.0) is carried to the others
    assert single.mean() - pooled > 0.15
    # the model's own calibrate() is the same fit
    m = chosen.refit(periods[periods["cutoff"] <= CUTS[4]][["x"]], periods[periods["cutoff"] <= CUTS[4]]["churned"])
    m.calibrate(s["score"], s["churned"])
    assert (m.calibrator_.coef_, m.calibrator_.intercept_) == pytest.approx(
        (Calibrator("platt").fit(s["score"], s["churned"]).coef_, Calibrator("platt").fit(s["score"], s["churned"]).intercept_))


def test_stacked_calibration_holds_better_on_the_next_period(periods, chosen):
    """Period 6's offset (-0.3) lies between the calibration periods' (-1.0, -1.0, +1.5): the
    stacked calibration is nearer its rate than the last period's alone."""
    s = out_of_time_scores(chosen, periods, ["x"], CUTS[2:5], H)
    upto = periods[periods["cutoff"] <= CUTS[4]]
    shipped = chosen.refit(upto[["x"]], upto["churned"], calibrator=None)
    nxt = periods[periods["cutoff"] == CUTS[5]]
    raw = shipped.predict_raw(nxt[["x"]])
    stacked = Calibrator("platt").fit(s["score"], s["churned"]).transform(raw)
    one = s[s["cutoff"] == CUTS[4]]
    single = Calibrator("platt").fit(one["score"], one["churned"]).transform(raw)
    assert expected_calibration_error(nxt["churned"], stacked) < expected_calibration_error(nxt["churned"], single)


def test_calibration_cutoffs_known_answers():
    cuts = pd.date_range("2023-07-01", "2024-10-01", freq="MS")  # the demo's
    split = time_split(cuts, 90)
    got = calibration_cutoffs(cuts, split, 90, 365)
    # by hand: validation 2024-07-01; a year back is 2023-07-02; the first cutoff with a training
    # cutoff 90 days before it is 2023-10-01 (2023-07-01 + 90 days = 2023-09-29)
    assert [str(c.date()) for c in got] == [f"{y}-{m:02d}-01" for y, m in
                                           [(2023, 10), (2023, 11), (2023, 12)] + [(2024, m) for m in range(1, 8)]]
    assert calibration_cutoffs(cuts, split, 90, 0) == [pd.Timestamp("2024-07-01")]
    assert [str(c.date()) for c in calibration_cutoffs(cuts, split, 90, 61)] == ["2024-05-01", "2024-06-01", "2024-07-01"]
    with pytest.raises(ValueError, match="window_days"):
        calibration_cutoffs(cuts, split, 90, -1)


def test_reliability_table_equals_a_hand_computation():
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    t = reliability_tables(y[:4], p[:4], y, p, n_bins=3)["test"]
    # bins of two by score: {0.1, 0.2} none churned, {0.3, 0.6} one of two, {0.7, 0.9} both
    assert t["n"].tolist() == [2, 2, 2]
    assert t["mean_predicted"].tolist() == pytest.approx([0.15, 0.45, 0.8])
    assert t["observed_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    ece = (2 * 0.15 + 2 * 0.05 + 2 * 0.2) / 6
    assert table_ece(t) == pytest.approx(ece)
    assert expected_calibration_error(y, p, n_bins=3) == pytest.approx(ece)
    pd.testing.assert_frame_equal(t, calibration_table(y, p, 3))
