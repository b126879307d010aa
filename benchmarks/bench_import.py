"""`import churnlab` in a fresh interpreter: wall time over repeated runs (target < 1.5 s).

Each run is a new process, as a CLI call or a notebook kernel start would be; the
interpreter's own start-up (`python -c pass`) is measured the same way and shown beside it.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _util import machine

RUNS = 9


def timed(code: str) -> list[float]:
    out = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out.append(time.perf_counter() - t0)
    return sorted(out)


def main() -> None:
    print(f"# import time ({machine()})")
    bare = timed("pass")
    lib = timed("import churnlab")
    first = timed("import churnlab; churnlab.load_events")  # the first public name: pandas and the contract
    for name, t in (("python -c pass", bare), ("import churnlab", lib), ("import churnlab + churnlab.load_events", first)):
        print(f"{name}: median {statistics.median(t):.3f} s (min {t[0]:.3f}, max {t[-1]:.3f}; {RUNS} runs)")
    print("target: import churnlab < 1.5 s")


if __name__ == "__main__":
    main()
