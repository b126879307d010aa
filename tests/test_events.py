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
        ("purchases", purchases().drop(columns="ts"), "ts", "missing required column"),
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
        # epoch numbers are not read as nanoseconds (every date in 1970) without a unit
        ("purchases", purchases(ts=[1704067200, 1706745600, 1705276800]), "ts", "numbers are not timestamps unless their unit is given"),
        ("purchases", purchases(ts=[True, False, True]), "ts", "booleans are not timestamps"),
        ("purchases", purchases(ts=["2024-01-01", "1700-05-01", "2024-01-02"]), "ts", "outside [1900-01-01, 2200-01-01)"),
        ("purchases", purchases(ts=["2024-01-01", "2024-01-02", "2201-01-01"]), "ts", "row 2 (customer_id=2): '2201-01-01'"),
        ("purchases", purchases(ts=["2024-01-01", "not a date", "2024-01-02"]), "ts", "row 1 (customer_id=1): 'not a date'"),
        ("purchases", purchases(amount=[10.0, np.inf, 1.0]), "amount", "non-finite value; 1 bad row(s); first at row 1 (customer_id=1): inf"),
        ("purchases", purchases(amount=[10.0, 1e300, 1.0]), "amount", "above the accepted maximum 1e+12"),
        ("purchases", purchases(amount=[True, False, True]), "amount", "booleans are not numbers"),
        ("purchases", purchases(customer_id=[np.int64(4), 4, 5], amount=[1.0, -2.0, 3.0]), "amount", "(customer_id=4): -2.0"),
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


@pytest.mark.parametrize("value", [np.inf, 1e12 + 1])
def test_support_resolution_hours_must_be_finite_and_bounded(value):
    df = pd.DataFrame({"customer_id": [1, 2], "ts": ["2024-01-01", "2024-01-02"], "category": "billing", "channel": "email",
                       "resolution_hours": [3.0, value]})
    with pytest.raises(EventValidationError, match=r"support.resolution_hours: (non-finite value|value above the accepted maximum 1e\+06).*row 1 \(customer_id=2\)"):
        validate_table(df, "support")


def test_epoch_timestamps_with_their_unit():
    seconds = purchases(ts=[1704067200, 1706745600, 1705276800])  # 2024-01-01, 2024-02-01, 2024-01-15 UTC
    out = load_events(seconds, timestamp_unit="s").purchases
    assert list(out["ts"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"), pd.Timestamp("2024-01-15")]
    millis = load_events(purchases(ts=[1704067200_000, 1706745600_000, 1705276800_000]), timestamp_unit={"purchases": "ms"})
    pd.testing.assert_frame_equal(millis.purchases, out)
    with pytest.raises(EventValidationError, match=r"purchases.ts: a timestamp unit \('s'\) is given but the column holds \w+ values, not numbers"):
        load_events(purchases(), timestamp_unit="s")
    with pytest.raises(ValueError, match="`timestamp_unit` must be one of"):
        load_events(seconds, timestamp_unit="fortnight")
    with pytest.raises(ValueError, match=r"`timestamp_unit` names unknown table\(s\) \['orders'\]"):
        load_events(seconds, timestamp_unit={"orders": "s"})
    # a unit that puts the numbers outside the accepted range is caught as such, not overflowed
    with pytest.raises(EventValidationError, match="purchases.ts: timestamp outside"):
        load_events(seconds, timestamp_unit="D")


def test_time_range_can_be_widened_for_old_data():
    old = purchases(ts=["1850-01-01", "1850-02-01", "1850-01-15"])
    with pytest.raises(EventValidationError, match="purchases.ts: timestamp outside"):
        load_events(old)
    ev = load_events(old, time_range=("1800-01-01", "1900-01-01"))
    assert ev.purchases["ts"].min() == pd.Timestamp("1850-01-01")
    with pytest.raises(ValueError, match="`time_range` must start before it ends"):
        load_events(old, time_range=("1900-01-01", "1800-01-01"))


def test_duplicates_error_names_every_way_to_drop_them():
    df = pd.concat([purchases(), purchases().iloc[[0]]])
    with pytest.raises(EventValidationError) as err:
        validate_table(df, "purchases")
    msg = str(err.value)
    assert "on_duplicates='drop'" in msg and "data.on_duplicates: drop" in msg and "--on-duplicates drop" in msg
    assert "np.int64" not in msg and "Timestamp(" not in msg  # values as people read them


def test_customers_without_any_event_are_counted_in_a_warning():
    cust = pd.DataFrame({"customer_id": [1, 2, 7, 8, 9], "signup_ts": "2023-06-01"})
    with pytest.warns(UserWarning, match=r"customers: 3 of 5 customer ids have no event in any other table"):
        load_events(purchases(), customers=cust)


def test_a_folder_with_a_table_in_two_formats_is_refused(tmp_path):
    ev = load_events(purchases())
    save_events_dir(ev, tmp_path)
    purchases().to_csv(tmp_path / "purchases.csv", index=False)
    with pytest.raises(EventValidationError, match="purchases: both purchases.parquet and purchases.csv in"):
        load_events_dir(tmp_path)


def test_folder_options_reach_every_table(tmp_path):
    pd.concat([purchases(), purchases().iloc[[0]]]).to_csv(tmp_path / "purchases.csv", index=False)
    with pytest.raises(EventValidationError, match="duplicated row"):
        load_events_dir(tmp_path)
    assert len(load_events_dir(tmp_path, on_duplicates="drop").purchases) == 3


@pytest.mark.parametrize(
    "call,error,fragment",
    [
        (lambda: load_events(None), TypeError, "`purchases` is required"),
        (lambda: load_events(42), TypeError, "`purchases` must be a DataFrame or a path"),
        (lambda: load_events(purchases(), mapping=["purchases"]), TypeError, "`mapping` must be a dict"),
        (lambda: load_events_dir(None), TypeError, "`path` must be a folder path"),
        (lambda: validate_table([1, 2], "purchases"), TypeError, "`df` (purchases) must be a pandas DataFrame"),
        (lambda: validate_table(purchases(), "orders"), ValueError, "`table` must be one of"),
    ],
)
def test_api_misuse_names_the_parameter(call, error, fragment):
    with pytest.raises(error) as err:
        call()
    assert fragment in str(err.value)


def test_import_churnlab_loads_nothing_heavy():
    """`import churnlab` stays fast: MLflow, SHAP, numba, LightGBM, DuckDB, scikit-learn,
    matplotlib and Spark load only when a name that needs them is used."""
    import subprocess
    import sys

    code = (
        "import sys, churnlab; heavy = ['mlflow', 'shap', 'numba', 'lightgbm', 'duckdb', 'sklearn', 'matplotlib', 'pyspark', 'pandas'];"
        "print(sorted(m for m in heavy if m in sys.modules)); churnlab.load_events;"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    assert out[1] == "['pandas']"  # the contract needs pandas, nothing more
