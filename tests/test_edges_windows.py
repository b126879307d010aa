"""Issue #25, unobserved windows: a label window must be observed in the table that defines
the label (purchases for fixed/adaptive; subscriptions or customers for contractual). Late
events in other tables never make it observed; ``observed_until`` may say the data is
complete to a later date."""

import pandas as pd
import pytest
import yaml
from conftest import load_trained, small_config, train_from_cli
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import ConfigError, LabelConfig, parse_config
from churnlab.datasets import make_demo_events
from churnlab.events import load_events, save_events_dir
from churnlab.labels import churn_labels, label_data_end, label_table
from churnlab.monitor import realized_performance
from churnlab.scoring import score_customers
from churnlab.workflows.training import observed_cutoffs
from cli_lines import output_lines

runner = CliRunner()

PURCHASES = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3], "amount": 1.0,
                          "ts": ["2024-01-05", "2024-02-10", "2024-02-01", "2024-01-20", "2024-05-30"]})
TICKET = pd.DataFrame({"customer_id": [2], "ts": ["2024-12-01"], "category": ["billing"], "channel": ["email"],
                       "resolution_hours": [2.0]})


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


# --- the API: churn_labels and label_data_end -------------------------------------------


@pytest.mark.parametrize("support", [None, TICKET], ids=["purchases only", "late support ticket"])
def test_a_late_support_ticket_does_not_make_the_purchase_window_observed(support):
    ev = load_events(PURCHASES, support=support)
    with pytest.raises(ValueError, match=r"`as_of` \(2024-06-01 00:00:00\) is after the end of the data: "
                                         r"purchases are observed until 2024-05-30 00:00:00"):
        churn_labels(ev, "2024-06-01", 90)
    with pytest.raises(ValueError, match=r"label window \[2024-03-01 00:00:00, 2024-06-01 00:00:00\) ends after the data: "
                                         r"purchases are observed until 2024-05-30 00:00:00"):
        churn_labels(ev, "2024-03-01", 92)
    # the day of the last purchase is observed: a window ending at the next midnight is labelled
    assert churn_labels(ev, "2024-03-01", 91).labels["churned"].to_dict() == {1: 1, 2: 1, 3: 0}
    assert label_data_end(ev) == pd.Timestamp("2024-05-30") and label_table(ev) == "purchases"


def test_adaptive_windows_past_the_purchases_are_excluded_whatever_the_other_tables_say():
    ev = load_events(PURCHASES, support=TICKET)
    # customer 1: median gap 36 days -> window 108 days from 2024-03-01, past 2024-05-30: excluded
    res = churn_labels(ev, "2024-03-01", 30, rule="adaptive", k=3)
    assert res.excluded["reason"].to_dict() == {1: "window_not_observed"}
    # 2 and 3 bought once before as_of: the 30-day floor, no purchase in it
    assert res.labels["churned"].to_dict() == {2: 1, 3: 1}


def test_observed_until_says_the_data_is_complete_to_a_later_or_earlier_date():
    ev = load_events(PURCHASES, support=TICKET)
    # after the last purchase: nobody bought in June-August, so everyone churned
    res = churn_labels(ev, "2024-06-01", 90, observed_until="2024-08-30")  # the window ends 2024-08-30
    assert res.labels["churned"].to_dict() == {1: 1, 2: 1, 3: 1}
    assert label_data_end(ev, observed_until="2024-08-30") == pd.Timestamp("2024-08-30")
    assert len(churn_labels(ev, "2024-06-01", 90, observed_until="2024-08-29").labels) == 3  # complete through that day
    with pytest.raises(ValueError, match=r"purchases are observed until 2024-08-28 00:00:00"):
        churn_labels(ev, "2024-06-01", 90, observed_until="2024-08-28")
    # before it: the data is complete only to then
    with pytest.raises(ValueError, match=r"ends after the data: purchases are observed until 2024-04-01 00:00:00"):
        churn_labels(ev, "2024-03-01", 60, observed_until="2024-04-01")
    with pytest.raises(ValueError, match=r"`observed_until` must be a date"):
        churn_labels(ev, "2024-03-01", 30, observed_until="soon")


SUBS = pd.DataFrame({"customer_id": [1, 2, 3], "amount": 10.0,
                     "start_ts": ["2024-01-01", "2024-01-15", "2024-02-01"],
                     "end_ts": [None, "2024-04-20", "2024-06-10"],
                     "term_end_ts": ["2025-01-01", None, None]})  # a scheduled date, not an observation
ACTIVITY = pd.DataFrame({"customer_id": [1, 2, 3], "ts": ["2024-03-01", "2024-03-02", "2024-12-20"],
                         "event_type": "login"})


def test_contractual_windows_are_observed_by_the_subscriptions_not_the_activity():
    ev = load_events(subscriptions=SUBS, activity=ACTIVITY)
    assert label_table(ev, "contractual") == "subscriptions"
    assert label_data_end(ev, "contractual") == pd.Timestamp("2024-06-10")
    with pytest.raises(ValueError, match=r"label window \[2024-04-01 00:00:00, 2024-06-30 00:00:00\) ends after the data: "
                                         r"subscriptions are observed until 2024-06-10 00:00:00"):
        churn_labels(ev, "2024-04-01", 90, rule="contractual")
    # active Apr 1: 1, 2, 3; at Jun 10 (70 days): 1 and 3 (ends Jun 10, not before it)
    assert churn_labels(ev, "2024-04-01", 70, rule="contractual").labels["churned"].to_dict() == {1: 0, 2: 1, 3: 0}
    res = churn_labels(ev, "2024-04-01", 90, rule="contractual", observed_until="2024-06-30")
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1, 3: 1}


def test_contractual_windows_without_subscriptions_are_observed_by_the_customers_table():
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "signup_ts": ["2023-06-01", "2023-07-01", "2023-08-01"],
                              "cancel_ts": [None, "2024-03-15", None]})
    late = pd.concat([PURCHASES, pd.DataFrame({"customer_id": [1], "ts": ["2024-11-01"], "amount": [1.0]})])
    ev = load_events(late, customers=customers)
    assert label_table(ev, "contractual") == "customers.cancel_ts"
    assert label_data_end(ev, "contractual") == pd.Timestamp("2024-03-15")
    with pytest.raises(ValueError, match=r"ends after the data: customers.cancel_ts are observed until 2024-03-15 00:00:00"):
        churn_labels(ev, "2024-03-01", 30, rule="contractual")
    res = churn_labels(ev, "2024-03-01", 30, rule="contractual", observed_until="2024-03-31")
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1, 3: 0}


# --- training: which cutoffs can be labelled ----------------------------------------------


@pytest.fixture(scope="module")
def late_survey_dir(tmp_path_factory):
    """Demo events whose purchases, tickets and surveys stop on 2024-11-30, plus one survey
    answer on 2024-12-29: the test cutoff 2024-10-01's window would run to 2024-12-30."""
    ev = make_demo_events(800, random_state=0)
    cut = {name: df[df["ts"] < "2024-12-01"] for name, df in ev.tables().items() if name != "customers"}
    late = cut["surveys"].iloc[[0]].assign(ts=pd.Timestamp("2024-12-29 10:00"))
    ev = load_events(cut["purchases"], support=cut["support"], surveys=pd.concat([cut["surveys"], late]),
                     customers=ev.customers)
    assert ev.purchases["ts"].max().date() == pd.Timestamp("2024-11-30").date()
    return save_events_dir(ev, tmp_path_factory.mktemp("late-survey")), ev


def _files_config(folder, **overrides):
    return small_config(**{"data": {"source": "files", "path": str(folder)}, **overrides})


def test_observed_cutoffs_leave_out_the_windows_past_the_purchases(late_survey_dir):
    _, ev = late_survey_dir
    cuts = list(pd.date_range("2024-07-01", "2024-10-01", freq="MS"))
    kept, notes = observed_cutoffs(ev, cuts, LabelConfig(horizon_days=90))
    assert [str(c.date()) for c in kept] == ["2024-07-01", "2024-08-01", "2024-09-01"]
    assert notes == ["cutoff 2024-10-01 not used: its 90-day label window ends 2024-12-30, after purchases are observed "
                     "(until 2024-11-30; set data.observed_until if the data is complete to a later date)"]
    kept, notes = observed_cutoffs(ev, cuts, LabelConfig(horizon_days=90), observed_until="2024-12-29")
    assert kept == cuts and notes == []
    # the adaptive rule's shortest window decides
    kept, _ = observed_cutoffs(ev, cuts, LabelConfig(rule="adaptive", horizon_days=90, min_window_days=60))
    assert kept == cuts


def test_train_leaves_out_the_test_cutoff_whose_window_runs_past_the_purchases(late_survey_dir, tmp_path):
    folder, _ = late_survey_dir
    cfg = _files_config(folder, **{"model.num_boost_round": 60})
    _, _, output = train_from_cli(cfg, tmp_path)
    assert ("cutoff 2024-10-01 not used: its 90-day label window ends 2024-12-30, after purchases are observed "
            "(until 2024-11-30; set data.observed_until if the data is complete to a later date)") in output
    assert "test: 1 cutoff(s) (2024-09-01)" in output
    assert "validation: 1 cutoff(s) (2024-06-01)" in output


def test_train_with_too_few_observed_cutoffs_exits_2_naming_the_purchases_end(late_survey_dir, tmp_path):
    folder, _ = late_survey_dir
    cfg = _files_config(folder, cutoffs={"dates": ["2024-09-01", "2024-10-01", "2024-11-01"]})
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "cfg.yaml"), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2, res.output
    line = _only_error_line(res.output)
    assert line.startswith("error: need at least 3 cutoffs for a train/validation/test split, got 1; left out before the split: ")
    assert "cutoff 2024-11-01 not used: its 90-day label window ends 2025-01-30, after purchases are observed (until 2024-11-30" in line


def test_backtest_folds_are_tested_only_at_observed_cutoffs(late_survey_dir, monkeypatch):
    import churnlab.workflows.training as training
    from churnlab.workflows.backtest import backtest

    _, ev = late_survey_dir
    seen = []

    class Enough(Exception):
        pass

    def record(cfg, events, *, progress=None):
        seen.append([str(d) for d in cfg.cutoffs.dates])
        raise Enough

    monkeypatch.setattr(training, "fit_and_evaluate", record)
    cfg = parse_config(small_config())
    with pytest.raises(Enough):
        backtest(cfg, ev, folds=2, track=False)
    assert seen[0][-1] == "2024-08-01" and "2024-10-01" not in seen[0]
    with pytest.raises(Enough):
        backtest(parse_config(small_config(**{"data.observed_until": "2024-12-31"})), ev, folds=2, track=False)
    assert seen[1][-1] == "2024-09-01"


@pytest.mark.parametrize("value,fragment", [("2024-13-01", "2024-13-01"), (True, "true")])
def test_a_bad_observed_until_is_one_line_naming_the_key(tmp_path, value, fragment):
    with pytest.raises(ConfigError, match="data.observed_until"):
        parse_config(small_config(**{"data.observed_until": value}))
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(small_config(**{"data.observed_until": value})))
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "cfg.yaml"), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2, res.output
    line = _only_error_line(res.output)
    assert "data.observed_until" in line and fragment in line.lower()  # the key and the value given
    assert not (tmp_path / "wd").exists() or not any((tmp_path / "wd").iterdir())


# --- monitor: the horizon must have passed in the purchases --------------------------------


@pytest.fixture(scope="module")
def short_purchases(trained, demo_events, tmp_path_factory):
    """Scores as of 2024-09-01 (horizon to 2024-11-30) and events whose purchases stop on
    2024-10-31 while support and surveys run to 2024-12-31."""
    result, _ = trained
    sm = load_trained(result)
    scores = pd.concat(score_customers(sm, demo_events, "2024-09-01", k=0))
    folder = tmp_path_factory.mktemp("short-purchases")
    path = folder / "past.parquet"
    scores.to_parquet(path)
    p = demo_events.purchases
    ev = load_events(p[p["ts"] < "2024-11-01"], support=demo_events.support, surveys=demo_events.surveys,
                     customers=demo_events.customers)
    assert ev.purchases["ts"].max().date() == pd.Timestamp("2024-10-31").date()
    assert ev.date_range()[1] > pd.Timestamp("2024-12-30")
    return sm, scores, path, ev, save_events_dir(ev, folder / "events")


def test_monitor_refuses_before_the_horizon_has_passed_in_the_purchases(trained, short_purchases):
    result, _ = trained
    sm, scores, path, ev, folder = short_purchases
    args = ["monitor", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--scores", str(path),
            "--events", str(folder)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert _only_error_line(res.output) == (
        "error: scores as of 2024-09-01: the 90-day horizon ends 2024-11-30, and purchases (the table the label is defined by) "
        "are observed until 2024-10-31; measure it once purchases up to 2024-11-30 are in, or give observed_until "
        "(--observed-until) if the events are complete to a later date")
    with pytest.raises(ValueError, match="purchases .* are observed until 2024-10-31"):
        realized_performance(sm, scores, ev)
    # the user says the purchases are complete to the horizon's end: measured
    res = runner.invoke(app, [*args, "--observed-until", "2024-11-29"])
    assert res.exit_code == 0, res.output
    assert "ROC-AUC" in res.output
    r = realized_performance(sm, scores, ev, observed_until="2024-11-29")
    assert r.labelled > 0 and 0 <= r.metrics["roc_auc"] <= 1
    res = runner.invoke(app, [*args, "--observed-until", "2024-11-28"])
    assert res.exit_code == 2 and "are observed until 2024-11-28" in _only_error_line(res.output)
    res = runner.invoke(app, [*args, "--observed-until", "later"])
    assert res.exit_code == 2 and "--observed-until" in _only_error_line(res.output)
