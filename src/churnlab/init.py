"""``churnlab init PATH``: look at a folder of event files or at one customer table and write a
commented training config with the table files, column mapping and cutoffs it guessed.

The guesses are by name (file names for tables, column names for columns) and by the date
range of the data; every guess is written into the config, where it can be corrected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import yaml

from churnlab.escaping import printable
from churnlab.events import TABLE_SCHEMAS, read_table, validate_table
from churnlab.events.dates import parse_text_timestamps
from churnlab.features.table import LABEL_VALUES, column_kind

__all__ = ["guess_config", "render_config"]

#: File-name stems that mean each event table (lower case, without extension).
TABLE_NAMES = {
    "purchases": ("purchases", "orders", "transactions", "sales", "invoices", "purchase", "order"),
    "support": ("support", "tickets", "cases", "contacts", "ticket", "complaints"),
    "surveys": ("surveys", "nps", "csat", "responses", "feedback", "survey"),
    "customers": ("customers", "accounts", "users", "clients", "members", "customer", "crm"),
}
#: File endings read (a folder's other files are ignored).
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

#: Column names that mean each contract column, best first (compared lower case, separators ignored).
COLUMN_NAMES = {
    "customer_id": ("customerid", "customer", "custid", "custno", "customerno", "customernumber", "customerkey",
                    "clientid", "clientnum", "clientno", "client", "userid", "user", "accountid", "accountno",
                    "account", "memberid", "member", "cust", "id"),
    "ts": ("ts", "timestamp", "invoicedate", "orderdate", "purchasedate", "transactiondate", "saledate", "createdat",
           "purchasedat", "orderedat", "openedat", "answeredat", "submittedat", "respondedat", "eventtime",
           "datetime", "ordertime", "created", "date", "time"),
    "amount": ("amount", "total", "ordertotal", "totalamount", "orderamount", "revenue", "sales", "salesamount",
               "value", "ordervalue", "dollarvalue", "spend", "netamount", "grossamount", "totalprice", "linetotal"),
    "quantity": ("quantity", "qty", "units", "items", "numitems"),
    "product": ("product", "productid", "sku", "stockcode", "item", "itemid", "category"),
    "channel": ("channel", "saleschannel", "via", "source", "medium", "platform", "contactchannel", "orderchannel"),
    "category": ("category", "topic", "reason", "type", "issue", "issuetype", "subject", "tickettype"),
    "resolution_hours": ("resolutionhours", "hourstoresolve", "resolutiontime", "hourstoclose"),
    "resolved_ts": ("resolvedts", "resolvedat", "closedat", "closedts", "resolveddate", "closeddate", "solvedat", "closed"),
    "score": ("score", "rating", "nps", "csat", "npsscore"),
    "kind": ("kind", "surveytype", "type"),
    "signup_ts": ("signupts", "signupdate", "signup", "signedup", "signedupat", "signupat", "created", "createdat",
                  "createddate", "creationdate", "registered", "registeredat", "registrationdate", "joined", "joinedat",
                  "joindate", "datejoined", "startdate", "since", "customersince"),
    "cancel_ts": ("cancelts", "canceldate", "cancelledat", "canceledat", "cancellationdate", "enddate", "churndate"),
}
#: Columns read as timestamps: a candidate for them must hold dates.
DATE_COLUMNS = ("ts", "signup_ts", "cancel_ts", "resolved_ts")
#: What each contract column means, for the config's comments.
COLUMN_HELP = {
    "customer_id": "the customer id", "ts": "when it happened", "amount": "the order's value",
    "quantity": "units bought", "product": "what was bought", "channel": "the sales or contact channel",
    "category": "the ticket's topic", "resolution_hours": "hours to resolve (empty: open)",
    "resolved_ts": "when it was resolved (resolution hours = resolved - opened; empty: open)",
    "score": "the survey score", "kind": "nps or csat", "signup_ts": "the sign-up date", "cancel_ts": "the cancel date",
}
#: Unit prices are not order values: churnlab does not multiply them by quantities.
PRICE_NAMES = ("price", "unitprice", "itemprice", "priceeach")
#: Formats tried, in order, for text dates that are not ISO 8601 (one that alone reads every value is used).
DATE_FORMATS = ("%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y",
                "%d.%m.%Y", "%d.%m.%Y %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%d-%m-%Y", "%Y%m%d")

LABEL_NAMES = ("churn", "churned", "churnflag", "churnlabel", "ischurn", "ischurned", "attrition", "attritionflag",
               "exited", "exit", "left", "cancelled", "canceled", "status", "label", "target")
#: Words in a text label value that mean churned (compared lower case; "1" only as the whole value).
POSITIVE_WORDS = ("attrited", "attrition", "churn", "yes", "true", "left", "exited", "cancel", "lost", "closed")
TIME_NAMES = ("snapshot", "snapshotdate", "asof", "date", "month", "period")
#: Column names of identifiers in a customer table: left out of the features (data.exclude).
ROW_NAMES = ("rownumber", "rownum", "rowid", "row", "index", "unnamed0", "recordid", "recordno")
PERSON_NAMES = ("name", "surname", "firstname", "lastname", "fullname", "customername", "username", "givenname",
                "familyname", "phone", "phonenumber", "mobile", "address")
#: Label horizons tried, longest first, for the cutoffs of event data.
HORIZONS = (90, 60, 30)
#: Most monthly cutoffs written (the latest ones are kept).
MAX_GUESSED_CUTOFFS = 36

#: What each config key means, for the comment after it.
KEY_HELP = {
    "name": "the run's name",
    "data": "where the data is and how it is read",
    "data.source": "files: event tables; table: one customer table with its own label",
    "data.path": "the customer table, relative to this config's folder",
    "data.purchases": "orders file (relative to this config's folder)",
    "data.support": "support tickets file (relative to this config's folder)",
    "data.surveys": "survey answers file (relative to this config's folder)",
    "data.customers": "customer attributes file (relative to this config's folder)",
    "data.mapping": "your column names for ours, per table (ours: yours)",
    "data.on_duplicates": "identical rows: raise (stop), drop or keep",
    "data.date_format": "strftime format of text dates that are not ISO (YYYY-MM-DD), per table",
    "data.id": "the customer id column (null: rows are numbered)",
    "data.label": "the churn label column",
    "data.positive": "the label value meaning churned; the other value means stayed",
    "data.time": "the snapshot-date column (null: a seeded stratified split)",
    "data.exclude": "columns left out of the features",
    "cutoffs": "snapshot dates: features before each, the label in the horizon after",
    "cutoffs.start": "first snapshot date",
    "cutoffs.end": "last snapshot date (the test period)",
    "cutoffs.freq": "MS: the first day of every month",
    "label": "what churned means",
    "label.rule": "fixed: no purchase in the horizon after a cutoff",
    "label.horizon_days": "the label window after each cutoff, in days",
    "label.active_days": "no purchase in this many days before a cutoff: already gone, left out",
    "split": "how the table's rows are split",
    "split.test_size": "share of rows held out for the test",
    "split.validation_size": "share of rows that pick and calibrate the model",
    "split.seed": "seed of the stratified split",
    "mlflow": "where runs are logged",
    "mlflow.experiment": "the MLflow experiment's name",
}


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _pick(columns, wanted: tuple[str, ...], taken: set[str] = frozenset(), ok=lambda c: True) -> str | None:
    keys = {}
    for c in columns:
        if c not in taken:
            keys.setdefault(_key(c), c)
    return next((keys[w] for w in wanted if w in keys and ok(keys[w])), None)


def _date_format(s: pd.Series) -> tuple[bool, str | None]:
    """(holds dates, the format they need: None for ISO 8601 or datetimes) of a column."""
    values = s.dropna()
    if values.empty or pd.api.types.is_bool_dtype(s.dtype):
        return False, None
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True, None
    if pd.api.types.is_numeric_dtype(s.dtype):
        return False, None
    if parse_text_timestamps(values)[0] is not None:
        return True, None
    fits = [f for f in DATE_FORMATS if parse_text_timestamps(values, f)[0] is not None]
    return bool(fits), (fits[0] if len(fits) == 1 else "ambiguous" if fits else None)


def _mapping(table: str, df: pd.DataFrame, why: dict, prefix: str) -> tuple[dict[str, str], list[str], str | None]:
    """``{our_column: their_column}`` for the contract's columns found (renamed ones only),
    the required ones missing, and the text-date format the table needs."""
    schema = TABLE_SCHEMAS[table]
    columns = list(df.columns)
    found: dict[str, str] = {}
    formats: set[str] = set()
    for ours in (*schema.required, *schema.optional):
        dates = ours in DATE_COLUMNS
        if ours in columns:
            found[ours] = ours
        else:
            names, taken = COLUMN_NAMES.get(ours, (_key(ours),)), set(found.values())
            theirs = _pick(columns, names, taken, (lambda c: _date_format(df[c])[0]) if dates else (lambda c: True))
            why[f"{prefix}.{ours}"] = "guessed from the name"
            if theirs is None and dates and ours in schema.required:
                theirs = _pick(columns, names, taken)
                why[f"{prefix}.{ours}"] = ("guessed from the name, but its values are not dates as written: "
                                           "set data.timestamp_unit (epoch numbers) or data.date_format")
            if theirs is None:
                del why[f"{prefix}.{ours}"]
                continue
            found[ours] = theirs
        if dates:
            fmt = _date_format(df[found[ours]])[1]
            if fmt is not None:
                formats.add(fmt)
    if "resolved_ts" in found and "resolution_hours" in found:
        del found["resolved_ts"]  # the hours as given
    missing = [c for c in schema.required if c not in found and not (c == "resolution_hours" and "resolved_ts" in found)]
    fmt = formats.pop() if len(formats) == 1 else ("ambiguous" if formats else None)
    return {k: v for k, v in found.items() if k != v}, missing, fmt


def _month_start(ts: pd.Timestamp, *, up: bool) -> pd.Timestamp:
    start = ts.to_period("M").to_timestamp()
    return start + pd.offsets.MonthBegin(1) if up and start < ts else start


def _event_cutoffs(first: pd.Timestamp, last: pd.Timestamp) -> tuple[dict, int, str]:
    """Monthly cutoffs within the data's own range and the label horizon they leave room for.

    Each horizon of :data:`HORIZONS`, longest first: cutoffs from the first month start at least
    one horizon (the features' history) after the first purchase to the last month start at
    least one horizon before the last purchase (its label window must be observed), the latest
    :data:`MAX_GUESSED_CUTOFFS` of them; the first horizon whose cutoffs split into train,
    validation and test (:func:`churnlab.models.split.time_split`) with two or more training
    cutoffs is used, else the first with one.
    """
    from churnlab.models.split import time_split

    tried = []
    for horizon in HORIZONS:
        h = pd.Timedelta(days=horizon)
        start, end = _month_start(first + h, up=True), _month_start(last - h, up=False)
        if end < start:
            continue
        start = max(start, end - pd.DateOffset(months=MAX_GUESSED_CUTOFFS - 1))
        cuts = list(pd.date_range(start, end, freq="MS"))
        try:
            n_train = len(time_split(cuts, horizon)["train"])
        except ValueError:
            continue
        tried.append((n_train >= 2, horizon, start, end, n_train))
        if n_train >= 2:
            break
    span = f"purchases from {first.date()} to {last.date()}"
    if not tried:
        end = _month_start(last, up=False)
        return ({"start": str(end.date()), "end": str(end.date()), "freq": "MS"}, HORIZONS[-1],
                f"{span}: too short for a train/validation/test split even with a {HORIZONS[-1]}-day horizon; "
                "set cutoffs.start/end and label.horizon_days")
    _, horizon, start, end, n_train = max(tried, key=lambda t: (t[0], t[1]))
    return ({"start": str(start.date()), "end": str(end.date()), "freq": "MS"}, horizon,
            f"{span}: monthly, {horizon} days of history before the first cutoff and a {horizon}-day label "
            f"horizon after the last ({n_train} training cutoffs)")


def _where(file: Path, base: Path | None) -> str:
    """``file`` as the config writes it: relative to ``base`` (the folder load_config resolves
    against) when given and possible, absolute otherwise."""
    file = file.resolve()
    if base is None:
        return str(file)
    try:
        return Path(os.path.relpath(file, base)).as_posix()
    except ValueError:  # another drive
        return str(file)


def _positive(values: list) -> str | None:
    """The label value meaning churned, by its words (:data:`POSITIVE_WORDS`); None: unclear."""
    hits = [v for v in values if str(v).strip() == "1"
            or any(w in str(v).strip().lower() for w in POSITIVE_WORDS if w != "1")]
    return str(hits[0]).strip() if len(hits) == 1 else None


def _identifier_reason(s: pd.Series, column: str) -> str | None:
    """Why a column of a customer table is an identifier (left out), or None."""
    key = _key(column)
    if key in ROW_NAMES:
        return "row numbers"
    if "email" in key or key == "mail":
        return "e-mail addresses"
    if key in PERSON_NAMES:
        return "names or contact details"
    text = s.dropna().astype(str)
    if s.dtype == object and len(text) and text.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", regex=True).mean() > 0.5:
        return "e-mail addresses"
    kind, _ = column_kind(s, str(column))
    if kind == "identifier":
        return "near-unique values" if s.dtype == object else "row numbers"
    return None


def _table_config(path: Path, base: Path | None) -> tuple[dict, list[str], dict]:
    df = read_table(path, "table")
    notes: list[str] = []
    why: dict[str, str] = {}

    def two_values(c) -> bool:
        return df[c].dropna().astype(str).str.strip().nunique() == 2

    label = _pick(df.columns, LABEL_NAMES, ok=two_values) or next(
        (c for c in df.columns if any(w in _key(c) for w in ("churn", "attrition")) and two_values(c)), None)
    if label is None:
        raise ValueError(f"{path.name}: no label column (one of {', '.join(LABEL_NAMES)}, with two distinct values); "
                         "for event data give a folder")
    values = sorted(df[label].dropna().astype(str).str.strip().unique())
    positive = None
    if not all(v.lower() in LABEL_VALUES for v in values):
        positive = _positive(values)
        if positive is None:
            notes.append(f"label {label!r}: could not tell which of {values} means churned: set data.positive")
        else:
            why["data.positive"] = f"guessed from its words; the other value, {next(v for v in values if v != positive)!r}, is 0"
    ident = _pick(df.columns, COLUMN_NAMES["customer_id"], {label}, ok=lambda c: df[c].notna().all())
    time = _pick(df.columns, TIME_NAMES, {label, ident}, ok=lambda c: _date_format(df[c])[0])
    exclude, reasons = [], []
    for col in df.columns:
        if col in (label, ident, time):
            continue
        reason = _identifier_reason(df[col], col)
        if reason is not None:
            exclude.append(str(col))
            reasons.append(f"{col} ({reason})")
    notes.append(f"table {path.name}: id {ident!r}, label {label!r}, "
                 + (f"snapshot time {time!r}" if time else "no time column: a seeded stratified split"))
    if ident is None:
        notes.append("no customer id column: rows are identified by their row number; set data.id if one is")
    why.update({"data.source": "guessed: PATH is one file with a label column",
                "data.label": f"guessed from the name; values {values}",
                "data.id": "guessed from the name" if ident else "no id-like column found",
                "data.time": "guessed from the name" if time else "no snapshot-date column found"})
    if exclude:
        why["data.exclude"] = "identifier-like: " + ", ".join(reasons)
        notes.append(f"left out as identifiers (data.exclude): {', '.join(reasons)}")
    data = {"source": "table", "path": _where(path, base), "id": ident, "label": label}
    if positive is not None:
        data["positive"] = positive
    data.update({"time": time, "exclude": exclude})
    return {"name": path.stem, "data": data, "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 0},
            "mlflow": {"experiment": path.stem}}, notes, why


def guess_config(path: str | Path, *, out: str | Path | None = None) -> tuple[dict, list[str], dict[str, str]]:
    """A training config for the data at ``path``, notes on what was guessed, and why per key.

    Parameters
    ----------
    path : str or Path
        A folder of event tables (.csv, .csv.gz, .parquet), or one customer table with a label column.
    out : str or Path, optional
        Where the config will be written: file paths are then written relative to its folder
        (as :func:`churnlab.config.load_config` reads them); None: absolute paths.

    Returns
    -------
    (dict, list of str, dict)
        The config (validates with :func:`churnlab.parse_config`), one note per guess or gap,
        and ``{dotted.key: why}`` for the keys guessed (comments of :func:`render_config`).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> pd.DataFrame({"cust_no": [1, 1, 2], "order_date": ["2024-01-05", "2024-06-01", "2024-03-01"],
    ...               "total": [5.0, 7.0, 9.0]}).to_csv(f"{folder}/orders.csv", index=False)
    >>> cfg, notes, why = guess_config(folder)
    >>> cfg["data"]["mapping"]
    {'purchases': {'customer_id': 'cust_no', 'ts': 'order_date', 'amount': 'total'}}
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"PATH: not found: {path}")
    base = None
    if out is not None:
        folder = Path(out).resolve().parent
        base = folder.parent if folder.name == "configs" else folder
    if path.is_file():
        return _table_config(path, base)
    notes: list[str] = []
    why: dict[str, str] = {"data.source": "guessed: PATH is a folder"}
    files = {p: p.name.split(".")[0].lower() for p in sorted(path.iterdir())
             if p.is_file() and p.name.lower().endswith(SUFFIXES)}
    data: dict = {"source": "files", "mapping": {}, "on_duplicates": "raise"}
    formats: dict[str, str] = {}
    purchases = None
    for table, stems in TABLE_NAMES.items():
        match = next((p for p, stem in files.items() if stem in stems), None)
        if match is None:
            continue
        df = read_table(match, table)
        mapping, missing, fmt = _mapping(table, df, why, f"data.mapping.{table}")
        data[table] = _where(match, base)
        why[f"data.{table}"] = f"guessed from the file name {match.name!r}"
        if mapping:
            data["mapping"][table] = mapping
            why[f"data.mapping.{table}"] = f"the {table} file's columns"
        notes.append(f"{table}: {match.name}" + (f", columns {mapping}" if mapping else ""))
        if missing:
            notes.append(f"{table}: no column found for {missing}: add them to data.mapping.{table}")
        for ours in [k for k in mapping if "not dates" in why.get(f"data.mapping.{table}.{k}", "")]:
            notes.append(f"{table}: {mapping[ours]!r} ({ours}) holds no dates as written: set data.timestamp_unit "
                         "(epoch numbers) or data.date_format")
        if "resolved_ts" in mapping:
            notes.append(f"support: resolution hours from {mapping['resolved_ts']!r} minus {mapping.get('ts', 'ts')!r}; empty: still open")
        if table == "purchases" and "amount" not in mapping and "amount" not in df.columns:
            price = _pick(df.columns, PRICE_NAMES)
            if price is not None:
                notes.append(f"purchases: {price!r} looks like a unit price, not an order value; churnlab does not multiply "
                             "prices by quantities: add an amount column (price x quantity) and map it, or train on counts")
        if fmt == "ambiguous":
            notes.append(f"{table}: the dates read as day-first and as month-first: set data.date_format.{table}")
        elif fmt is not None:
            formats[table] = fmt
            notes.append(f"{table}: dates are not ISO; read with format {fmt!r} (data.date_format)")
        if table == "purchases":
            purchases = (df, mapping)
    if "purchases" not in data:
        raise ValueError(f"PATH: no purchases file in {path} (a file named {' / '.join(TABLE_NAMES['purchases'])}, "
                         f"{' / '.join(SUFFIXES)})")
    if not data["mapping"]:
        del data["mapping"]
    if formats:
        data["date_format"] = formats
        why["data.date_format"] = "guessed: the only format that reads every date"
    cfg = {"name": path.name, "data": data, "label": {"rule": "fixed", "horizon_days": 90, "active_days": 365},
           "mlflow": {"experiment": path.name}}
    try:
        ev = validate_table(purchases[0], "purchases", purchases[1], on_duplicates="keep", date_format=formats.get("purchases"))
        cutoffs, horizon, reason = _event_cutoffs(ev["ts"].min(), ev["ts"].max())
    except (ValueError, TypeError) as exc:
        cutoffs, horizon = {"start": "2024-01-01", "end": "2024-12-01", "freq": "MS"}, 90
        reason = f"could not read the purchase dates ({printable(str(exc))[:200]}); set cutoffs.start and cutoffs.end"
    cfg["cutoffs"], cfg["label"]["horizon_days"] = cutoffs, horizon
    why["cutoffs"] = reason
    why["label.horizon_days"] = f"{horizon}: the longest of {list(HORIZONS)} the purchases' date range leaves room for"
    notes.append(f"cutoffs: {cutoffs['start']} to {cutoffs['end']}, {horizon}-day horizon: {reason}")
    return cfg, notes, why


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


_KEY_LINE = re.compile(r"^( *)([A-Za-z_][A-Za-z0-9_]*):(?: .*)?$")


def _comment(key: str, why: dict[str, str]) -> str:
    parts = key.split(".")
    if len(parts) == 4 and parts[1] == "mapping":  # data.mapping.<table>.<our column>
        default = COLUMN_HELP.get(parts[3], parts[3])
    elif len(parts) == 3 and parts[1] == "mapping":
        default = f"the {parts[2]} file's columns"
    else:
        default = KEY_HELP.get(key, "see the README's 'Your own data'")
    text = default if key not in why or why[key] == default else f"{default}; {why[key]}"
    return printable(text)


def render_config(cfg: dict, notes: list[str], *, why: dict[str, str] | None = None) -> str:
    """The config as YAML, headed by the notes as comments, a comment after every key.

    Every text value is double-quoted (file and column names with line breaks, ``: ``, ``#``
    or quotes read back as the same text), and each note and comment is one line, its control
    characters and line breaks shown as escapes (:func:`churnlab.escaping.printable`). The
    comment says what the key means and, from ``why`` (``{dotted.key: text}``), what was
    guessed and why.

    >>> print(render_config({"name": "x", "mlflow": {"experiment": "x"}}, ["a guess\\nmodel: 1"]))
    # Written by `churnlab init`. Check every guess below, then: churnlab train --config <this file>
    # - a guess\\nmodel: 1
    name: "x"  # the run's name
    mlflow:  # where runs are logged
      experiment: "x"  # the MLflow experiment's name
    <BLANKLINE>
    """
    head = ["# Written by `churnlab init`. Check every guess below, then: churnlab train --config <this file>"]
    head += [f"# - {printable(n)}" for n in notes]
    body = yaml.dump(_quoted(cfg), Dumper=_ConfigDumper, sort_keys=False, width=float("inf"))
    lines, stack = [], []
    for line in body.splitlines():
        m = _KEY_LINE.match(line)
        if m is not None:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            line += "  # " + _comment(".".join(k for _, k in stack), why or {})
        lines.append(line)
    return "\n".join(head + lines) + "\n"
