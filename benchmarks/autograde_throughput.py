"""Grade one generated class with stock ``nbgrader autograde`` and with ``dlcourse autograde``.

Run on demand: ``.venv/bin/python benchmarks/autograde_throughput.py [--students 20] [--jobs 2] [--rounds 2]``.

The class is ``--students`` submissions of unit 01: every third one a copy of the solution,
the others the solution with one or two exercises answered wrongly (realistic mistakes, so
grade cells fail and later exercises that call a wrong function fail too). The same class
is graded, in the same run, by stock serial ``nbgrader autograde`` and by
``dlcourse autograde --jobs N`` (each in its own copy of the course), and the grades must
be equal. The per-notebook overhead is measured against a bare nbclient execution of the
solution notebook (kernel start to shutdown), with ``dlcourse autograde --jobs 1`` on a
few submissions so that no other notebook competes for the CPU. Prints a markdown table.
Target: at least 1.8x stock's throughput with 2 jobs on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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

from course_lib.grading.autograde import read_log  # noqa: E402
from course_lib.grading.build import build  # noqa: E402

UNIT = "01_linear_regression"
NB = "linear_regression.ipynb"
BIN = Path(sys.executable).parent
CONFIG = ("from pathlib import Path\nfrom course_lib.grading.nbconfig import configure\n"
          "configure(get_config(), Path(__file__).resolve().parent)\n")

MISTAKES = {   # answer cell -> a wrong answer a student could write
    "predict_answer": "def predict(X, w, b):\n    return X @ w   # forgot the bias\n",
    "mse_loss_answer": "def mse_loss(y_pred, y):\n    return np.sum((y_pred - y) ** 2)   # sum, not mean\n",
    "sample_minibatch_answer": ("def sample_minibatch(X, y, batch_size, rng):\n"
                                "    rows = rng.integers(0, X.shape[0], size=batch_size)\n"
                                "    return X[rows], y[rows]\n"),
    "gradient_descent_step_answer": ("def gradient_descent_step(w, b, dw, db, learning_rate):\n"
                                     "    return w + learning_rate * dw, b + learning_rate * db   # uphill\n"),
}


def make_class(course: Path, students: int, seed: int = 0) -> None:
    solution = nbformat.read(course / "build" / "source" / UNIT / NB, 4)
    rng = random.Random(seed)
    for i in range(students):
        notebook = nbformat.from_dict(solution)
        if i % 3:
            wrong = rng.sample(sorted(MISTAKES), k=1 + (i % 2))
            for cell in notebook.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in wrong:
                    cell.source = MISTAKES[grade_id]
        folder = course / "submitted" / f"student{i:03d}" / UNIT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NB)


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds


def bare_execution(notebook: Path, repeat: int) -> float:
    """Mean seconds of a bare nbclient run of ``notebook`` (the course's kernel, on IPC)."""
    from nbclient import NotebookClient

    from course_lib.grading.kernels import IpcKernelMixin

    class Client(IpcKernelMixin, NotebookClient):
        pass

    times = []
    for _ in range(repeat):
        nb = nbformat.read(notebook, 4)
        start = time.perf_counter()
        Client(nb, kernel_name="dlcourse-cpu", timeout=120, allow_errors=True,
               resources={"metadata": {"path": str(notebook.parent)}}).execute()
        times.append(time.perf_counter() - start)
    return statistics.mean(times)


def totals(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "dl-fundamentals") as gradebook:
        return {s.student.id: s.score for s in gradebook.find_assignment(UNIT).submissions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate stock and dlcourse this many times; report the best of each "
                             "(the machine may be shared)")
    parser.add_argument("--overhead-students", type=int, default=4,
                        help="submissions graded with --jobs 1 to measure the per-notebook overhead")
    parser.add_argument("--repeat", type=int, default=3, help="bare nbclient runs per round")
    args = parser.parse_args()
    os.environ["PATH"] = env()["PATH"]
    loads = []
    stock_times, our_times, single_times, bare_times = [], [], [], []
    worker_seconds, parallel_seconds = [], []
    equal = True
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        base = Path(scratch) / "base"
        base.mkdir()
        (base / "nbgrader_config.py").write_text(CONFIG)
        build(ROOT, only=[UNIT], output_root=base)
        make_class(base, args.students)
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            copies = {}
            for name in ("stock", "ours", "single"):
                copies[name] = Path(scratch) / name
                shutil.rmtree(copies[name], ignore_errors=True)
                shutil.copytree(base, copies[name])
            for student in sorted(os.listdir(copies["single"] / "submitted"))[args.overhead_students:]:
                shutil.rmtree(copies["single"] / "submitted" / student)
            bare_times.append(bare_execution(base / "build" / "source" / UNIT / NB, args.repeat))
            stock_times.append(timed([str(BIN / "nbgrader"), "autograde", UNIT], copies["stock"]))
            our_times.append(timed([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", str(args.jobs)],
                                   copies["ours"]))
            single_times.append(timed([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", "1"], copies["single"]))
            stock_totals, our_totals = totals(copies["stock"]), totals(copies["ours"])
            equal = equal and stock_totals == our_totals
            worker_seconds.append(statistics.mean(float(r["seconds"]) for r in read_log(copies["single"])))
            parallel_seconds.append(statistics.mean(float(r["seconds"]) for r in read_log(copies["ours"])))
        scores = sorted(our_totals.values())

    n, k = args.students, args.overhead_students
    stock, ours, single, bare = min(stock_times), min(our_times), min(single_times), min(bare_times)
    print(f"\nAutograding {n} generated submissions of {UNIT} (scores {scores[0]:g} to {scores[-1]:g} of 11; "
          f"{sum(s == 11 for s in scores)} full marks) on {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}); best of {args.rounds} alternating rounds, "
          f"load average {', '.join(f'{x:.1f}' for x in loads)} at the start of each.\n")
    print("| grader | submissions | wall time (s) | per submission (s) | throughput (/min) | vs stock |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| stock `nbgrader autograde` (serial) | {n} | {stock:.1f} | {stock / n:.2f} | {n / stock * 60:.1f} | 1.00x |")
    print(f"| `dlcourse autograde --jobs {args.jobs}` | {n} | {ours:.1f} | {ours / n:.2f} | {n / ours * 60:.1f} "
          f"| **{stock / ours:.2f}x** |")
    print(f"| `dlcourse autograde --jobs 1` | {k} | {single:.1f} | {single / k:.2f} | {k / single * 60:.1f} "
          f"| {(stock / n) / (single / k):.2f}x |")
    print(f"| bare nbclient execution of the solution (mean of {args.repeat}) | 1 | {bare:.2f} | {bare:.2f} | "
          f"{60 / bare:.1f} | |")
    print()
    print("| per-notebook overhead over a bare nbclient execution | seconds |")
    print("| --- | ---: |")
    print(f"| stock nbgrader, serial (wall per submission - bare) | {stock / n - bare:+.2f} |")
    print(f"| dlcourse worker, alone (log `seconds` with --jobs 1 - bare) | {min(worker_seconds) - bare:+.2f} |")
    print(f"| dlcourse, alone, wall per submission incl. start-up (--jobs 1, {k} submissions - bare) | "
          f"{single / k - bare:+.2f} |")
    print(f"| dlcourse worker with {args.jobs} jobs sharing the cores (log `seconds` - bare) | "
          f"{min(parallel_seconds) - bare:+.2f} |")
    print(f"\nAll rounds (s): stock {', '.join(f'{t:.1f}' for t in stock_times)}; --jobs {args.jobs} "
          f"{', '.join(f'{t:.1f}' for t in our_times)}; --jobs 1 {', '.join(f'{t:.1f}' for t in single_times)}.")
    print(f"Grades equal to stock nbgrader's for all {n} students in every round: {'yes' if equal else 'NO'}; "
          f"speed-up {stock / ours:.2f}x with {args.jobs} jobs (target >= 1.8x on 2 cores).")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
