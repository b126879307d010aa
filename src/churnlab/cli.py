"""Command-line interface (Typer + Rich).

Exit codes: 0 success; 1 unexpected error; 2 bad usage or bad input (config, data, dates,
customer list, output path, a file that cannot be written); 3 model or tracking store
missing or unreachable; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Every error is
printed as one line per problem, ``error: <message>``, whatever the terminal width. Everything
printed is shown as given: control characters, line breaks and bidi overrides in user text
become visible escapes (:func:`churnlab.escaping.printable`), and Rich markup or emoji codes in
it are not interpreted.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from churnlab.escaping import csv_restored, printable, to_csv
from churnlab.library_logs import LibraryLog
from churnlab.progress import ConsoleProgress

#: The word each option's value shows in --help (Typer's default is the Python type, e.g.
#: ``<list[Path]>``): by parameter name, else by that type; flags show none.
VALUE_WORDS = {
    "config": "FILE", "campaign": "FILE", "scores": "FILE", "table": "FILE", "customers": "FILE", "backtest": "FILE",
    "out": "FILE", "workdir": "FOLDER", "path": "PATH", "events": "PATH", "model": "URI", "tracking_uri": "URI",
    "as_of": "DATE", "observed_until": "DATE", "high": "P", "medium": "P", "reasons_for": "TIERS",
    "on_duplicates": "raise|drop|keep", "timestamp_unit": "UNIT", "date_format": "FORMAT", "customer": "ID",
    "segment": "COLUMN", "sort": "COLUMN",
}
_TYPE_WORDS = {"<int>": "N", "<float>": "NUMBER", "<str>": "TEXT", "<path>": "PATH", "<bool>": ""}


def _plain_value_words(params, ctx) -> list:
    """Give every parameter without a metavar of its own a plain word from :data:`VALUE_WORDS`."""
    for param in params:
        if isinstance(param, typer.core.TyperArgument):  # its name column names it: no type beside it
            param.display_type_rich = lambda ctx: None
        if param is None or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.name in VALUE_WORDS:
            param.metavar = VALUE_WORDS[param.name]
        else:
            shown = str(param.display_type_rich(ctx) or "")
            param.metavar = _TYPE_WORDS.get(shown, shown.strip("<>").upper())
    return [p for p in params if p is not None]


class PlainHelpGroup(typer.core.TyperGroup):
    """The command group whose commands' --help shows values in plain words (FILE, DATE, N)
    and flags without one; required options are marked ``[required]`` by Typer itself."""

    def get_params(self, ctx):
        return _plain_value_words(super().get_params(ctx), ctx)

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_value_words([*cmd.params, cmd.get_help_option(ctx)], ctx)
        return cmd


app = typer.Typer(
    cls=PlainHelpGroup,
    help="churnlab: point-in-time correct churn prediction.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from churnlab import __version__

        typer.echo(f"churnlab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """churnlab: point-in-time correct churn prediction."""


class PlainConsole(Console):
    """A Rich console that prints text as given: no markup or emoji codes are read from it
    (``cust[/]no`` and ``[i]d`` print as they are) and control characters become visible
    escapes (:func:`printable`). Styles come from ``style=`` or :class:`rich.text.Text`, whose
    text must be passed through :func:`printable` by the caller."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs) -> Text:
        return super().render_str(printable(text), **kwargs)


console = PlainConsole(stderr=True, soft_wrap=True)

EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: partial files removed."""


def _one_line(text) -> str:
    """``text`` on one line: a line break, tab or control character in it shows as an escape."""
    text = str(text)
    return printable(text) if text.strip() else "(no message)"


def _fail(message: str, code: int, problems: list[str] | None = None) -> None:
    """Print ``error: <message>`` on one line (never wrapped; line breaks inside it shown as
    ``\\n``), or one such line per entry of ``problems`` when there are several, and exit with
    ``code``."""
    lines = problems if problems and len(problems) > 1 else [message]
    sys.stderr.write("".join(f"error: {_one_line(line)}\n" for line in lines))
    sys.stderr.flush()
    raise typer.Exit(code)


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"warning: {_one_line(message)}\n")


def _on_sigterm(signum, frame):
    raise Terminated()


def _guard(fn):
    """Run a command: library errors become documented exit codes with one-line messages;
    SIGTERM unwinds as Ctrl-C does; warnings print as one line each."""
    from churnlab.config import ConfigError
    from churnlab.events import EventValidationError
    from churnlab.events.sql import DataSourceError
    from churnlab.tracking import TrackingError

    # MLflow's INFO lines (database migrations, registrations) are not the CLI's output, and
    # its, alembic's and SQLAlchemy's log records go through LibraryLog (imported later,
    # MLflow leaves the loggers as they are; imported already, they are set here)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    library_log = LibraryLog(lambda message: _warn(message, UserWarning, "", 0))
    loggers = library_log.install()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    shown = warnings.showwarning
    warnings.showwarning = _warn
    try:
        result = fn()
        library_log.report_held()
        return result
    except typer.Exit:
        raise
    except KeyboardInterrupt as exc:
        _fail(f"interrupted; {_outcome(exc)}", EXIT_INTERRUPTED)
    except Terminated as exc:
        _fail(f"terminated (SIGTERM); {_outcome(exc)}", EXIT_TERMINATED)
    except (TrackingError, DataSourceError) as exc:
        _fail(_with_note(exc), EXIT_UNAVAILABLE)
    except (ConfigError, EventValidationError, ValueError, OSError) as exc:
        _fail(_with_note(exc), EXIT_BAD_INPUT, getattr(exc, "problems", None))
    except Exception as exc:
        mlflow_error = sys.modules.get("mlflow.exceptions")
        if mlflow_error is not None and isinstance(exc, mlflow_error.MlflowException):
            _fail(_with_note(exc), EXIT_UNAVAILABLE)
        _fail(f"unexpected {type(exc).__name__}: {_with_note(exc)}", EXIT_UNEXPECTED)
    finally:
        warnings.showwarning = shown
        signal.signal(signal.SIGTERM, previous)
        library_log.uninstall(loggers)


def _outcome(exc: BaseException) -> str:
    return getattr(exc, "churnlab_note", None) or "no output file was written"


def _with_note(exc: BaseException) -> str:
    note = getattr(exc, "churnlab_note", None)
    return f"{exc}; {note}" if note else str(exc)


def evaluation_table(evaluation: pd.DataFrame, title: str = "Test-period evaluation", selected: str | None = None) -> Table:
    """The evaluation as a Rich table; the ``selected`` (shipped) model marked and in bold; a
    row whose ``status`` is not "ok" labelled "(not ranked: <status>)", its meaningless
    metrics shown as "—" (:func:`churnlab.models.evaluate.shown_metric`)."""
    from churnlab.models.evaluate import shown_metric

    table = Table(title=title)
    table.add_column("model")
    cols = [c for c in evaluation.columns if c not in ("n", "base_rate", "status") and not c.endswith("_fraction")]
    for c in cols:
        table.add_column(c, justify="right")
    for name, row in evaluation.iterrows():
        shipped, status = name == selected, str(row.get("status", "ok"))
        marks = ["shipped"] * shipped + [f"not ranked: {status}"] * (status != "ok")
        label = f"{name} ({', '.join(marks)})" if marks else str(name)
        table.add_row(label, *[shown_metric(row[c], c, status) for c in cols], style="bold green" if shipped else None)
    first = evaluation.iloc[0]
    table.caption = f"n = {int(first['n']):,} customers, churn base rate {first['base_rate']:.1%}"
    return table


@app.command()
def version() -> None:
    """Print the churnlab version."""
    from churnlab import __version__

    typer.echo(__version__)


@app.command()
def train(
    config: Path = typer.Option(..., "--config", "-c", help="YAML training config (see configs/demo.yaml)."),
    workdir: Path = typer.Option(Path("models"), help="Folder for the default MLflow store and outputs."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (overrides the config)."),
) -> None:
    """Train LightGBM on rolling snapshots, compare with baselines, log one MLflow run."""
    from churnlab.config import load_config
    from churnlab.workflows.training import train as run_train

    def go():
        overrides = {"mlflow.tracking_uri": tracking_uri} if tracking_uri else None
        cfg = load_config(config, overrides)
        result = run_train(cfg, workdir=workdir, progress=ConsoleProgress(console))
        PlainConsole(width=120).print(evaluation_table(result.evaluation, selected=result.selected))
        for note in result.notes:
            console.print(note)
        console.print("model:", Text(printable(result.model_uri), style="bold"))
        console.print(f"tracking: {result.tracking_uri}")
        _print_next_commands(result, workdir, tracking_uri or cfg.mlflow.tracking_uri)
        return result

    _guard(go)


def _beside_python(command: str) -> str:
    """``command`` as it runs from here: the script of the environment churnlab runs in
    (a venv's bin/ need not be on PATH), else the bare name."""
    import shlex
    import shutil

    script = Path(sys.executable).parent / command
    if script.is_file() and shutil.which(command) != str(script):
        return shlex.quote(str(script))
    return command


def _print_next_commands(result, workdir: Path, tracking_uri: str | None) -> None:
    """Ready-to-paste `score`, `report` and `monitor` commands for the model just trained:
    they read the data section it was trained with, from the same store."""
    import shlex

    store = f"--tracking-uri {shlex.quote(tracking_uri)}" if tracking_uri else f"--workdir {shlex.quote(str(workdir))}"
    model = f"--model {shlex.quote(result.model_uri)} {store}"
    if result.next_as_of is None:  # a customer table: new rows in a file of the same columns
        lines = [f"churnlab score {model} --table NEW_ROWS.csv --out scores.parquet",
                 f"churnlab report {model} --table NEW_ROWS.csv --out report.html"]
    else:
        as_of = f"--as-of {result.next_as_of.date()}"
        lines = [f"churnlab score {model} {as_of} --out scores.parquet",
                 f"churnlab report {model} {as_of} --out report.html",
                 f"churnlab monitor {model} --scores scores.parquet   # once the label horizon has passed in the data"]
    console.print("next:")
    for line in lines:
        console.print(f"  {line}")


@app.command()
def demo(
    config: Path = typer.Option(Path("configs/demo.yaml"), "--config", "-c", help="Demo training config."),
    workdir: Path = typer.Option(Path("models"), help="Where demo data, the MLflow store and outputs go."),
    campaign: Optional[Path] = typer.Option(
        None, help="Campaign YAML for the scored list and report (default: configs/campaign.yaml when present)."),
) -> None:
    """Generate demo data, train on it, print model vs baselines and where to look."""
    from churnlab.config import load_campaign, load_config
    from churnlab.datasets import make_demo_events
    from churnlab.events import save_events_dir
    from churnlab.workflows.training import train as run_train

    def go():
        cfg = load_config(config)
        example = Path("configs/campaign.yaml")
        plan = load_campaign(campaign) if campaign is not None else (load_campaign(example) if example.is_file() else None)
        workdir.mkdir(parents=True, exist_ok=True)
        with console.status("generating demo events..."):
            events = make_demo_events(cfg.data.demo_customers, random_state=cfg.data.demo_seed)
            data_dir = save_events_dir(events, workdir / "demo-data")
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in events.tables().items())
        console.print(f"demo data: {sizes} -> {data_dir}")
        result = run_train(cfg, events=events, workdir=workdir, progress=ConsoleProgress(console))
        PlainConsole(width=120).print(evaluation_table(result.evaluation, selected=result.selected))
        for note in result.notes:
            console.print(note)
        _after_demo(result, events, workdir, plan)
        store = result.tracking_uri
        console.print(f"MLflow run {result.run_id}; model {result.model_uri}")
        console.print("look at it with: ", Text(printable(f"{_beside_python('mlflow')} ui --backend-store-uri {store}"), style="bold"))
        console.print(f"open the review report in a browser: {(workdir / 'demo-report.html').resolve().as_uri()}")
        return result

    _guard(go)


@app.command()
def init(
    path: Path = typer.Argument(..., help="A folder of event files (CSV/Parquet) or one customer table with a label column."),
    out: Path = typer.Option(Path("churnlab.yaml"), help="Where to write the config (refuses to overwrite)."),
) -> None:
    """Inspect your data and write a commented training config with the mapping it guessed."""
    from churnlab.atomic import atomic_output, check_output_path
    from churnlab.init import guess_config, render_config

    def go():
        check_output_path(out, (".yaml", ".yml"))
        if out.exists():
            raise ValueError(f"--out: {out} exists; give another file name")
        cfg, notes, why = guess_config(path, out=out)
        with atomic_output(out) as tmp:
            tmp.write_text(render_config(cfg, notes, why=why))
        for note in notes:
            console.print(f"  {note}")
        console.print(f"config -> {out}; check it, then: churnlab train --config {out}")

    _guard(go)


@app.command()
def cdnow(
    workdir: Path = typer.Option(Path("models"), help="Folder for the default MLflow store."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: SQLite under --workdir)."),
    track: bool = typer.Option(True, help="Log the run to MLflow."),
) -> None:
    """Real-data benchmark on CDNOW: 39-week churn at 1997-10-01, the candidates vs the baselines."""
    from churnlab.workflows.experiments import CDNOW_PROTOCOL, cdnow_benchmark

    def go():
        with console.status("CDNOW benchmark (features, LightGBM, BG/NBD, baselines)..."):
            evaluation, details = cdnow_benchmark(track=track, workdir=workdir, tracking_uri=tracking_uri)
        p = CDNOW_PROTOCOL
        title = f"CDNOW: churn = no purchase in {p['test_horizon_days']} days from {p['test_cutoff']}"
        PlainConsole(width=120).print(evaluation_table(evaluation, title, selected=details["selected"]))
        console.print(f"selected on the validation cutoff {p['validation_cutoff']}: {details['selected']} "
                      "(the simplest candidate within one standard error of the best PR-AUC)")
        if track:
            console.print(f"MLflow run {details['run_id']} in experiment churnlab-cdnow-benchmark")
        return evaluation

    _guard(go)


def _after_demo(result, events, workdir: Path, plan=None) -> None:
    """Score every customer at the end of the demo period (with the campaign's columns) and
    write the driver report."""
    from churnlab.report import build_report, write_report
    from churnlab.scoring import ScoringModel, score_customers, write_scores
    from churnlab.scoring.campaign import add_campaign, value_source

    sm = ScoringModel.load(result.model_uri)
    as_of = events.date_range()[1].normalize() + pd.Timedelta(days=1)
    per_chunk, values = value_source(plan, events, as_of, sm.value_model) if plan is not None else (None, None)
    chunks = score_customers(sm, events, as_of, value=per_chunk)
    tally = {"target": 0, "profit": 0.0}
    if plan is not None:
        chunks = _tally_campaign(add_campaign(chunks, values, plan, sort=True), tally)
    counts = write_scores(chunks, workdir / "demo-scores.parquet")
    console.print(f"scored {sum(counts.values()):,} customers at {as_of.date()} -> {workdir / 'demo-scores.parquet'}")
    _print_campaign(plan, tally)
    from churnlab.report_artifact import log_report, run_reliability

    reliability = sm.metadata.get("reliability")
    if reliability is None:
        reliability = run_reliability(result.run_id, result.selected, tracking_uri=result.tracking_uri)
    with console.status("writing the driver-review report..."):
        path = write_report(build_report(sm, events, as_of, campaign=plan, reliability=reliability), workdir / "demo-report.html")
    console.print(f"driver-review report -> {path}")
    if log_report(path, result.run_id, tracking_uri=result.tracking_uri):
        console.print(f"report logged to MLflow run {result.run_id} under report/")


def _use_tracking(model: str, tracking_uri: str | None, workdir: Path | None = None) -> None:
    """Point MLflow at the store a runs:/ or models:/ URI lives in, checked before any read
    (bounded waits; a missing store is reported, never created): ``--tracking-uri``, else the
    store ``train --workdir`` writes (``--workdir``, default ``models``) unless the process
    already names one (MLFLOW_TRACKING_URI)."""
    import mlflow

    from churnlab.tracking import bound_http_requests, default_tracking_uri, tracking_uri_is_set

    bound_http_requests()
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    elif model.startswith(("runs:/", "models:/")) and (workdir is not None or not tracking_uri_is_set()):
        mlflow.set_tracking_uri(default_tracking_uri(workdir if workdir is not None else Path("models")))


def _model_and_source(model: str, *, config: Path | None, events, table: Path | None, tracking_uri: str | None,
                      workdir: Path | None, **options):
    """The scoring model and the data section to read (:func:`scoring_data_section`)."""
    from churnlab.config import load_config
    from churnlab.scoring import ScoringModel
    from churnlab.workflows.sources import scoring_data_section

    section = load_config(config).data if config is not None else None
    _use_tracking(model, tracking_uri, workdir)
    sm = ScoringModel.load(model)
    return sm, scoring_data_section(sm.metadata.get("data"), config=section, events=events, table=table, options=options)


def _model_and_data(model: str, *, config: Path | None, events, table: Path | None, as_of: str | None,
                    tracking_uri: str | None, workdir: Path | None, **options):
    """What `score`, `report` and `monitor` start from: the cutoff (None for a customer
    table), the scoring model and its data, read as training read it (see
    :mod:`churnlab.workflows.sources`)."""
    from churnlab.events import to_timestamp
    from churnlab.workflows.sources import read_scoring_data

    if table is not None and (events or as_of is not None):
        raise ValueError("--table replaces --events and --as-of: give one or the other")
    t = to_timestamp(as_of, "--as-of") if as_of is not None else None
    sm, data = _model_and_source(model, config=config, events=events, table=table, tracking_uri=tracking_uri,
                                 workdir=workdir, **options)
    if data.source == "table":
        if sm.kind != "table":
            raise ValueError("--table: this model was trained on event tables; score it with --events and --as-of")
        if t is not None:
            raise ValueError("--as-of is for event data; the rows of a customer table are scored as they are")
        return None, sm, read_scoring_data(data, id_column=sm.builder.id_column)
    if sm.kind == "table":
        raise ValueError("this model was trained on a customer table: give --table (or a config with data.source: table)")
    if t is None:
        raise ValueError("give --as-of (the cutoff: features use events strictly before it)")
    ev = read_scoring_data(data, before=t)
    first, last = ev.date_range()
    if t <= first:
        raise ValueError(f"--as-of {t.date()} is not after the first event ({first}); the events span {first} to {last}")
    return t, sm, ev


def _read_customer_list(path: Path, id_dtype):
    """The listed ids (each once, as written); its warnings printed."""
    from churnlab.scoring.customers import read_customer_list

    ids, notes = read_customer_list(path, id_dtype=id_dtype)
    for note in notes:
        _warn(note, UserWarning, "", 0)
    return ids


def _thresholds(high: float | None, medium: float | None) -> dict[str, float] | None:
    if high is None and medium is None:
        return None  # the model's own tiers
    if high is None or medium is None:
        raise ValueError("give --high and --medium together (or neither: the model's tiers)")
    for name, value in (("--high", high), ("--medium", medium)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value:g}")
    if not high > medium:
        raise ValueError(f"--high ({high:g}) must be above --medium ({medium:g})")
    return {"high": high, "medium": medium}


_ON_DUPLICATES = typer.Option(None, "--on-duplicates", help="Exact duplicate event rows: raise, drop or keep (default: the config's, else raise).")
_DATA_CONFIG = typer.Option(
    None, "--config", "-c", help="Training config whose data section (files, mapping, options) is read, as train reads it "
    "(default: the section the model was trained with).")
_STORE_WORKDIR = typer.Option(
    None, "--workdir", help="The --workdir given to train: its MLflow store finds runs:/ and models:/ URIs (default: models).")
_TS_UNIT = typer.Option(None, "--timestamp-unit", help="Unit of numeric (epoch) timestamps: s, ms, us, ns, D...")
_DATE_FORMAT = typer.Option(None, "--date-format", help="strftime format of text timestamps, e.g. '%d/%m/%Y' (default: ISO 8601 only).")


@app.command()
def score(
    model: str = typer.Option(..., help="MLflow model URI (runs:/<id>/model, models:/<name>/<v>) or a local model folder."),
    events: Optional[list[Path]] = typer.Option(None, help="Events folder, or purchases/support/surveys/customers files."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Cutoff date: features use events strictly before it."),
    out: Path = typer.Option(..., help="Output file, .parquet or .csv (written atomically)."),
    table: Optional[Path] = typer.Option(None, help="A customer table (CSV/Parquet), for a model trained on one (instead of --events)."),
    customers: Optional[Path] = typer.Option(None, help="CSV/Parquet list of customer_id to score (default: everyone)."),
    top_k: int = typer.Option(5, help="Reason codes per customer (0: probability and tier only, much faster)."),
    high: Optional[float] = typer.Option(None, help="Probability at or above which the risk tier is 'high' (default: the model's, fitted to its base rate)."),
    medium: Optional[float] = typer.Option(None, help="Probability at or above which the risk tier is 'medium' (give both or neither)."),
    top_decile: bool = typer.Option(False, help="Tier by rank instead: top 10% 'high', rest 'low'."),
    reasons_for: Optional[str] = typer.Option(
        None, help="Comma-separated risk tiers that get reason codes (e.g. 'high,medium'); default: everyone."
    ),
    chunk_size: int = typer.Option(50_000, help="Customers per chunk (bounds memory of SHAP and reasons)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI for runs:/ and models:/ URIs."),
    workdir: Optional[Path] = _STORE_WORKDIR,
    config: Optional[Path] = _DATA_CONFIG,
    on_duplicates: Optional[str] = _ON_DUPLICATES,
    timestamp_unit: Optional[str] = _TS_UNIT,
    date_format: Optional[str] = _DATE_FORMAT,
    campaign: Optional[Path] = typer.Option(
        None, help="Campaign YAML (see configs/campaign.yaml): adds customer_value, value_at_risk, expected_profit, target."),
    sort: Optional[str] = typer.Option(None, help="'expected_profit': rows by expected profit, highest first (needs --campaign)."),
) -> None:
    """Score customers: churn probability, risk tier and top-k reason codes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from churnlab.atomic import check_output_path
    from churnlab.config import load_campaign
    from churnlab.scoring import score_customers, score_table, write_scores
    from churnlab.scoring.campaign import add_campaign, campaign_values, value_source

    def go():
        check_output_path(out, (".parquet", ".csv"))
        thresholds = _thresholds(high, medium)
        if top_k < 0:
            raise ValueError(f"--top-k must be >= 0, got {top_k}")
        if chunk_size <= 0:
            raise ValueError(f"--chunk-size must be > 0, got {chunk_size}")
        reason_tiers = None if reasons_for is None else [x.strip() for x in reasons_for.split(",") if x.strip()]
        if sort is not None and sort != "expected_profit":
            raise ValueError(f"--sort must be 'expected_profit', got {sort!r}")
        if sort is not None and campaign is None:
            raise ValueError("--sort expected_profit needs --campaign")
        plan = load_campaign(campaign) if campaign is not None else None
        tally = {"target": 0, "profit": 0.0}
        t, sm, data = _model_and_data(model, config=config, events=events, table=table, as_of=as_of, tracking_uri=tracking_uri,
                                      workdir=workdir, on_duplicates=on_duplicates, timestamp_unit=timestamp_unit,
                                      date_format=date_format)
        if t is None:  # a customer table
            df = data
            drift = _drift_counter(sm)
            chunks = score_table(sm, df, k=top_k, thresholds=None if top_decile else thresholds,
                                 top_share=0.1 if top_decile else None, chunk_size=chunk_size, reason_tiers=reason_tiers,
                                 drift=drift, date_format=date_format)
            if plan is not None:
                values = campaign_values(plan, table=df, id_column=sm.builder.id_column)
                chunks = _tally_campaign(add_campaign(chunks, values, plan, sort=sort is not None), tally)
            counts = write_scores(chunks, out)
            console.print(f"wrote {sum(counts.values()):,} rows to {out}")
            _print_campaign(plan, tally)
            _write_drift(drift, out)
            return
        ev = data
        ids = _read_customer_list(customers, ev.id_dtype) if customers is not None else None
        sm.check_tables(ev)
        total = len(ids) if ids is not None else len(sm.builder.known_customers(ev, t))
        per_chunk, values = value_source(plan, ev, t, sm.value_model) if plan is not None else (None, None)
        drift = _drift_counter(sm, t)
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("score", total=total)
            chunks = score_customers(
                sm, ev, t, ids, k=top_k, thresholds=None if top_decile else thresholds,
                top_share=0.1 if top_decile else None, chunk_size=chunk_size,
                progress=lambda n: bar.advance(task, n), reason_tiers=reason_tiers, drift=drift, value=per_chunk,
            )
            if plan is not None:
                chunks = _tally_campaign(add_campaign(chunks, values, plan, sort=sort is not None), tally)
            counts = write_scores(chunks, out)
        console.print(f"wrote {sum(counts.values()):,} rows to {out} ({', '.join(f'{k}: {v:,}' for k, v in counts.items())})")
        _print_campaign(plan, tally)
        _write_drift(drift, out)
        if counts.get("no_history"):
            _warn(f"{counts['no_history']:,} listed customers have no events before {t.date()} (status no_history)", UserWarning, "", 0)

    _guard(go)


def _read_backtest(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"--backtest: not found: {path}")
    folds = csv_restored(pd.read_csv(path, parse_dates=["test_cutoff"]))
    need = {"fold", "test_cutoff", "model", "shipped", "roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc"}
    if not need <= set(folds.columns):
        raise ValueError(f"--backtest {path}: not a churnlab backtest table (missing {sorted(need - set(folds.columns))})")
    return folds


def _drift_counter(sm, as_of=None):
    from churnlab.monitor import model_drift_counter

    return model_drift_counter(sm, as_of)


def drift_path(out: Path, kind: str = "drift") -> Path:
    """Where ``churnlab score --out scores.parquet`` writes its drift table (``scores.drift.csv``)
    and, with ``kind="estimate"``, its one-row drift verdict and label-free performance
    estimate (``scores.estimate.csv``, :meth:`churnlab.monitor.DriftCounter.summary`)."""
    return out.with_name(out.name.rsplit(".", 1)[0] + f".{kind}.csv")


def _write_drift(drift, out: Path) -> None:
    """The drift table and the verdict with the estimate beside the scores (atomically), one
    line each; a warning only on a major drift verdict."""
    from churnlab.atomic import atomic_output
    from churnlab.monitor.drift import PSI_MAJOR, VERDICTS, drift_verdict

    if drift is None or drift.n == 0:
        return
    table, summary = drift.result(), drift.summary()
    path, estimate = drift_path(out), drift_path(out, "estimate")
    with atomic_output(path) as tmp:
        to_csv(table, tmp, index=False)
    with atomic_output(estimate) as tmp:
        to_csv(summary, tmp, index=False)
    s, v = summary.iloc[0], drift_verdict(table)
    console.print(f"drift vs the test period: {s.drift_verdict} (SHAP-weighted PSI {s.shap_weighted_psi:.3f}, score PSI "
                  f"{s.score_psi:.3f}; {s.features_compared} features the model uses, {s.features_major} above {PSI_MAJOR} "
                  f"alone) -> {path}")
    sd = f" (sd {s.expected_roc_auc_sd:.3f})" if pd.notna(s.expected_roc_auc_sd) else ""
    console.print(f"estimated before labels, from the calibrated probabilities: churn rate {s.expected_churn_rate:.1%}, "
                  f"ROC-AUC {s.expected_roc_auc:.3f}{sd}, PR-AUC {s.expected_pr_auc:.3f} -> {estimate}")
    if s.drift_verdict == VERDICTS[-1]:
        rows = table.set_index("feature").loc[v["major"][:5]]
        shown = ", ".join(f"{f} {r.psi:.2f} ({r.share:.0%} of |SHAP|)" for f, r in rows.iterrows()) or "no single feature"
        _warn(f"these customers differ from the model's test period where the model looks (major drift: SHAP-weighted PSI "
              f"{s.shap_weighted_psi:.2f}, score PSI {s.score_psi:.2f}): {shown}", UserWarning, "", 0)


def _tally_campaign(chunks, tally: dict):
    """The chunks, counting targets and their expected profit on the way to the file."""
    for chunk in chunks:
        hit = chunk["target"].to_numpy(dtype=bool)
        tally["target"] += int(hit.sum())
        if "risk_tier" in chunk.columns:
            tiers = tally.setdefault("tiers", {})
            for tier, count in chunk.loc[hit, "risk_tier"].value_counts().items():
                tiers[tier] = tiers.get(tier, 0) + int(count)
        tally["profit"] += float(chunk["expected_profit"].to_numpy()[hit].sum())
        yield chunk


def _print_campaign(plan, tally: dict) -> None:
    if plan is not None:
        cap = f" (budget {plan.budget:,})" if plan.budget else ""
        console.print(f"campaign: contact {tally['target']:,} customers{cap}; expected profit {tally['profit']:,.0f} "
                      f"over {plan.horizon_days:g} days")
        tiers = tally.get("tiers", {})
        console.print("targets by risk tier: " + ", ".join(f"{t} {tiers.get(t, 0):,}" for t in ("high", "medium", "low"))
                      + " (see the README's risk tiers)")


@app.command()
def backtest(
    config: Path = typer.Option(..., "--config", "-c", help="YAML training config (event data with cutoffs)."),
    folds: int = typer.Option(3, help="The last N cutoffs are test cutoffs, one fold each."),
    workdir: Path = typer.Option(Path("models"), help="Folder for the default MLflow store."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: SQLite under --workdir)."),
    track: bool = typer.Option(True, help="Log a parent MLflow run with a nested run per fold."),
    out: Optional[Path] = typer.Option(None, help="Write the per-fold table (CSV) here, e.g. for churnlab report --backtest."),
) -> None:
    """Rolling-origin backtest: train and evaluate at each of the last N cutoffs, with bootstrap intervals."""
    from churnlab.atomic import atomic_output, check_output_path
    from churnlab.config import load_config
    from churnlab.workflows.backtest import backtest as run_backtest

    def go():
        if out is not None:
            check_output_path(out, (".csv",))
        cfg = load_config(config, {"mlflow.tracking_uri": tracking_uri} if tracking_uri else None)
        bt = run_backtest(cfg, folds=folds, track=track, workdir=workdir, progress=ConsoleProgress(console))
        table = Table(title="Backtest: test metrics per fold (95% bootstrap intervals)")
        for col in ("fold", "test cutoff", "model", "roc_auc", "pr_auc"):
            table.add_column(col)
        for r in bt.folds.itertuples():
            table.add_row(str(r.fold), str(r.test_cutoff.date()), f"{r.model}{' (shipped)' if r.shipped else ''}",
                          f"{r.roc_auc:.3f} [{r.roc_auc_low:.3f}, {r.roc_auc_high:.3f}]",
                          f"{r.pr_auc:.3f} [{r.pr_auc_low:.3f}, {r.pr_auc_high:.3f}]", style="bold" if r.shipped else None)
        PlainConsole(width=120).print(table)
        for r in bt.summary.itertuples():
            console.print(f"{r.model} {r.metric}: mean {r.mean:.3f}, sd {0.0 if pd.isna(r.std) else r.std:.3f} over {r.folds} fold(s)")
        for r in bt.stability.itertuples():
            console.print(f"driver shares, fold {r.from_fold} -> {r.to_fold}: Spearman {r.spearman:.2f}")
        for note in bt.notes:
            console.print(note)
        tops = bt.drivers[bt.drivers["rank"] <= 3].groupby("fold")["driver"].apply(", ".join)
        for fold, names in tops.items():
            console.print(f"fold {fold} top drivers: {names}")
        if out is not None:
            with atomic_output(out) as tmp:
                to_csv(bt.folds, tmp, index=False)
            console.print(f"per-fold table -> {out}")
        if bt.run_id:
            console.print(f"MLflow run {bt.run_id} (one nested run per fold)")
        return bt

    _guard(go)


@app.command()
def monitor(
    model: str = typer.Option(..., help="The model URI the scores were written with (as in the file's model_version)."),
    scores: Path = typer.Option(..., help="A past score file (.parquet or .csv) from churnlab score."),
    events: Optional[list[Path]] = typer.Option(
        None, help="Events folder or files reaching past the scores' as_of + horizon (default: the config's or the model's data)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI for runs:/ and models:/ URIs."),
    workdir: Optional[Path] = _STORE_WORKDIR,
    config: Optional[Path] = _DATA_CONFIG,
    on_duplicates: Optional[str] = _ON_DUPLICATES,
    timestamp_unit: Optional[str] = _TS_UNIT,
    date_format: Optional[str] = _DATE_FORMAT,
    observed_until: Optional[str] = typer.Option(
        None, help="The date the events are complete to, when later than the last event of the table the label reads "
        "(default: that event; other tables never count)."),
) -> None:
    """Realized performance of a past score file once its horizon has passed."""
    from churnlab.events import read_table, to_timestamp
    from churnlab.monitor import realized_performance
    from churnlab.workflows.sources import read_scoring_data

    def go():
        until = to_timestamp(observed_until, "--observed-until") if observed_until is not None else None
        if not scores.is_file():
            raise ValueError(f"--scores: not found: {scores}")
        past = read_table(scores, "scores")
        if scores.suffix.lower() == ".csv":  # churnlab's CSV: text as written, before the formula quotes
            past = csv_restored(past)
        sm, data = _model_and_source(model, config=config, events=events, table=None, tracking_uri=tracking_uri,
                                     workdir=workdir, on_duplicates=on_duplicates, timestamp_unit=timestamp_unit,
                                     date_format=date_format)
        if data.source == "table":
            raise ValueError("monitor measures event data's churn labels: give --events (or a config of event data)")
        r = realized_performance(sm, past, read_scoring_data(data), observed_until=until)
        m = r.metrics
        console.print(f"scores as of {r.as_of.date()}: {r.labelled:,} scored customers labelled "
                      f"({r.unlabelled:,} outside the label rule); churn rate {m['base_rate']:.1%}")
        console.print(f"ROC-AUC {m['roc_auc']:.3f}  PR-AUC {m['pr_auc']:.3f}  Brier {m['brier']:.3f}  "
                      f"lift top 10% {m['lift_top10']:.2f}")
        table = Table(title="Realized churn per risk tier")
        for col in ("risk_tier", "customers", "churned", "churn_rate", "lift"):
            table.add_column(col, justify="right" if col != "risk_tier" else "left")
        for tier, row in r.tiers.iterrows():
            table.add_row(str(tier), f"{int(row.customers):,}", f"{int(row.churned):,}", f"{row.churn_rate:.1%}", f"{row.lift:.2f}")
        PlainConsole(width=120).print(table)
        return r

    _guard(go)


@app.command()
def report(
    model: str = typer.Option(..., help="MLflow model URI or local model folder."),
    events: Optional[list[Path]] = typer.Option(None, help="Events folder, or purchases/support/surveys/customers files."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Cutoff date for the review."),
    out: Path = typer.Option(Path("report.html"), help="Output HTML file (self-contained, opens offline)."),
    table: Optional[Path] = typer.Option(None, help="A customer table (CSV/Parquet), for a model trained on one (instead of --events)."),
    customer: Optional[str] = typer.Option(None, help="Customer for the waterfall (default: the riskiest)."),
    segment: Optional[str] = typer.Option(None, help="Customer attribute or feature to compare segments by (default: the "
                                          "attribute whose segments of 30+ customers differ most in risk)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI for runs:/ and models:/ URIs."),
    workdir: Optional[Path] = _STORE_WORKDIR,
    config: Optional[Path] = _DATA_CONFIG,
    on_duplicates: Optional[str] = _ON_DUPLICATES,
    timestamp_unit: Optional[str] = _TS_UNIT,
    date_format: Optional[str] = _DATE_FORMAT,
    campaign: Optional[Path] = typer.Option(None, help="Campaign YAML: adds the section on whom to contact."),
    backtest: Optional[Path] = typer.Option(None, help="Per-fold CSV from churnlab backtest --out: adds the backtest section."),
) -> None:
    """Write the static HTML driver-review report; for a tracked model, also log it to the model's MLflow run."""
    from churnlab.atomic import check_output_path
    from churnlab.config import load_campaign
    from churnlab.events.ids import is_canonical_integer
    from churnlab.report import build_report, write_report
    from churnlab.report_artifact import log_report, model_run_id, run_reliability
    from churnlab.tracking import TrackingError

    def go():
        check_output_path(out, (".html",))
        plan = load_campaign(campaign) if campaign is not None else None
        folds = _read_backtest(backtest) if backtest is not None else None
        t, sm, data = _model_and_data(model, config=config, events=events, table=table, as_of=as_of, tracking_uri=tracking_uri,
                                      workdir=workdir, on_duplicates=on_duplicates, timestamp_unit=timestamp_unit,
                                      date_format=date_format)
        ids = sm.builder.ids(data) if t is None else None
        who = customer
        if customer is not None and pd.api.types.is_integer_dtype(ids.dtype if t is None else data.id_dtype):
            if not is_canonical_integer(customer):  # '007' or '+7' is not the integer 7 as written
                raise ValueError(f"--customer: ids are integers like the data's, got {customer!r}")
            who = int(customer)
        store = _report_store(model, tracking_uri, workdir)
        try:
            run_id = model_run_id(model, tracking_uri=store, metadata=sm.metadata)
        except TrackingError as exc:
            warnings.warn(f"the report is not logged to MLflow: {exc}", UserWarning, stacklevel=1)
            run_id = None
        reliability = sm.metadata.get("reliability")
        if reliability is None and run_id and store and sm.metadata.get("selected"):
            reliability = run_reliability(run_id, sm.metadata["selected"], tracking_uri=store)
        options = {"customer_id": who, "segment": segment, "campaign": plan, "backtest": folds, "reliability": reliability}
        with console.status("building the report..."):
            html_text = build_report(sm, table=data, **options) if t is None else build_report(sm, data, t, **options)
            path = write_report(html_text, out)
        console.print(f"report -> {path}")
        if run_id and store:
            logged = log_report(path, run_id, tracking_uri=store)
            if logged:
                console.print(f"report logged to MLflow run {run_id}: {logged}")
        elif run_id:
            console.print(f"report not logged to MLflow run {run_id}: give --tracking-uri (or MLFLOW_TRACKING_URI) to log it")

    _guard(go)


def _report_store(model: str, tracking_uri: str | None, workdir: Path | None) -> str | None:
    """The store the report is logged to: where a runs:/ or models:/ URI was read from (as
    :func:`_use_tracking` finds it), else only a store the user named."""
    from churnlab.tracking import default_tracking_uri, tracking_uri_is_set

    if tracking_uri:
        return tracking_uri
    if model.startswith(("runs:/", "models:/")):
        if workdir is not None or not tracking_uri_is_set():
            return default_tracking_uri(workdir if workdir is not None else Path("models"))
        import mlflow

        return mlflow.get_tracking_uri()  # the store this process names, that the model came from
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
