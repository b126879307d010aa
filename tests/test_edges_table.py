"""Table mode at its edges: no id column, data.exclude, date text, numbers stored as text and
identifier-like columns, from the CLI (train, then score a new table)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import ConfigError, parse_config
from churnlab.datasets import make_demo_table
from churnlab.events import EventValidationError, read_table
from churnlab.features.table import NO_ID_NOTE, TableFeatures, column_kind
from churnlab.scoring import ScoringModel
from cli_lines import output_lines

runner = CliRunner()

LEFT_OUT = ["RowNumber", "Surname", "email", "churn_date", "signup_ts"]


def raw_table(n: int, seed: int) -> pd.DataFrame:
    """A BankChurners/Telco-like export: no id column, a row number, a near-unique surname,
    one e-mail per row, TotalCharges as text with 3 blanks, churn dates and signup times as text."""
    t = make_demo_table(n, random_state=seed).drop(columns="customerID")
    t.insert(0, "RowNumber", np.arange(1, n + 1))
    t["Surname"] = [f"N{i - (i % 20 == 0)}" for i in range(n)]  # every 20th repeats its neighbour's
    t["email"] = [f"c{i}@example.com" for i in range(n)]
    total = (t["tenure"] * t["MonthlyCharges"]).round(2).astype(str)
    total.iloc[[3, 10, 20]] = " "
    t["TotalCharges"] = total
    t["churn_date"] = np.where(t["Churn"] == "Yes", "2024-03-01", None)
    t["signup_ts"] = (pd.Timestamp("2020-01-01 10:30") + pd.to_timedelta(np.arange(n), unit="h")).astype(str)
    return t


def _write_config(folder, path, **data) -> str:
    cfg = {
        "name": "edges",
        "data": {"source": "table", "path": str(path), "label": "Churn", **data},
        "split": {"test_size": 0.25, "validation_size": 0.25, "seed": 0},
        "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 40}, "num_boost_round": 50},
        "mlflow": {"experiment": "edges"},
    }
    out = folder / "edges.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return str(out)


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.fixture(scope="module")
def trained_raw(tmp_path_factory):
    """One training run on the raw export: no data.id, e-mail listed in data.exclude."""
    tmp = tmp_path_factory.mktemp("edges")
    table = raw_table(1200, seed=0)
    table.to_csv(tmp / "raw.csv", index=False)
    res = runner.invoke(app, ["train", "--config", _write_config(tmp, tmp / "raw.csv", exclude=["email"]),
                              "--workdir", str(tmp / "wd")])
    assert res.exit_code == 0, res.output
    uri = res.output.split("model: ")[1].split()[0]
    return tmp, table, uri, f"sqlite:///{tmp / 'wd' / 'mlflow.db'}", " ".join(res.output.split())


@pytest.mark.slow
def test_the_run_names_every_column_it_left_out_or_converted(trained_raw):
    tmp, table, uri, tracking, output = trained_raw
    distinct = table["Surname"].nunique()
    assert distinct == 1141  # > 90% of 1,200 rows and > 50
    for note in [
        NO_ID_NOTE,
        "left out as data.exclude lists: email",
        "RowNumber: the row number (1..1,200), left out as an identifier; list it in data.exclude to silence this",
        f"Surname: {distinct:,} distinct values in 1,200 rows, left out as an identifier; list it in data.exclude to silence this",
        "TotalCharges: numbers stored as text, read as numbers; 3 value(s) that are not numbers (blank or text) became missing",
        "churn_date: dates, left out",
        "signup_ts: dates, left out",
    ]:
        assert note in output, note
    import mlflow

    mlflow.set_tracking_uri(tracking)
    tags = mlflow.get_run(uri.split("/")[1]).data.tags
    assert "churn_date: dates, left out" in {v for k, v in tags.items() if k.startswith("note.")}


@pytest.mark.slow
def test_the_logged_model_reads_only_the_feature_columns_and_totalcharges_as_numbers(trained_raw):
    tmp, table, uri, tracking, _ = trained_raw
    import mlflow

    mlflow.set_tracking_uri(tracking)
    b = ScoringModel.load(uri).builder
    expected = [c for c in table.columns if c not in [*LEFT_OUT, "Churn"]]
    assert b.feature_names_ == expected
    assert b.id_column is None and b.excluded_ == ["email"]
    assert b.identifiers_ == ["RowNumber", "Surname"] and b.dropped_ == ["churn_date", "signup_ts"]
    assert "TotalCharges" in b.numeric_ and "TotalCharges" not in b.categories_ and b.text_numbers_ == ["TotalCharges"]
    # known answer: the feature is the column read as numbers, blanks missing
    raw = read_table(tmp / "raw.csv", "table", id_column=None)
    X = b.transform(raw)
    assert X["TotalCharges"].dtype == "float64" and int(X["TotalCharges"].isna().sum()) == 3
    np.testing.assert_array_equal(X["TotalCharges"].to_numpy(), pd.to_numeric(raw["TotalCharges"], errors="coerce").to_numpy())
    assert list(X.index) == list(range(1200))


@pytest.mark.slow
def test_a_new_table_without_an_id_is_scored_by_row_number(trained_raw):
    tmp, table, uri, tracking, _ = trained_raw
    # the left-out columns need not be there at scoring; TotalCharges is text with a blank again
    new = raw_table(200, seed=5).drop(columns=["Churn", *LEFT_OUT])
    new.to_csv(tmp / "new.csv", index=False)
    out = tmp / "scores.parquet"
    res = runner.invoke(app, ["score", "--model", uri, "--tracking-uri", tracking, "--table", str(tmp / "new.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(out)
    assert scores["customer_id"].tolist() == list(range(200))
    assert (scores["status"] == "scored").all() and scores["churn_probability"].between(0, 1).all()
    import mlflow

    mlflow.set_tracking_uri(tracking)
    sm = ScoringModel.load(uri)
    X = sm.table_features(pd.read_csv(tmp / "new.csv"))
    np.testing.assert_allclose(scores["churn_probability"].to_numpy(), sm.model.churn_probability(X), rtol=1e-12)


@pytest.mark.parametrize(
    "exclude,fragment",
    [
        (["email", "Nope", "Gone"], "data.exclude: no column(s) ['Nope', 'Gone'] in table raw.csv"),
        (["Churn"], "data.exclude: 'Churn' is the label column (data.label); it cannot be excluded"),
        (["email", "email"], "data.exclude: 'email' is listed twice"),
    ],
)
def test_bad_exclude_lists_exit_2_naming_the_column(tmp_path, exclude, fragment):
    raw_table(120, seed=1).to_csv(tmp_path / "raw.csv", index=False)
    res = runner.invoke(app, ["train", "--config", _write_config(tmp_path, tmp_path / "raw.csv", exclude=exclude),
                              "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2, res.output
    assert fragment in _only_error_line(res.output)
    assert not (tmp_path / "wd" / "mlartifacts").exists()  # no model logged


def test_id_and_time_cannot_be_excluded_and_exclude_is_for_tables():
    cutoffs = {"dates": ["2024-01-01", "2024-02-01", "2024-03-01"]}
    table = {"source": "table", "path": "t.csv", "label": "Churn"}
    with pytest.raises(ConfigError, match=r"data\.exclude: 'cid' is the id column \(data\.id\); it cannot be excluded"):
        parse_config({"data": {**table, "id": "cid", "exclude": ["cid"]}, "cutoffs": cutoffs})
    with pytest.raises(ConfigError, match=r"data\.exclude: 'snap' is the time column \(data\.time\)"):
        parse_config({"data": {**table, "time": "snap", "exclude": ["snap"]}, "cutoffs": cutoffs})
    with pytest.raises(ConfigError, match=r"data\.exclude is for data\.source 'table', got \['x'\]"):
        parse_config({"data": {"source": "demo", "exclude": ["x"]}, "cutoffs": cutoffs})
    assert parse_config({"data": table, "cutoffs": cutoffs}).data.id is None  # optional for a table


def test_datetime_typed_and_date_object_columns_are_left_out_with_a_note():
    n = 60
    t = pd.DataFrame({
        "Churn": ["Yes", "No"] * (n // 2),
        "x": np.arange(n) % 7,
        "seen": pd.date_range("2024-01-01", periods=n, freq="D"),
        "seen_utc": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
        "born": [dt.date(1990, 1, 1) + dt.timedelta(days=i) for i in range(n)],
        "when_eu": ["05/01/2024"] * n,
    })
    tf = TableFeatures(None, "Churn").fit(t)
    assert tf.dropped_ == ["seen", "seen_utc", "born"] and tf.feature_names_ == ["x", "when_eu"]
    assert "born: dates, left out" in tf.notes_ and "seen: dates, left out" in tf.notes_
    # text dates in another form are dates with data.date_format, text without it
    tf = TableFeatures(None, "Churn", date_format="%d/%m/%Y").fit(t)
    assert "when_eu" in tf.dropped_ and tf.feature_names_ == ["x"]


def test_mostly_numeric_text_stays_categories_with_a_note_and_scoring_reads_text_numbers_as_training_did():
    s = pd.Series(["1.5"] * 90 + ["n/a"] * 10)  # 90% numbers: under 95%
    assert column_kind(s, "c") == ("category", "c: 90 of 100 non-blank values (90.0%) are numbers, under 95%: kept as text categories")
    s = pd.Series(["1.5"] * 96 + ["n/a"] * 2 + [" ", ""])
    assert column_kind(s, "c")[0] == "text number"
    t = pd.DataFrame({"Churn": ["Yes", "No"] * 50, "c": s})
    tf = TableFeatures(None, "Churn").fit(t)
    X = tf.transform(pd.DataFrame({"c": [" 2 ", "n/a", " ", None, "inf"]}))
    np.testing.assert_array_equal(X["c"].to_numpy(), [2.0, np.nan, np.nan, np.nan, np.nan])
    assert list(X.index) == [0, 1, 2, 3, 4]
    # a model stored before these keys existed reads as it did
    state = tf.to_dict()
    for key in ("identifiers", "excluded", "text_numbers"):
        del state[key]
    old = TableFeatures.from_dict({**state, "numeric": [], "categories": {"c": ["1.5", "n/a"]}})
    assert old.text_numbers_ == [] and old.transform(pd.DataFrame({"c": ["n/a"]}))["c"].tolist() == ["n/a"]


def test_identifier_rules_need_near_unique_text_or_the_exact_row_number():
    n = 100
    assert column_kind(pd.Series([f"u{i}" for i in range(n)]), "u")[0] == "identifier"
    assert column_kind(pd.Series([f"u{i % 90}" for i in range(n)]), "u")[0] == "category"  # 90%: not above
    assert column_kind(pd.Series([f"u{i}" for i in range(50)]), "u")[0] == "category"  # 50 levels: not above
    assert column_kind(pd.Series(np.arange(n)), "r")[1].startswith("r: the row number (0..99)")
    assert column_kind(pd.Series(np.arange(2, n + 2)), "r") == ("number", None)
    assert column_kind(pd.Series(np.arange(1, n + 1)[::-1].copy()), "r") == ("number", None)
    with pytest.raises(EventValidationError, match=r"t: exclude names column\(s\) not in the table: \['zz'\]"):
        TableFeatures(None, "y", table="t", exclude=["zz"]).fit(pd.DataFrame({"y": [0, 1], "a": [1, 2]}))
