"""Where the time goes when one TensorFlow notebook is autograded: stock nbgrader vs ``dlcourse``.

Run on demand: ``.venv/bin/python benchmarks/autograde_profile.py [--unit 03_frameworks] [--rounds 2]``.

The unit's solution is graded as a student's submission by

* stock ``nbgrader autograde`` (nbgrader's own API, the course's configuration, one notebook),
* ``dlcourse autograde --jobs 1`` (one grading worker: :func:`grade_submission`, then the
  parent's :class:`GradingLog` writes the master gradebook), and
* ``dlcourse autograde --jobs 2`` (two workers grading two copies side by side, each kernel
  with its share of the math threads, as ``autograde`` sets them),

each ``dlcourse`` one twice: with warm kernels (the default: forked from the worker's zygote,
:mod:`course_lib.grading.execution.warm_kernels`; the worker grades once unmeasured first, so
the zygote has started, as it has for every notebook of a class but each worker's first) and
with ``--cold-kernels`` (each kernel started afresh), so that the change is measured alone.

Each grading runs in a fresh forked process, instrumented from outside the grader (nothing in
``course_lib`` changes): the executor's ``preprocess`` (kernel start to kernel shutdown), each
cell's ``preprocess_cell``, the trusted re-check (:func:`worker.recheck`), nbgrader's
``SaveAutoGrades`` (the notebook's gradebook) and the parent's ``GradingLog.record`` (master
gradebook and ``autograded/``). "kernel start" is the time from the executor's start to its
first cell (kernel launch, sandbox, ``kernel_info``); "imports" are the cells holding only
import lines; "CPU" is the user+system time of the grading process and its kernel.

``--jobs 2`` keeps each grader to its share of the cores, as ``dlcourse`` workers do
(:func:`~course_lib.grading.pools.core_shares`). ``--variants`` adds ``--jobs 2`` runs without
that pinning, with the thread sharing switched off or cut back to the variables it shared
before this benchmark existed, and with the kernels under the normal scheduling policy instead
of batch (:func:`course_lib.grading.execution.limited_kernel.schedule`), so that each change is
measured alone.
The machine may be shared: the grader order alternates between rounds; the best of
``--rounds`` is reported per grader, with the load average at the start of each round.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.grading import worker as grade_worker  # noqa: E402
from course_lib.grading.config import load_course_config  # noqa: E402
from course_lib.grading.execution import limited_execute  # noqa: E402
from course_lib.grading.execution.limited_execute import Limits  # noqa: E402
from course_lib.grading.gradebook import GradingLog, snapshot_gradebook  # noqa: E402
from course_lib.grading.intake.validate import read_folder  # noqa: E402
from course_lib.grading.pools import core_shares, default_jobs  # noqa: E402
from course_lib.grading.build import build  # noqa: E402
from course_lib.grading.worker import CommonPayload, SubmissionPayload  # noqa: E402

CONFIG = ("from pathlib import Path\nfrom course_lib.grading.config import configure\n"
          "configure(get_config(), Path(__file__).resolve().parent)\n")
BIN = Path(sys.executable).parent
# THREAD_VARIABLES as grade_worker had them before issue 22, and none at all (one change at a time)
BEFORE = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
VARIANTS = {"none": (), "before": BEFORE}

EVENTS: list[tuple[str, str, float]] = []   # (kind, label, seconds), in this (forked) process


def _timed(kind: str, label):
    """Decorate a function so that each call adds ``(kind, label(args), seconds)`` to EVENTS."""
    def wrap(function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                EVENTS.append((kind, label(*args, **kwargs), time.perf_counter() - start))
        timed.__wrapped__ = function
        return timed
    return wrap


def _cell_label(self, cell, resources, index) -> str:
    if cell.cell_type != "code":
        return ""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") or ""
    imports = any(line.startswith(("import ", "from ")) for line in cell.source.splitlines())
    kind = "import" if imports and (grade_id == "setup" or index < 3) else "cell"   # the setup cell
    return f"{kind}:{index}:{grade_id}"


def install_probes() -> None:
    """Time the executor, each cell, the re-check and the notebook's gradebook write."""
    from nbconvert.preprocessors import ExecutePreprocessor
    from nbgrader.preprocessors import SaveAutoGrades

    if hasattr(ExecutePreprocessor.preprocess, "__wrapped__"):
        return
    ExecutePreprocessor.preprocess = _timed("execute", lambda *a, **k: "")(ExecutePreprocessor.preprocess)
    ExecutePreprocessor.preprocess_cell = _timed("cell", _cell_label)(ExecutePreprocessor.preprocess_cell)
    SaveAutoGrades.preprocess = _timed("save", lambda *a, **k: "")(SaveAutoGrades.preprocess)
    grade_worker.recheck = _timed("recheck", lambda *a, **k: "")(grade_worker.recheck)


class CpuMeter:
    """User + system seconds of this process (or of the processes ``roots``) and of every process
    they start from now on (kernels in the sandbox included: their times never reach
    RUSAGE_CHILDREN, so they are sampled while alive)."""

    def __init__(self, roots: list[int] | None = None):
        self.roots = [psutil.Process(pid) for pid in roots] if roots else None
        self.before = {p.pid for root in (self.roots or [psutil.Process()]) for p in root.children(recursive=True)}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.start = self._own()
        self.thread.start()

    def _own(self) -> float:
        if self.roots is None:
            own = resource.getrusage(resource.RUSAGE_SELF)
            return own.ru_utime + own.ru_stime
        return sum(t.user + t.system for t in (root.cpu_times() for root in self.roots))

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            for root in self.roots or [psutil.Process()]:
                for process in root.children(recursive=True):
                    try:
                        times = process.cpu_times()
                        if process.pid not in self.before:
                            self.last[process.pid] = times.user + times.system
                    except psutil.Error:
                        continue

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        return self._own() - self.start + sum(self.last.values())


def _stock(course: str, unit: str, student: str):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_course_config(Path(course))
    config.CourseDirectory.root = course
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    outcome = api.autograde(unit, student, force=True, create=True)
    if not outcome.get("success"):
        raise RuntimeError(f"stock nbgrader failed: {outcome.get('error') or outcome.get('log')}")
    return None


def _ours(common: CommonPayload, submission: SubmissionPayload):
    return grade_worker.grade_submission(common, submission)


def _graded(job) -> dict:
    """In a forked child: grade one submission, return its result, events, wall and CPU time.

    With warm kernels, this worker first grades the submission once unmeasured (its zygote
    starts then, once per worker, as in a class); "warm-up" is that first grading's wall time.
    """
    kind, args, variables, warm, share = job
    if share:   # as a dlcourse worker keeps to its share of the cores (pools.core_shares)
        os.sched_setaffinity(0, share)
    if variables is not None:
        limited_execute.THREAD_VARIABLES = variables
    warm_up = 0.0
    if kind == "ours":
        common, submission = args
        args = (replace(common, limits=replace(common.limits, warm_kernels=warm)), submission)
        if warm:
            start = time.perf_counter()
            _ours(*args)
            warm_up = time.perf_counter() - start
    EVENTS.clear()
    own = resource.getrusage(resource.RUSAGE_SELF)
    start, cpu = time.perf_counter(), CpuMeter()
    result = _stock(*args) if kind == "stock" else _ours(*args)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"result": result, "events": list(EVENTS), "wall": time.perf_counter() - start, "cpu": cpu.seconds(),
            "grader cpu": after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime, "warm-up": warm_up}


def run_in_pool(jobs: list, processes: int) -> list[dict]:
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_graded, jobs, chunksize=1)


def split(run: dict) -> dict[str, float]:
    """``{part: seconds}`` for one graded notebook."""
    parts = {"kernel start": 0.0, "imports": 0.0, "cells": 0.0, "re-check": 0.0,
             "gradebook (notebook)": 0.0}
    execute = sum(seconds for kind, _, seconds in run["events"] if kind == "execute")
    cells = [(label, seconds) for kind, label, seconds in run["events"] if kind == "cell"]
    first = next((i for i, (kind, _, _) in enumerate(run["events"]) if kind == "cell"), None)
    before_first = 0.0
    if first is not None:   # events are appended when a call ends: the executor's comes last
        before_first = execute - sum(seconds for _, seconds in cells)
    for label, seconds in cells:
        if label.startswith("import:"):
            parts["imports"] += seconds
        else:
            parts["cells"] += seconds
    parts["kernel start"] = before_first   # launch, sandbox, kernel_info, and the shutdown below
    parts["re-check"] = sum(seconds for kind, _, seconds in run["events"] if kind == "recheck")
    parts["gradebook (notebook)"] = sum(seconds for kind, _, seconds in run["events"] if kind == "save")
    parts["other grader work"] = run["wall"] - execute - parts["re-check"] - parts["gradebook (notebook)"]
    return parts


def per_cell(run: dict) -> dict[str, float]:
    return {label: seconds for kind, label, seconds in run["events"] if kind == "cell" and label}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unit", default="03_frameworks")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", action="store_true",
                        help="also --jobs 2 with no thread sharing and with the variables shared before")
    parser.add_argument("--cells", type=int, default=8, help="slowest cells listed one by one")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")   # nbgrader's SQLAlchemy chatter
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    install_probes()
    cores = default_jobs()
    start = time.perf_counter()   # a worker probes the sandbox once, before its first submission
    grade_worker.sandboxing.resolve("auto")
    probe_seconds = time.perf_counter() - start
    graders = ["stock", "jobs1-cold", "jobs1", "jobs2-cold", "jobs2"] + (
        ["jobs2-unpinned", "jobs2-none", "jobs2-before", "jobs2-normal"] if args.variants else [])
    best: dict[str, dict] = {}
    walls: dict[str, list[float]] = {name: [] for name in graders}
    loads = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-profile-") as scratch:
        base = Path(scratch) / "course"
        base.mkdir()
        (base / "nbgrader_config.py").write_text(CONFIG)
        build(ROOT, only=[args.unit], output_root=base)
        source = base / "build" / "source" / args.unit
        notebooks = sorted(path.stem for path in source.glob("*.ipynb"))
        for student in ("alice", "bob"):
            folder = base / "submitted" / student / args.unit
            folder.mkdir(parents=True)
            for name in notebooks:
                shutil.copy(source / f"{name}.ipynb", folder / f"{name}.ipynb")
        config = load_course_config(base)
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{base / 'gradebook.db'}", "dl-fundamentals") as gradebook:
            nbs = gradebook.find_assignment(args.unit).notebooks
            test_cells = {nb.name: [c.name for c in nb.grade_cells if c.cell_type == "code"
                                    and c.name not in {s.name for s in nb.solution_cells}] for nb in nbs}
        source_files = {rel: data for rel, data in read_folder(source, []).items() if not rel.endswith(".ipynb")}

        def common(jobs: int, scheduling: str = Limits.scheduling) -> CommonPayload:
            return CommonPayload(assignment=args.unit, notebooks=notebooks,
                                 snapshot_db=snapshot_gradebook(base / "gradebook.db"),
                                 config_text=CONFIG, source_files=source_files,
                                 limits=Limits(threads=max(1, cores // jobs), scheduling=scheduling),
                                 ignore=[".*"], test_cells=test_cells)

        def submission(student: str) -> SubmissionPayload:
            return SubmissionPayload(student, folder=str(base / "submitted" / student / args.unit))

        for round_ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            order = graders if round_ % 2 == 0 else graders[::-1]
            for name in order:
                warm = not name.endswith("-cold")
                if name == "stock":
                    runs = run_in_pool([("stock", (str(base), args.unit, "alice"), None, False, None)], 1)
                elif name.startswith("jobs1"):
                    runs = run_in_pool([("ours", (common(1), submission("alice")), None, warm, None)], 1)
                else:
                    variables = VARIANTS.get(name.partition("-")[2])
                    shares = core_shares(2) if name != "jobs2-unpinned" else []
                    scheduling = "normal" if name == "jobs2-normal" else Limits.scheduling
                    runs = run_in_pool([("ours", (common(2, scheduling), submission(s)), variables, warm,
                                         shares[i] if shares else None)
                                        for i, s in enumerate(("alice", "bob"))], 2)
                print(f"round {round_ + 1}: {name} {max(r['wall'] for r in runs):.1f} s", file=sys.stderr, flush=True)
                if name != "stock":
                    recorder = GradingLog(base, args.unit, config, notebooks)
                    try:
                        for run in runs:
                            start = time.perf_counter()
                            recorder.record(run["result"])
                            run["record"] = time.perf_counter() - start
                            if run["result"].status != "ok":
                                raise SystemExit(f"{name}: {run['result'].status}: {run['result'].notes}")
                    finally:
                        recorder.close()
                run = min(runs, key=lambda r: r["wall"]) if name.startswith("jobs2") else max(runs, key=lambda r: r["wall"])
                walls[name].append(run["wall"])
                if name not in best or run["wall"] < best[name]["wall"]:
                    best[name] = run

    labels = {"stock": "stock nbgrader", "jobs1": "dlcourse --jobs 1", "jobs2": "dlcourse --jobs 2",
              "jobs1-cold": "--jobs 1 --cold-kernels", "jobs2-cold": "--jobs 2 --cold-kernels",
              "jobs2-unpinned": "--jobs 2, workers not pinned",
              "jobs2-none": "--jobs 2, no thread sharing", "jobs2-before": "--jobs 2, BLAS + TF intra-op only",
              "jobs2-normal": "--jobs 2, normal scheduling"}
    splits = {name: split(best[name]) for name in graders}
    print(f"\nProfile of autograding the {args.unit} solution ({', '.join(notebooks)}), {cores} CPU cores "
          f"({platform.processor() or platform.machine()}), best of {args.rounds} alternating rounds; "
          f"load average {', '.join(f'{x:.1f}' for x in loads)} at the start of each round.\n")
    print("| seconds per notebook | " + " | ".join(labels[n] for n in graders) + " |")
    print("| --- |" + " ---: |" * len(graders))
    for part in ("kernel start", "imports", "cells", "re-check", "gradebook (notebook)", "other grader work"):
        print(f"| {part} | " + " | ".join(f"{splits[n][part]:.2f}" for n in graders) + " |")
    print("| gradebook (master, GradingLog.record) | " + " | ".join(
        f"{best[n].get('record', 0.0):.2f}" if n != "stock" else "(in notebook's)" for n in graders) + " |")
    print("| **wall, one notebook** | " + " | ".join(f"**{best[n]['wall']:.2f}**" for n in graders) + " |")
    print("| CPU (grader + kernel) | " + " | ".join(f"{best[n]['cpu']:.2f}" for n in graders) + " |")
    print("| of which the grading process's own | " + " | ".join(f"{best[n]['grader cpu']:.2f}" for n in graders) + " |")
    print("| first notebook of a worker (zygote start) | " + " | ".join(
        f"{best[n]['warm-up']:.2f}" if best[n]["warm-up"] else "-" for n in graders) + " |")
    print(f"\n(--jobs 2: the faster of the two notebooks graded side by side; 'kernel start' includes "
          f"its shutdown; warm kernels (the default) are forked from the worker's zygote, which starts "
          f"with the worker's first notebook (last row, not in the others), --cold-kernels start each afresh; 'imports' is the setup cell (import tensorflow and the data); 'other grader work' is "
          f"nbgrader's bookkeeping and the scratch course. Not in the table: once per worker process, before "
          f"its first submission, the sandbox probe ({probe_seconds:.1f} s here; these forks inherit it).)")
    cells = per_cell(best["stock"])
    slowest = sorted(cells, key=cells.get, reverse=True)[:args.cells]
    print(f"\n| slowest cells (index:grade id) | " + " | ".join(labels[n] for n in graders) + " |")
    print("| --- |" + " ---: |" * len(graders))
    for label in sorted(slowest, key=lambda lab: int(lab.split(":")[1])):
        print(f"| {label.partition(':')[2]} ({label.split(':')[0]}) | " + " | ".join(
            f"{per_cell(best[n]).get(label, 0.0):.2f}" for n in graders) + " |")
    print("\nAll rounds, wall per notebook (s): " + "; ".join(
        f"{labels[n]} {', '.join(f'{w:.1f}' for w in walls[n])}" for n in graders) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
