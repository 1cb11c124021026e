"""What the grading sandbox and the trusted re-check add to a notebook's grading time.

Run on demand: ``.venv/bin/python benchmarks/sandbox_overhead.py [--students 4] [--rounds 3]``.

The same few generated unit-01 submissions (see ``autograde_throughput.py``) are graded by
``dlcourse autograde --jobs 1`` with ``--sandbox off`` and ``--sandbox required``, in
alternating rounds (the machine may be shared; the best round of each counts), and the
grades must be equal. The per-submission time is the worker's own ``seconds`` in
``grading-log.csv``. The trusted re-check runs in both modes; its cost is measured apart,
on the record of one solution notebook run with recording on, so the table can also say
what sandbox and re-check together add to grading with neither. Target: at most +20 %.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograde_throughput import BIN, CONFIG, NB, UNIT, env, make_class, totals  # noqa: E402
from course_lib.grading.gradebook import read_log  # noqa: E402
from course_lib.grading.build import build  # noqa: E402

MODES = ("off", "required")


def grade(course: Path, mode: str) -> tuple[float, float]:
    """``(wall seconds, mean worker seconds per submission)`` of one ``dlcourse autograde`` run."""
    start = time.perf_counter()
    run = subprocess.run([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", "1", "--sandbox", mode],
                         cwd=course, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"dlcourse autograde --sandbox {mode} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    return wall, statistics.mean(float(row["seconds"]) for row in read_log(course))


def recheck_seconds(course: Path, repeat: int) -> tuple[float, int]:
    """Mean seconds of the trusted re-check of one solution notebook, and its number of grade cells."""
    from course_lib.grading.execution.limited_execute import LimitedExecute
    from course_lib.grading.worker import grade_cell_sources, recheck

    solution = course / "build" / "source" / UNIT / NB
    with tempfile.TemporaryDirectory(prefix="dlcourse-recheck-") as folder:
        evidence = Path(folder) / "evidence" / "calls.jsonl"
        executed, _ = LimitedExecute(evidence_file=str(evidence), timeout=120).preprocess(
            nbformat.read(solution, 4), {"metadata": {"path": str(solution.parent)}})
        name = Path(NB).stem
        tests = grade_cell_sources(f"sqlite:///{course / 'gradebook.db'}", UNIT, [name])[name]
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            notes, _ = recheck(nbformat.from_dict(executed), tests, evidence)
            times.append(time.perf_counter() - start)
        if notes:
            raise SystemExit(f"the solution failed the re-check: {notes}")
    return statistics.mean(times), len(tests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5, help="re-check runs to average")
    args = parser.parse_args()
    os.environ["PATH"] = env()["PATH"]
    walls = {mode: [] for mode in MODES}
    per = {mode: [] for mode in MODES}
    loads, equal = [], True
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        base = Path(scratch) / "base"
        base.mkdir()
        (base / "nbgrader_config.py").write_text(CONFIG)
        build(ROOT, only=[UNIT], output_root=base)
        make_class(base, args.students)
        for round_ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            grades = {}
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                course = Path(scratch) / mode
                shutil.rmtree(course, ignore_errors=True)
                shutil.copytree(base, course)
                wall, seconds = grade(course, mode)
                walls[mode].append(wall)
                per[mode].append(seconds)
                grades[mode] = totals(course)
            equal = equal and grades["off"] == grades["required"]
        recheck, cells = recheck_seconds(base, args.repeat)

    off, sandboxed = min(per["off"]), min(per["required"])
    neither = off - recheck
    n = args.students
    print(f"\nGrading {n} generated submissions of {UNIT} with `dlcourse autograde --jobs 1` on "
          f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); best of {args.rounds} "
          f"alternating rounds, load average {', '.join(f'{x:.1f}' for x in loads)} at the start of each.\n")
    print("| grading | wall time (s) | per submission (s) | vs neither |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| neither (sandbox off, minus the re-check) | | {neither:.2f} | 1.00x |")
    print(f"| `--sandbox off` (trusted re-check only) | {min(walls['off']):.1f} | {off:.2f} | {off / neither:.2f}x |")
    print(f"| `--sandbox required` (sandbox and re-check) | {min(walls['required']):.1f} | {sandboxed:.2f} | "
          f"**{sandboxed / neither:.2f}x** |")
    print(f"\nTrusted re-check of one notebook ({cells} grade cells, mean of {args.repeat}): {recheck * 1000:.0f} ms.")
    print(f"Sandbox alone: {sandboxed / off:.2f}x (per submission {sandboxed - off:+.2f} s).")
    print(f"All rounds, per submission (s): off {', '.join(f'{t:.2f}' for t in per['off'])}; "
          f"required {', '.join(f'{t:.2f}' for t in per['required'])}.")
    print(f"Grades equal in both modes for all {n} students in every round: {'yes' if equal else 'NO'}; "
          f"sandbox and re-check add {100 * (sandboxed / neither - 1):+.0f} % (target at most +20 %).")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
