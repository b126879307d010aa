"""5,000,000 purchases read from PostgreSQL against the same rows from Parquet: time and peak memory.

A real PostgreSQL (tests/pg.py: initdb in a temporary folder, a free localhost port) holds the
purchases in the user's own column names (cust_no, order_date timestamp, total, product,
channel); the same rows are one Parquet file. Each read is one fresh process (so that its peak
RSS is its own): ``read_sql_events(data, before=as_of)`` with ``as_of`` after the last row
(every row read, in chunks of 100,000 through a server-side cursor) against
``load_events(purchases="orders.parquet", mapping=...)``; both validate. Median of 3, min-max.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import machine, volume_events

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
N = 5_000_000
REPEATS = 3
MAPPING = {"purchases": {"customer_id": "cust_no", "ts": "order_date", "amount": "total"}}

PROBE = """
import json, sys
sys.path.insert(0, {bench!r})
from _util import measure
import pandas as pd
from churnlab.config import DataConfig
from churnlab.events import load_events
from churnlab.events.sql import read_sql_events
mapping = {mapping!r}
if {kind!r} == "sql":
    data = DataConfig(source="sql", url={url!r}, tables={{"purchases": "orders"}}, mapping=mapping)
    ev, secs, mib = measure(lambda: read_sql_events(data, before=pd.Timestamp("2030-01-01")).events)
else:
    ev, secs, mib = measure(load_events, purchases={parquet!r}, mapping=mapping)
print(json.dumps({{"secs": secs, "mib": mib, "rows": len(ev.purchases)}}))
"""


def probe(kind: str, url: str, parquet: str) -> dict:
    code = PROBE.format(bench=str(HERE), mapping=MAPPING, kind=kind, url=url, parquet=parquet)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import psycopg

    import pg

    print(f"# {N:,} purchases: PostgreSQL against Parquet ({machine()})")
    orders = volume_events(n_customers=200_000, n_purchases=N, n_tickets=10, n_surveys=10).purchases
    orders = orders.rename(columns={"customer_id": "cust_no", "ts": "order_date", "amount": "total"})
    orders = orders[["cust_no", "order_date", "total", "product", "channel"]].astype({"product": str, "channel": str})
    server = pg.start_or_skip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            parquet = str(Path(tmp) / "orders.parquet")
            orders.to_parquet(parquet, index=False)
            csv = Path(tmp) / "orders.csv"
            orders.to_csv(csv, index=False, header=False)
            del orders
            with psycopg.connect(host="127.0.0.1", port=server.port, user=pg.USER, password=pg.PASSWORD,
                                 dbname=pg.DATABASE) as con:
                con.execute("CREATE TABLE orders (cust_no bigint, order_date timestamp, total double precision, "
                            "product text, channel text)")
                with con.cursor().copy("COPY orders FROM STDIN WITH (FORMAT csv)") as copy, csv.open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                con.execute("ANALYZE orders")
            runs = {k: [probe(k, server.url(), parquet) for _ in range(REPEATS)] for k in ("parquet", "sql")}
    finally:
        server.stop()
    print("| source | rows | time: median (min-max) | peak RSS growth: median (min-max) |")
    print("|---|---|---|---|")
    for kind, rs in runs.items():
        secs, mib = [r["secs"] for r in rs], [r["mib"] for r in rs]
        print(f"| {kind} | {rs[0]['rows']:,} | {statistics.median(secs):.1f} s ({min(secs):.1f}-{max(secs):.1f}) | "
              f"{statistics.median(mib):,.0f} MiB ({min(mib):,.0f}-{max(mib):,.0f}) |")


if __name__ == "__main__":
    main()
