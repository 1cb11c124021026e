"""Grade one generated class with stock ``nbgrader autograde`` and with ``dlcourse autograde``.

Run on demand: ``.venv/bin/python benchmarks/autograde_throughput.py [--students 12] [--tf-students 4]
[--jobs 2] [--rounds 2] [--units 01_linear_regression 03_frameworks]``.

Each unit's class (a NumPy unit, 01, and a TensorFlow unit, 03, in the same run) is
submissions generated from the solution: every third one a copy of it, the others with one
or two exercises answered wrongly (realistic mistakes, so grade cells fail and later
exercises that call a wrong function fail too). The same class is graded, in the same run,
by stock serial ``nbgrader autograde`` and by ``dlcourse autograde --jobs N`` (each in its
own copy of the course), and every student's score on every grade cell must be equal. The
per-notebook overhead is measured against a bare nbclient execution of the solution notebook
(kernel start to shutdown), with ``dlcourse autograde --jobs 1`` on a few submissions so that
no other notebook competes for the CPU. Prints a markdown table per unit and the ratios.
Targets on 2 cores: at least 3x stock's throughput for NumPy units and 2x for TensorFlow units.
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

from course_lib.grading.gradebook import read_log  # noqa: E402
from course_lib.grading.build import build  # noqa: E402

BIN = Path(sys.executable).parent
CONFIG = ("from pathlib import Path\nfrom course_lib.grading.config import configure\n"
          "configure(get_config(), Path(__file__).resolve().parent)\n")

MISTAKES_01 = {   # answer cell -> a wrong answer a student could write
    "predict_answer": "def predict(X, w, b):\n    return X @ w   # forgot the bias\n",
    "mse_loss_answer": "def mse_loss(y_pred, y):\n    return np.sum((y_pred - y) ** 2)   # sum, not mean\n",
    "sample_minibatch_answer": ("def sample_minibatch(X, y, batch_size, rng):\n"
                                "    rows = rng.integers(0, X.shape[0], size=batch_size)\n"
                                "    return X[rows], y[rows]\n"),
    "gradient_descent_step_answer": ("def gradient_descent_step(w, b, dw, db, learning_rate):\n"
                                     "    return w + learning_rate * dw, b + learning_rate * db   # uphill\n"),
}
MISTAKES_03 = {
    "steps_per_epoch_answer": ("def steps_per_epoch(num_examples, batch_size):\n"
                               "    return num_examples // batch_size   # drops the last, partial batch\n"),
    "dense_parameter_counts_answer": ("def dense_parameter_counts(layer_sizes):\n"
                                      "    return [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]   # no biases\n"),
    "variables_answer": ("def variables_from_params(params):\n"
                         "    return {name: tf.constant(value, dtype=tf.float32) for name, value in params.items()}\n"),
}
# unit -> (notebook, mistakes, library, target speed-up with 2 jobs on 2 cores)
UNITS = {"01_linear_regression": ("linear_regression.ipynb", MISTAKES_01, "NumPy", 3.0),
         "03_frameworks": ("frameworks.ipynb", MISTAKES_03, "TensorFlow", 2.0)}


def with_mistakes(solution, mistakes: dict[str, str], wrong: list[str]):
    """A copy of notebook ``solution`` whose answer cells ``wrong`` hold ``mistakes``'s answers."""
    notebook = nbformat.from_dict(solution)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in wrong:
            cell.source = mistakes[grade_id]
    return notebook


def make_class(course: Path, unit: str, students: int, seed: int = 0) -> None:
    name, mistakes = UNITS[unit][:2]
    solution = nbformat.read(course / "build" / "source" / unit / name, 4)
    rng = random.Random(seed)
    for i in range(students):
        wrong = rng.sample(sorted(mistakes), k=1 + (i % 2)) if i % 3 else []
        folder = course / "submitted" / f"student{i:03d}" / unit
        folder.mkdir(parents=True)
        nbformat.write(with_mistakes(solution, mistakes, wrong), folder / name)


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

    from course_lib.grading.execution.kernels import IpcKernelMixin

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


def grades(course: Path, unit: str) -> dict[str, dict[str, float]]:
    """``{student: {grade cell: score, "total": score}}`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "dl-fundamentals") as gradebook:
        for submission in gradebook.find_assignment(unit).submissions:
            cells = {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades}
            found[submission.student.id] = {**cells, "total": submission.score}
    return found


def measure_unit(unit: str, base: Path, scratch: Path, students: int, args) -> dict:
    """Grade ``unit``'s class with each grader, alternating, ``args.rounds`` times."""
    name = UNITS[unit][0]
    times: dict[str, list[float]] = {"stock": [], "ours": [], "single": [], "bare": []}
    worker_seconds, parallel_seconds, loads, unequal = [], [], [], set()
    for round_ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        copies = {}
        for grader in ("stock", "ours", "single"):
            copies[grader] = scratch / f"{unit}-{grader}"
            shutil.rmtree(copies[grader], ignore_errors=True)
            shutil.copytree(base, copies[grader])
        for student in sorted(os.listdir(copies["single"] / "submitted"))[args.overhead_students:]:
            shutil.rmtree(copies["single"] / "submitted" / student)
        commands = {
            "stock": [str(BIN / "nbgrader"), "autograde", unit],
            "ours": [str(BIN / "dlcourse"), "autograde", unit, "--jobs", str(args.jobs)],
            "single": [str(BIN / "dlcourse"), "autograde", unit, "--jobs", "1"],
        }
        order = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
        times["bare"].append(bare_execution(base / "build" / "source" / unit / name, args.repeat))
        for grader in order:
            times[grader].append(timed(commands[grader], copies[grader]))
            print(f"{unit} round {round_ + 1}: {grader} {times[grader][-1]:.1f} s", file=sys.stderr, flush=True)
        stock_grades, our_grades = grades(copies["stock"], unit), grades(copies["ours"], unit)
        unequal |= {s for s in stock_grades.keys() | our_grades.keys() if stock_grades.get(s) != our_grades.get(s)}
        worker_seconds.append(statistics.mean(float(r["seconds"]) for r in read_log(copies["single"])))
        parallel_seconds.append(statistics.mean(float(r["seconds"]) for r in read_log(copies["ours"])))
    return {"times": times, "worker": worker_seconds, "parallel": parallel_seconds, "loads": loads,
            "unequal": unequal, "scores": sorted(g["total"] for g in our_grades.values()), "students": students}


def report(unit: str, found: dict, args) -> float:
    name, _, library, target = UNITS[unit]
    n, k = found["students"], min(args.overhead_students, found["students"])
    best = {grader: min(values) for grader, values in found["times"].items()}
    stock, ours, single, bare = best["stock"], best["ours"], best["single"], best["bare"]
    scores = found["scores"]
    print(f"\n### {unit} ({library}): {n} generated submissions (scores {scores[0]:g} to {scores[-1]:g}; "
          f"{sum(s == scores[-1] for s in scores)} at the top); best of {args.rounds} alternating rounds, "
          f"load average {', '.join(f'{x:.1f}' for x in found['loads'])} at the start of each.\n")
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
    print(f"| dlcourse worker, alone (log `seconds` with --jobs 1 - bare) | {min(found['worker']) - bare:+.2f} |")
    print(f"| dlcourse, alone, wall per submission incl. start-up (--jobs 1, {k} submissions - bare) | "
          f"{single / k - bare:+.2f} |")
    print(f"| dlcourse worker with {args.jobs} jobs sharing the cores (log `seconds` - bare) | "
          f"{min(found['parallel']) - bare:+.2f} |")
    print(f"\nAll rounds (s): stock {', '.join(f'{t:.1f}' for t in found['times']['stock'])}; --jobs {args.jobs} "
          f"{', '.join(f'{t:.1f}' for t in found['times']['ours'])}; --jobs 1 "
          f"{', '.join(f'{t:.1f}' for t in found['times']['single'])}.")
    equal = not found["unequal"]
    print(f"Every grade cell of all {n} students equal to stock nbgrader's in every round: "
          f"{'yes' if equal else 'NO: ' + ', '.join(sorted(found['unequal']))}; speed-up {stock / ours:.2f}x with "
          f"{args.jobs} jobs (target >= {target:g}x for {library} units on 2 cores).")
    return stock / ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", nargs="+", default=list(UNITS), choices=list(UNITS))
    parser.add_argument("--students", type=int, default=12, help="class size of the NumPy unit")
    parser.add_argument("--tf-students", type=int, default=4, help="class size of the TensorFlow unit")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate stock and dlcourse this many times; report the best of each "
                             "(the machine may be shared)")
    parser.add_argument("--overhead-students", type=int, default=2,
                        help="submissions graded with --jobs 1 to measure the per-notebook overhead")
    parser.add_argument("--repeat", type=int, default=1, help="bare nbclient runs per round")
    args = parser.parse_args()
    os.environ["PATH"] = env()["PATH"]
    results, ratios = {}, {}
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        for unit in args.units:
            base = Path(scratch) / f"{unit}-base"
            base.mkdir()
            (base / "nbgrader_config.py").write_text(CONFIG)
            build(ROOT, only=[unit], output_root=base)
            students = args.tf_students if UNITS[unit][2] == "TensorFlow" else args.students
            make_class(base, unit, students)
            results[unit] = measure_unit(unit, base, Path(scratch), students, args)
    print(f"\nAutograding on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}).")
    for unit in args.units:
        ratios[unit] = report(unit, results[unit], args)
    print("\n| unit | library | students | stock (s) | --jobs " + str(args.jobs) + " (s) | ratio | target | grades equal |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for unit in args.units:
        found, (_, _, library, target) = results[unit], UNITS[unit]
        print(f"| {unit} | {library} | {found['students']} | {min(found['times']['stock']):.1f} | "
              f"{min(found['times']['ours']):.1f} | **{ratios[unit]:.2f}x** | {target:g}x | "
              f"{'yes' if not found['unequal'] else 'NO'} |")
    return 0 if all(not found["unequal"] for found in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
