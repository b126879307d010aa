"""The log records of MLflow, alembic and SQLAlchemy while a CLI command runs.

MLflow logs a failed database write at ERROR with the whole traceback and SQL statement
(hundreds of lines on a full disk), SQLAlchemy's pool logs its own, and both go to stderr.
The CLI's promise is one ``error:`` line per problem: :class:`LibraryLog` prints a warning
as one ``warning:`` line (its first line, never a traceback) and holds an error back,
printing it as a warning only once the command has succeeded (when the command fails, its
one ``error:`` line says what failed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["LibraryLog"]


class LibraryLog(logging.Handler):
    """A logging handler for the libraries' loggers during one command.

    Parameters
    ----------
    warn : callable
        Prints one ``warning:`` line for a message.

    Examples
    --------
    >>> shown = []
    >>> log = LibraryLog(shown.append)
    >>> saved = log.install()
    >>> logging.getLogger("mlflow.store").warning("first line\\nsecond line")
    >>> logging.getLogger("sqlalchemy.pool").error("pool reset failed")
    >>> log.uninstall(saved)
    >>> shown, log.held
    (['mlflow: first line'], ['sqlalchemy: pool reset failed'])
    """

    #: MLflow sets handlers of its own on ``sqlalchemy.engine`` (and does not propagate from it).
    LOGGERS = ("mlflow", "alembic", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "huey")

    def __init__(self, warn: Callable[[str], None]):
        super().__init__(logging.WARNING)
        self.warn = warn
        self.held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format
            text = str(record.msg)
        first = next((line.strip() for line in text.splitlines() if line.strip()), "(no message)")
        message = f"{record.name.split('.')[0]}: {first}"
        if record.levelno >= logging.ERROR:
            self.held.append(message)
        else:
            self.warn(message)

    def install(self) -> list[tuple[logging.Logger, list, int, bool]]:
        """Route the libraries' loggers here, at WARNING; return what :meth:`uninstall` restores."""
        saved = []
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
            logger.handlers, logger.propagate = [self], False
            logger.setLevel(logging.WARNING)
        return saved

    def uninstall(self, saved: list[tuple[logging.Logger, list, int, bool]]) -> None:
        for logger, handlers, level, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)

    def report_held(self) -> None:
        """Print the held errors as warnings (the command succeeded despite them)."""
        for message in self.held:
            self.warn(message)
        self.held.clear()
