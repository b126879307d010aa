"""Honest baselines (issue #27 item 7): a baseline with constant test scores or a fit that did
not converge is marked in the evaluation, printed as such and never ranked; BG/NBD's
-E[purchases in the horizon] still ranks customers where its P(alive) collapses."""

import io

import mlflow
import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import integrate
from scipy.special import betaincinv
from sklearn.metrics import roc_auc_score

import churnlab.models.bgnbd as bgnbd_module
from churnlab.cli import evaluation_table
from churnlab.datasets import make_demo_events
from churnlab.events import load_events
from churnlab.features import build_training_set
from churnlab.models import BGNBDAlive, LinearChurnModel
from churnlab.models.bgnbd import BGNBD, rfm_summary
from churnlab.models.evaluate import ranked_models, score_status
from churnlab.workflows.compare import fit_and_compare
from churnlab.workflows.training import holdout_notes

H = 30  # label horizon, days
CUTOFFS = [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-01"), pd.Timestamp("2024-06-01")]  # train, validation, test


def _collapsing_events():
    """Every customer buys on a fixed rhythm that ends the day before every cutoff, so no
    history shows a drop-out: BG/NBD's maximum likelihood sends a (the drop-out odds) to 0
    and P(alive) to 1 for everyone. Slow buyers (every 9-15 days) churn after the test
    cutoff, fast ones (every 3-7 days) keep buying (one in ten churns too); some pause for a
    label window after the training or validation cutoff and come back, so every period
    holds both classes."""
    rng = np.random.default_rng(0)
    day = pd.Timedelta(days=1)
    rows = []
    for i in range(300):
        fast = i % 2 == 0
        gap = pd.Timedelta(days=int(rng.integers(3, 8) if fast else rng.integers(9, 16)))
        first = pd.Timestamp("2023-10-01") + int(rng.integers(0, 20)) * day
        days = {first}
        for c in CUTOFFS:
            d = c - day
            while d >= first:
                days.add(d)
                d -= gap
        for c in CUTOFFS[:2]:  # a pause within the label window after a cutoff
            if i % 4 == (1 if c == CUTOFFS[0] else 3):
                days = {d for d in days if not (c <= d < c + H * day)}
        if fast and i % 10 != 0:  # keeps buying after the test cutoff
            d = CUTOFFS[2]
            while d < CUTOFFS[2] + 60 * day:
                days.add(d)
                d += gap
        rows += [(i, d, 10.0) for d in sorted(days)]
    return load_events(pd.DataFrame(rows, columns=["customer_id", "ts", "amount"]))


@pytest.fixture(scope="module")
def collapse():
    events = _collapsing_events()
    f = build_training_set(events, CUTOFFS, horizon_days=H, active_days=None).frame
    train, val, test = (f[f["cutoff"] == c].reset_index(drop=True) for c in CUTOFFS)
    features = ["p_recency_days", "p_count_total"]
    cmp = fit_and_compare({"logistic_regression": LinearChurnModel()}, train, val, test, features, events, horizon_days=H)
    return events, test, cmp


def _expected_purchases(params: dict, t, x, t_x, T) -> np.ndarray:
    """BG/NBD's E[purchases in (T, T + t] | x, t_x, T] from the parameters by numerical
    integration of the model, independent of churnlab's closed form and series: alive, the
    rate's posterior is Gamma(r + x, alpha + T), so given the drop-out probability p the
    expected purchases are (1 - (1 + p t / (alpha + T))^-(r + x)) / p; p ~ Beta(a, b + x) is
    integrated over its quantiles. Times P(alive)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    out = []
    for xi, txi, Ti in zip(x, t_x, T):
        R, s = r + xi, t / (alpha + Ti)

        def given_p(q):
            p = betaincinv(a, b + xi, q)
            return R * s if p == 0 else -np.expm1(-R * np.log1p(p * s)) / p

        alive_part = integrate.quad(given_p, 0, 1, epsabs=0, epsrel=1e-12, limit=200)[0]
        odds = a / (b + xi - 1) * ((alpha + Ti) / (alpha + txi)) ** (r + xi) if xi > 0 else 0.0
        out.append(alive_part / (1 + odds))
    return np.array(out)


def _printed(evaluation, selected) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(evaluation_table(evaluation, selected=selected))
    return console.export_text()


def test_a_collapsed_bgnbd_fit_is_marked_constant_and_never_ranked(collapse):
    events, test, cmp = collapse
    p_alive = cmp.scores["bgnbd_p_alive"]
    summary = rfm_summary(events, CUTOFFS[2]).reindex(test["customer_id"])
    full = rfm_summary(events, CUTOFFS[2])
    fitted = BGNBD().fit(full["x"], full["t_x"], full["T"])  # as the baseline fits it: everyone before the cutoff
    assert fitted.converged_ and fitted.at_edge_  # a boundary solution ...
    assert fitted.a_ / (fitted.a_ + fitted.b_) < 1e-6  # ... where nobody ever drops out
    assert (1 - fitted.p_alive(summary["x"], summary["t_x"], summary["T"]) < 1e-12).all()
    assert len(np.unique(p_alive)) == 1  # the baseline's test scores: one value for everyone
    ev = cmp.evaluation
    assert ev.loc["bgnbd_p_alive", "roc_auc"] == 0.5
    assert ev.loc["bgnbd_p_alive", "status"] == "constant scores"
    # everyone bought the day before the cutoff: the recency rule is one value for everyone too
    assert ev.loc["recency_rule", "status"] == "constant scores"
    assert ranked_models(ev) == ["logistic_regression", "rfm_logistic", "bgnbd_expected_purchases"]
    text = _printed(ev, "logistic_regression")
    row = next(line for line in text.splitlines() if "bgnbd_p_alive" in line)
    assert "bgnbd_p_alive (not ranked: constant scores)" in row
    assert "0.500" not in row and row.count("—") == 6  # ROC, PR, lift, capture, EMPC, MP
    assert "recency_rule (not ranked: constant scores)" in text
    assert "bgnbd_expected_purchases (not ranked" not in text and "rfm_logistic (not ranked" not in text


def test_constant_scores_never_beat_the_shipped_model_in_the_warning(collapse):
    _, test, cmp = collapse
    y = test["churned"].to_numpy(dtype=float)
    backwards = 1.0 - cmp.scores["bgnbd_expected_purchases"]  # anti-informative: PR-AUC below the base rate
    constant = cmp.scores["bgnbd_p_alive"]
    scores = {"shipped": backwards, "bgnbd_p_alive": constant}
    assert roc_auc_score(y, backwards) < 0.2
    assert holdout_notes(y, scores, "shipped", "pr_auc") == []
    # the same scores shifted by 1e-3 for one customer are not constant: then the warning is said
    nudged = constant.copy()
    nudged[np.flatnonzero(y == 1)[0]] += 1e-3
    notes = holdout_notes(y, {"shipped": backwards, "bgnbd_p_alive": nudged}, "shipped", "pr_auc")
    assert len(notes) == 1 and notes[0].startswith("WARNING: on the test period bgnbd_p_alive beats the shipped")


def test_expected_purchases_ranks_where_p_alive_collapses(collapse):
    events, test, cmp = collapse
    ev = cmp.evaluation
    p = cmp.scores["bgnbd_expected_purchases"]
    assert score_status(p) == "ok" and len(np.unique(p)) > 10
    # E[purchases] written out from the parameters fitted at the test cutoff
    full = rfm_summary(events, CUTOFFS[2])
    model = BGNBD().fit(full["x"], full["t_x"], full["T"])  # the same fit as the baseline's at the test cutoff
    params = model.params_
    summary = full.reindex(test["customer_id"])
    e = _expected_purchases(params, H / 7.0, *(summary[c].to_numpy() for c in ("x", "t_x", "T")))
    assert np.isfinite(e).all() and (e > 0).all() and e.max() < H  # purchase days: at most one a day
    np.testing.assert_allclose(model.expected_purchases(H / 7.0, summary["x"], summary["t_x"], summary["T"]), e, rtol=1e-9)
    y = test["churned"].to_numpy()
    expected = roc_auc_score(y, -e)
    assert expected > 0.75  # slow buyers churn: fewer expected purchases, more churn
    assert ev.loc["bgnbd_expected_purchases", "roc_auc"] == pytest.approx(expected, abs=1e-12)


def test_a_fit_that_did_not_converge_is_marked(monkeypatch):
    events = make_demo_events(400, random_state=0)
    f = build_training_set(events, ["2024-01-01", "2024-04-01", "2024-07-01"], horizon_days=60).frame
    train, val, test = (f[f["cutoff"] == c].reset_index(drop=True) for c in ("2024-01-01", "2024-04-01", "2024-07-01"))

    def run():
        return fit_and_compare({"logistic_regression": LinearChurnModel()}, train, val, test, ["p_recency_days"], events,
                               {"bgnbd_p_alive": BGNBDAlive()})

    honest = run()
    assert honest.evaluation.loc["bgnbd_p_alive", "status"] == "ok"

    real = bgnbd_module.minimize
    monkeypatch.setattr(bgnbd_module, "minimize", lambda *a, **kw: real(*a, **{**kw, "options": {"maxiter": 1}}))
    s = rfm_summary(events, "2024-07-01")
    model = BGNBD().fit(s["x"], s["t_x"], s["T"])
    assert not model.converged_ and model.fit_message_.startswith("optimizer stopped")
    stopped = run()
    ev = stopped.evaluation
    assert score_status(stopped.scores["bgnbd_p_alive"]) == "ok"  # scores vary: the fit is what failed
    assert ev.loc["bgnbd_p_alive", "status"] == "fit did not converge"
    assert ranked_models(ev) == ["logistic_regression"]
    text = _printed(ev, "logistic_regression")
    row = next(line for line in text.splitlines() if "bgnbd_p_alive" in line)
    assert "(not ranked: fit did not converge)" in row and row.count("—") == 8 and "." not in row.split(")")[-1]
    y = test["churned"].to_numpy(dtype=float)
    bad = 1.0 - stopped.scores["logistic_regression"]  # shipped scores any baseline beats
    assert holdout_notes(y, {"shipped": bad, "bgnbd_p_alive": stopped.scores["bgnbd_p_alive"]}, "shipped", "roc_auc",
                         unranked={"bgnbd_p_alive"}) == []


def test_an_edge_fit_is_named_and_an_honest_fit_is_plainly_converged(collapse):
    events, _, _ = collapse
    s = rfm_summary(events, CUTOFFS[1])
    m = BGNBD().fit(s["x"], s["t_x"], s["T"])  # nobody drops out: b runs off to infinity
    assert m.converged_ and m.at_edge_ == ["b"] and m.b_ > 1e6
    assert m.fit_message_ == "converged; parameters b at the edge of (1e-06, 1e+06)"
    d = rfm_summary(make_demo_events(400, random_state=0), "2024-07-01")
    honest = BGNBD().fit(d["x"], d["t_x"], d["T"])
    assert honest.converged_ and honest.at_edge_ == [] and honest.fit_message_ == "converged"


def test_the_demo_run_prints_the_expected_purchases_baseline_and_nothing_degenerate(trained):
    result, _ = trained
    ev = result.evaluation
    assert list(ev.index)[-2:] == ["bgnbd_p_alive", "bgnbd_expected_purchases"]
    assert ev["status"].eq("ok").all()
    assert 0.6 < ev.loc["bgnbd_expected_purchases", "roc_auc"] < ev.loc[result.selected, "roc_auc"]
    text = _printed(ev, result.selected)
    assert "bgnbd_expected_purchases" in text and "not ranked" not in text and "—" not in text
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["bgnbd_expected_purchases.roc_auc"] == pytest.approx(ev.loc["bgnbd_expected_purchases", "roc_auc"])
    assert run.data.tags["status.bgnbd_expected_purchases"] == "ok" and run.data.tags["status.bgnbd_p_alive"] == "ok"
