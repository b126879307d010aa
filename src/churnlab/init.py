"""``churnlab init PATH``: look at a folder of event files or at one customer table and write a
commented training config with the table files, column mapping and cutoffs it guessed.

The guesses are by name (file names for tables, column names for columns) and by the date
range of the data; every guess is written into the config, where it can be corrected.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from churnlab.escaping import printable
from churnlab.events import TABLE_SCHEMAS, read_table

__all__ = ["guess_config", "render_config"]

#: File-name stems that mean each event table (lower case, without extension).
TABLE_NAMES = {
    "purchases": ("purchases", "orders", "transactions", "sales", "invoices"),
    "support": ("support", "tickets", "cases", "contacts"),
    "surveys": ("surveys", "nps", "csat", "responses", "feedback"),
    "customers": ("customers", "accounts", "users", "clients", "members"),
}

#: Column names that mean each contract column, best first (lower case, "_" and " " ignored).
COLUMN_NAMES = {
    "customer_id": ("customerid", "customer", "custid", "custno", "clientid", "userid", "accountid", "memberid", "id"),
    "ts": ("ts", "timestamp", "orderdate", "date", "datetime", "createdat", "eventtime", "time", "openedat", "answeredat"),
    "amount": ("amount", "total", "ordertotal", "revenue", "value", "sales", "price", "dollarvalue"),
    "quantity": ("quantity", "qty", "units", "items"),
    "product": ("product", "sku", "item", "category"),
    "channel": ("channel", "source"),
    "category": ("category", "topic", "reason", "type"),
    "resolution_hours": ("resolutionhours", "hourstoresolve", "resolutiontime"),
    "score": ("score", "rating", "nps", "csat"),
    "kind": ("kind", "surveytype", "type"),
    "signup_ts": ("signupts", "signupdate", "signup", "createdat", "joined", "startdate"),
    "cancel_ts": ("cancelts", "canceldate", "cancelledat", "enddate", "churndate"),
}

LABEL_NAMES = ("churn", "churned", "exited", "ischurn", "label", "target", "attrition", "left")
TIME_NAMES = ("snapshot", "snapshotdate", "asof", "date", "month", "period")


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _pick(columns, wanted: tuple[str, ...], taken: set[str] = frozenset()) -> str | None:
    keys = {_key(c): c for c in columns if c not in taken}
    return next((keys[w] for w in wanted if w in keys), None)


def _mapping(table: str, columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """``{our_column: their_column}`` for the contract's columns found, and what is missing."""
    schema = TABLE_SCHEMAS[table]
    found: dict[str, str] = {}
    for ours in (*schema.required, *schema.optional):
        if ours in columns:
            found[ours] = ours
            continue
        theirs = _pick(columns, COLUMN_NAMES.get(ours, (ours,)), set(found.values()))
        if theirs is not None:
            found[ours] = theirs
    missing = [c for c in schema.required if c not in found]
    return {k: v for k, v in found.items() if k != v}, missing


def _monthly_cutoffs(ts: pd.Series, horizon_days: int) -> dict:
    """Month starts from 90 days after the first event to ``horizon_days`` before the last."""
    ts = pd.to_datetime(ts, errors="coerce", format="mixed").dropna()
    first, last = ts.min(), ts.max()
    start = (first + pd.Timedelta(days=90)).to_period("M").to_timestamp() + pd.offsets.MonthBegin(1)
    end = (last - pd.Timedelta(days=horizon_days)).to_period("M").to_timestamp()
    return {"start": str(start.date()), "end": str(max(end, start).date()), "freq": "MS"}


def guess_config(path: str | Path) -> tuple[dict, list[str]]:
    """A training config for the data at ``path`` and notes on what was guessed.

    Parameters
    ----------
    path : str or Path
        A folder of event tables (CSV/Parquet), or one customer table with a label column.

    Returns
    -------
    (dict, list of str)
        The config (validates with :func:`churnlab.parse_config`) and one note per guess or gap.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> pd.DataFrame({"cust_no": [1, 1, 2], "order_date": ["2024-01-05", "2024-06-01", "2024-03-01"],
    ...               "total": [5.0, 7.0, 9.0]}).to_csv(f"{folder}/orders.csv", index=False)
    >>> cfg, notes = guess_config(folder)
    >>> cfg["data"]["mapping"]
    {'purchases': {'customer_id': 'cust_no', 'ts': 'order_date', 'amount': 'total'}}
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"PATH: not found: {path}")
    notes: list[str] = []
    if path.is_file():
        df = read_table(path, "table")
        label = _pick(df.columns, LABEL_NAMES)
        if label is None:
            raise ValueError(f"{path.name}: no label column (one of {', '.join(LABEL_NAMES)}); for event data give a folder")
        ident = _pick(df.columns, COLUMN_NAMES["customer_id"], {label})
        if ident is None:
            raise ValueError(f"{path.name}: no customer id column (one of {', '.join(COLUMN_NAMES['customer_id'])})")
        time = _pick(df.columns, TIME_NAMES, {label, ident})
        notes.append(f"table {path.name}: id {ident!r}, label {label!r}, " + (f"snapshot time {time!r}" if time else "no time column: a seeded stratified split"))
        data = {"source": "table", "path": str(path.resolve()), "id": ident, "label": label, "time": time}
        return {"name": path.stem, "data": data, "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 0},
                "mlflow": {"experiment": path.stem}}, notes
    files = {p: p.name.split(".")[0].lower() for p in sorted(path.iterdir()) if p.suffix.lower() in (".csv", ".parquet")}
    data: dict = {"source": "files", "mapping": {}, "on_duplicates": "raise"}
    purchases_ts = None
    for table, stems in TABLE_NAMES.items():
        match = next((p for p, stem in files.items() if stem in stems), None)
        if match is None:
            continue
        columns = list(read_table(match, table).columns)
        mapping, missing = _mapping(table, columns)
        data[table] = str(match.resolve())
        if mapping:
            data["mapping"][table] = mapping
        notes.append(f"{table}: {match.name}" + (f", columns {mapping}" if mapping else ""))
        if missing:
            notes.append(f"{table}: no column found for {missing}: add them to data.mapping.{table}")
        if table == "purchases":
            ts_col = mapping.get("ts", "ts")
            purchases_ts = read_table(match, table)[ts_col] if ts_col in columns else None
    if "purchases" not in data:
        raise ValueError(f"PATH: no purchases file in {path} (a file named {' / '.join(TABLE_NAMES['purchases'])}, .csv or .parquet)")
    if not data["mapping"]:
        del data["mapping"]
    cfg = {"name": path.name, "data": data, "label": {"rule": "fixed", "horizon_days": 90, "active_days": 365},
           "mlflow": {"experiment": path.name}}
    if purchases_ts is not None:
        cfg["cutoffs"] = _monthly_cutoffs(purchases_ts, 90)
        notes.append(f"cutoffs: monthly from {cfg['cutoffs']['start']} to {cfg['cutoffs']['end']} (the purchases' date range)")
    else:
        cfg["cutoffs"] = {"start": "2024-01-01", "end": "2024-12-01", "freq": "MS"}
        notes.append("cutoffs: could not read the purchase dates; set cutoffs.start and cutoffs.end")
    return cfg, notes


class _Quoted(str):
    """A text value written double-quoted, with escapes: never read back as another type or key."""


class _ConfigDumper(yaml.SafeDumper):
    pass


_ConfigDumper.add_representer(_Quoted, lambda dumper, s: dumper.represent_scalar("tag:yaml.org,2002:str", s, style='"'))


def _quoted(value):
    if isinstance(value, dict):
        return {k: _quoted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_quoted(v) for v in value]
    return _Quoted(value) if isinstance(value, str) else value


def render_config(cfg: dict, notes: list[str]) -> str:
    """The config as YAML, headed by the notes as comments.

    Every text value is double-quoted (file and column names with line breaks, ``: ``, ``#``
    or quotes read back as the same text), and each note is one comment line, its control
    characters and line breaks shown as escapes (:func:`churnlab.escaping.printable`).

    >>> print(render_config({"name": "x", "model": {"rounds": 10}}, ["a guess\\nmodel: 1"]))
    # Written by `churnlab init`. Check every guess below, then: churnlab train --config <this file>
    # - a guess\\nmodel: 1
    name: "x"
    model:
      rounds: 10
    <BLANKLINE>
    """
    head = ["# Written by `churnlab init`. Check every guess below, then: churnlab train --config <this file>"]
    head += [f"# - {printable(n)}" for n in notes]
    return "\n".join(head) + "\n" + yaml.dump(_quoted(cfg), Dumper=_ConfigDumper, sort_keys=False, width=10_000)
