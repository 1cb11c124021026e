"""Execute each unit's solution notebook in a fresh kernel and print a table of run times.

Run on demand: ``.venv/bin/python benchmarks/notebook_times.py [UNIT ...]``. The budget
is 60 s per notebook on 2 CPU cores. Each notebook runs ``--repeat`` times (default 1)
and the table shows the fastest run, kernel start included.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.grading.build import build  # noqa: E402
from course_lib.grading.config import units  # noqa: E402
from course_lib.grading.check import check  # noqa: E402

BUDGET_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", help="unit names or numbers (default: all)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    chosen = [u.name for u in units(ROOT) if not args.units or u.name in args.units or u.name[:2] in args.units]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        (course / "nbgrader_config.py").write_text(
            "from pathlib import Path\nfrom course_lib.grading.config import configure\n"
            "configure(get_config(), Path(__file__).resolve().parent)\n")
        build(ROOT, only=chosen, output_root=course)
        for unit in chosen:
            for notebook in sorted((course / "build" / "source" / unit).glob("*.ipynb")):
                times, results = [], []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    results = check(notebook)
                    times.append(time.perf_counter() - start)
                passed = sum(r.passed for r in results)
                rows.append((unit, notebook.name, min(times), f"{passed}/{len(results)}"))
    print(f"\nSolution notebooks, fresh kernel each, {os.cpu_count()} CPU cores, best of {args.repeat}:\n")
    print(f"| unit | notebook | seconds | within {BUDGET_S:.0f} s | checks passed |")
    print("| --- | --- | ---: | --- | --- |")
    for unit, name, seconds, passed in rows:
        print(f"| {unit} | {name} | {seconds:.1f} | {'yes' if seconds <= BUDGET_S else 'NO'} | {passed} |")
    total = sum(r[2] for r in rows)
    print(f"| all | | {total:.1f} | {'yes' if total <= 8 * 60 else 'NO'} (8 min) | |")
    return 0 if all(r[2] <= BUDGET_S for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
