"""Command-line interface (Typer + Rich).

Exit codes: 0 success; 1 unexpected error; 2 bad usage or bad input (config, data, dates);
3 model or tracking store unavailable; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="churnlab: point-in-time correct churn prediction.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _guard(fn):
    """Map library errors to documented exit codes with a one-line message."""
    from churnlab.config import ConfigError
    from churnlab.events import EventValidationError
    from churnlab.tracking import TrackingError

    try:
        return fn()
    except KeyboardInterrupt:
        _fail("interrupted; no output was written", EXIT_INTERRUPTED)
    except (TrackingError, FileNotFoundError) as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
    except (ConfigError, EventValidationError, ValueError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


def evaluation_table(evaluation: pd.DataFrame, title: str = "Test-period evaluation") -> Table:
    table = Table(title=title)
    table.add_column("model")
    cols = [c for c in evaluation.columns if c not in ("n", "base_rate")]
    for c in cols:
        table.add_column(c, justify="right")
    best = evaluation["roc_auc"].idxmax()
    for name, row in evaluation.iterrows():
        style = "bold green" if name == best else None
        table.add_row(str(name), *[f"{row[c]:.3f}" for c in cols], style=style)
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
    from churnlab.training import train as run_train

    def go():
        overrides = {"mlflow.tracking_uri": tracking_uri} if tracking_uri else None
        cfg = load_config(config, overrides)
        with console.status("training (features, LightGBM, baselines)..."):
            result = run_train(cfg, workdir=workdir)
        Console(width=120).print(evaluation_table(result.evaluation))
        console.print(f"model: [bold]{result.model_uri}[/]")
        console.print(f"tracking: {result.tracking_uri}")
        return result

    _guard(go)


@app.command()
def demo(
    config: Path = typer.Option(Path("configs/demo.yaml"), "--config", "-c", help="Demo training config."),
    workdir: Path = typer.Option(Path("models"), help="Where demo data, the MLflow store and outputs go."),
) -> None:
    """Generate demo data, train on it, print model vs baselines and where to look."""
    from churnlab.config import load_config
    from churnlab.datasets import make_demo_events
    from churnlab.events import save_events_dir
    from churnlab.training import train as run_train

    def go():
        cfg = load_config(config)
        workdir.mkdir(parents=True, exist_ok=True)
        with console.status("generating demo events..."):
            events = make_demo_events(cfg.data.demo_customers, random_state=cfg.data.demo_seed)
            data_dir = save_events_dir(events, workdir / "demo-data")
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in events.tables().items())
        console.print(f"demo data: {sizes} -> {data_dir}")
        with console.status("training (features, LightGBM, baselines)..."):
            result = run_train(cfg, events=events, workdir=workdir)
        Console(width=120).print(evaluation_table(result.evaluation))
        _after_demo(result, events, workdir)
        store = result.tracking_uri
        console.print(f"MLflow run {result.run_id}; model {result.model_uri}")
        console.print(f"look at it with:  [bold]mlflow ui --backend-store-uri {store}[/]")
        return result

    _guard(go)


def _after_demo(result, events, workdir: Path) -> None:
    """Hook for the later steps of the demo (scoring, report)."""


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
