"""The feature builder: fitted once on history before a cutoff, then run at any cutoff.

Every feature is computed from events with ``ts < as_of`` only, by the SQL of
:mod:`churnlab.features.sql` run on DuckDB (embedded, reading pandas frames zero-copy).
Missing means "never happened": counts are 0 when a customer has no such event, while
"days since" and averages are NaN. Names are stable for a given :class:`FeatureConfig`
and fitted category list; :meth:`FeatureBuilder.feature_dictionary` documents each one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from churnlab.checks import check_fitted, to_timestamp
from churnlab.events import TABLE_SCHEMAS, EventTables
from churnlab.features.config import FeatureConfig
from churnlab.features.dictionary import describe_feature, describe_static
from churnlab.features.engine import duckdb_connection
from churnlab.features.row_index import CustomerRowIndex, with_gaps
from churnlab.features.sql import DUCKDB, NPS_SEGMENTS, Dialect, feature_sql, slug
from churnlab.features.table import feature_name

__all__ = ["FeatureBuilder", "build_features", "check_history"]


class FeatureBuilder:
    """Fit on history before a cutoff, then build features at any cutoff.

    ``fit`` learns the support categories kept by name and the categories of static
    attributes from data before ``as_of``, so that every later ``transform`` returns the
    same columns in the same order (unseen categories become "other" / missing).

    Parameters
    ----------
    config : FeatureConfig, optional

    Examples
    --------
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(200, random_state=0)
    >>> fb = FeatureBuilder().fit(ev, "2024-01-01")
    >>> X = fb.transform(ev, "2024-01-01")
    >>> X.index.name, "p_recency_days" in X.columns
    ('customer_id', True)
    """

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config

    @property
    def _cfg(self) -> FeatureConfig:
        return self.config if self.config is not None else FeatureConfig()

    def fit(self, events: EventTables, as_of) -> "FeatureBuilder":
        t = to_timestamp(as_of)
        check_history(events, t)
        cfg = self._cfg
        self.tables_ = tuple(events.tables())
        p = events.purchases
        has = set(p.columns) if p is not None else set()
        self.purchase_columns_ = tuple(c for c in ("product", "channel") if c in has)
        self.has_amount_ = "amount" in has
        seen = p[p["ts"] < t] if p is not None else None
        self.purchase_levels_ = {c: sorted(str(v) for v in seen[c].dropna().astype(str).unique()) for c in self.purchase_columns_}
        self.table_columns_ = {
            name: [c for c in ("term_end_ts", "value") if c in df.columns]
            for name, df in events.tables().items() if name in ("subscriptions", "activity")
        }
        self.support_categories_ = _top_levels(events.support, "category", t, cfg.support_categories, cfg.top_categories)
        self.event_types_ = _top_levels(events.activity, "event_type", t, cfg.event_types, cfg.top_event_types)
        self.static_categories_: dict[str, list] = {}
        self.static_numeric_: list[str] = []
        self.static_features_: dict[str, str] = {}
        if cfg.include_static and events.customers is not None:
            c = events.customers
            c = c[c["signup_ts"] < t]
            for col in c.columns:
                if col in ("customer_id", "signup_ts", "cancel_ts"):
                    continue
                if isinstance(c[col].dtype, pd.CategoricalDtype) or c[col].dtype == object:
                    self.static_categories_[col] = sorted(str(v) for v in c[col].dropna().unique())
                elif pd.api.types.is_numeric_dtype(c[col].dtype) or pd.api.types.is_bool_dtype(c[col].dtype):
                    self.static_numeric_.append(col)
                else:
                    continue
                self.static_features_[col] = _static_feature_name(col, self.static_features_)
        _, names = self.sql(t)
        self.feature_names_ = names + [self.static_features_[c] for c in [*self.static_numeric_, *self.static_categories_]]
        self.fitted_as_of_ = t
        return self

    def sql(self, as_of, dialect: Dialect = DUCKDB, gaps_given: bool = False) -> tuple[str, list[str]]:
        """The feature query at ``as_of`` in ``dialect`` and the feature names it returns
        (``gaps_given``: purchases come with their gap to the previous one, see
        :class:`CustomerRowIndex`)."""
        t = to_timestamp(as_of)
        return feature_sql(
            dialect, t, self._cfg, self.tables_, (*self.purchase_columns_, *(("amount",) if self.has_amount_ else ())),
            self.support_categories_,
            getattr(self, "purchase_levels_", None), gaps_given=gaps_given,
            event_types=self.event_types_, table_columns=self.table_columns_,
        )

    def transform(
        self,
        events: EventTables,
        as_of,
        customer_ids: Iterable | None = None,
        *,
        row_index: "CustomerRowIndex | None" = None,
        threads: int | None = None,
    ) -> pd.DataFrame:
        """Features at ``as_of`` for every customer known before it (or ``customer_ids``).

        ``row_index`` (a :class:`CustomerRowIndex` of the same ``events``) makes a call for a
        chunk of ``customer_ids`` read only those customers' rows instead of filtering whole
        tables: build it once when transforming many chunks. ``threads`` caps DuckDB's
        threads for this call (default: DuckDB's own, one per core); results do not depend on it.
        """
        if threads is not None and threads < 1:
            raise ValueError(f"`threads` must be >= 1, got {threads}")
        check_fitted(self, "feature_names_")
        t = to_timestamp(as_of)
        # a chunk through a row index: the first event was found when the index was built
        check_history(events, t, None if row_index is None else row_index.first_event(events))
        missing = [tb for tb in self.tables_ if tb not in events.tables()]
        if missing:
            raise ValueError(f"the builder was fitted with table(s) {missing} that these events lack")
        if self.has_amount_ and (events.purchases is None or "amount" not in events.purchases.columns):
            raise ValueError("purchases.amount: the builder was fitted with order values, these purchases have none")
        self.check_static_columns(events)
        absent = self.absent_purchase_columns(events)
        with duckdb_connection(threads) as (con, register):
            wanted = None
            if customer_ids is not None:
                # Push the customer list into the scan: a chunk of customers costs a chunk of memory.
                id_dtype = events.id_dtype
                try:
                    wanted = pd.DataFrame({"customer_id": pd.Series(pd.Index(customer_ids).unique()).astype(id_dtype)})
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"customer_ids: cannot read the ids as the events' {id_dtype} customer_id") from exc
                register("_wanted", wanted)
            for name, df in events.tables().items():
                if name in self.tables_:
                    if name == "purchases" and absent:  # optional columns absent: NULL, their features NaN
                        df = df.assign(**{c: pd.Series(None, index=df.index, dtype=object) for c in absent})
                    if wanted is not None and row_index is not None:
                        grouped = name == "purchases"  # features do not depend on row order
                        rows = df.take(row_index.positions(name, df, wanted["customer_id"].to_numpy(), grouped))
                        register(name, with_gaps(rows) if grouped else rows)
                    elif wanted is None:
                        register(name, df)
                    else:
                        register(f"_all_{name}", df)
                        register(
                            name,
                            f"SELECT * FROM _all_{name} WHERE customer_id IN (SELECT customer_id FROM _wanted)",
                        )
            # chunks through a row index come with each purchase's gap: no window to run
            raw = con.execute(self.sql(t, gaps_given=wanted is not None and row_index is not None)[0]).df()
        for c in absent:
            raw[f"p_distinct_{c}s"] = float("nan")
        return self._finish(raw, events, None if wanted is None else wanted["customer_id"])

    def known_customers(self, events: EventTables, as_of) -> pd.Index:
        """Sorted ids of the customers :meth:`transform` returns at ``as_of``: anyone with an event
        (or a signup) strictly before it in the tables the builder was fitted on."""
        check_fitted(self, "feature_names_")
        t = to_timestamp(as_of)
        tables = events.tables()
        parts = []
        for name in self.tables_:
            df = tables[name]
            col = TABLE_SCHEMAS[name].timestamps[0]
            parts.append(pd.Series(df.loc[df[col] < t, "customer_id"].unique()))
        ids = pd.concat(parts, ignore_index=True).drop_duplicates().sort_values(ignore_index=True)
        return pd.Index(ids, name="customer_id")

    def static_features(self) -> dict[str, str]:
        """Static attribute column -> its feature name (``static_`` and the column with anything
        but letters, digits and ``_`` replaced: LightGBM refuses JSON punctuation in names)."""
        known = getattr(self, "static_features_", None) or {}
        return {c: known.get(c, f"static_{c}") for c in [*self.static_numeric_, *self.static_categories_]}

    def check_static_columns(self, events: EventTables) -> None:
        """Raise ValueError naming each static attribute the model uses that ``events.customers`` lacks."""
        check_fitted(self, "feature_names_")
        feature = self.static_features()
        if not feature or events.customers is None:
            return  # no attributes; a customers table missing altogether is refused as a table
        missing = [c for c in feature if c not in events.customers.columns]
        if missing:
            used = ", ".join(f"{c!r} (feature {feature[c]})" for c in missing)
            raise ValueError(f"customers: missing column(s) {used} that the model uses; "
                             f"the table has {list(events.customers.columns)[:20]}")

    def absent_purchase_columns(self, events: EventTables) -> list[str]:
        """The optional purchase columns the builder was fitted with (``product``, ``channel``)
        that ``events.purchases`` lacks: their features are missing (NaN) for everyone."""
        p = events.purchases
        return [] if p is None else [c for c in self.purchase_columns_ if c not in p.columns]

    def _finish(self, raw: pd.DataFrame, events: EventTables, customer_ids: Iterable | None) -> pd.DataFrame:
        """Index, dtypes, static attributes and the customer subset: shared by every engine."""
        out = raw.set_index("customer_id").sort_index()
        out.index.name = "customer_id"
        out = out.astype({c: "float64" for c, dt in out.dtypes.items() if c != "v_nps_segment" and dt != "float64"})
        if "v_nps_segment" in out.columns:
            out["v_nps_segment"] = pd.Categorical(out["v_nps_segment"], categories=list(NPS_SEGMENTS))
        if self.static_numeric_ or self.static_categories_:
            # one lookup of the customers' rows for every static column
            static = [*self.static_numeric_, *self.static_categories_]
            c = events.customers[["customer_id", *static]].set_index("customer_id").reindex(out.index)
            feature = self.static_features()
            for col in self.static_numeric_:
                out[feature[col]] = c[col].astype("float64")
            for col, cats in self.static_categories_.items():
                vals = c[col]
                names = vals.cat.categories.astype(str) if isinstance(vals.dtype, pd.CategoricalDtype) else None
                if names is not None and names.is_unique:  # recode the codes, not the strings
                    recoded = vals.cat.rename_categories(names).cat.set_categories(cats)
                    out[feature[col]] = pd.Categorical(recoded)
                    continue
                vals = vals.astype(object)
                vals = vals.where(vals.isna(), vals.astype(str))
                out[feature[col]] = pd.Categorical(vals, categories=cats)
        if customer_ids is not None:
            ids = pd.Index(customer_ids)
            out = out[out.index.isin(ids)]
        return out[self.feature_names_]

    def to_dict(self) -> dict:
        """The fitted state as plain JSON-able data (travels inside the MLflow model)."""
        check_fitted(self, "feature_names_")
        return {
            "config": self._cfg.model_dump(mode="json"),
            "tables": list(self.tables_),
            "purchase_columns": list(self.purchase_columns_),
            "has_amount": self.has_amount_,
            "event_types": list(self.event_types_),
            "table_columns": self.table_columns_,
            "purchase_levels": self.purchase_levels_,
            "support_categories": list(self.support_categories_),
            "static_categories": self.static_categories_,
            "static_numeric": self.static_numeric_,
            "static_features": self.static_features(),
            "feature_names": self.feature_names_,
            "fitted_as_of": str(self.fitted_as_of_),
        }

    @classmethod
    def from_dict(cls, state: dict) -> "FeatureBuilder":
        fb = cls(FeatureConfig(**state["config"]))
        fb.tables_ = tuple(state["tables"])
        fb.purchase_columns_ = tuple(state["purchase_columns"])
        fb.has_amount_ = bool(state.get("has_amount", True))  # states without the key had amounts
        fb.event_types_ = tuple(state.get("event_types", ()))
        fb.table_columns_ = {k: list(v) for k, v in state.get("table_columns", {}).items()}
        # a model saved without its purchase levels counts distinct values instead: the same numbers
        fb.purchase_levels_ = {k: list(v) for k, v in state.get("purchase_levels", {}).items()}
        fb.support_categories_ = tuple(state["support_categories"])
        fb.static_categories_ = {k: list(v) for k, v in state["static_categories"].items()}
        fb.static_numeric_ = list(state["static_numeric"])
        # states without the key named every attribute's feature static_<column>
        fb.static_features_ = dict(state.get("static_features") or {})
        fb.feature_names_ = list(state["feature_names"])
        fb.fitted_as_of_ = to_timestamp(state["fitted_as_of"])
        return fb

    def fit_transform(self, events: EventTables, as_of) -> pd.DataFrame:
        return self.fit(events, as_of).transform(events, as_of)

    def feature_dictionary(self) -> pd.DataFrame:
        """One row per feature: name, family, meaning, and a reason template for explanations."""
        check_fitted(self, "feature_names_")
        column = {f: c for c, f in self.static_features().items()}
        rows = [describe_static(n, column[n]) if n in column else describe_feature(n, self._cfg) for n in self.feature_names_]
        return pd.DataFrame(rows, columns=["feature", "family", "group", "meaning", "reason"])


def check_history(events: EventTables, t: pd.Timestamp, first: pd.Timestamp | None = None) -> None:
    """Refuse an ``as_of`` at or before the first purchase (or subscription start, or
    activity event, for data without purchases): there is no history to learn from."""
    if not isinstance(events, EventTables):
        raise TypeError(f"`events` must be EventTables (see churnlab.load_events), got {type(events).__name__}")
    if first is None:
        first = events.first_event()
    what = "purchase" if events.purchases is not None else "event"
    if t <= first:
        raise ValueError(
            f"`as_of` ({t}) is at or before the first {what} ({first}): there is no history to build features from"
        )


def _top_levels(df: pd.DataFrame | None, column: str, t: pd.Timestamp, fixed, top: int) -> tuple[str, ...]:
    """The levels of ``column`` kept by name: ``fixed``, or the ``top`` most frequent before
    ``t`` (ties by name, so the list is deterministic); they must stay distinct as column names."""
    if df is None:
        return ()
    if fixed is not None:
        levels = list(fixed)
    else:
        # astype(str): a categorical's value_counts would also list levels seen only later.
        counts = df.loc[df["ts"] < t, column].astype(str).value_counts()
        levels = [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    slugs = [slug(v) for v in levels]
    if len(set(slugs)) != len(slugs) or "other" in slugs:
        raise ValueError(f"{column}: levels {levels} collide once made into column names")
    return tuple(levels)


def build_features(events: EventTables, as_of, config: FeatureConfig | None = None, customer_ids=None) -> pd.DataFrame:
    """Features at ``as_of`` from events strictly before it, one row per known customer.

    Shorthand for ``FeatureBuilder(config).fit(events, as_of).transform(events, as_of)``.

    Parameters
    ----------
    events : EventTables
    as_of : date-like
    config : FeatureConfig, optional
    customer_ids : iterable, optional
        Only these customers (default: everyone with an event before ``as_of``).

    Returns
    -------
    DataFrame
        Indexed by customer_id, one column per feature (see
        :meth:`FeatureBuilder.feature_dictionary`).

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.events import load_events
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 1, 2], "amount": [10.0, 30.0, 5.0],
    ...                                "ts": ["2024-01-01", "2024-02-01", "2024-02-15"]}))
    >>> X = build_features(ev, "2024-03-01")
    >>> X.loc[1, ["p_recency_days", "p_count_total", "p_aov"]].tolist()
    [29.0, 2.0, 20.0]
    """
    return FeatureBuilder(config).fit(events, as_of).transform(events, as_of, customer_ids)


def _static_feature_name(column: str, taken: dict[str, str]) -> str:
    """``static_`` + a LightGBM-safe form of ``column``, refused if another column has it."""
    name = f"static_{feature_name(column)}"
    clash = next((c for c, f in taken.items() if f == name), None)
    if clash is not None:
        raise ValueError(f"customers: columns {clash!r} and {column!r} both become feature {name!r}; rename one")
    return name
