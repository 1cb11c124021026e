"""Grade a generated class on a Dask cluster and extrapolate to 1,000 students x 7 units on 16 cores.

Run on demand: ``.venv/bin/python benchmarks/class_at_scale.py [--workers 2] [--cores N] [--students 8]
[--tf-students 4] [--units 01_linear_regression 03_frameworks]``.

A ``LocalCluster`` of ``--workers`` worker processes of one thread (one core) each stands in
for a real cluster (``--cores`` fewer than workers shares those cores among them, to measure
oversubscribed workers); ``dlcourse autograde UNIT --scheduler ADDRESS`` sends it each unit's class,
and keeps each worker's grading to a core of its own where there are enough
(:func:`course_lib.grading.pools.dask_core_shares`).
Each worker's environment sets the math-thread variables to 1 (one core per worker: see the
README), which ``dlcourse`` passes on to the kernels. The class mixes honest submissions
(the solution), wrong ones (one or two realistic mistakes) and broken ones (the blank
release, a file that is not JSON, an answer with a syntax error), in that rotation.

Reported per unit: wall time, submissions per core-minute, the core seconds each submission
takes (``grading-log.csv``'s ``seconds``: the time a worker is busy with it, times cores per
worker), the rest of the wall time once per run (the parent's start-up
and sandbox probe, each worker's probe, dispatch, and the tail, when one worker finishes the
last submission while the others wait), and CPU seconds per submission (the workers and their
kernels, sampled from the process table; the ``dlcourse`` parent is left out), which the load
of a shared machine does not inflate.

The extrapolation to 1,000 students x 7 units (2 NumPy, 5 TensorFlow) on 16 cores is
arithmetic on those figures, NOT a measurement, three ways: from the wall-clock rate of this
small class (which pays the once-per-run costs over a few submissions), from the worker's
seconds per submission plus each unit's once-per-run costs as measured here, and from CPU
seconds (cores fully used). Each assumes that the measured per-core figures hold on every
core of the bigger cluster and that the other NumPy and TensorFlow units cost what units 01
and 03 cost. Target: under 60 minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograde_profile import CpuMeter  # noqa: E402
from autograde_throughput import BIN, CONFIG, ROOT, UNITS, env, grades, with_mistakes  # noqa: E402

from course_lib.grading.build import build  # noqa: E402
from course_lib.grading.gradebook import read_log  # noqa: E402
from course_lib.grading.execution.limited_execute import THREAD_VARIABLES  # noqa: E402

KINDS = ("honest", "wrong", "wrong", "broken")
BROKEN = ("blank", "not-json", "syntax-error")
TARGET_MINUTES = 60
CLASS, UNITS_NUMPY, UNITS_TF, CORES = 1000, 2, 5, 16


def make_class(course: Path, unit: str, students: int) -> dict[str, str]:
    """Write ``students`` submissions of ``unit``; ``{student: kind}``."""
    name, mistakes = UNITS[unit][:2]
    solution = nbformat.read(course / "build" / "source" / unit / name, 4)
    release = course / "notebooks" / unit / name
    kinds, broken = {}, 0
    for i in range(students):
        student, kind = f"s{i:04d}", KINDS[i % len(KINDS)]
        folder = course / "submitted" / student / unit
        folder.mkdir(parents=True)
        if kind == "honest":
            nbformat.write(solution, folder / name)
        elif kind == "wrong":
            nbformat.write(with_mistakes(solution, mistakes, sorted(mistakes)[i % len(mistakes):][:1 + i % 2]),
                           folder / name)
        else:
            kind = BROKEN[broken % len(BROKEN)]
            broken += 1
            if kind == "blank":
                (folder / name).write_bytes(release.read_bytes())
            elif kind == "not-json":
                (folder / name).write_text('{"cells": [', encoding="utf-8")
            else:
                first = sorted(mistakes)[0]
                nbformat.write(with_mistakes(solution, {first: "def oops(:\n    pass\n"}, [first]), folder / name)
        kinds[student] = kind
    return kinds


def keep_to(cores: set[int]) -> None:
    """Keep every thread of this (worker) process, and what it starts, to ``cores``."""
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), cores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="single-thread Dask workers (one core each unless --cores is fewer)")
    parser.add_argument("--cores", type=int, default=None,
                        help="cores the workers share (default: one per worker); fewer cores than workers "
                             "measures oversubscribed workers")
    parser.add_argument("--units", nargs="+", default=list(UNITS), choices=list(UNITS))
    parser.add_argument("--students", type=int, default=8, help="class size of the NumPy unit")
    parser.add_argument("--tf-students", type=int, default=4, help="class size of the TensorFlow unit")
    args = parser.parse_args()
    cores = args.cores or args.workers
    from distributed import Client, LocalCluster

    os.environ["PATH"] = env()["PATH"]
    one_core = {name: "1" for name in THREAD_VARIABLES}
    rows, loads = [], []
    with tempfile.TemporaryDirectory(prefix="dlcourse-scale-") as scratch, \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                         protocol="tcp", dashboard_address=None, env=one_core) as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        shared = sorted(os.sched_getaffinity(0))[:cores]
        if len(shared) < len(os.sched_getaffinity(0)):
            client.run(keep_to, set(shared))   # the workers share only `cores` cores
        for unit in args.units:
            course = Path(scratch) / unit
            course.mkdir()
            (course / "nbgrader_config.py").write_text(CONFIG)
            build(ROOT, only=[unit], output_root=course)
            students = args.tf_students if UNITS[unit][2] == "TensorFlow" else args.students
            kinds = make_class(course, unit, students)
            loads.append(os.getloadavg()[0])
            cpu, start = CpuMeter(pids), time.perf_counter()
            result = subprocess.run([str(BIN / "dlcourse"), "autograde", unit, "--scheduler", cluster.scheduler_address],
                                    cwd=course, env=env(), capture_output=True, text=True, timeout=3600)
            wall, cpu = time.perf_counter() - start, cpu.seconds()
            if result.returncode != 0:
                raise SystemExit(f"dlcourse autograde {unit} failed:\n{result.stdout}\n{result.stderr}")
            found = grades(course, unit)
            by_kind: dict[str, list[float]] = {}
            for student, kind in kinds.items():
                by_kind.setdefault(kind, []).append(found.get(student, {}).get("total", 0.0))
            busy = sum(float(row["seconds"]) for row in read_log(course))
            rows.append({"unit": unit, "library": UNITS[unit][2], "students": students, "wall": wall, "cpu": cpu,
                         "busy": busy * cores / args.workers,   # core seconds: workers may share cores
                         "once": wall - busy / args.workers, "by_kind": by_kind, "graded": len(found)})
            print(f"{unit}: {students} submissions in {wall:.1f} s", file=sys.stderr, flush=True)

    print(f"\nGrading generated classes with `dlcourse autograde --scheduler` on a Dask LocalCluster of "
          f"{args.workers} single-thread workers on {cores} of the {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}); "
          f"load average {', '.join(f'{x:.1f}' for x in loads)} at the start of each unit.\n")
    print("| unit | library | submissions (scores by kind) | wall (s) | per core-minute | core s per submission "
          "| once per run (s) | CPU s per submission |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rate, busy, once, cpu_rate = {}, {}, {}, {}
    for row in rows:
        mix = "; ".join(f"{len(v)} {k}: {', '.join(f'{s:g}' for s in v)}" for k, v in row["by_kind"].items())
        library = row["library"]
        rate[library] = row["students"] / (row["wall"] / 60 * cores)
        busy[library], once[library] = row["busy"] / row["students"], row["once"]
        cpu_rate[library] = row["cpu"] / row["students"]
        print(f"| {row['unit']} | {library} | {row['students']} ({mix}) | {row['wall']:.1f} | "
              f"{rate[library]:.2f} | {busy[library]:.1f} | {once[library]:.1f} | {cpu_rate[library]:.1f} |")
    if {"NumPy", "TensorFlow"} <= rate.keys():
        by_wall = CLASS * (UNITS_NUMPY / rate["NumPy"] + UNITS_TF / rate["TensorFlow"]) / CORES
        by_busy = (CLASS * (UNITS_NUMPY * busy["NumPy"] + UNITS_TF * busy["TensorFlow"]) / CORES
                   + UNITS_NUMPY * once["NumPy"] + UNITS_TF * once["TensorFlow"]) / 60
        by_cpu = CLASS * (UNITS_NUMPY * cpu_rate["NumPy"] + UNITS_TF * cpu_rate["TensorFlow"]) / CORES / 60
        print(f"\n**Extrapolation, not a measurement**: {CLASS:,} students x {UNITS_NUMPY + UNITS_TF} units "
              f"({UNITS_NUMPY} NumPy at unit 01's rate, {UNITS_TF} TensorFlow at unit 03's) on {CORES} cores "
              f"({args.workers / cores:g} single-thread workers per core, as here):\n")
        print("| from | minutes | target |")
        print("| --- | ---: | ---: |")
        print(f"| wall-clock rate here (submissions per core-minute; this small class pays the once-per-run "
              f"costs over few submissions) | {by_wall:.0f} | < {TARGET_MINUTES} |")
        print(f"| core seconds per submission (workers' seconds), plus each unit's once-per-run costs as "
              f"measured here | {by_busy:.0f} | < {TARGET_MINUTES} |")
        print(f"| CPU seconds per submission (cores fully used, no other load) | {by_cpu:.0f} | < {TARGET_MINUTES} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
