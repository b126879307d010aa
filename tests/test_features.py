import dataclasses

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from churnlab.datasets import make_demo_events
from churnlab.events import EventTables, load_events
from churnlab.features import CustomerRowIndex, FeatureBuilder, FeatureConfig, build_features, build_training_set, make_cutoffs

AS_OF = "2024-02-10"


def tiny_events() -> EventTables:
    purchases = pd.DataFrame(
        [
            (1, "2024-01-01", 10.0),
            (1, "2024-01-11", 20.0),
            (1, "2024-01-31", 30.0),
            (1, "2024-03-10", 99.0),  # after as_of
            (2, "2024-02-09 12:00", 5.0),
        ],
        columns=["customer_id", "ts", "amount"],
    )
    support = pd.DataFrame(
        [
            (1, "2024-02-01", "billing", "email", 48.0, True),  # resolved 02-03, before as_of
            (1, "2024-02-08", "delivery", "chat", 72.0, True),  # resolved 02-11, AFTER as_of
            (1, "2024-02-12", "billing", "chat", 1.0, True),  # after as_of
            (3, "2024-01-20", "account", "phone", 100.0, True),  # customer without purchases
        ],
        columns=["customer_id", "ts", "category", "channel", "resolution_hours", "resolved"],
    )
    surveys = pd.DataFrame(
        [
            (1, "2024-01-05", 3, "nps"),
            (1, "2024-01-20", 4, "csat"),
            (1, "2024-02-05", 9, "nps"),
            (1, "2024-02-15", 10, "nps"),  # after as_of
        ],
        columns=["customer_id", "ts", "score", "kind"],
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "signup_ts": ["2023-12-01", "2024-02-01", "2024-01-01", "2024-03-01"],
            "tier": ["gold", "basic", "basic", "gold"],
        }
    )
    return load_events(purchases, support, surveys, customers)


CFG = FeatureConfig(windows=(30, 90), trend_window=90)


def test_known_answers_purchases():
    X = build_features(tiny_events(), AS_OF, CFG)
    assert list(X.index) == [1, 2, 3]  # 4 signs up after as_of
    r = X.loc[1]
    assert r["p_recency_days"] == 10.0
    assert r["p_first_purchase_days"] == 40.0
    assert (r["p_count_total"], r["p_amount_total"], r["p_aov"]) == (3.0, 60.0, 20.0)
    assert (r["p_count_30d"], r["p_amount_30d"]) == (2.0, 50.0)  # 2024-01-11 is exactly 30 days back: in
    assert (r["p_count_90d"], r["p_count_trend_90d"], r["p_amount_trend_90d"]) == (3.0, 3.0, 60.0)
    assert r["p_gap_median_days"] == 15.0 and r["p_gap_mean_days"] == 15.0
    assert r["p_gap_std_days"] == pytest.approx(np.sqrt(50.0), abs=1e-12)
    assert r["p_overdue_ratio"] == pytest.approx(10 / 15)
    two = X.loc[2]
    assert two["p_recency_days"] == 0.5
    assert np.isnan(two["p_gap_median_days"]) and np.isnan(two["p_overdue_ratio"])
    three = X.loc[3]
    assert three["p_count_total"] == 0.0 and np.isnan(three["p_recency_days"])  # never bought: 0 count, NaN recency


def test_known_answers_support_point_in_time_resolution():
    X = build_features(tiny_events(), AS_OF, CFG)
    r = X.loc[1]
    assert r["s_count_total"] == 2.0
    assert r["s_unresolved_total"] == 1.0  # the delivery ticket resolves after as_of
    assert r["s_unresolved_share"] == 0.5
    assert r["s_resolution_hours_mean"] == 48.0 and r["s_resolution_hours_max"] == 48.0
    assert r["s_days_since_last"] == 2.0
    assert (r["s_count_30d"], r["s_unresolved_30d"]) == (2.0, 1.0)
    assert (r["s_cat_billing_90d"], r["s_cat_delivery_90d"], r["s_cat_account_90d"]) == (1.0, 1.0, 0.0)
    assert r["s_long_resolution_90d"] == 0.0
    # customer 2 never raised a ticket: counts 0, "days since" missing
    assert X.loc[2, "s_count_total"] == 0.0 and np.isnan(X.loc[2, "s_days_since_last"])
    assert X.loc[3, "s_long_resolution_90d"] == 1.0  # 100 h > 72 h


def test_known_answers_surveys_static_and_tenure():
    X = build_features(tiny_events(), AS_OF, CFG)
    r = X.loc[1]
    assert (r["v_nps_last"], r["v_nps_mean"], r["v_nps_count"], r["v_nps_trend"]) == (9.0, 6.0, 2.0, 6.0)
    assert r["v_nps_segment"] == "promoter"
    assert (r["v_csat_last"], r["v_csat_count"]) == (4.0, 1.0)
    assert r["v_days_since_last"] == 5.0 and r["v_responses_total"] == 3.0
    assert r["tenure_days"] == 71.0  # signup 2023-12-01
    assert r["static_tier"] == "gold"
    assert pd.isna(X.loc[2, "v_nps_segment"]) and X.loc[2, "v_nps_count"] == 0.0


def pandas_reference(ev: EventTables, as_of) -> pd.DataFrame:
    """An independent, plain-pandas implementation of a subset of the features."""
    t = pd.Timestamp(as_of)
    p = ev.purchases[ev.purchases["ts"] < t].sort_values(["customer_id", "ts"])
    age = (t - p["ts"]).dt.total_seconds() / 86400
    g = p.assign(age=age).groupby("customer_id")
    out = pd.DataFrame({"p_recency_days": g["age"].min(), "p_count_total": g.size().astype(float)})
    out["p_amount_total"] = g["amount"].sum()
    for w in (30, 90):
        out[f"p_count_{w}d"] = p.assign(age=age)[age <= w].groupby("customer_id").size().reindex(out.index).fillna(0)
    gaps = p.groupby("customer_id")["ts"].diff().dt.total_seconds() / 86400
    out["p_gap_median_days"] = gaps.groupby(p["customer_id"]).median()
    out["p_gap_std_days"] = gaps.groupby(p["customer_id"]).std(ddof=1)
    out["p_overdue_ratio"] = out["p_recency_days"] / out["p_gap_median_days"]
    s = ev.support[ev.support["ts"] < t]
    done_at = s["ts"] + pd.to_timedelta(s["resolution_hours"], unit="h")
    ok = s["resolved"] & s["resolution_hours"].notna() & (done_at < t)
    out["s_unresolved_total"] = (~ok).groupby(s["customer_id"]).sum().reindex(out.index).fillna(0).astype(float)
    v = ev.surveys[(ev.surveys["ts"] < t) & (ev.surveys["kind"] == "nps")].sort_values("ts", kind="stable")
    out["v_nps_last"] = v.groupby("customer_id")["score"].last().reindex(out.index)
    return out


def test_known_answers_purchase_breadth():
    purchases = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 2, 3],
            "ts": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-03-01", "2024-01-05", "2024-01-06", "2024-01-07"],
            "amount": [1.0] * 7,
            "product": ["cd", "cd", "vinyl", "merch", None, None, "cd"],  # merch: after as_of
            "channel": ["web", "app", None, "store", "web", "web", None],
        }
    )
    ev = load_events(purchases)
    fb = FeatureBuilder(CFG).fit(ev, AS_OF)
    X = fb.transform(ev, AS_OF)
    assert X["p_distinct_products"].to_dict() == {1: 2.0, 2: 0.0, 3: 1.0}  # nulls are not a product
    assert X["p_distinct_channels"].to_dict() == {1: 2.0, 2: 1.0, 3: 0.0}
    # later: "merch" was never seen when the builder was fitted; it still counts
    later = fb.transform(ev, "2024-04-01")
    assert later.loc[1, "p_distinct_products"] == 3.0 and later.loc[1, "p_distinct_channels"] == 3.0
    # a builder state without fitted levels (older models) computes count(DISTINCT): same values
    state = fb.to_dict()
    del state["purchase_levels"]
    pd.testing.assert_frame_equal(FeatureBuilder.from_dict(state).transform(ev, "2024-04-01"), later)


def test_survey_answers_at_the_same_instant_resolve_to_the_higher_score():
    purchases = pd.DataFrame({"customer_id": [1, 2], "ts": ["2024-01-01", "2024-01-01"], "amount": [1.0, 1.0]})
    surveys = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "ts": ["2024-01-05", "2024-01-09", "2024-01-09", "2024-01-09", "2024-01-09"],
            "score": [10, 3, 9, 9, 3],  # customer 2: same answers, other row order
            "kind": ["nps"] * 5,
        }
    )
    X = build_features(load_events(purchases, surveys=surveys), AS_OF, CFG)
    assert X["v_nps_last"].to_dict() == {1: 9.0, 2: 9.0}


def test_purchases_only_events_give_one_row_per_customer():
    ev = load_events(tiny_events().purchases)
    X = build_features(ev, AS_OF, CFG)
    assert X.index.is_unique and list(X.index) == [1, 2]
    assert not any(c.startswith(("s_", "v_", "static_")) for c in X.columns)
    assert X.loc[1, "p_count_total"] == 3.0


def test_engine_agrees_with_independent_pandas_implementation():
    ev = make_demo_events(600, random_state=7)
    for as_of in ("2023-09-01", "2024-05-17 13:30"):
        X = build_features(ev, as_of, CFG)
        ref = pandas_reference(ev, as_of)
        got = X.loc[ref.index, ref.columns]
        pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-9, check_names=False)


# ---- leakage: nothing at or after as_of may change a feature --------------------------

event_days = st.integers(min_value=0, max_value=120)


@st.composite
def event_logs(draw):
    n = draw(st.integers(3, 25))
    rows = [
        (draw(st.integers(1, 6)), pd.Timestamp("2024-01-01") + pd.Timedelta(hours=draw(st.integers(0, 120 * 24))), float(draw(st.integers(0, 500))))
        for _ in range(n)
    ]
    rows.append((1, pd.Timestamp("2024-01-01"), 1.0))  # guarantees history before any as_of
    tickets = [
        (
            draw(st.integers(1, 6)),
            pd.Timestamp("2024-01-01") + pd.Timedelta(hours=draw(st.integers(0, 120 * 24))),
            draw(st.sampled_from(["billing", "delivery", "product"])),
            "email",
            float(draw(st.integers(0, 300))),
            draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 10)))
    ]
    answers = [
        (
            draw(st.integers(1, 6)),
            pd.Timestamp("2024-01-01") + pd.Timedelta(hours=draw(st.integers(0, 120 * 24))),
            draw(st.integers(1, 5)),
            draw(st.sampled_from(["nps", "csat"])),
        )
        for _ in range(draw(st.integers(0, 10)))
    ]
    return rows, tickets, answers


def _frame(rows, cols):
    return pd.DataFrame(rows, columns=cols) if rows else None


def _events(rows, tickets, answers) -> EventTables:
    return load_events(
        _frame(rows, ["customer_id", "ts", "amount"]),
        _frame(tickets, ["customer_id", "ts", "category", "channel", "resolution_hours", "resolved"]),
        _frame(answers, ["customer_id", "ts", "score", "kind"]),
        on_duplicates="drop",
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_logs(), st.integers(5, 110), st.randoms(use_true_random=False))
def test_events_at_or_after_as_of_never_change_features(log, as_of_day, rnd):
    rows, tickets, answers = log
    as_of = pd.Timestamp("2024-01-01") + pd.Timedelta(days=as_of_day)
    tickets = list(tickets)

    def mutate_future(items, make_new):
        kept = [r for r in items if r[1] < as_of or rnd.random() < 0.5]  # delete some future events
        changed = [
            (r[0], r[1]) + tuple(make_new(r)[2:]) if r[1] >= as_of else r for r in kept
        ]  # change the values of future events
        extra = [make_new(None) for _ in range(rnd.randint(0, 5))]  # add new future events
        return changed + extra

    def when():
        # a third of new events land exactly on the cutoff, the boundary that matters most
        return as_of + pd.Timedelta(minutes=0 if rnd.random() < 0.33 else rnd.randint(1, 60 * 24 * 30))

    rows2 = mutate_future(rows, lambda r: (rnd.randint(1, 9), when(), float(rnd.randint(0, 999))))
    tickets2 = mutate_future(
        tickets, lambda r: (rnd.randint(1, 9), when(), rnd.choice(["billing", "new_cat"]), "chat", float(rnd.randint(0, 99)), rnd.random() < 0.5)
    )
    # A ticket opened before as_of and not resolved before it: its resolution (flag and time)
    # is a future event, so both may change as long as the resolution stays at/after as_of.
    open_at_cutoff = as_of - pd.Timedelta(hours=rnd.randint(1, 48))
    tickets2.append((1, open_at_cutoff, "billing", "email", 48.0 + rnd.randint(0, 200), rnd.random() < 0.5))
    tickets2 = [
        (c, ts, cat, ch, (as_of - ts) / pd.Timedelta(hours=1) + rnd.randint(0, 500), rnd.random() < 0.5)
        if ts < as_of and (not res or ts + pd.Timedelta(hours=hours) >= as_of)
        else (c, ts, cat, ch, hours, res)
        for c, ts, cat, ch, hours, res in tickets2
    ]
    tickets = tickets + [(1, open_at_cutoff, "billing", "email", 48.0, False)]
    answers2 = mutate_future(answers, lambda r: (rnd.randint(1, 9), when(), rnd.randint(1, 5), rnd.choice(["nps", "csat"])))
    answers = answers + [(2, as_of - pd.Timedelta(days=1), 7, "nps")]
    answers2 = answers2 + [(2, as_of - pd.Timedelta(days=1), 7, "nps")]
    X = build_features(_events(rows, tickets, answers), as_of, CFG)
    X2 = build_features(_events(rows2, tickets2, answers2), as_of, CFG)
    pd.testing.assert_frame_equal(X, X2, check_exact=True)


def test_deterministic_across_runs():
    ev = make_demo_events(800, random_state=2)
    a = build_features(ev, "2024-04-01")
    b = build_features(ev, "2024-04-01")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_customer_subset_is_pushed_down_without_changing_values():
    ev = make_demo_events(800, random_state=2)
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    full = fb.transform(ev, "2024-04-01")
    # unsorted, duplicated, one unknown id, ids passed as strings
    ids = [str(i) for i in [*full.index[::7][::-1], full.index[3], 10**9]]
    sub = fb.transform(ev, "2024-04-01", customer_ids=ids)
    expected = full.loc[sorted(set(full.index[::7]) | {full.index[3]})]
    pd.testing.assert_frame_equal(sub, expected, check_exact=True)
    assert list(fb.known_customers(ev, "2024-04-01")) == list(full.index)
    with pytest.raises(ValueError, match="customer_ids: cannot read the ids as the events' int64"):
        fb.transform(ev, "2024-04-01", customer_ids=["C-1"])
    # the same through a row index (each chunk gathers its own rows): identical frames
    index = CustomerRowIndex(ev)
    pd.testing.assert_frame_equal(fb.transform(ev, "2024-04-01", customer_ids=ids, row_index=index), expected, check_exact=True)
    # DuckDB on one thread (as while scoring runs beside it): the same bytes
    pd.testing.assert_frame_equal(fb.transform(ev, "2024-04-01", threads=1), full, check_exact=True)
    with pytest.raises(ValueError, match="`threads` must be >= 1, got 0"):
        fb.transform(ev, "2024-04-01", threads=0)


def test_shared_databases_give_the_same_features_and_close_with_the_last_block():
    from concurrent.futures import ThreadPoolExecutor

    import churnlab.features.engine as features_module

    ev = make_demo_events(800, random_state=2)
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    full = fb.transform(ev, "2024-04-01")
    halves = [full.index[::2], full.index[1::2]]
    with features_module.shared_databases():
        with features_module.shared_databases():  # nested blocks share the databases
            inner = fb.transform(ev, "2024-04-01")
        assert list(features_module._SHARED) == [None]  # kept open for the outer block
        # two threads at once, each on its own connection to one shared database
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(lambda ids: fb.transform(ev, "2024-04-01", ids, threads=1), halves))
        assert sorted(features_module._SHARED, key=str) == [1, None]  # one per thread count
        shared = features_module._SHARED[1]
    assert not features_module._SHARED  # closed with the last block
    with pytest.raises(duckdb.ConnectionException):
        shared.execute("SELECT 1")
    pd.testing.assert_frame_equal(inner, full, check_exact=True)
    pd.testing.assert_frame_equal(pd.concat(parts).sort_index(), full, check_exact=True)


def test_row_index_gaps_equal_the_windows_on_shuffled_tied_purchases():
    """Chunks read each purchase's gap from the row index instead of the query's window:
    the same features, with purchases out of order, at the same instant and after as_of."""
    ev = make_demo_events(400, random_state=6)
    p = ev.purchases
    rng = np.random.default_rng(6)
    twins = p.sample(300, random_state=6).assign(amount=lambda d: d["amount"] + 1)  # same instant: gaps of 0
    late = p.sample(200, random_state=7).assign(ts=pd.Timestamp("2024-05-01"))  # after as_of
    shuffled = pd.concat([p, twins, late], ignore_index=True).iloc[rng.permutation(len(p) + 500)]
    ev = load_events(purchases=shuffled.reset_index(drop=True), support=ev.support, surveys=ev.surveys, customers=ev.customers)
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    full = fb.transform(ev, "2024-04-01")  # the window
    index = CustomerRowIndex(ev)
    ids = list(full.index)
    chunked = pd.concat([fb.transform(ev, "2024-04-01", ids[i : i + 97], row_index=index) for i in range(0, len(ids), 97)])
    pd.testing.assert_frame_equal(chunked, full, check_exact=True)
    assert (full["p_gap_median_days"] == 0).any()  # the ties reached the features
    # a chunk's purchases come grouped by customer in time order: the gaps are neighbours'
    wanted = np.array(ids[::3])
    rows = ev.purchases.take(index.positions("purchases", ev.purchases, wanted, grouped=True))
    expected = rows.sort_values(["customer_id", "ts"], kind="stable")
    np.testing.assert_array_equal(rows["customer_id"].to_numpy(), expected["customer_id"].to_numpy())
    np.testing.assert_array_equal(rows["ts"].to_numpy(), expected["ts"].to_numpy())
    assert sorted(rows.index) == sorted(ev.purchases.index[ev.purchases["customer_id"].isin(wanted)])


def test_row_index_recency_is_the_features_recency_to_the_bit():
    """Scoring sets aside already-churned customers from the index alone, before any feature
    is built: the index's recency must be exactly the query's ``p_recency_days``."""
    ev = make_demo_events(400, random_state=6)
    p = ev.purchases
    rng = np.random.default_rng(8)
    late_only = pd.DataFrame({"customer_id": [10_001], "ts": [pd.Timestamp("2024-06-01")], "amount": [5.0]})
    at_cutoff = p.sample(50, random_state=8).assign(ts=pd.Timestamp("2024-04-01"))  # not before as_of
    shuffled = pd.concat([p, at_cutoff, late_only], ignore_index=True)
    shuffled = shuffled.iloc[rng.permutation(len(shuffled))].reset_index(drop=True)
    ev = load_events(purchases=shuffled, support=ev.support, surveys=ev.surveys, customers=ev.customers)
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    full = fb.transform(ev, "2024-04-01")
    index = CustomerRowIndex(ev)
    ids = np.array([*full.index[::-1], 10_001, 99_999])  # any order; a late-only buyer; nobody
    got = index.recency_days(ev.purchases, ids, "2024-04-01")
    expected = full["p_recency_days"].reindex(ids).to_numpy()
    assert got.tobytes() == expected.tobytes()  # NaN where no purchase before as_of, at the same bits
    assert np.isnan(got[-2:]).all() and np.isfinite(got).sum() == (full["p_count_total"] > 0).sum()


def test_row_index_finds_each_customers_rows_with_string_ids():
    ev = make_demo_events(300, random_state=4)
    as_str = {name: df.assign(customer_id="C-" + df["customer_id"].astype(str)) for name, df in ev.tables().items()}
    ev = load_events(**as_str)
    index = CustomerRowIndex(ev)
    p = ev.purchases
    wanted = np.array(["C-17", "C-3", "nobody", "C-250"], dtype=object)
    got = index.positions("purchases", p, wanted)
    expected = np.flatnonzero(p["customer_id"].isin(wanted).to_numpy())  # independent: a scan
    np.testing.assert_array_equal(got, expected)
    assert len(index.positions("purchases", p, np.array(["nobody"], dtype=object))) == 0
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    full = fb.transform(ev, "2024-04-01")
    ids = list(full.index[::5])
    sub = fb.transform(ev, "2024-04-01", customer_ids=ids, row_index=index)
    pd.testing.assert_frame_equal(sub, full.loc[sorted(ids)], check_exact=True)
    other = load_events(**as_str)
    with pytest.raises(ValueError, match="row index was built for other events"):
        fb.transform(other, "2024-04-01", customer_ids=ids, row_index=index)


# ---- bad input and categories -------------------------------------------------------


def test_a_row_index_of_other_events_is_refused():
    ev = make_demo_events(300, random_state=2)
    other = make_demo_events(300, random_state=3)
    fb = FeatureBuilder().fit(ev, "2024-04-01")
    index = CustomerRowIndex(other)
    assert index.first_event(other) == other.purchases["ts"].min()
    ids = fb.known_customers(ev, "2024-04-01")[:10]
    with pytest.raises(ValueError, match="row index was built for other events than these \\(table 'purchases'\\)"):
        fb.transform(ev, "2024-04-01", ids, row_index=index)


def test_as_of_before_all_data_is_an_error():
    with pytest.raises(ValueError, match=r"`as_of` \(2023-01-01 00:00:00\) is at or before the first purchase"):
        build_features(tiny_events(), "2023-01-01", CFG)
    with pytest.raises(ValueError, match="`as_of` must be a date"):
        build_features(tiny_events(), "yesterday-ish", CFG)


def test_timezone_aware_as_of_is_converted():
    a = build_features(tiny_events(), "2024-02-10T01:00:00+01:00", CFG)
    b = build_features(tiny_events(), AS_OF, CFG)
    pd.testing.assert_frame_equal(a, b)


def test_bad_feature_config_names_the_key():
    with pytest.raises(ValidationError, match="windows"):
        FeatureConfig(windows=(30, -5))
    with pytest.raises(ValidationError, match="trend_window"):
        FeatureConfig(trend_window=0)
    with pytest.raises(ValidationError, match="colour"):
        FeatureConfig(colour="red")


def test_unknown_categories_at_transform_time():
    ev = tiny_events()
    fb = FeatureBuilder(CFG).fit(ev, AS_OF)
    assert fb.support_categories_ == ("account", "billing", "delivery")
    later = load_events(
        pd.concat([ev.purchases, pd.DataFrame({"customer_id": [5], "ts": [pd.Timestamp("2024-03-01")], "amount": [1.0]})]),
        pd.concat(
            [
                ev.support,
                pd.DataFrame(
                    {"customer_id": [1], "ts": [pd.Timestamp("2024-03-02")], "category": ["fraud"], "channel": ["chat"], "resolution_hours": [1.0], "resolved": [True]}
                ),
            ]
        ),
        ev.surveys,
        pd.concat([ev.customers, pd.DataFrame({"customer_id": [5], "signup_ts": [pd.Timestamp("2024-02-20")], "tier": ["platinum"]})]),
    )
    X = fb.transform(later, "2024-03-05")
    assert list(X.columns) == fb.feature_names_  # same columns as at fit time
    assert X.loc[1, "s_cat_other_90d"] == 1.0  # unseen category pooled
    assert pd.isna(X.loc[5, "static_tier"])  # unseen attribute level -> missing
    assert list(X["static_tier"].cat.categories) == ["basic", "gold"]
    assert X["static_tier"].dtype == pd.CategoricalDtype(["basic", "gold"])  # what the model was fitted with
    # the same frame when the attribute is plain text rather than the loader's categorical
    as_text = dataclasses.replace(later, customers=later.customers.assign(tier=later.customers["tier"].astype(object)))
    pd.testing.assert_frame_equal(fb.transform(as_text, "2024-03-05"), X, check_exact=True)


def test_feature_dictionary_covers_every_feature():
    fb = FeatureBuilder(CFG).fit(tiny_events(), AS_OF)
    d = fb.feature_dictionary()
    assert list(d["feature"]) == fb.feature_names_
    assert d["meaning"].str.len().min() > 3
    assert (d["feature"] != d["group"]).all()  # every feature maps to a driver group


def test_make_cutoffs():
    assert [str(c.date()) for c in make_cutoffs("2024-01-01", "2024-03-15")] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    with pytest.raises(ValueError, match="must not be before"):
        make_cutoffs("2024-03-01", "2024-01-01")


def test_training_set_stacks_point_in_time_snapshots():
    ev = make_demo_events(500, random_state=5)
    cuts = ["2024-03-01", "2024-05-01", "2024-07-01"]
    ts = build_training_set(ev, cuts, horizon_days=60)
    assert sorted(ts.frame["cutoff"].unique()) == [pd.Timestamp(c) for c in cuts]
    assert ts.frame["churned"].isin([0, 1]).all()
    # each snapshot equals the features built at its cutoff
    for cut in cuts:
        snap = ts.frame[ts.frame["cutoff"] == pd.Timestamp(cut)].set_index("customer_id")[ts.feature_names]
        direct = ts.builder.transform(ev, cut, customer_ids=snap.index)
        pd.testing.assert_frame_equal(snap, direct, check_exact=True)
    # already-churned customers are excluded explicitly, never silently
    assert "inactive" in set(ts.excluded["reason"])
    for cut in cuts:
        known = set(ev.purchases["customer_id"]) | set(ev.support["customer_id"]) | set(ev.surveys["customer_id"])
        known |= set(ev.customers["customer_id"])
        here = set(ts.frame.loc[ts.frame["cutoff"] == pd.Timestamp(cut), "customer_id"])
        gone = set(ts.excluded.loc[ts.excluded["cutoff"] == pd.Timestamp(cut), "customer_id"])
        assert here | gone == known and not here & gone
    with pytest.raises(ValueError, match="distinct"):
        build_training_set(ev, ["2024-03-01", "2024-03-01"])

