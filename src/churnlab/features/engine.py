"""DuckDB connections for the feature queries: one database per query, or one shared by the
queries of a batch-scoring pass (:func:`shared_databases`)."""

from __future__ import annotations

import contextlib
import threading

import duckdb

__all__ = ["duckdb_connection", "shared_databases"]


# DuckDB databases shared by the feature queries run inside shared_databases() blocks, one
# per thread count (a database's setting), with the number of blocks open
_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()
_shared_blocks = 0


@contextlib.contextmanager
def shared_databases():
    """Inside this block, feature queries on any thread run on a connection to a DuckDB
    database kept for the block rather than on a database of their own: opening a database
    costs ~17 ms, a 50,000-customer chunk's query ~200 ms. An open database holds on to
    ~130 MiB once it has run such queries (DuckDB's allocator, measured; not more with more
    queries): they close, and the memory goes back, when the last open block ends (batch
    scoring opens one per pass)."""
    global _shared_blocks
    with _SHARED_LOCK:
        _shared_blocks += 1
    try:
        yield
    finally:
        with _SHARED_LOCK:
            _shared_blocks -= 1
            if not _shared_blocks:
                for db in _SHARED.values():
                    db.close()
                _SHARED.clear()


@contextlib.contextmanager
def duckdb_connection(threads: int | None):
    """A DuckDB connection with ``threads`` threads (None: DuckDB's default) and
    ``register(name, DataFrame or SELECT)``: to a new database, or inside
    :func:`shared_databases` to the shared one. Either way a new connection per call, closed
    after it, so that the frames and views it registered go with it (one kept per thread held
    on to every chunk it had read: scoring's memory then grew with the list)."""
    config = {} if threads is None else {"threads": int(threads)}
    with _SHARED_LOCK:
        con = None
        if _shared_blocks:
            db = _SHARED.get(threads)
            if db is None:
                db = _SHARED[threads] = duckdb.connect(config=config)
            con = db.cursor()
    if con is None:
        con = duckdb.connect(config=config)

    def register(name: str, obj) -> None:
        if isinstance(obj, str):
            con.execute(f"CREATE TEMP VIEW {name} AS {obj}")
        else:
            con.register(name, obj)
            registered.append(name)

    registered: list[str] = []
    try:
        yield con, register
    finally:
        for name in registered:
            con.unregister(name)
        con.close()
