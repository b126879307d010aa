"""Reading the event tables from a SQL database through SQLAlchemy (``data.source: sql``).

Each configured table is a table or view name, or a ``SELECT``/``WITH`` query. It is read in
chunks over one connection (a server-side cursor where the driver has one), then validated
exactly as files are (:func:`churnlab.events.load_events`: the same mapping, options and
refusals). Given ``before``, only rows whose mapped timestamp is earlier are read: the
``WHERE`` runs in the database on columns it stores as dates or timestamps; a timestamp
column held as text or numbers is read whole and filtered after parsing.

The password comes from the environment variable ``data.password_env`` names, or from the
URL; :func:`redact_url` is how a URL is ever shown or stored.

Failures: the server cannot be reached, refuses the login or drops the connection mid-read
-> :class:`DataSourceError` (exit 3), naming host and port; a missing table, column or a bad
query -> :class:`~churnlab.events.EventValidationError` (exit 2), naming the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from churnlab.events.contract import TABLE_SCHEMAS, EventValidationError, table_error
from churnlab.events.tables import EventTables, load_events

__all__ = ["DataSourceError", "SqlRead", "read_sql_events", "redact_url", "REDACTED"]

#: What a password is shown as in a URL (SQLAlchemy's own mask).
REDACTED = "***"

#: Seconds a connection attempt may take before it is reported as unreachable (libpq waits this
#: long per address a host name resolves to: two addresses stay within 10 s).
CONNECT_TIMEOUT_S = 4

#: Rows fetched per round trip.
CHUNK_ROWS = 100_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_QUERY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_SECRET_KEYS = ("password", "sslpassword")
_INSTALL = "data.source 'sql' needs SQLAlchemy and the database's driver: pip install 'churnlab[sql]'"


class DataSourceError(RuntimeError):
    """The database cannot be reached, refuses the login, or the connection dropped (exit 3).

    The message names the host and port (or the file), never the password.
    """


@dataclasses.dataclass(frozen=True)
class SqlRead:
    """What :func:`read_sql_events` read.

    Attributes
    ----------
    events : EventTables
        The validated tables (only rows before ``before``, when given).
    latest : dict
        ``{table: {our_column: Timestamp}}``: the latest value of each timestamp column of
        each table filtered in the database, over all its rows (also those not read).
    """

    events: EventTables
    latest: dict[str, dict[str, pd.Timestamp]]


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` query value) shown as ``***``.

    Examples
    --------
    >>> redact_url("postgresql+psycopg://churn:s3cret@db.internal:5432/shop")
    'postgresql+psycopg://churn:***@db.internal:5432/shop'
    >>> redact_url("duckdb:///data/shop.duckdb")
    'duckdb:///data/shop.duckdb'
    """
    try:
        from sqlalchemy.engine import make_url
    except ImportError:  # without SQLAlchemy: mask everything between :// and @
        return re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{REDACTED}@", str(url))
    try:
        u = make_url(str(url))
    except Exception:  # not a URL: never shown as written
        return "(a URL SQLAlchemy cannot parse)"
    query = {k: (REDACTED if k.lower() in _SECRET_KEYS else v) for k, v in u.query.items()}
    return u.set(query=query).render_as_string(hide_password=True)


def check_url(url: str) -> str:
    """``url`` when SQLAlchemy can parse it (or SQLAlchemy is absent: checked when read).

    Raises
    ------
    ValueError
        Without the URL in the message (it may hold a password).
    """
    try:
        from sqlalchemy.engine import make_url
    except ImportError:
        return url
    try:
        make_url(url)
    except Exception:
        raise ValueError("not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host:5432/db, duckdb:///shop.duckdb, "
                         "sqlite:///shop.db)") from None
    return url


def _engine(data):
    """A SQLAlchemy engine for ``data.url``, the password from ``data.password_env``."""
    try:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool
    except ImportError:
        raise DataSourceError(_INSTALL) from None
    url = sa.engine.make_url(data.url)
    if data.password_env:
        password = os.environ.get(data.password_env)
        if password is None:
            raise DataSourceError(f"data.password_env: the environment variable {data.password_env} is not set "
                                  f"(it holds the password of {_where(url)})")
        url = url.set(password=password)
    elif url.password == REDACTED:
        raise ValueError(f"data.url: the password of {_where(url)} is not stored with the model; give --config "
                         "(the training config), or name an environment variable in data.password_env")
    if url.get_backend_name() in ("sqlite", "duckdb") and url.database not in (None, "", ":memory:"):
        if not os.path.isfile(url.database):
            raise ValueError(f"data.url: database file not found: {url.database}")
    args: dict[str, Any] = {}
    if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        args["connect_timeout"] = CONNECT_TIMEOUT_S
    if url.get_backend_name() == "duckdb":
        args["read_only"] = True
    try:
        return sa.create_engine(url, connect_args=args, poolclass=NullPool), url
    except ImportError as exc:  # the dialect's driver
        raise DataSourceError(f"{_INSTALL} ({url.drivername}: {exc})") from None
    except Exception as exc:  # e.g. an unknown dialect
        raise ValueError(f"data.url: {redact_url(str(url))}: {_first_line(exc, url)}") from None


def _where(url) -> str:
    """The server (backend, host and port) or file a URL points at, as the messages name it."""
    backend = url.get_backend_name()
    if url.host:
        port = url.port or {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}.get(backend, "default port")
        return f"{backend} server {url.host}:{port}"
    return f"{backend} database {url.database or '(in memory)'}"


def _first_line(exc: BaseException, url) -> str:
    """The driver's own message, first line, without SQLAlchemy's background link or the password."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[:2]).strip()
    text = re.sub(r"\s+", " ", re.sub(r"\(Background on this error.*", "", text))
    if url is not None and url.password:
        text = text.replace(str(url.password), REDACTED)
    return text or type(orig).__name__


def _lost(exc: BaseException, conn) -> bool:
    """Whether a failed statement means the connection is gone (rather than a bad statement)."""
    import sqlalchemy as sa

    if getattr(exc, "connection_invalidated", False):
        return True
    if conn is not None and (conn.invalidated or conn.closed):
        return True
    if isinstance(exc, sa.exc.OperationalError):
        # PostgreSQL: a terminated backend or a server gone; other OperationalErrors (SQLite's
        # "no such table") are statements the database refused
        text = str(getattr(exc, "orig", exc)).lower()
        return any(s in text for s in ("terminat", "server closed", "connection", "shutdown", "ssl syscall"))
    return False


def _source(name: str, value: str) -> tuple[str, str]:
    """``(FROM-clause text, how messages name it)`` of a table name or a query."""
    value = value.strip()
    if _QUERY.match(value):
        return f"({value.rstrip().rstrip(';')}) AS churnlab_src", f"the query of data.tables.{name}"
    if _NAME.match(value):
        return value, f"table {value!r} (data.tables.{name})"
    raise ValueError(f"data.tables.{name}: expected a table or view name (schema.table) or a SELECT/WITH query, "
                     f"got {value[:80]!r}")


def read_sql_events(data, *, before: pd.Timestamp | None = None, chunk_rows: int | None = None) -> SqlRead:
    """Read and validate the tables of a ``data.source: sql`` section.

    Parameters
    ----------
    data : DataConfig
        ``url``, ``password_env``, ``tables`` (our table name -> table, view or query),
        ``mapping`` and the reading options.
    before : Timestamp, optional
        Read only the rows of event tables (not ``customers``) whose timestamp (``ts``,
        ``start_ts`` for subscriptions) is earlier. A table with no such row is refused.
    chunk_rows : int, optional
        Rows fetched per round trip (default :data:`CHUNK_ROWS`).

    Returns
    -------
    SqlRead

    Raises
    ------
    DataSourceError
        The server cannot be reached (within :data:`CONNECT_TIMEOUT_S`), the login fails, or
        the connection drops mid-read (nothing is returned).
    EventValidationError
        A missing table or column, a query the database refuses, no rows before ``before``,
        or any refusal of :func:`load_events`.

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> from churnlab.config import DataConfig
    >>> db = pathlib.Path(tempfile.mkdtemp()) / "shop.db"
    >>> with sqlite3.connect(db) as con:
    ...     _ = con.execute("create table orders (cust_no int, order_date text, total real)")
    ...     _ = con.executemany("insert into orders values (?, ?, ?)", [(1, "2024-01-05", 9.5), (1, "2024-03-01", 4.0)])
    >>> data = DataConfig(source="sql", url=f"sqlite:///{db}", tables={"purchases": "orders"},
    ...                   mapping={"purchases": {"customer_id": "cust_no", "ts": "order_date", "amount": "total"}})
    >>> read = read_sql_events(data, before=pd.Timestamp("2024-02-01"))
    >>> read.events.purchases[["customer_id", "amount"]].to_dict("records")
    [{'customer_id': 1, 'amount': 9.5}]
    """
    before = None if before is None else pd.Timestamp(before)
    chunk_rows = chunk_rows or CHUNK_ROWS
    sources = {name: _source(name, value) for name, value in data.tables.items()}
    engine, url = _engine(data)
    frames: dict[str, pd.DataFrame] = {}
    latest: dict[str, dict[str, pd.Timestamp]] = {}
    try:
        try:
            conn = engine.connect()
        except Exception as exc:
            raise DataSourceError(f"cannot connect to {_where(url)}: {_first_line(exc, url)}") from None
        with conn:
            for name, (src, shown) in sources.items():
                frames[name], cut = _read_one(conn, url, name, src, shown, data, before, chunk_rows)
                if cut:
                    latest[name] = cut
    finally:
        engine.dispose()
    options = {"on_duplicates": data.on_duplicates, "timestamp_unit": data.timestamp_unit, "time_range": data.time_range,
               "date_format": data.date_format}
    events = load_events(**frames, mapping=data.mapping, **options)
    if before is not None:
        events = _before(events, before, sources)
    return SqlRead(events, latest)


def _read_one(conn, url, name: str, src: str, shown: str, data, before, chunk_rows: int):
    """One table as a DataFrame (columns as the database names them), and the latest value of
    its timestamp columns when it was filtered in the database."""
    import sqlalchemy as sa

    mapping = dict(data.mapping.get(name, {}))
    quote = conn.dialect.identifier_preparer.quote

    def run(sql: str, params=None):
        try:
            return conn.execute(sa.text(sql), params or {})
        except Exception as exc:
            if _lost(exc, conn):
                raise DataSourceError(f"{name}: the connection to {_where(url)} was lost: {_first_line(exc, url)}") from None
            conn.rollback()
            raise EventValidationError(f"{name}: {shown}: {_first_line(exc, url)}") from None

    columns = list(run(f"SELECT * FROM {src} WHERE 1 = 0").keys())
    for ours, theirs in mapping.items():
        if theirs not in columns:
            raise table_error(name, ours, f"column mapping says {ours!r} comes from {theirs!r}, but {theirs!r} is not a "
                                          f"column of {shown} (columns: {columns})")
    theirs = {ours: mapping.get(ours, ours) for ours in TABLE_SCHEMAS[name].timestamps if mapping.get(ours, ours) in columns}
    key = TABLE_SCHEMAS[name].timestamps[0]
    where, params, cut = "", {}, {}
    if before is not None and name != "customers":
        if key not in theirs:
            raise table_error(name, key, f"missing required column {mapping.get(key, key)!r} in {shown} (columns: {columns})")
        cols = list(theirs.items())
        row = run(f"SELECT {', '.join(f'MAX({quote(c)})' for _, c in cols)} FROM {src}").one()
        kinds = {ours: v for (ours, _), v in zip(cols, row)}
        # only columns the database holds as dates or timestamps are compared there
        if all(v is None or isinstance(v, dt.date) for v in kinds.values()) and kinds[key] is not None:
            bound = before.to_pydatetime()
            if getattr(kinds[key], "tzinfo", None) is not None:
                bound = before.tz_localize("UTC").to_pydatetime()
            where, params = f" WHERE {quote(theirs[key])} < :churnlab_before", {"churnlab_before": bound}
            cut = {ours: _naive(v) for ours, v in kinds.items() if v is not None}
    stream = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
    try:
        chunks = list(pd.read_sql(sa.text(f"SELECT * FROM {src}{where}"), stream, params=params, chunksize=chunk_rows))
    except Exception as exc:
        if _lost(exc, conn):
            raise DataSourceError(f"{name}: the connection to {_where(url)} was lost mid-read; nothing was written: "
                                  f"{_first_line(exc, url)}") from None
        raise EventValidationError(f"{name}: {shown}: {_first_line(exc, url)}") from None
    n = len(chunks)
    frame = pd.concat(chunks, ignore_index=True) if n > 1 else chunks[0] if n else pd.DataFrame(columns=columns)
    del chunks
    if n > 1:
        frame = frame.infer_objects()  # a chunk of nulls reads as object: the whole column decides
    if before is not None and name != "customers" and frame.empty:
        raise EventValidationError(f"{name}: no rows before {before.date()} in {shown}")
    return frame, cut


def _naive(value) -> pd.Timestamp:
    """A database timestamp as churnlab holds them: timezone-naive UTC."""
    t = pd.Timestamp(value)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def _before(events: EventTables, before: pd.Timestamp, sources: Mapping[str, tuple[str, str]]) -> EventTables:
    """Only the rows before ``before`` (tables whose timestamps the database could not compare)."""
    out = {}
    for name, df in events.tables().items():
        key = TABLE_SCHEMAS[name].timestamps[0]
        if name != "customers" and (df[key] >= before).any():
            df = df[df[key] < before].reset_index(drop=True)
            if df.empty:
                raise EventValidationError(f"{name}: no rows before {before.date()} in {sources[name][1]}")
        out[name] = df
    return EventTables(**out)
