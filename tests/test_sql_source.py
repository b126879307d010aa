"""``data.source: sql``: the event tables read from a database through SQLAlchemy.

SQLite and DuckDB files run everywhere. The PostgreSQL tests start a real server
(tests/pg.py): the demo events in the user's own column names train and score from the CLI
exactly as the same rows do from Parquet files; the password is never shown or stored; an
unreachable server, a wrong password, a missing table or column, no rows before the cutoff and
a connection dropped mid-read each exit with one line and the documented code.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import ConfigError, parse_config
from churnlab.datasets import make_demo_events
from churnlab.events import EventValidationError
from churnlab.workflows.training import load_data

import pg
from cli_lines import output_lines

runner = CliRunner()
N = 1500
AS_OF = "2024-11-01"

MAPPING = {
    "purchases": {"customer_id": "cust_no", "ts": "order_date", "amount": "total"},
    "support": {"customer_id": "customer", "ts": "opened", "category": "topic", "resolution_hours": "hours"},
    "surveys": {"customer_id": "customer", "ts": "answered"},
    "customers": {"customer_id": "cust_no", "signup_ts": "created"},
}
QUERY = "select customer, answered, score, kind from answers where kind is not null"


def _own_tables(n=N, seed=0) -> dict[str, pd.DataFrame]:
    """The demo events as a user's tables: their names, their column names, text as text."""
    ev = make_demo_events(n, random_state=seed)
    plain = lambda df: df.assign(**{c: df[c].astype(str) for c in df.columns if df[c].dtype.name == "category"})  # noqa: E731
    back = MAPPING  # {ours: theirs}: the rename from our names to theirs
    return {
        "orders": plain(ev.purchases).rename(columns=back["purchases"]),
        "tickets": plain(ev.support).rename(columns=back["support"]),
        "answers": plain(ev.surveys).rename(columns=back["surveys"]),
        "accounts": plain(ev.customers).rename(columns=back["customers"]),
    }


def _pg_types(df: pd.DataFrame) -> dict[str, str]:
    kinds = {"i": "bigint", "f": "double precision", "M": "timestamp", "b": "boolean", "O": "text"}
    return {c: kinds[df[c].dtype.kind] for c in df.columns}


def _data_section(url: str, **extra) -> dict:
    return {"source": "sql", "url": url,
            "tables": {"purchases": "orders", "support": "tickets", "surveys": QUERY, "customers": "accounts"},
            "mapping": MAPPING, **extra}


def _files_section(folder: Path) -> dict:
    return {"source": "files", "purchases": str(folder / "orders.parquet"), "support": str(folder / "tickets.parquet"),
            "surveys": str(folder / "answers.parquet"), "customers": str(folder / "accounts.parquet"), "mapping": MAPPING}


def _write_files(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for name, df in tables.items():
        (df[df["kind"].notna()] if name == "answers" else df).to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _config(path: Path, data: dict, **extra) -> Path:
    cfg = {
        "name": "sql",
        "data": data,
        "cutoffs": {"start": "2023-07-01", "end": "2024-09-01", "freq": "2MS"},
        "label": {"rule": "fixed", "horizon_days": 90, "active_days": 180},
        "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 40}, "num_boost_round": 40, "screen_features": False},
        "mlflow": {"experiment": "sql"},
    }
    cfg.update(extra)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(args, code=0, env=None):
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == code, (res.exit_code, res.output)
    return res.output


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, output
    return lines[0]


def _sections(tmp_path):
    """The same tables as SQLite and DuckDB databases and as Parquet files."""
    tables = _own_tables(400, seed=1)
    files = _write_files(tables, tmp_path / "files")
    lite = tmp_path / "shop.db"
    with sqlite3.connect(lite) as con:
        for name, df in tables.items():
            df.assign(**{c: df[c].astype(str) for c in df.columns if df[c].dtype.kind == "M"}).to_sql(name, con, index=False)
    duck = tmp_path / "shop.duckdb"
    with duckdb.connect(str(duck)) as con:
        for name, df in tables.items():
            con.register("frame", df)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
    return files, {"sqlite": f"sqlite:///{lite}", "duckdb": f"duckdb:///{duck}"}


# --- SQLite and DuckDB files: no server ------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_sqlite_and_duckdb_read_as_the_files_do(tmp_path, kind):
    files, urls = _sections(tmp_path)
    by_file = load_data(parse_config({"data": _files_section(files), "cutoffs": {"dates": ["2024-01-01"]}}).data)
    section = parse_config({"data": _data_section(urls[kind]), "cutoffs": {"dates": ["2024-01-01"]}}).data
    by_sql = load_data(section)
    for name, df in by_file.tables().items():
        pd.testing.assert_frame_equal(getattr(by_sql, name), df, obj=name)
    # only rows before the cutoff; the others are left in the database (DuckDB) or after parsing (SQLite's text)
    cut = pd.Timestamp("2024-06-01")
    before = load_data(section, before=cut)
    for name in ("purchases", "support", "surveys"):
        want = getattr(by_file, name)
        want = want[want["ts"] < cut].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(before, name), want, obj=name)
        assert len(want) < len(getattr(by_file, name))
    pd.testing.assert_frame_equal(before.customers, by_file.customers)  # not a time-filtered table


def test_duckdb_filters_in_the_database(tmp_path):
    """A row after the cutoff that the contract refuses (a negative amount) is never read."""
    db = tmp_path / "late.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table orders (cust_no bigint, order_date timestamp, total double)")
        con.execute("insert into orders values (1, '2024-01-05', 10), (1, '2024-02-01', 5), (2, '2030-01-01', -5)")
    section = parse_config({"data": {"source": "sql", "url": f"duckdb:///{db}", "tables": {"purchases": "orders"},
                                     "mapping": {"purchases": MAPPING["purchases"]}},
                            "cutoffs": {"dates": ["2024-01-01"]}}).data
    got = load_data(section, before=pd.Timestamp("2024-03-01")).purchases
    assert got["amount"].tolist() == [10.0, 5.0]
    with pytest.raises(EventValidationError, match=r"purchases\.amount"):
        load_data(section)
    with pytest.raises(EventValidationError, match=r"^purchases: no rows before 2024-01-01 in table 'orders'"):
        load_data(section, before=pd.Timestamp("2024-01-01"))


def test_sql_config_keys_and_a_url_never_echoed():
    cut = {"cutoffs": {"dates": ["2024-01-01"]}}
    with pytest.raises(ConfigError, match=r"data: .*needs data.url"):
        parse_config({"data": {"source": "sql", "tables": {"purchases": "orders"}}, **cut})
    with pytest.raises(ConfigError, match=r"needs data.tables.purchases"):
        parse_config({"data": {"source": "sql", "url": "sqlite:///x.db", "tables": {"customers": "accounts"}}, **cut})
    with pytest.raises(ConfigError, match=r"data.url is for data.source 'sql'"):
        parse_config({"data": {"source": "files", "path": "x", "url": "sqlite:///x.db"}, **cut})
    with pytest.raises(ConfigError) as err:
        parse_config({"data": {"source": "sql", "url": "no-url-hunter2", "tables": {"purchases": "o"}}, **cut})
    assert "data.url: not a SQLAlchemy URL" in str(err.value) and "hunter2" not in str(err.value)
    cfg = parse_config({"data": {"source": "sql", "url": "postgresql+psycopg://u:hunter2@h:5/db?password=hunter2",
                                 "tables": {"purchases": "o"}}, **cut})
    assert "hunter2" not in repr(cfg) + str(cfg.model_dump()) + cfg.model_dump_json()
    assert cfg.model_dump()["data"]["url"].startswith("postgresql+psycopg://u:***@h:5/db")


def test_a_missing_table_or_column_exits_2_naming_it(tmp_path):
    _, urls = _sections(tmp_path)
    data = _data_section(urls["sqlite"])
    data["tables"]["purchases"] = "orderz"
    out = _run(["train", "--config", str(_config(tmp_path / "a.yaml", data)), "--workdir", str(tmp_path / "wd")], code=2)
    assert "purchases: table 'orderz' (data.tables.purchases): no such table: orderz" in _one_error_line(out)
    data = _data_section(urls["duckdb"], mapping={**MAPPING, "purchases": {**MAPPING["purchases"], "amount": "totl"}})
    out = _run(["train", "--config", str(_config(tmp_path / "b.yaml", data)), "--workdir", str(tmp_path / "wd")], code=2)
    assert "purchases.amount: column mapping says 'amount' comes from 'totl', but 'totl' is not a column" in _one_error_line(out)
    assert not (tmp_path / "wd" / "mlruns").exists()


# --- a real PostgreSQL server -----------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    srv = pg.start_or_skip()
    try:
        tables = _own_tables()
        for name, df in tables.items():
            pg.load_frame(srv, df, name, _pg_types(df))
        yield srv, tables
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def trained(server, tmp_path_factory):
    """One model trained from PostgreSQL (password from the environment), one from the same
    rows as Parquet files; their train output."""
    srv, tables = server
    tmp = tmp_path_factory.mktemp("sql")
    files = _write_files(tables, tmp / "files")
    env = {"SHOP_DB_PASSWORD": pg.PASSWORD}
    sql_cfg = _config(tmp / "sql.yaml", _data_section(srv.url(None), password_env="SHOP_DB_PASSWORD"))
    file_cfg = _config(tmp / "files.yaml", _files_section(files))
    out_sql = _run(["train", "--config", str(sql_cfg), "--workdir", str(tmp / "wd-sql")], env=env)
    out_files = _run(["train", "--config", str(file_cfg), "--workdir", str(tmp / "wd-files")])
    return {"tmp": tmp, "env": env, "sql_cfg": sql_cfg, "file_cfg": file_cfg, "files": files,
            "sql": (out_sql.split("model: ")[1].split()[0], out_sql), "file": (out_files.split("model: ")[1].split()[0], out_files)}


def _score(uri: str, workdir: Path, out: Path, *extra, code=0, env=None) -> str:
    return _run(["score", "--model", uri, "--workdir", str(workdir), "--as-of", AS_OF, "--out", str(out), *extra],
                code=code, env=env)


@pytest.mark.slow
def test_postgres_train_and_score_equal_the_files(trained):
    t = trained
    (uri_s, out_s), (uri_f, out_f) = t["sql"], t["file"]
    # the same evaluation table, notes and next commands (the run ids aside)
    strip = lambda out, uri: out.replace(uri, "URI").replace(str(t["tmp"]), "TMP").replace("wd-sql", "WD").replace("wd-files", "WD")  # noqa: E731
    # (the progress stages' elapsed seconds aside)
    same = lambda out, uri: output_lines(strip(out, uri).split("tracking:")[0])  # noqa: E731
    assert same(out_s, uri_s) == same(out_f, uri_f)
    assert "--as-of 2025-01-01" in out_s  # the day after the last event in the database, not after the rows read
    # scored from the model's own data section (PostgreSQL, password from the environment) and from the files
    _score(uri_s, t["tmp"] / "wd-sql", t["tmp"] / "s.parquet", env=t["env"])
    _score(uri_f, t["tmp"] / "wd-files", t["tmp"] / "f.parquet")
    s, f = pd.read_parquet(t["tmp"] / "s.parquet"), pd.read_parquet(t["tmp"] / "f.parquet")
    assert len(s) == N and s["churn_probability"].nunique() > 100
    pd.testing.assert_frame_equal(s.drop(columns="model_version"), f.drop(columns="model_version"))

    # the features themselves: the rows before the cutoff from PostgreSQL, all rows from the files
    import mlflow

    from churnlab.scoring import ScoringModel
    from churnlab.workflows.sources import read_scoring_data, scoring_data_section

    mlflow.set_tracking_uri(f"sqlite:///{t['tmp'] / 'wd-sql' / 'mlflow.db'}")
    sm = ScoringModel.load(uri_s)
    as_of = pd.Timestamp(AS_OF)
    os.environ["SHOP_DB_PASSWORD"] = pg.PASSWORD
    try:
        by_sql = read_scoring_data(scoring_data_section(sm.metadata["data"]), before=as_of)
    finally:
        del os.environ["SHOP_DB_PASSWORD"]
    by_file = load_data(parse_config({"data": _files_section(t["files"]), "cutoffs": {"dates": [AS_OF]}}).data)
    assert by_sql.purchases["ts"].max() < as_of <= by_file.purchases["ts"].max()
    pd.testing.assert_frame_equal(sm.builder.transform(by_sql, as_of), sm.builder.transform(by_file, as_of))


@pytest.mark.slow
def test_postgres_password_appears_nowhere(trained, server):
    srv, _ = server
    t = trained
    uri, out = t["sql"]
    wd = t["tmp"] / "wd-sql"
    outputs = [out]
    # the password in the URL this time: score and report with that config, both succeed
    inline = _config(t["tmp"] / "inline.yaml", _data_section(srv.url()))
    outputs.append(_score(uri, wd, t["tmp"] / "inline.parquet", "--config", str(inline)))
    outputs.append(_run(["report", "--model", uri, "--workdir", str(wd), "--as-of", AS_OF, "--config", str(inline),
                         "--out", str(t["tmp"] / "report.html")]))
    # the stored data section names the variable, and the URL without a password
    import mlflow

    from churnlab.scoring import ScoringModel

    mlflow.set_tracking_uri(f"sqlite:///{wd / 'mlflow.db'}")
    stored = ScoringModel.load(uri).metadata["data"]
    assert stored["password_env"] == "SHOP_DB_PASSWORD" and stored["url"] == srv.url(None)
    # a model trained with the password in its URL stores it as ***; scoring from that section asks for it
    wd2 = t["tmp"] / "wd-inline"
    quick = _config(t["tmp"] / "inline-quick.yaml", _data_section(srv.url()),
                    model={"candidates": ["logistic_regression"], "explanation_cache_mb": 0})
    out2 = _run(["train", "--config", str(quick), "--workdir", str(wd2)])
    outputs.append(out2)
    uri2 = out2.split("model: ")[1].split()[0]
    mlflow.set_tracking_uri(f"sqlite:///{wd2 / 'mlflow.db'}")
    assert ScoringModel.load(uri2).metadata["data"]["url"] == srv.url("***")
    err = _score(uri2, wd2, t["tmp"] / "x.parquet", code=2)
    assert "data.url: the password of postgresql server 127.0.0.1:" in _one_error_line(err)
    outputs.append(err)
    for text in outputs:
        assert pg.PASSWORD not in text
    for root in (wd, wd2, t["tmp"]):
        for p in root.rglob("*"):
            if p.is_file() and p.suffix not in (".yaml",):  # the inline config itself holds it, by design
                assert pg.PASSWORD.encode() not in p.read_bytes(), p


@pytest.mark.slow
def test_postgres_failures_exit_with_one_line(trained, server):
    srv, _ = server
    t = trained
    uri, _ = t["sql"]
    wd = t["tmp"] / "wd-sql"

    def score_with(data: dict, name: str, code: int, *extra, env=None) -> str:
        cfg = _config(t["tmp"] / f"{name}.yaml", data)
        out = t["tmp"] / f"{name}.parquet"
        line = _one_error_line(_score(uri, wd, out, "--config", str(cfg), *extra, code=code, env=env))
        assert not out.exists() and pg.PASSWORD not in line
        return line

    # nothing listens on the port: refused at once
    closed = pg.free_port()
    assert f"cannot connect to postgresql server 127.0.0.1:{closed}" in score_with(_data_section(srv.url(port=closed)), "closed", 3)
    # a listener that never answers: given up within 10 s
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        line = score_with(_data_section(srv.url(port=port)), "silent", 3)
        assert time.monotonic() - started < 10 and f"127.0.0.1:{port}" in line
    # a wrong password: refused, not shown
    line = score_with(_data_section(srv.url("Wrong-pw-4411")), "wrong", 3)
    assert "password authentication failed" in line and "Wrong-pw-4411" not in line
    # an unset password variable
    assert "SHOP_DB_PW2 is not set" in score_with(_data_section(srv.url(None), password_env="SHOP_DB_PW2"), "unset", 3)
    # a missing table, a missing column
    missing = _data_section(srv.url())
    missing["tables"]["support"] = "crm.tickets"
    assert 'support: table \'crm.tickets\' (data.tables.support): relation "crm.tickets" does not exist' in score_with(missing, "table", 2)
    bad_col = _data_section(srv.url(), mapping={**MAPPING, "support": {**MAPPING["support"], "ts": "opened_at"}})
    assert "support.ts: column mapping says 'ts' comes from 'opened_at'" in score_with(bad_col, "column", 2)
    bad_query = _data_section(srv.url())
    bad_query["tables"]["surveys"] = "select customer, answered, nps from answers"
    assert 'surveys: the query of data.tables.surveys: column "nps" does not exist' in score_with(bad_query, "query", 2)
    # no rows before the cutoff
    cfg = _config(t["tmp"] / "early.yaml", _data_section(srv.url()))
    early = _run(["score", "--model", uri, "--workdir", str(wd), "--as-of", "2022-06-01", "--out", str(t["tmp"] / "e.parquet"),
                  "--config", str(cfg)], code=2)
    assert "purchases: no rows before 2022-06-01 in table 'orders' (data.tables.purchases)" in _one_error_line(early)


@pytest.mark.slow
def test_postgres_connection_dropped_mid_read_exits_3_and_writes_nothing(trained, server, monkeypatch):
    """The customers view sleeps at its 600th row, after three chunks of 200 came back; another
    connection then terminates the reading backend."""
    import psycopg

    import churnlab.events.sql as sql

    srv, _ = server
    t = trained
    uri, _ = t["sql"]
    srv.admin("CREATE OR REPLACE FUNCTION nap(n bigint) RETURNS boolean LANGUAGE plpgsql AS "
              "$$ BEGIN IF n = 600 THEN PERFORM pg_sleep(60); END IF; RETURN true; END $$")
    srv.admin("CREATE OR REPLACE VIEW accounts_slow AS SELECT a.* FROM accounts a "
              "JOIN (SELECT cust_no, row_number() OVER (ORDER BY cust_no) AS rn FROM accounts) r USING (cust_no) WHERE nap(r.rn)")
    monkeypatch.setattr(sql, "CHUNK_ROWS", 200)
    killed = []

    def kill():
        with psycopg.connect(host="127.0.0.1", port=srv.port, user=pg.USER, password=pg.PASSWORD, dbname=pg.DATABASE,
                             autocommit=True) as con:
            for _ in range(300):
                rows = con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()").fetchall()
                if rows:
                    killed.append(len(rows))
                    return
                time.sleep(0.1)

    watcher = threading.Thread(target=kill)
    watcher.start()
    data = _data_section(srv.url())
    data["tables"]["customers"] = "accounts_slow"
    cfg = _config(t["tmp"] / "slow.yaml", data)
    out = t["tmp"] / "dropped.parquet"
    res = _score(uri, t["tmp"] / "wd-sql", out, "--config", str(cfg), code=3)
    watcher.join()
    assert killed == [1]
    line = _one_error_line(res)
    assert f"customers: the connection to postgresql server 127.0.0.1:{srv.port} was lost mid-read" in line
    assert not out.exists() and not list(out.parent.glob("dropped*"))


@pytest.mark.slow
def test_postgres_monitor_reads_the_later_rows(trained):
    """monitor needs the rows after the scores' cutoff: it reads the table whole, as from the files."""
    t = trained
    out = {}
    for kind, wd, env in (("sql", "wd-sql", t["env"]), ("file", "wd-files", None)):
        uri = t[kind][0]
        scores = t["tmp"] / f"past-{kind}.parquet"
        _run(["score", "--model", uri, "--workdir", str(t["tmp"] / wd), "--as-of", "2024-09-01", "--out", str(scores)], env=env)
        out[kind] = _run(["monitor", "--model", uri, "--workdir", str(t["tmp"] / wd), "--scores", str(scores)], env=env)
    assert "scores as of 2024-09-01" in out["sql"] and "ROC-AUC" in out["sql"]
    assert out["sql"] == out["file"]


def test_a_database_file_is_relative_to_the_config(tmp_path):
    from churnlab.config import load_config

    (tmp_path / "configs").mkdir()
    for where, expect in ((tmp_path / "mine.yaml", tmp_path / "x" / "shop.db"), (tmp_path / "configs" / "c.yaml", tmp_path / "x" / "shop.db")):
        where.write_text('data: {source: sql, url: "sqlite:///x/shop.db?mode=ro", tables: {purchases: orders}}\n'
                         "cutoffs: {dates: [2024-01-01]}\n")
        assert load_config(where).data.url == f"sqlite:///{expect}?mode=ro"
    (tmp_path / "abs.yaml").write_text('data: {source: sql, url: "duckdb:////data/shop.duckdb", tables: {purchases: o}}\n'
                                       "cutoffs: {dates: [2024-01-01]}\n")
    assert load_config(tmp_path / "abs.yaml").data.url == "duckdb:////data/shop.duckdb"
    with pytest.raises(ValueError, match=r"^data.url: database file not found: .*x/shop.db$"):
        load_data(load_config(tmp_path / "mine.yaml").data)


@pytest.mark.slow
def test_postgres_backtest_equals_the_files(trained):
    """`churnlab backtest` reads the database as train does: the same fold table as from files."""
    tmp, env = trained["tmp"], trained["env"]
    tables = {}
    for kind in ("sql", "file"):
        out = tmp / f"backtest-{kind}.csv"
        _run(["backtest", "--config", str(trained[f"{kind}_cfg"]), "--folds", "1", "--no-track", "--out", str(out)], env=env)
        tables[kind] = pd.read_csv(out)
    assert len(tables["sql"]) > 0 and tables["sql"]["shipped"].sum() == 1
    pd.testing.assert_frame_equal(tables["sql"], tables["file"])
