"""Progress of long runs (training, backtests): named stages with counts and elapsed time.

The library reports to a :class:`Progress` passed in explicitly (default :class:`NoProgress`,
silent); the CLI passes a :class:`ConsoleProgress`. On a terminal it draws Rich progress bars
that disappear when done; either way each finished stage leaves one plain line, so output
that is not a terminal (a log file, CI) stays one readable line per stage, without control
codes. Everything goes to the console's stream (stderr for the CLI): stdout stays parseable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

__all__ = ["ConsoleProgress", "NoProgress", "Progress", "Stage"]


class Stage:
    """One running stage: ``advance`` moves its count, ``note`` adds a line under it."""

    def __init__(self, name: str, total: int | None = None):
        self.name = name
        self.total = total
        self.done = 0
        self.notes: list[str] = []
        self.started = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def summary(self) -> str:
        """The line a finished stage leaves.

        Examples
        --------
        >>> s = Stage("features", total=3)
        >>> s.advance(3)
        >>> s.summary().split("  ")[0]
        'features: 3/3'
        """
        count = f"{self.done}/{self.total}" if self.total is not None else (f"{self.done}" if self.done else "")
        head = f"{self.name}: {count}" if count else self.name
        return f"{head}  {self.elapsed:.1f} s"


class Progress:
    """Where stages are reported; this base reports nowhere (see :class:`NoProgress`)."""

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Stage]:
        """A stage named ``name`` with ``total`` steps (None: unknown), open for the block."""
        yield Stage(name, total)


class NoProgress(Progress):
    """Silent: the library's default.

    Examples
    --------
    >>> with NoProgress().stage("features", total=2) as s:
    ...     s.advance()
    >>> s.done
    1
    """


class ConsoleProgress(Progress):
    """Stages on a Rich console: live bars on a terminal, and one line per finished stage.

    Parameters
    ----------
    console : rich.console.Console
        Where to draw; the CLI's stderr console.
    live : bool or None
        Draw live bars; default: only when ``console`` is a terminal.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> out = io.StringIO()
    >>> progress = ConsoleProgress(Console(file=out, width=80))
    >>> with progress.stage("candidates", total=2) as s:
    ...     s.advance()
    ...     s.note("lightgbm: validation pr_auc 0.612")
    ...     s.advance()
    >>> lines = out.getvalue().splitlines()
    >>> lines[0].split("  ")[0], lines[1]
    ('candidates: 2/2', '  lightgbm: validation pr_auc 0.612')
    """

    def __init__(self, console, *, live: bool | None = None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self._bars = None  # one live display for all open stages: Rich allows one at a time
        self._open = 0

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Stage]:
        stage = Stage(name, total)
        if not self.live:
            yield stage
            self._finish(stage)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, SpinnerColumn, TextColumn, TimeElapsedColumn

        if self._bars is None:
            self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=self.console, transient=True)
            self._bars.start()
        bars, self._open = self._bars, self._open + 1
        task = bars.add_task(name, total=total)
        advance = stage.advance

        def advance_and_draw(n: int = 1) -> None:
            advance(n)
            bars.update(task, completed=stage.done)

        stage.advance = advance_and_draw
        try:
            yield stage
        finally:
            bars.remove_task(task)
            self._open -= 1
            if not self._open:
                bars.stop()
                self._bars = None
        self._finish(stage)

    def _finish(self, stage: Stage) -> None:
        self.console.print(stage.summary())
        for text in stage.notes:
            self.console.print(f"  {text}")
