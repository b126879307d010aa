"""Scale-out on Spark: the same feature SQL, the same MLflow model, the same output.

Nothing here re-implements churnlab's logic:

* features come from :func:`churnlab.features.feature_sql` rendered in the Spark dialect, run
  by Spark SQL over the event tables (temporary views named ``purchases``, ``support``,
  ``surveys`` and ``customers``), plus the fitted builder's static attributes;
* probabilities come from the logged MLflow model through :func:`mlflow.pyfunc.spark_udf`,
  which can also be registered as a Spark SQL function (:func:`register_churn_udf`);
* full scoring rows (tier, reason codes, status) come from :func:`churnlab.score` run on each
  partition with ``mapInPandas``, so Spark output equals local output row for row.

Spark must use UTC as its session time zone (:func:`spark_session` sets it): event times are
naive UTC, and Spark would otherwise read them in the JVM's local zone.

Requires the ``spark`` extra (``pip install churnlab[spark]``) and Java 17.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churnlab.checks import check_fitted, is_text_dtype
from churnlab.events import TABLE_SCHEMAS, EventTables, to_timestamp
from churnlab.features import SPARK, FeatureBuilder
from churnlab.scoring import ScoringModel, check_thresholds, risk_tiers
from churnlab.scoring.pipeline import score_block

if TYPE_CHECKING:  # pyspark is optional
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["spark_session", "to_spark_tables", "spark_features", "spark_predict", "register_churn_udf", "spark_score"]

_TS_COLUMNS = {name: list(schema.timestamps) for name, schema in TABLE_SCHEMAS.items()}


def _require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("Spark support needs pyspark: pip install 'churnlab[spark]'") from exc


def spark_session(master: str = "local[2]", app_name: str = "churnlab", **conf: str) -> "SparkSession":
    """A SparkSession configured the way churnlab needs (UTC, Arrow transfers).

    Extra ``conf`` entries are passed to the builder (dots written as ``__``, e.g.
    ``spark__sql__shuffle__partitions="8"``).

    Parameters
    ----------
    master : str
    app_name : str
    **conf : str

    Returns
    -------
    SparkSession

    Examples
    --------
    >>> spark = spark_session("local[4]", spark__sql__shuffle__partitions="8")  # doctest: +SKIP
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (with churnlab's dependencies), not `python3`.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key.replace("__", "."), value)
    spark = builder.getOrCreate()
    _check_utc(spark)
    return spark


def _check_utc(spark: "SparkSession") -> None:
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
        raise ValueError(f"spark.sql.session.timeZone must be UTC for churnlab's naive-UTC event times, got {tz!r}")


def to_spark_tables(spark: "SparkSession", events: EventTables) -> dict[str, "DataFrame"]:
    """Validated pandas event tables -> Spark DataFrames (categories as strings, times as TIMESTAMP).

    Parameters
    ----------
    spark : SparkSession
        With ``spark.sql.session.timeZone`` UTC.
    events : EventTables

    Returns
    -------
    dict of str to Spark DataFrame

    Examples
    --------
    >>> tables = to_spark_tables(spark, cl.load_events_dir("data/"))  # doctest: +SKIP
    """
    _check_utc(spark)
    from pyspark.sql import functions as F

    out = {}
    for name, df in events.tables().items():
        pdf = df.copy()
        for col in pdf.columns:
            dtype = pdf[col].dtype
            if is_text_dtype(dtype):
                # categories and strings travel as plain Python strings (Spark STRING), nulls as None
                pdf[col] = [None if pd.isna(v) else str(v) for v in pdf[col].astype(object)]
            elif pd.api.types.is_datetime64_any_dtype(dtype):
                pdf[col] = pdf[col].astype("datetime64[us]")
        sdf = spark.createDataFrame(pdf)
        for col in _TS_COLUMNS.get(name, []):
            if col in sdf.columns:
                sdf = sdf.withColumn(col, F.col(col).cast("timestamp"))
        out[name] = sdf
    return out


def spark_features(spark: "SparkSession", builder: FeatureBuilder, tables: dict[str, "DataFrame"], as_of) -> "DataFrame":
    """Features at ``as_of`` as a Spark DataFrame: ``customer_id`` then ``builder.feature_names_``.

    ``tables`` maps table names to Spark DataFrames with the event contract's columns (see
    :func:`to_spark_tables`); they are registered as temporary views under those names.
    Categorical features come out as strings; the model re-applies its categories.

    Parameters
    ----------
    spark : SparkSession
    builder : FeatureBuilder
        Fitted; e.g. ``ScoringModel.load(uri).builder``.
    tables : dict of str to Spark DataFrame
    as_of : date-like

    Returns
    -------
    Spark DataFrame
        The same values as :meth:`FeatureBuilder.transform` (tested bit for bit).

    Examples
    --------
    >>> feats = spark_features(spark, model.builder, tables, "2025-01-01")  # doctest: +SKIP
    """
    _check_utc(spark)
    check_fitted(builder, "feature_names_")
    missing = [t for t in builder.tables_ if t not in tables]
    if missing:
        raise ValueError(f"the builder was fitted with table(s) {missing} that the Spark tables lack")
    t = to_timestamp(as_of)
    for name in builder.tables_:
        tables[name].createOrReplaceTempView(name)
    sql, _ = builder.sql(t, SPARK)
    feats = spark.sql(sql)
    static = [*builder.static_numeric_, *builder.static_categories_]
    if static:
        from pyspark.sql import functions as F

        cust = tables["customers"]
        cols = [F.col("customer_id")]
        feature = builder.static_features()  # column -> feature name
        for col in builder.static_numeric_:
            cols.append(cust[col].cast("double").alias(feature[col]))
        for col, cats in builder.static_categories_.items():
            # unseen categories become missing, as in FeatureBuilder._finish
            value = cust[col].cast("string")
            cols.append(F.when(value.isin(list(cats)), value).alias(feature[col]))
        feats = feats.join(cust.select(*cols), on="customer_id", how="left")
    return feats.select("customer_id", *builder.feature_names_).orderBy("customer_id")


_DOWNLOADS: dict[tuple[str, str], str] = {}


def _local_model_dir(model_uri: str) -> str:
    """MLflow URI -> local folder, downloaded once per process on the driver and shipped by
    path. Spark reads the folder whenever a DataFrame that uses the model is evaluated, so the
    copy lives in one folder of churnlab's that is removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    import mlflow

    if Path(model_uri).is_dir():
        return str(Path(model_uri).resolve())
    key = (mlflow.get_tracking_uri(), model_uri)  # models:/churn/1 differs from store to store
    if key not in _DOWNLOADS:
        folder = tempfile.mkdtemp(prefix="churnlab-spark-model-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _DOWNLOADS[key] = mlflow.artifacts.download_artifacts(model_uri, dst_path=folder)
    return _DOWNLOADS[key]


def spark_predict(spark: "SparkSession", model_uri: str, features: "DataFrame", column: str = "churn_probability") -> "DataFrame":
    """Add the churn probability column with MLflow's ``spark_udf`` over the logged pyfunc model.

    Parameters
    ----------
    spark : SparkSession
    model_uri : str
    features : Spark DataFrame
        From :func:`spark_features`.
    column : str
        Name of the new column.

    Returns
    -------
    Spark DataFrame

    Examples
    --------
    >>> probs = spark_predict(spark, "models:/churn/3", feats)  # doctest: +SKIP
    """
    import mlflow
    from pyspark.sql import functions as F

    udf = mlflow.pyfunc.spark_udf(spark, _local_model_dir(model_uri), result_type="double", env_manager="local")
    names = [c for c in features.columns if c != "customer_id"]
    return features.withColumn(column, udf(F.struct(*[F.col(c) for c in names])))


def register_churn_udf(spark: "SparkSession", model_uri: str, name: str = "churn_probability") -> None:
    """Register the model as a Spark SQL function: ``SELECT customer_id, churn_probability(struct(*))``.

    The struct must hold the model's feature columns by name (extra columns are ignored by the
    model's schema; pass exactly the features for clarity).

    Parameters
    ----------
    spark : SparkSession
    model_uri : str
    name : str
        The SQL function's name.

    Examples
    --------
    >>> register_churn_udf(spark, "models:/churn/3")  # doctest: +SKIP
    """
    import mlflow

    udf = mlflow.pyfunc.spark_udf(spark, _local_model_dir(model_uri), result_type="double", env_manager="local")
    spark.udf.register(name, udf)


def _output_schema(id_type: str, k: int) -> str:
    cols = [f"customer_id {id_type}", "as_of timestamp", "churn_probability double", "risk_tier string"]
    cols += [f"reason_{r} string" for r in range(1, k + 1)]
    cols += [f"driver_{r} string" for r in range(1, k + 1)]
    cols += ["status string", "horizon_days double", "model_version string"]
    return ", ".join(cols)


def spark_score(
    spark: "SparkSession",
    model_uri: str,
    features: "DataFrame",
    as_of,
    k: int = 5,
    thresholds: dict[str, float] | None = None,
    customers: "DataFrame | None" = None,
    reason_tiers: "Collection[str] | None" = None,
    tables: "dict[str, DataFrame] | None" = None,
    campaign=None,
    values=None,
) -> "DataFrame":
    """Score on Spark with the same columns as :func:`churnlab.score_customers`.

    ``features`` comes from :func:`spark_features` at the same ``as_of``. ``customers`` (a
    DataFrame with ``customer_id``) restricts scoring to a list; listed customers without
    features get status ``no_history``. Tiers use probability ``thresholds`` (a top-share tier
    would need a global quantile: compute it from :func:`spark_predict` instead).
    ``reason_tiers`` limits SHAP and reasons to those tiers, as in ``score_customers``.
    ``tables`` (those given to :func:`spark_features`): a ``customers`` table with
    ``cancel_ts`` gives customers cancelled before ``as_of`` status ``cancelled``, as in
    ``score_customers``.

    Parameters
    ----------
    spark : SparkSession
    model_uri : str
    features : Spark DataFrame
    as_of : date-like
    k : int
    thresholds : dict, optional
    customers : Spark DataFrame, optional
    reason_tiers : collection of str, optional
    tables : dict of str to Spark DataFrame, optional
    campaign : CampaignConfig, optional
        Adds ``customer_value, value_at_risk, expected_profit, target`` as
        :func:`churnlab.scoring.campaign.add_campaign` does (the budget ranks the whole list).
    values : pandas Series or Spark DataFrame, optional
        With ``campaign``: customer values by ``customer_id`` (e.g.
        :func:`churnlab.scoring.value.customer_value`), or a DataFrame of ``customer_id,
        customer_value``.

    Returns
    -------
    Spark DataFrame
        The columns and values of :func:`churnlab.score_customers`' rows (tested equal).

    Examples
    --------
    >>> scores = spark_score(spark, "models:/churn/3", feats, "2025-01-01", k=5, tables=tables)  # doctest: +SKIP
    """
    if k < 0:
        raise ValueError(f"`k` (reason codes per customer) must be >= 0, got {k}")
    thresholds = check_thresholds(thresholds) if thresholds is not None else None  # validated on the driver
    t = to_timestamp(as_of)
    local_dir = _local_model_dir(model_uri)
    version = model_uri
    if customers is not None:
        ids = customers.select("customer_id").distinct()
        features = ids.join(features, on="customer_id", how="left")
    names = [c for c in features.columns if c != "customer_id"]
    cust = (tables or {}).get("customers")
    if cust is not None and "cancel_ts" in cust.columns:
        from pyspark.sql import functions as F

        gone = cust.where(F.col("cancel_ts") < F.lit(t.to_pydatetime())).select("customer_id", F.lit(True).alias("_cancelled"))
        features = features.join(gone, on="customer_id", how="left")
    id_type = dict(features.dtypes)["customer_id"]

    def score_partition(batches):
        sm = ScoringModel.load(local_dir)
        sm.version = version
        for pdf in batches:
            X = pdf.set_index("customer_id")[names]
            known = X[X["tenure_days"].notna()]  # listed customers with features (every known one has a tenure)
            cancelled = None
            if "_cancelled" in pdf.columns:
                cancelled = pd.Index(pdf.loc[pdf["_cancelled"].fillna(False).astype(bool), "customer_id"])
                known = pd.concat([known, X.loc[X.index.isin(cancelled) & X["tenure_days"].isna()]])
            status = sm.eligibility(known, cancelled)
            cuts = thresholds if thresholds is not None else sm.thresholds  # default: the model's own
            yield score_block(
                sm, known[status == "scored"], status, X.index, t, k, lambda p: risk_tiers(p, cuts), reason_tiers
            )

    scored = features.mapInPandas(score_partition, schema=_output_schema(id_type, k))
    if campaign is not None:
        scored = _with_campaign(spark, scored, campaign, values)
    return scored.orderBy("customer_id")


def _with_campaign(spark, scored, campaign, values):
    """The campaign columns in Spark SQL, the formulas of :mod:`churnlab.scoring.campaign`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if values is None:
        raise ValueError("`values`: customer values are needed with a campaign (see churnlab.scoring.value.customer_value)")
    if isinstance(values, pd.Series):
        values = spark.createDataFrame(values.rename("customer_value").rename_axis("customer_id").reset_index())
    p, v = F.col("churn_probability"), F.col("customer_value").cast("double")
    d, f, g = float(campaign.incentive_cost), float(campaign.contact_cost), float(campaign.mean_acceptance)
    out = (scored.join(values.select("customer_id", "customer_value"), on="customer_id", how="left")
           .withColumn("value_at_risk", p * v)
           .withColumn("expected_profit", p * F.lit(g) * (v - F.lit(d)) - (F.lit(1.0) - p) * F.lit(d) - F.lit(f)))
    target = F.coalesce(F.col("expected_profit") > 0, F.lit(False))
    if campaign.budget is not None:
        rank = F.row_number().over(Window.orderBy(F.desc_nulls_last("expected_profit"), F.col("customer_id")))
        target = target & (rank <= campaign.budget)
    return out.withColumn("target", target)
