"""Atomic output files: written to a hidden temporary file beside the target, renamed into
place only when complete, removed on any error, Ctrl-C or SIGTERM.

The temporary file is ``.<name>.partial-<pid>``. A run killed outright (SIGKILL) cannot clean
up; the next run that writes the same target removes such files whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["atomic_output", "check_output_path", "remove_stale_partials"]


def check_output_path(out: str | Path, suffixes: Sequence[str], option: str = "--out") -> Path:
    """``out`` as a Path, refused (ValueError) unless it is a file path with one of ``suffixes``
    in an existing folder."""
    if not isinstance(out, (str, Path)):
        raise TypeError(f"`{option}` must be a file path, got {type(out).__name__}")
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{option}: {out} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"{option} must end in {' or '.join(suffixes)}, got {out.name!r}")
    if not out.parent.is_dir():
        raise ValueError(f"{option}: the output folder does not exist: {out.parent}")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove ``.<name>.partial-<pid>`` files beside ``out`` whose process no longer runs."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.partial-(\d+)$")
    removed = []
    with contextlib.suppress(OSError):
        for p in out.parent.iterdir():
            m = pattern.match(p.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield the temporary path to write; rename it to ``out`` when the block ends cleanly.

    On any exception (including KeyboardInterrupt) the temporary file is removed, and an
    error while removing it never hides the first one.
    """
    remove_stale_partials(out)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
