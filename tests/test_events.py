import numpy as np
import pandas as pd
import pytest

from churnlab.events import EventValidationError, load_events, load_events_dir, save_events_dir, validate_table


def purchases(**overrides):
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": ["2024-01-01 10:00", "2024-02-01 11:00", "2024-01-15 09:00"],
            "amount": [10.0, 20.0, 5.5],
        }
    )
    for k, v in overrides.items():
        df[k] = v
    return df


def test_valid_purchases_are_normalised_and_input_not_mutated():
    raw = purchases()
    before = raw.copy()
    out = validate_table(raw, "purchases")
    pd.testing.assert_frame_equal(raw, before)
    assert str(out["ts"].dtype) == "datetime64[us]"
    assert out["customer_id"].dtype == "int64"
    assert list(out["customer_id"]) == [1, 1, 2]  # sorted by customer then time
    assert out["amount"].sum() == pytest.approx(35.5)


@pytest.mark.parametrize(
    "table,df,column,value_fragment",
    [
        ("purchases", purchases().drop(columns="amount"), "amount", "missing required column"),
        ("purchases", purchases(amount=[10.0, -3.0, 1.0]), "amount", "-3.0"),
        ("purchases", purchases(amount=["10", "abc", "1"]), "amount", "'abc'"),
        ("purchases", purchases(customer_id=[1, None, 2]), "customer_id", "null customer id"),
        ("purchases", purchases(ts=["2024-01-01", None, "2024-01-02"]), "ts", "null timestamp"),
        ("purchases", purchases(ts=["2024-01-01", "not a date", "2024-01-02"]), "ts", "'not a date'"),
        (
            "purchases",
            purchases(ts=["2024-01-01T10:00:00+02:00", "2024-01-02T10:00:00", "2024-01-03T10:00:00+00:00"]),
            "ts",
            "mixes timezone-aware and naive",
        ),
    ],
)
def test_bad_purchases_name_table_column_and_value(table, df, column, value_fragment):
    with pytest.raises(EventValidationError) as err:
        validate_table(df, table)
    msg = str(err.value)
    assert msg.startswith(f"{table}.{column}:"), msg
    assert value_fragment in msg


def test_timezone_aware_timestamps_convert_to_utc():
    df = purchases(ts=["2024-01-01T10:00:00+02:00", "2024-01-02T10:00:00+02:00", "2024-01-03T00:30:00+01:00"])
    out = validate_table(df, "purchases")
    assert out["ts"].iloc[0] == pd.Timestamp("2024-01-01 08:00")
    assert out["ts"].iloc[2] == pd.Timestamp("2024-01-02 23:30")


def test_duplicated_rows_raise_or_drop():
    df = pd.concat([purchases(), purchases().iloc[[0]]])
    with pytest.raises(EventValidationError, match=r"purchases: 1 duplicated row"):
        validate_table(df, "purchases")
    assert len(validate_table(df, "purchases", on_duplicates="drop")) == 3
    assert len(validate_table(df, "purchases", on_duplicates="keep")) == 4


def test_empty_table_is_an_error():
    with pytest.raises(EventValidationError, match="purchases: table is empty"):
        validate_table(purchases().iloc[:0], "purchases")


def test_survey_scores_checked_per_kind():
    ok = pd.DataFrame({"customer_id": [1, 2], "ts": ["2024-01-01", "2024-01-02"], "score": [10, 5], "kind": ["nps", "CSAT"]})
    out = validate_table(ok, "surveys")
    assert list(out["kind"]) == ["nps", "csat"]
    bad = ok.assign(score=[10, 6])
    with pytest.raises(EventValidationError, match=r"surveys.score: csat score must be an integer in \[1, 5\].*6"):
        validate_table(bad, "surveys")
    with pytest.raises(EventValidationError, match=r"surveys.score: nps.*11"):
        validate_table(ok.assign(score=[11, 5]), "surveys")
    with pytest.raises(EventValidationError, match=r"surveys.kind: .*'ces'"):
        validate_table(ok.assign(kind=["nps", "ces"]), "surveys")


def test_support_resolution_and_resolved_flag():
    df = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "ts": ["2024-01-01", "2024-01-05"],
            "category": ["billing", "delivery"],
            "channel": ["email", "chat"],
            "resolution_hours": [4.0, None],
        }
    )
    out = validate_table(df, "support")
    assert list(out["resolved"]) == [True, False]  # inferred from resolution time
    with pytest.raises(EventValidationError, match=r"support.resolution_hours: negative value.*-1.0"):
        validate_table(df.assign(resolution_hours=[-1.0, 2.0]), "support")
    with pytest.raises(EventValidationError, match=r"support.resolved: not a boolean.*'maybe'"):
        validate_table(df.assign(resolved=["yes", "maybe"]), "support")


def test_customers_attributes_become_categories_and_ids_unique():
    df = pd.DataFrame({"customer_id": ["a", "b"], "signup_ts": ["2023-01-01", "2023-02-01"], "tier": ["gold", "basic"]})
    out = validate_table(df, "customers")
    assert isinstance(out["tier"].dtype, pd.CategoricalDtype)
    with pytest.raises(EventValidationError, match=r"customers.customer_id: duplicated customer id.*'a'"):
        validate_table(pd.concat([df, df.iloc[[0]]]), "customers")


def test_column_mapping_renames_and_reports_missing_source():
    theirs = purchases().rename(columns={"customer_id": "cust", "ts": "order_date", "amount": "total"})
    ev = load_events(theirs, mapping={"purchases": {"customer_id": "cust", "ts": "order_date", "amount": "total"}})
    assert list(ev.purchases.columns[:3]) == ["customer_id", "ts", "amount"]
    with pytest.raises(EventValidationError, match=r"purchases.amount: column mapping says 'amount' comes from 'price'"):
        load_events(theirs, mapping={"purchases": {"customer_id": "cust", "ts": "order_date", "amount": "price"}})
    with pytest.raises(ValueError, match="unknown table"):
        load_events(theirs, mapping={"orders": {}})


def test_mixed_id_types_across_tables_compare_as_text():
    cust = pd.DataFrame({"customer_id": ["1", "2"], "signup_ts": ["2023-01-01", "2023-01-01"]})
    ev = load_events(purchases(), customers=cust)
    assert set(ev.purchases["customer_id"]) == {"1", "2"}
    assert set(ev.customers["customer_id"]) == {"1", "2"}


def test_csv_and_parquet_round_trip(tmp_path):
    ev = load_events(purchases())
    save_events_dir(ev, tmp_path / "ev")
    back = load_events_dir(tmp_path / "ev")
    pd.testing.assert_frame_equal(back.purchases, ev.purchases)
    purchases().to_csv(tmp_path / "p.csv", index=False)
    from_csv = load_events(tmp_path / "p.csv")
    pd.testing.assert_frame_equal(from_csv.purchases, ev.purchases)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="purchases: file not found"):
        load_events(tmp_path / "nope.csv")
    bad = tmp_path / "p.parquet"
    bad.write_text("this is not parquet")
    with pytest.raises(EventValidationError, match="purchases: cannot read"):
        load_events(bad)
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(EventValidationError, match="unsupported file type"):
        load_events(tmp_path / "p.json")


def test_fingerprint_changes_with_content():
    a = load_events(purchases()).fingerprint()
    b = load_events(purchases(amount=[10.0, 20.0, 5.6])).fingerprint()
    assert a["purchases_rows"] == 3 and a["sha256"] != b["sha256"]
    assert a == load_events(purchases()).fingerprint()


def test_public_api_is_exported():
    import churnlab

    for name in churnlab.__all__:
        assert hasattr(churnlab, name), name
