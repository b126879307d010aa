"""Ids kept as written (CSV text, uint64, mixed tables) and dates never guessed (ISO or an
explicit date_format), through the API and `churnlab score`."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import churnlab as cl
from churnlab.cli import app
from churnlab.config import ConfigError, DataConfig, parse_config
from churnlab.events import EventValidationError, load_events, load_events_dir, read_table
from churnlab.events.ids import is_canonical_integer
from churnlab.features.table import TableFeatures
from churnlab.workflows.table import load_table
from churnlab.workflows.training import load_data
from cli_lines import output_lines

runner = CliRunner()
AS_OF = "2024-12-01"
WRITTEN = ["007", "7", "00001", "1", "1e3", "1000", "C-9", "42"]
BIG = [2**63 + 5, 2**64 - 1, 7, 1000, 9, 2**63, 1, 42]


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def purchases(ids, ts=("2024-01-01", "2024-02-01")):
    return pd.DataFrame({"customer_id": ids, "ts": [ts[i % len(ts)] for i in range(len(ids))], "amount": 5.0})


# ---- ids: API -------------------------------------------------------------------------


def test_csv_ids_stay_text_as_written_unless_every_one_is_a_canonical_integer(tmp_path):
    purchases(WRITTEN).to_csv(tmp_path / "p.csv", index=False)
    ids = load_events(tmp_path / "p.csv").purchases["customer_id"]
    assert sorted(ids) == sorted(WRITTEN)  # 007 and 7, 00001 and 1, 1e3 and 1000: eight customers
    assert pd.api.types.is_string_dtype(ids.dtype)
    purchases(["7", "-3", "0", "9223372036854775807"]).to_csv(tmp_path / "ints.csv", index=False)
    ints = load_events(tmp_path / "ints.csv").purchases["customer_id"]
    assert ints.dtype == np.int64 and sorted(ints) == [-3, 0, 7, 2**63 - 1]
    for odd in ("+7", "7.0", "9223372036854775808", "-0"):  # a sign, a decimal point, beyond int64, negative zero
        purchases(["7", odd]).to_csv(tmp_path / "odd.csv", index=False)
        ids = load_events(tmp_path / "odd.csv").purchases["customer_id"]
        assert sorted(ids) == sorted(["7", odd]), odd


def test_mapped_csv_id_column_is_read_as_written_too(tmp_path):
    pd.DataFrame({"cust": ["007", "7"], "when": ["2024-01-01", "2024-01-02"]}).to_csv(tmp_path / "p.csv", index=False)
    ev = load_events(tmp_path / "p.csv", mapping={"purchases": {"customer_id": "cust", "ts": "when"}})
    assert sorted(ev.purchases["customer_id"]) == ["007", "7"]


def test_uint64_ids_above_int64_become_their_decimal_text_not_negative_numbers():
    df = purchases(np.array(BIG, dtype=np.uint64))
    ids = load_events(df).purchases["customer_id"]
    assert sorted(ids) == sorted(str(v) for v in BIG)
    small = purchases(np.array([7, 1000], dtype=np.uint64))
    assert load_events(small).purchases["customer_id"].dtype == np.int64
    # beside int64 ids in another table: compared as text, the same customers
    cust = pd.DataFrame({"customer_id": [7, 1000], "signup_ts": "2023-01-01"})
    ev = load_events(df, customers=cust)
    assert set(ev.customers["customer_id"]) == {"7", "1000"} <= set(ev.purchases["customer_id"])


def test_float_ids_must_be_exact_integers():
    with pytest.raises(EventValidationError, match=r"purchases.customer_id: non-integer numeric id; .*: 1.152921504606847e\+18"):
        load_events(purchases([1.0, 2.0**60]))
    with pytest.raises(EventValidationError, match=r"purchases.customer_id: non-integer numeric id; .*: inf"):
        load_events(purchases([1.0, np.inf]))
    assert list(load_events(purchases([1.0, 2.0])).purchases["customer_id"]) == [1, 2]


def test_integer_and_text_ids_are_compared_as_text_when_unambiguous(tmp_path):
    cust = pd.DataFrame({"customer_id": ["C-9", "7"], "signup_ts": "2023-01-01"})
    with pytest.warns(UserWarning, match="customers: 1 of 2 customer ids have no event"):  # C-9
        ev = load_events(purchases([7, 8]), customers=cust)
    assert sorted(ev.purchases["customer_id"]) == ["7", "8"] and sorted(ev.customers["customer_id"]) == ["7", "C-9"]
    # a CSV of canonical integers reads as integers and meets integer ids as integers
    pd.DataFrame({"customer_id": ["7", "8"], "signup_ts": "2023-01-01"}).to_csv(tmp_path / "c.csv", index=False)
    ev = load_events(purchases([7, 8]), customers=tmp_path / "c.csv")
    assert ev.customers["customer_id"].dtype == np.int64


@pytest.mark.parametrize("odd", ["007", "00001", "1e3", "+7", "7.0", " 7"])
def test_a_text_id_that_writes_a_number_differently_beside_integer_ids_is_refused_naming_both_tables(tmp_path, odd):
    purchases(["C-1", odd]).to_csv(tmp_path / "p.csv", index=False)
    cust = pd.DataFrame({"customer_id": [7, 1000], "signup_ts": "2023-01-01"})
    with pytest.raises(EventValidationError) as err:
        load_events(tmp_path / "p.csv", customers=cust)
    msg = str(err.value)
    assert msg.startswith(f"purchases.customer_id: text id {odd!r} reads as a number written differently")
    assert "customers.customer_id (e.g. 7)" in msg


def test_canonical_integer_rule():
    assert [is_canonical_integer(v) for v in ("0", "7", "-7", "9223372036854775807")] == [True] * 4
    assert not any(is_canonical_integer(v) for v in ("007", "+7", "-0", "1e3", "7.0", " 7", "", "9223372036854775808"))


def test_a_labelled_csv_table_keeps_its_ids_as_written(tmp_path):
    t = pd.DataFrame({"customerID": ["007", "7", "1e3", "1000"], "Churn": ["Yes", "No", "No", "Yes"], "tenure": [1, 2, 3, 4]})
    t.to_csv(tmp_path / "t.csv", index=False)
    df = load_table(DataConfig(source="table", path=tmp_path / "t.csv", id="customerID", label="Churn"))
    X = TableFeatures("customerID", "Churn").fit(df).transform(df)
    assert list(X.index) == ["007", "7", "1e3", "1000"]
    t.assign(customerID=[3, 7, 5, 1000]).to_csv(tmp_path / "ints.csv", index=False)
    assert read_table(tmp_path / "ints.csv", "table", id_column="customerID")["customerID"].dtype == np.int64


def test_a_customer_list_id_written_otherwise_than_integer_ids_is_refused(trained, demo_events):
    from conftest import load_trained

    sm = load_trained(trained[0])
    for odd in ("007", "+7", "1e3"):
        with pytest.raises(ValueError, match=re.escape(f"customer list: ids are integers like the events', got {odd!r}")):
            list(cl.score_customers(sm, demo_events, AS_OF, [odd], k=0))


# ---- dates: API ---------------------------------------------------------------------------


@pytest.mark.parametrize("ts", [["05/01/2024", "13/01/2024"], ["2024-01-05", "13/01/2024"], ["2024-01-05", "20240113"]])
def test_text_timestamps_that_are_not_iso_are_refused_naming_table_column_row_and_value(ts):
    bad = next(i for i, v in enumerate(ts) if "/" in v or len(v) == 8)
    with pytest.raises(EventValidationError) as err:
        load_events(purchases([1, 2], ts=ts))
    msg = str(err.value)
    assert msg.startswith("purchases.ts: not an ISO date (YYYY-MM-DD")
    assert f"first at row {bad} (customer_id={bad + 1}): {ts[bad]!r}" in msg
    assert "data.date_format" in msg


def test_an_explicit_date_format_reads_every_value_one_way():
    ev = load_events(purchases([1, 2], ts=["05/01/2024", "13/01/2024"]), date_format="%d/%m/%Y")
    assert list(ev.purchases["ts"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]
    ev = load_events(purchases([1, 2], ts=["05/01/2024", "12/13/2024"]), date_format={"purchases": "%m/%d/%Y"})
    assert list(ev.purchases["ts"]) == [pd.Timestamp("2024-05-01"), pd.Timestamp("2024-12-13")]
    with pytest.raises(EventValidationError, match=r"purchases.ts: does not match date_format '%d/%m/%Y'; 1 bad row\(s\); "
                                                   r"first at row 1 \(customer_id=2\): '2024-01-13'"):
        load_events(purchases([1, 2], ts=["05/01/2024", "2024-01-13"]), date_format="%d/%m/%Y")
    with pytest.raises(ValueError, match=r"`date_format\['purchases'\]` must be a strftime format such as '%d/%m/%Y', got 'dd/mm/yyyy'"):
        load_events(purchases([1, 2]), date_format="dd/mm/yyyy")
    with pytest.raises(ValueError, match=r"`date_format` names unknown table\(s\) \['orders'\]"):
        load_events(purchases([1, 2]), date_format={"orders": "%d/%m/%Y"})
    # date columns that are not text are read as they are, whatever the format
    dated = purchases([1, 2]).assign(ts=pd.to_datetime(["2024-01-05", "2024-01-13"]))
    assert list(load_events(dated, date_format="%d/%m/%Y").purchases["ts"]) == list(dated["ts"])


def test_iso_forms_and_date_objects_are_still_accepted():
    ts = ["2024-01-05", "2024-01-05 10:30", "2024-01-05T10:30:00.250", " 2024-01-05 10:30:00 "]
    out = load_events(purchases([1, 2, 3, 4], ts=ts)).purchases["ts"]
    assert list(out) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-05 10:30"), pd.Timestamp("2024-01-05 10:30:00.25"),
                         pd.Timestamp("2024-01-05 10:30")]
    aware = load_events(purchases([1, 2], ts=["2024-01-05T10:30Z", "2024-01-05 12:30:00+02:00"])).purchases["ts"]
    assert list(aware) == [pd.Timestamp("2024-01-05 10:30")] * 2
    objects = purchases([1, 2, 3], ts=[dt.datetime(2024, 1, 5, 10), dt.date(2024, 1, 6), "2024-01-07"])
    assert list(load_events(objects).purchases["ts"]) == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-01-06"),
                                                         pd.Timestamp("2024-01-07")]
    with pytest.raises(EventValidationError, match=r"purchases.ts: not a date or timestamp; .*\(customer_id=2\): 5"):
        load_events(purchases([1, 2], ts=["2024-01-05", 5]))


@pytest.mark.parametrize("value", ["01/07/2025", "2025/01/07", "7 Jan 2025", "20250107", "2025-1-7"])
def test_as_of_must_be_iso(demo_events, value):
    with pytest.raises(ValueError, match=f"`as_of` must be a date in ISO form YYYY-MM-DD .*got {value!r}"):
        cl.churn_labels(demo_events, value, 90)


@pytest.mark.parametrize("value", ["now", "today", " Today "])
def test_as_of_now_is_refused_asking_for_the_date(demo_events, value):
    with pytest.raises(ValueError, match=f"`as_of` must be a date in ISO form YYYY-MM-DD, got {value!r}: give the date itself"):
        cl.churn_labels(demo_events, value, 90)


@pytest.mark.parametrize("value", [5, 1.7e9, True])
def test_as_of_numbers_are_refused(demo_events, value):
    with pytest.raises(ValueError, match=f"`as_of` must be a date or timestamp, got {value!r}"):
        cl.churn_labels(demo_events, value, 90)


def test_as_of_accepts_iso_text_and_date_objects_alike(demo_events):
    expected = cl.churn_labels(demo_events, "2024-06-01", 90).labels
    for value in ("2024-06-01T00:00", "2024-06-01 02:00:00+02:00", "2024-06-01T00:00:00Z", pd.Timestamp("2024-06-01"),
                  dt.datetime(2024, 6, 1), dt.date(2024, 6, 1), np.datetime64("2024-06-01")):
        pd.testing.assert_frame_equal(cl.churn_labels(demo_events, value, 90).labels, expected)


def test_config_date_format_key(tmp_path):
    cfg = parse_config({"data": {"source": "files", "path": str(tmp_path), "date_format": "%d/%m/%Y"},
                        "cutoffs": {"dates": ["2024-01-01"]}})
    assert cfg.data.date_format == "%d/%m/%Y"
    with pytest.raises(ConfigError, match=r"data.date_format: .*must be a strftime format such as '%d/%m/%Y', got 'dd/mm'"):
        parse_config({"data": {"source": "files", "path": str(tmp_path), "date_format": "dd/mm"}, "cutoffs": {"dates": ["2024-01-01"]}})
    with pytest.raises(ConfigError, match=r"data.date_format: .*unknown table 'orders'"):
        parse_config({"data": {"source": "files", "path": str(tmp_path), "date_format": {"orders": "%d/%m/%Y"}},
                      "cutoffs": {"dates": ["2024-01-01"]}})
    purchases([1, 2], ts=["05/01/2024", "13/01/2024"]).to_csv(tmp_path / "purchases.csv", index=False)
    ev = load_data(DataConfig(source="files", path=tmp_path, date_format={"purchases": "%d/%m/%Y"}))
    assert list(ev.purchases["ts"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]
    with pytest.raises(EventValidationError, match=r"purchases.ts: not an ISO date .*: '05/01/2024'"):
        load_data(DataConfig(source="files", path=tmp_path))


def test_a_table_snapshot_column_is_iso_or_date_format(tmp_path):
    t = pd.DataFrame({"id": [1, 2], "snap": ["05/01/2024", "13/01/2024"], "Churn": ["Yes", "No"], "x": [1, 2]})
    t.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(EventValidationError, match=r"table.snap: not an ISO date .*first at row 0: '05/01/2024'"):
        load_table(DataConfig(source="table", path=tmp_path / "t.csv", id="id", label="Churn", time="snap"))
    df = load_table(DataConfig(source="table", path=tmp_path / "t.csv", id="id", label="Churn", time="snap", date_format="%d/%m/%Y"))
    assert list(df["snap"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]


# ---- through `churnlab score` --------------------------------------------------------------


def _subset(demo_events, new_ids):
    """The first len(new_ids) customers with a purchase in the 90 days before AS_OF (scored, not
    inactive), renamed to new_ids."""
    p = demo_events.purchases
    recent = p["ts"].between(pd.Timestamp(AS_OF) - pd.Timedelta(days=90), pd.Timestamp(AS_OF), inclusive="left")
    old = list(pd.unique(p.loc[recent, "customer_id"]))[: len(new_ids)]
    rename = dict(zip(old, new_ids))
    out = {}
    for name, df in demo_events.tables().items():
        part = df[df["customer_id"].isin(old)].copy()
        part["customer_id"] = part["customer_id"].map(rename).to_numpy()
        out[name] = part
    return out


def _write(tables, folder, fmt="csv", date_format=None):
    folder.mkdir()
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False, date_format=date_format)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _score(trained, folder, out, *extra):
    result, _ = trained
    return runner.invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri,
                               "--events", str(folder), "--as-of", AS_OF, "--out", str(out), *extra])


def test_score_keeps_csv_ids_as_written_in_parquet_and_csv_outputs(trained, demo_events, tmp_path):
    folder = _write(_subset(demo_events, WRITTEN), tmp_path / "ev")
    res = _score(trained, folder, tmp_path / "s.parquet")
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(tmp_path / "s.parquet")
    assert sorted(scores["customer_id"]) == sorted(WRITTEN)
    assert (scores["status"] == "scored").all()
    res = _score(trained, folder, tmp_path / "s.csv")
    assert res.exit_code == 0, res.output
    assert sorted(pd.read_csv(tmp_path / "s.csv", dtype=str)["customer_id"]) == sorted(WRITTEN)  # the file's text
    # the same customers under integer ids score the same: only the ids differ
    plain = _write(_subset(demo_events, list(range(len(WRITTEN)))), tmp_path / "ints")
    assert _score(trained, plain, tmp_path / "ints.parquet").exit_code == 0
    ints = pd.read_parquet(tmp_path / "ints.parquet")
    by_written = scores.set_index("customer_id")["churn_probability"]
    by_int = ints.set_index("customer_id")["churn_probability"]
    assert [by_written[w] for w in WRITTEN] == [by_int[i] for i in range(len(WRITTEN))]


def test_score_keeps_uint64_parquet_ids_above_int64_as_their_decimal_text(trained, demo_events, tmp_path):
    tables = {n: df.assign(customer_id=df["customer_id"].astype(np.uint64)) for n, df in _subset(demo_events, BIG).items()}
    folder = _write(tables, tmp_path / "ev", fmt="parquet")
    res = _score(trained, folder, tmp_path / "s.csv")
    assert res.exit_code == 0, res.output
    ids = pd.read_csv(tmp_path / "s.csv", dtype=str)["customer_id"]
    assert sorted(ids) == sorted(str(v) for v in BIG)
    assert not ids.str.startswith("-").any()


def test_score_refuses_text_ids_written_otherwise_than_integer_ids_of_another_table(trained, demo_events, tmp_path):
    tables = _subset(demo_events, WRITTEN)
    folder = _write({n: df for n, df in tables.items() if n != "customers"}, tmp_path / "ev")
    ints = _subset(demo_events, list(range(len(WRITTEN))))["customers"]
    ints.to_parquet(folder / "customers.parquet", index=False)
    res = _score(trained, folder, tmp_path / "s.parquet")
    assert res.exit_code == 2
    line = _only_error_line(res.output)
    assert line.startswith("error: purchases.customer_id: text id '00001' reads as a number written differently")
    assert "customers.customer_id (e.g. 0)" in line
    assert list(tmp_path.glob("*.parquet")) == [] and list(tmp_path.glob(".*")) == []


def test_score_refuses_ambiguous_dates_and_reads_them_with_date_format(trained, demo_events, tmp_path):
    tables = _subset(demo_events, WRITTEN)
    iso = _write(tables, tmp_path / "iso")
    dmy = _write(tables, tmp_path / "dmy", date_format="%d/%m/%Y %H:%M:%S")
    res = _score(trained, dmy, tmp_path / "s.parquet")
    assert res.exit_code == 2
    line = _only_error_line(res.output)
    first = pd.read_csv(dmy / "purchases.csv", dtype=str)["ts"].iloc[0]
    assert line.startswith("error: purchases.ts: not an ISO date (YYYY-MM-DD")
    assert f"first at row 0 (customer_id={WRITTEN[0]!r}): {first!r}" in line
    assert not (tmp_path / "s.parquet").exists()
    res = _score(trained, dmy, tmp_path / "s.parquet", "--date-format", "%d/%m/%Y %H:%M:%S")
    assert res.exit_code == 0, res.output
    assert _score(trained, iso, tmp_path / "iso.parquet").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), pd.read_parquet(tmp_path / "iso.parquet"))


@pytest.mark.parametrize(
    "value,expected",
    [
        ("01/07/2025", "error: `--as-of` must be a date in ISO form YYYY-MM-DD (optionally with a time and UTC offset), got '01/07/2025'"),
        ("now", "error: `--as-of` must be a date in ISO form YYYY-MM-DD, got 'now': give the date itself, e.g. "),
    ],
)
def test_score_as_of_must_be_iso(trained, demo_events, tmp_path, value, expected):
    folder = _write(_subset(demo_events, WRITTEN), tmp_path / "ev")
    result, _ = trained
    res = runner.invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri,
                              "--events", str(folder), "--as-of", value, "--out", str(tmp_path / "s.parquet")])
    assert res.exit_code == 2
    assert _only_error_line(res.output).startswith(expected)
    assert not (tmp_path / "s.parquet").exists()


def test_load_events_dir_passes_date_format(tmp_path):
    purchases([1, 2], ts=["05/01/2024", "13/01/2024"]).to_csv(tmp_path / "purchases.csv", index=False)
    assert list(load_events_dir(tmp_path, date_format="%d/%m/%Y").purchases["ts"]) == [pd.Timestamp("2024-01-05"),
                                                                                       pd.Timestamp("2024-01-13")]


def test_score_table_reads_snapshot_dates_as_iso_or_date_format(tmp_path):
    """Scoring a table model trained with snapshot dates: the snapshot column is ISO or the
    given --date-format, never guessed (05/01 is not read as May or January by itself)."""
    import yaml

    from churnlab.datasets import make_demo_table

    table = make_demo_table(500, random_state=1, snapshots=4)
    table.to_csv(tmp_path / "train.csv", index=False)
    cfg = {"name": "t", "data": {"source": "table", "path": "train.csv", "id": "customerID", "label": "Churn",
                                 "time": "snapshot"},
           "split": {"test_size": 0.25, "validation_size": 0.25, "seed": 0},
           "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 20}, "num_boost_round": 50},
           "mlflow": {"experiment": "t"}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "t.yaml"), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 0, res.output
    uri = res.output.split("model: ")[1].split()[0]
    store = ["--tracking-uri", f"sqlite:///{tmp_path / 'wd' / 'mlflow.db'}"]
    last = table[table["snapshot"] == table["snapshot"].max()].head(40)
    last.to_csv(tmp_path / "iso.csv", index=False)
    day_first = last.assign(snapshot=pd.to_datetime(last["snapshot"]).dt.strftime("%d/%m/%Y"))
    day_first.to_csv(tmp_path / "dmy.csv", index=False)
    bad = runner.invoke(app, ["score", "--model", uri, *store, "--table", str(tmp_path / "dmy.csv"),
                              "--out", str(tmp_path / "bad.parquet")])
    assert bad.exit_code == 2, bad.output
    lines = output_lines(bad.output)
    assert len(lines) == 1 and lines[0].startswith("error: table.snapshot: not an ISO date"), bad.output
    assert repr(day_first["snapshot"].iloc[0]) in lines[0]
    assert not (tmp_path / "bad.parquet").exists()
    for name, extra in (("iso", []), ("dmy", ["--date-format", "%d/%m/%Y"])):
        res = runner.invoke(app, ["score", "--model", uri, *store, "--table", str(tmp_path / f"{name}.csv"),
                                  "--out", str(tmp_path / f"{name}.parquet"), *extra])
        assert res.exit_code == 0, res.output
    iso, dmy = (pd.read_parquet(tmp_path / f"{n}.parquet") for n in ("iso", "dmy"))
    assert (iso["as_of"] == pd.Timestamp(last["snapshot"].iloc[0])).all()
    pd.testing.assert_frame_equal(iso, dmy)
