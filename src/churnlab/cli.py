"""Command-line interface (Typer + Rich)."""
from __future__ import annotations

import typer

app = typer.Typer(help="churnlab: point-in-time correct churn prediction.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the churnlab version."""
    from churnlab import __version__

    typer.echo(__version__)
