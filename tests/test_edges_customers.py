"""`churnlab score --customers`: the id column by name (or the only column, with a warning),
each customer once (with a warning naming the duplicates), ids matched as written."""

import dataclasses

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.scoring.customers import read_customer_list
from cli_lines import output_lines

AS_OF = "2024-12-01"
runner = CliRunner()


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory, demo_events):
    return save_events_dir(demo_events, tmp_path_factory.mktemp("events"))


@pytest.fixture(scope="module")
def text_events_dir(tmp_path_factory, demo_events):
    """The demo events with text ids: customer 7 is written "007", every other one as its number."""
    def as_text(df):
        ids = df["customer_id"].astype(str)
        return df.assign(customer_id=ids.where(ids != "7", "007"))

    tables = {name: as_text(df) for name, df in demo_events.tables().items()}
    return save_events_dir(dataclasses.replace(demo_events, **tables), tmp_path_factory.mktemp("text-events"))


def _score(trained, events, out, customers):
    result, _ = trained
    return runner.invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events",
                               str(events), "--as-of", AS_OF, "--out", str(out), "--top-k", "0", "--customers", str(customers)])


def _lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def test_a_list_of_several_columns_without_customer_id_is_refused(trained, events_dir, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("id,name\n3,Ann\n1,Bo\n")
    out = tmp_path / "out" / "s.parquet"
    out.parent.mkdir()
    res = _score(trained, events_dir, out, listed)
    assert res.exit_code == 2, res.output
    lines = output_lines(res.output)
    assert lines == [f"error: --customers {listed}: no customer_id column (columns: 'id', 'name'); "
                     "the list needs a customer_id column, or exactly one column"]
    assert list(out.parent.iterdir()) == []


def test_the_only_column_of_a_list_is_taken_with_a_warning(trained, events_dir, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("id\n3\n1\n2\n")
    out = tmp_path / "s.parquet"
    res = _score(trained, events_dir, out, listed)
    assert res.exit_code == 0, res.output
    assert _lines(res.output, "warning: --customers") == [
        f"warning: --customers {listed} has no customer_id column: its only column 'id' is read as the customer ids "
        "(its first line as the header)"]
    assert pd.read_parquet(out)["customer_id"].tolist() == [3, 1, 2]


def test_duplicated_ids_give_one_row_each_and_a_warning(trained, events_dir, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("customer_id,note\n3,a\n1,b\n3,c\n3,d\n2,e\n1,f\n")
    out = tmp_path / "s.parquet"
    res = _score(trained, events_dir, out, listed)
    assert res.exit_code == 0, res.output
    assert _lines(res.output, "warning: --customers") == [
        f"warning: --customers {listed}: 3 duplicated id(s) dropped (first: 3); each customer is scored once"]
    assert "wrote 3 rows" in res.output
    assert pd.read_parquet(out)["customer_id"].tolist() == [3, 1, 2]


@pytest.mark.parametrize("written", ["007", "+7", "7.0", "1e3", "abc"])
def test_ids_written_otherwise_than_the_events_integers_are_refused(trained, events_dir, tmp_path, written):
    listed = tmp_path / "list.csv"
    listed.write_text(f"customer_id\n1\n{written}\n")
    out = tmp_path / "out" / "s.parquet"
    out.parent.mkdir()
    res = _score(trained, events_dir, out, listed)
    assert res.exit_code == 2, res.output
    lines = output_lines(res.output)
    assert lines == [f"error: --customers {listed}: customer_id must be written as integers like the events' ids, "
                     f"got {written!r} at row 1 (ids are matched as written)"]
    assert list(out.parent.iterdir()) == []


def test_text_ids_are_matched_as_written(trained, text_events_dir, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("customer_id\n007\n7\n1\n")
    out = tmp_path / "s.csv"
    res = _score(trained, text_events_dir, out, listed)
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert scores["customer_id"].tolist() == ["007", "7", "1"]
    status = dict(zip(scores["customer_id"], scores["status"]))
    assert status["7"] == "no_history"  # customer 7 is "007" in the events
    assert status["007"] != "no_history" and status["1"] != "no_history"


def test_the_list_reader_keeps_text_and_skips_empty_values(tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("customer_id,x\n00001,a\n,b\nNA,c\n00001,d\n")
    ids, notes = read_customer_list(listed, id_dtype=object)
    assert ids.tolist() == ["00001", "NA"]  # "NA" is an id as written; the empty value is skipped
    assert notes == [f"--customers {listed}: 1 duplicated id(s) dropped (first: '00001'); each customer is scored once"]


def test_a_parquet_list_keeps_its_types(tmp_path):
    listed = tmp_path / "list.parquet"
    pd.DataFrame({"customer_id": ["12", "012"]}).to_parquet(listed)
    with pytest.raises(ValueError) as err:
        read_customer_list(listed, id_dtype="int64")
    assert str(err.value) == (f"--customers {listed}: customer_id must be written as integers like the events' ids, "
                              "got '012' at row 1 (ids are matched as written)")
    pd.DataFrame({"customer_id": [12, 5, 12]}).to_parquet(listed)
    ids, notes = read_customer_list(listed, id_dtype="int64")
    assert ids.tolist() == [12, 5] and len(notes) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "cannot read it as CSV (No columns to parse from file)"),
        ("customer_id\n", "column 'customer_id' holds no customer id"),
        ("id,name\n", "no customer_id column (columns: 'id', 'name'); "
                       "the list needs a customer_id column, or exactly one column"),
    ],
    ids=["empty-file", "no-ids", "two-columns"],
)
def test_unusable_lists_name_the_file(tmp_path, content, message):
    listed = tmp_path / "list.csv"
    listed.write_text(content)
    with pytest.raises(ValueError) as err:
        read_customer_list(listed, id_dtype="int64")
    assert str(err.value) == f"--customers {listed}: {message}"
