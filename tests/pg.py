"""A real PostgreSQL server for the tests: ``initdb`` in a temporary folder, started on a free
localhost port, run as an unprivileged user (PostgreSQL refuses root), stopped at teardown.

The binaries are found on PATH or in Debian's /usr/lib/postgresql/<version>/bin. Without
them the tests that need the server are skipped, unless CHURNLAB_REQUIRE_POSTGRES=1 (CI),
which makes their absence a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

USER, PASSWORD, DATABASE = "churn", "pg-Secret-7f3a9", "shop"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then the newest Debian version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """One server: ``url(...)`` for SQLAlchemy, ``stop()`` at the end."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="churnlab-pg-"))  # under /tmp: the server's user can reach it
        self.data = self.root / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = next((u for u in ("postgres", "nobody") if _exists(u)), None)
            if user is None:
                raise RuntimeError("running as root and neither the postgres nor the nobody user exists")
            pw = pwd.getpwnam(user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.prefix:
            os.chown(pwfile, pwd.getpwnam(self.prefix[2]).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "--auth", "scram-sha-256",
                  "-E", "UTF8", "--locale", "C", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=20", "start")
        self.admin(f"CREATE DATABASE {DATABASE}", database="postgres")

    def _run(self, tool: str, *args: str) -> None:
        out = subprocess.run([*self.prefix, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            log = self.root / "log"
            raise RuntimeError(f"{tool} failed: {out.stderr.strip()} {log.read_text() if log.exists() else ''}")

    def url(self, password: str | None = PASSWORD, *, user: str = USER, port: int | None = None) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql+psycopg://{auth}@127.0.0.1:{port or self.port}/{DATABASE}"

    def admin(self, sql: str, *, database: str = DATABASE) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname=database,
                             autocommit=True) as con:
            con.execute(sql)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def start_or_skip() -> Postgres:
    """A started server, or a skip (a failure with CHURNLAB_REQUIRE_POSTGRES=1)."""
    required = os.environ.get("CHURNLAB_REQUIRE_POSTGRES") == "1"
    bindir = find_binaries()
    missing = [m for m in ("sqlalchemy", "psycopg") if not _importable(m)]
    if bindir is None or missing:
        why = "PostgreSQL binaries (initdb, pg_ctl) not found" if bindir is None else f"not installed: {missing}"
        if required:
            pytest.fail(f"CHURNLAB_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(why)
    return Postgres(bindir)


def _importable(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def load_frame(server: Postgres, df, table: str, types: dict[str, str]) -> None:
    """``df`` into a new table with the given column types, through COPY."""
    import psycopg

    cols = ", ".join(f"{c} {types[c]}" for c in df.columns)
    with psycopg.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, dbname=DATABASE) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE TABLE {table} ({cols})")
        with con.cursor().copy(f"COPY {table} ({', '.join(df.columns)}) FROM STDIN") as copy:
            for row in df.itertuples(index=False, name=None):
                copy.write_row([None if _missing(v) else v for v in row])


def _missing(v) -> bool:
    try:
        return v is None or v != v  # NaN, NaT
    except (TypeError, ValueError):
        return False
