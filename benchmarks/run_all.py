"""Run every benchmark in this folder and print its figures (`make bench`)."""
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
for name in sorted(p.stem for p in HERE.glob("bench_*.py")):
    if len(sys.argv) > 1 and name not in sys.argv[1:]:
        continue
    print(f"\n=== {name} ===", flush=True)
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
