"""Spark scale-out equals the local engine: features (Spark SQL vs DuckDB), probabilities
(MLflow spark_udf vs the LightGBM model) and full scoring rows (mapInPandas vs score_customers)."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlab.events import load_events
from churnlab.features import FeatureBuilder, FeatureConfig
from churnlab.scoring import ScoringModel, score_customers

AS_OF = "2024-12-01"

_REQUIRED = os.environ.get("CHURNLAB_REQUIRE_SPARK") == "1"
try:
    import pyspark  # noqa: F401

    _HAVE = shutil.which("java") is not None
except ImportError:
    _HAVE = False

if not _HAVE:
    if _REQUIRED:
        raise RuntimeError("CHURNLAB_REQUIRE_SPARK=1 but pyspark or java is missing")
    pytest.skip("pyspark and java are needed for the Spark tests", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    from churnlab.spark import spark_session

    session = spark_session("local[2]", spark__sql__shuffle__partitions="4")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_tables(spark, demo_events):
    from churnlab.spark import to_spark_tables

    return to_spark_tables(spark, demo_events)


def _assert_same_features(local: pd.DataFrame, remote: pd.DataFrame) -> None:
    assert list(remote.index) == list(local.index)
    assert list(remote.columns) == list(local.columns)
    for col in local.columns:
        a, b = local[col], remote[col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert list(a.astype(object).where(a.notna(), None)) == list(b.astype(object).where(b.notna(), None)), col
        else:
            # bit-identical, NaN where NaN: the SQL is the same text and sums are exact
            assert np.array_equal(a.to_numpy(float), b.to_numpy(float), equal_nan=True), col


@pytest.mark.parametrize("as_of", ["2024-01-01", AS_OF])
def test_spark_sql_features_equal_duckdb(spark, spark_tables, trained, demo_events, as_of):
    from churnlab.spark import spark_features

    builder = trained[0].builder
    local = builder.transform(demo_events, as_of)
    remote = spark_features(spark, builder, spark_tables, as_of).toPandas().set_index("customer_id")
    assert len(local) > 1000
    _assert_same_features(local, remote)


@st.composite
def awkward_logs(draw):
    """Small logs full of what engines disagree on: ties, half-cent amounts, nulls, seconds."""
    t0 = pd.Timestamp("2024-01-01")
    at = st.integers(0, 60 * 24 * 3600).map(lambda s: t0 + pd.Timedelta(seconds=s))
    ts_pool = draw(st.lists(at, min_size=1, max_size=5))  # shared instants make ties likely
    when = st.one_of(at, st.sampled_from(ts_pool))
    purchases = pd.DataFrame(
        [
            (draw(st.integers(1, 5)), draw(when), draw(st.integers(0, 10**7)) / 10**5,
             draw(st.sampled_from(["cd", "vinyl", None])))
            for _ in range(draw(st.integers(1, 30)))
        ] + [(1, t0, 1.0, "cd")],
        columns=["customer_id", "ts", "amount", "product"],
    )
    support = pd.DataFrame(
        [
            (draw(st.integers(1, 6)), draw(when), draw(st.sampled_from(["billing", "delivery", "o'dd"])), "email",
             draw(st.one_of(st.none(), st.integers(0, 10**6).map(lambda h: h / 997))), draw(st.booleans()))
            for _ in range(draw(st.integers(1, 15)))
        ],
        columns=["customer_id", "ts", "category", "channel", "resolution_hours", "resolved"],
    )
    surveys = pd.DataFrame(
        [(draw(st.integers(1, 6)), draw(when), draw(st.integers(1, 5)), draw(st.sampled_from(["nps", "csat"])))
         for _ in range(draw(st.integers(1, 15)))],
        columns=["customer_id", "ts", "score", "kind"],
    )
    as_of = t0 + pd.Timedelta(seconds=draw(st.integers(3600, 60 * 24 * 3600)))
    # optional tables change the query's shape (joins, tenure)
    support = support if draw(st.booleans()) else None
    surveys = surveys if draw(st.booleans()) else None
    return load_events(purchases, support, surveys, on_duplicates="drop"), as_of


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=awkward_logs())
def test_spark_and_duckdb_agree_on_awkward_logs(spark, case):
    from churnlab.spark import spark_features, to_spark_tables

    events, as_of = case
    builder = FeatureBuilder(FeatureConfig(windows=(7, 30), trend_window=7, top_categories=2)).fit(events, as_of)
    local = builder.transform(events, as_of)
    remote = spark_features(spark, builder, to_spark_tables(spark, events), as_of).toPandas().set_index("customer_id")
    _assert_same_features(local, remote)


def test_sub_unit_amounts_sum_the_same_on_both_engines(spark):
    """Found by the property test above: a cast to DECIMAL rounds 0.36665 down on DuckDB
    (exact binary value) and up on Spark (shortest decimal string)."""
    from churnlab.spark import spark_features, to_spark_tables

    purchases = pd.DataFrame(
        {"customer_id": [1, 1, 2, 2], "ts": ["2024-01-01"] * 4, "amount": [0.36665, 1.0, 2.00005, 0.12345]}
    )
    events = load_events(purchases, on_duplicates="keep")
    builder = FeatureBuilder(FeatureConfig(windows=(7,), trend_window=7)).fit(events, "2024-01-02")
    local = builder.transform(events, "2024-01-02")
    remote = spark_features(spark, builder, to_spark_tables(spark, events), "2024-01-02").toPandas().set_index("customer_id")
    _assert_same_features(local, remote)
    assert local.loc[1, "p_amount_total"] == pytest.approx(1.3666, abs=1e-12)


def test_purchases_without_amounts_give_the_same_features_on_both_engines(spark, demo_events):
    from churnlab.spark import spark_features, to_spark_tables

    events = load_events(demo_events.purchases.drop(columns="amount").head(5000), on_duplicates="keep")
    builder = FeatureBuilder().fit(events, "2024-06-01")
    local = builder.transform(events, "2024-06-01")
    remote = spark_features(spark, builder, to_spark_tables(spark, events), "2024-06-01").toPandas().set_index("customer_id")
    assert not [c for c in local.columns if c.startswith(("p_amount", "p_aov"))]
    _assert_same_features(local, remote)


def test_subscriptions_and_activity_give_the_same_features_on_both_engines(spark):
    from churnlab.datasets import make_demo_subscriptions
    from churnlab.spark import spark_features, to_spark_tables

    events = make_demo_subscriptions(400, random_state=4)
    subs = events.subscriptions.assign(term_end_ts=events.subscriptions["start_ts"] + pd.Timedelta(days=365))
    events = load_events(customers=events.customers, subscriptions=subs, activity=events.activity, on_duplicates="keep")
    builder = FeatureBuilder(FeatureConfig(top_event_types=1)).fit(events, "2024-03-01")  # "export" pooled as other
    tables = to_spark_tables(spark, events)
    for as_of in ("2024-03-01", "2024-10-15"):
        local = builder.transform(events, as_of)
        remote = spark_features(spark, builder, tables, as_of).toPandas().set_index("customer_id")
        assert {"sub_mrr", "sub_days_to_term_end", "a_login_30d", "a_other_active_days_90d"} <= set(local.columns)
        _assert_same_features(local, remote)


def test_spark_udf_and_spark_sql_probabilities_equal_local(spark, spark_tables, trained, demo_events):
    from churnlab.spark import register_churn_udf, spark_features, spark_predict

    result = trained[0]
    feats = spark_features(spark, result.builder, spark_tables, AS_OF)
    got = spark_predict(spark, result.model_uri, feats).select("customer_id", "churn_probability").toPandas()
    X = result.builder.transform(demo_events, AS_OF)
    assert list(got["customer_id"]) == list(X.index)
    np.testing.assert_allclose(got["churn_probability"].to_numpy(), result.model.churn_probability(X), rtol=1e-12, atol=0)

    register_churn_udf(spark, result.model_uri, "churn_probability")
    feats.createOrReplaceTempView("features_at_cutoff")
    struct = ", ".join(result.builder.feature_names_)
    sql = spark.sql(
        f"SELECT customer_id, churn_probability(struct({struct})) AS p FROM features_at_cutoff ORDER BY customer_id"
    ).toPandas()
    np.testing.assert_allclose(sql["p"].to_numpy(), got["churn_probability"].to_numpy(), rtol=0, atol=0)


def test_spark_scoring_equals_local_scoring(spark, spark_tables, trained, demo_events):
    from churnlab.spark import spark_features, spark_score

    from churnlab.spark import to_spark_tables
    from test_score import with_cancellations

    result = trained[0]
    sm = ScoringModel.load(result.model_uri)
    X = result.builder.transform(demo_events, AS_OF)
    # a list with known customers of every status plus one nobody has heard of; some of them
    # cancelled before as_of
    ids = [*X.index[:400].tolist(), 987654321]
    events, _ = with_cancellations(demo_events, X.index[:60].tolist())
    local = pd.concat(score_customers(sm, events, AS_OF, customer_ids=ids, k=3, chunk_size=150))
    local = local.sort_values("customer_id").reset_index(drop=True)

    tables = to_spark_tables(spark, events)
    feats = spark_features(spark, result.builder, tables, AS_OF)
    listed = spark.createDataFrame(pd.DataFrame({"customer_id": ids}))
    remote = spark_score(spark, result.model_uri, feats, AS_OF, k=3, customers=listed, tables=tables).toPandas()

    assert list(remote.columns) == list(local.columns)
    assert set(local["status"]) >= {"scored", "no_history", "cancelled"}
    assert local.loc[local["customer_id"] == 987654321, "status"].item() == "no_history"
    assert list(remote["customer_id"]) == list(local["customer_id"])
    np.testing.assert_allclose(
        remote["churn_probability"].to_numpy(float), local["churn_probability"].to_numpy(float), rtol=1e-12, equal_nan=True
    )
    for col in [c for c in local.columns if c not in ("churn_probability", "as_of", "horizon_days")]:
        assert list(remote[col].astype(object).where(remote[col].notna(), None)) == list(
            local[col].astype(object).where(local[col].notna(), None)
        ), col
    assert (pd.to_datetime(remote["as_of"]) == pd.Timestamp(AS_OF)).all()


def test_spark_campaign_columns_equal_local(spark, trained, demo_events):
    from churnlab.config import load_campaign
    from churnlab.scoring.campaign import add_campaign
    from churnlab.scoring.value import customer_value
    from churnlab.spark import spark_features, spark_score, to_spark_tables

    result = trained[0]
    sm = ScoringModel.load(result.model_uri)
    plan = load_campaign("configs/campaign.yaml").model_copy(update={"budget": 40})
    values = customer_value(demo_events, AS_OF, plan.horizon_days, plan.value_method, plan.margin, plan.discount_rate)
    ids = result.builder.transform(demo_events, AS_OF).index[:300].tolist()
    local = next(add_campaign(score_customers(sm, demo_events, AS_OF, customer_ids=ids, k=0), values, plan, sort=False))
    local = local.sort_values("customer_id").reset_index(drop=True)
    tables = to_spark_tables(spark, demo_events)
    feats = spark_features(spark, result.builder, tables, AS_OF)
    listed = spark.createDataFrame(pd.DataFrame({"customer_id": ids}))
    remote = spark_score(spark, result.model_uri, feats, AS_OF, k=0, customers=listed, tables=tables,
                         campaign=plan, values=values).toPandas()
    assert list(remote.columns) == list(local.columns)
    for col in ("customer_value", "value_at_risk", "expected_profit"):
        np.testing.assert_allclose(remote[col].to_numpy(float), local[col].to_numpy(float), rtol=1e-12, equal_nan=True)
    assert remote["target"].tolist() == local["target"].tolist() and remote["target"].sum() == 40


def test_spark_rejects_a_non_utc_session(spark, demo_events):
    from churnlab.spark import to_spark_tables

    spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
    try:
        with pytest.raises(ValueError, match="spark.sql.session.timeZone must be UTC.*Europe/Paris"):
            to_spark_tables(spark, demo_events)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
