"""How strong is each exercise's grade cell? Mutation testing of the course's own solutions.

For every graded exercise, :func:`mutants` derives small wrong answers from the solution
cell in ``solutions/`` by changing its syntax tree the way a student slips: an arithmetic
operator swapped, a constant moved by one, ``sum``/``mean`` swapped, an ``axis`` changed or
dropped, ``keepdims`` dropped, a transpose added or removed, a term deleted, two arguments
swapped, a slice bound moved by one, a comparison flipped, a return value replaced by an
input. Each mutant then runs through the exercise's **whole** grade cell, hidden tests
included, and is judged as grading judges it: the trusted re-check
(:func:`course_lib.grading.recheck.verdicts` over the calls the check recorded with
:class:`course_lib.checks.evidence.Recorder`) gives the verdict where the cell is replayable,
the kernel's own outcome elsewhere. A mutant the grade cell fails is *killed*; one it passes
*survives* and is reported as a one-line change.

Design choices, and why:

* **AST changes of the solution, not a catalogue of wrong answers.** A catalogue covers the
  mistakes its author thought of; mechanical changes cover the ones they did not. Only nodes
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` change, so a mutant is always the
  student's own code (the own-work rule, :mod:`course_lib.checks.own_work`, is never the
  reason for a kill), and the function's signature stays what the checks call.
* **Reviewed lists beside the source.** ``solutions/NN_slug/audit.toml`` holds, per unit, the
  equivalent mutants (``[[equivalent]]``: ``exercise``, ``change`` as the report prints it,
  optionally its ``line`` in the answer cell, and a ``reason``), which are listed once and
  left out of the kill rate, and the valid variants (``[[variant]]``: ``exercise``,
  ``reason``, ``code``, and ``answer``, the index of the answer cell it replaces, default 0):
  other correct answers that must pass.
* **Run the notebook once, fork per mutant.** A worker process per unit executes the setup,
  earlier exercises and the plain cells the graded cells need (cells nothing graded reads,
  such as plots, are skipped), up to each exercise's first answer cell. There it forks
  (``os.fork``) once per mutant: the child runs the mutated answer cell, the cells up to and
  including the grade cell, then the trusted replay, and sends its verdict back through a
  pipe; a time limit (``signal.alarm``) ends a mutant that loops, which grading would fail
  too. Forking copies the whole interpreter state, NumPy arrays and Keras models included,
  so no mutant sees another's side effects, at the cost of nothing but copy-on-write pages.
  Once TensorFlow is loaded (units 03, 04 and the Keras parts of later units) a forked
  child deadlocks as soon as ``Model.fit`` or ``tf.data`` uses TensorFlow's thread pools,
  so there mutants run in the worker itself on a shallow copy of the notebook's namespace
  (:func:`_in_process`). Either way the unchanged solution runs first as a baseline and must
  pass, so a broken audit shows up as an error, never as kills. Workers are fresh
  interpreters (``python -m course_lib.grading.audit``), two units at a time.
* **``--quick`` for CI.** The full run evaluates every mutant (all units take a few minutes
  on two cores; TensorFlow units 03 and 04 take longest). ``--quick`` evaluates a sample of
  :data:`QUICK_SAMPLE` mutants per exercise, drawn with a fixed seed so that CI is
  reproducible; ``tests/grading/test_audit.py`` runs it as the gate.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .exercise_cells import exercises, read_audit_file, unit_cells, without_magics
from .mutants import Mutant, mutants


#: mutants per exercise in ``--quick``, drawn with :data:`SEED`
QUICK_SAMPLE = 6
SEED = 19
#: seconds one mutant's answer and grade cells may run (a mutant that loops is killed by this)
MUTANT_TIMEOUT = 60
#: the gate: the least share of non-equivalent mutants an exercise must kill
REQUIRED_KILL_RATE = 0.9


# ------------------------------------------------------------------ running one mutant
@dataclass
class Outcome:
    passed: bool
    note: str = ""


def _run_cells(namespace: dict, sources: list[str]) -> list[str | None]:
    """Run cells as a kernel does (an error ends the cell, not the run); each cell's error, or None."""
    errors: list[str | None] = []
    for source in sources:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(without_magics(source), "<cell>", "exec"), namespace)
            errors.append(None)
        except _TimeLimit:
            raise
        except BaseException as problem:         # noqa: BLE001 - a student's cell may raise anything
            errors.append(f"{type(problem).__name__}: {str(problem).splitlines()[0] if str(problem) else ''}")
    return errors


def _judge(namespace: dict, sources: list[str], graded: list[tuple[str, int]]) -> dict:
    """Run ``sources`` (answer cells ... grade cells) and the trusted re-check: the verdict grading
    gives. ``graded`` names the grade cells, ``(grade_id, index in sources)``; all must pass."""
    from ..checks import evidence
    from . import recheck as trusted

    with tempfile.TemporaryDirectory() as scratch:
        record = os.path.join(scratch, "evidence.jsonl")
        evidence._recorder = evidence.Recorder(record)
        try:
            errors = _run_cells(namespace, sources)
        finally:
            evidence._recorder = None
        verdicts = trusted.verdicts([(grade_id, sources[index]) for grade_id, index in graded], record)
    failures = []
    for grade_id, index in graded:
        verdict = verdicts[grade_id]
        if verdict.replayed and not verdict.passed:
            failures.append((verdict.message.splitlines() or [""])[0])
        elif not verdict.replayed and errors[index]:
            failures.append(errors[index])
    return {"passed": not failures, "note": failures[0] if failures else ""}


class _TimeLimit(BaseException):
    """A mutant ran past its time limit (raised by SIGALRM in :func:`_in_process`)."""


def _alarm(signum, frame):
    raise _TimeLimit()


def _evaluate(namespace: dict, sources: list[str], graded: list[tuple[str, int]], timeout: int) -> Outcome:
    """The grading verdict on ``sources`` run from ``namespace``, which stays as it is.

    A fork of this process where it can; once TensorFlow is loaded, in this process on a
    copy of the namespace, because TensorFlow's thread pools deadlock in a forked child
    as soon as a ``tf.function`` or ``tf.data`` pipeline runs there (``Model.fit``).
    """
    if "tensorflow" in sys.modules:
        return _in_process(namespace, sources, graded, timeout)
    return _in_fork(namespace, sources, graded, timeout)


def _in_process(namespace: dict, sources: list[str], graded: list[tuple[str, int]], timeout: int) -> Outcome:
    """:func:`_judge` on a shallow copy of ``namespace``: a mutant's names do not leak to the next one.

    Objects an answer changes in place would leak; the answer cells audited here build
    their own models and data, and the baseline runs first, so a leak could only add kills
    to a mutant after a broken one, never hide a failure of the solution.
    """
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        data = _judge(dict(namespace), sources, graded)
    except _TimeLimit:
        data = {"passed": False, "note": f"ran past the audit's time limit of {timeout} s"}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(data["passed"], data.get("note", ""))


def _in_fork(namespace: dict, sources: list[str], graded: list[tuple[str, int]], timeout: int) -> Outcome:
    """:func:`_judge` in a forked child, so that the mutant changes nothing here."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: judge, report, and leave at once
        os.close(read_end)
        result = {"passed": False, "note": "the audit failed to judge this mutant"}
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout)
            result = _judge(namespace, sources, graded)
        except BaseException as problem:           # noqa: BLE001
            result = {"passed": False, "note": f"{type(problem).__name__}: {problem}"}
        finally:
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(json.dumps(result))
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        return Outcome(False, f"ended by signal {os.WEXITSTATUS(status) or os.WTERMSIG(status)} (time limit or crash)")
    data = json.loads(text)
    return Outcome(data["passed"], data.get("note", ""))


# ------------------------------------------------------------------ one unit, in its own worker
@dataclass
class ExerciseReport:
    unit: str
    exercise: str
    mutants: int = 0
    killed: int = 0
    survivors: list[str] = field(default_factory=list)
    equivalents: list[str] = field(default_factory=list)
    variants: int = 0
    variants_accepted: int = 0
    rejected_variants: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def kill_rate(self) -> float | None:
        counted = self.mutants - len(self.equivalents)
        return self.killed / counted if counted > 0 else None

    @property
    def ok(self) -> bool:
        rate = self.kill_rate
        return not self.error and not self.rejected_variants and (rate is None or rate >= REQUIRED_KILL_RATE)


def _sample(items: list, unit: str, grade_id: str, size: int | None) -> list:
    if size is None or len(items) <= size:
        return items
    rng = random.Random(SEED * 1_000_003 + zlib.crc32(f"{unit}/{grade_id}".encode()))
    chosen = sorted(rng.sample(range(len(items)), size))
    return [items[i] for i in chosen]


def audit_unit(folder: Path, only: set[str] | None = None, sample: int | None = None, progress=None,
               timeout: int = MUTANT_TIMEOUT) -> list[ExerciseReport]:
    """Audit one unit in this process (call it in a worker: it runs the unit's notebook here).

    ``progress(exercise, done, total)`` is called after each mutant or variant.
    """
    import matplotlib

    matplotlib.use("Agg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cells = unit_cells(folder)
    reviewed = read_audit_file(folder)
    unit = folder.name
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    reports, position, audited = [], 0, set()
    previous = os.getcwd()
    os.chdir(folder)
    try:
        for exercise in exercises(cells):
            start = exercise.span[0]
            _run_cells(namespace, [c["source"] for c in cells[position:start]])
            position = start
            grade_ids = {grade_id for grade_id, _ in exercise.graded}
            if only and not only & grade_ids:
                continue
            reports.append(_audit_exercise(unit, exercise, cells, namespace, reviewed, sample, progress, timeout))
            audited |= grade_ids
            if only and only <= audited:
                break                                   # the rest of the notebook is not needed
    finally:
        os.chdir(previous)
    return reports


def _audit_exercise(unit, exercise, cells, namespace, reviewed, sample, progress, timeout) -> ExerciseReport:
    report = ExerciseReport(unit, exercise.name)
    span = exercise.span
    base = [cells[i]["source"] for i in span]
    graded = [(grade_id, span.index(index)) for grade_id, index in exercise.graded]

    def with_answer(answer: int, source: str) -> list[str]:
        changed = list(base)
        changed[span.index(exercise.answers[answer])] = source
        return changed

    baseline = _evaluate(namespace, base, graded, timeout)
    if not baseline.passed:
        report.error = f"the solution itself fails: {baseline.note}"
        return report
    candidates = [m for answer, i in enumerate(exercise.answers) for m in mutants(cells[i]["source"], answer)]
    reviewed_here = [e for e in reviewed["equivalent"] if e.get("exercise") == exercise.grade_id]

    def equivalent_reason(mutant: Mutant) -> str | None:
        """The reviewed reason when ``mutant`` is a listed equivalent (``line`` narrows a ``change`` that recurs)."""
        return next((e.get("reason", "") for e in reviewed_here
                     if e.get("change") == mutant.change and e.get("line", mutant.line) == mutant.line), None)

    chosen = _sample(candidates, unit, exercise.grade_id, sample)
    variants = [v for v in reviewed["variant"] if v.get("exercise") == exercise.grade_id]
    total = len(chosen) + len(variants)
    for done, mutant in enumerate(chosen, 1):
        report.mutants += 1
        outcome = _evaluate(namespace, with_answer(mutant.answer, mutant.source), graded, timeout)
        reason = equivalent_reason(mutant)
        if reason is not None:
            report.equivalents.append(f"line {mutant.line}: {mutant.change}  ({reason})")
        elif outcome.passed:
            report.survivors.append(f"line {mutant.line}: {mutant.change}  [{mutant.kind}]")
        else:
            report.killed += 1
        if progress:
            progress(exercise.grade_id, done, total)
    for done, variant in enumerate(variants, len(chosen) + 1):
        report.variants += 1
        outcome = _evaluate(namespace, with_answer(int(variant.get("answer", 0)), variant["code"]), graded, timeout)
        if outcome.passed:
            report.variants_accepted += 1
        else:
            report.rejected_variants.append(f"{variant.get('reason', 'variant')}: {outcome.note}")
        if progress:
            progress(exercise.grade_id, done, total)
    return report


# ------------------------------------------------------------------ the course, units in parallel workers
def _worker(folder: Path, only: set[str] | None, sample: int | None) -> None:
    """Body of a unit worker process: progress lines, then the reports, as JSON lines on stdout."""
    out = os.dup(1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)                                # TensorFlow and C extensions write here directly
    os.dup2(quiet, 2)
    with os.fdopen(out, "w", buffering=1) as pipe:
        def progress(exercise, done, total):
            pipe.write(json.dumps({"progress": [exercise, done, total]}) + "\n")
        try:
            reports = audit_unit(folder, only, sample, progress)
            pipe.write(json.dumps({"reports": [asdict(r) for r in reports]}) + "\n")
        except BaseException as problem:             # noqa: BLE001 - report the unit, never hang the parent
            pipe.write(json.dumps({"error": f"{type(problem).__name__}: {problem}"}) + "\n")


def audit_course(folders: list[Path], only: set[str] | None = None, sample: int | None = None,
                 jobs: int = 2, on_progress=None) -> list[ExerciseReport]:
    """Audit ``folders`` with up to ``jobs`` unit workers at a time.

    Each worker is a fresh interpreter (``python -m course_lib.grading.audit``), never a fork
    of this one: a fork would inherit the progress bar's thread and its locks.
    """
    import selectors
    import subprocess

    pending, running, results = list(folders), {}, {}
    selector = selectors.DefaultSelector()
    while pending or running:
        while pending and len(running) < jobs:
            folder = pending.pop(0)
            worker = subprocess.Popen(
                [sys.executable, "-m", "course_lib.grading.audit", str(folder), json.dumps(sorted(only or [])),
                 json.dumps(sample)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            running[folder] = worker
            selector.register(worker.stdout, selectors.EVENT_READ, folder)
        for key, _ in selector.select():
            folder = key.data
            line = key.fileobj.readline()
            if line:
                message = json.loads(line)
                if "progress" in message and on_progress:
                    on_progress(folder.name, *message["progress"])
                elif "reports" in message:
                    results[folder] = [ExerciseReport(**r) for r in message["reports"]]
                elif "error" in message:
                    results[folder] = [ExerciseReport(folder.name, "(unit)", error=message["error"])]
                continue
            selector.unregister(key.fileobj)
            key.fileobj.close()
            running.pop(folder).wait()
            results.setdefault(folder, [ExerciseReport(folder.name, "(unit)", error="the unit's worker died")])
    return [report for folder in folders for report in results[folder]]


# ------------------------------------------------------------------ reports
def _rate(report: ExerciseReport) -> str:
    rate = report.kill_rate
    return "n/a" if rate is None else f"{100 * rate:.0f} %"


def markdown_table(reports: list[ExerciseReport]) -> str:
    lines = ["| unit | exercise | mutants | killed | survived | equivalent | valid variants accepted | kill rate |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in reports:
        lines.append(f"| {r.unit} | {r.exercise} | {r.mutants} | {r.killed} | {len(r.survivors)} | "
                     f"{len(r.equivalents)} | {r.variants_accepted}/{r.variants} | "
                     f"{'error' if r.error else _rate(r)} |")
    mutants = sum(r.mutants for r in reports)
    killed = sum(r.killed for r in reports)
    counted = mutants - sum(len(r.equivalents) for r in reports)
    lines.append(f"| **all** | {len(reports)} exercises | {mutants} | {killed} | "
                 f"{sum(len(r.survivors) for r in reports)} | {sum(len(r.equivalents) for r in reports)} | "
                 f"{sum(r.variants_accepted for r in reports)}/{sum(r.variants for r in reports)} | "
                 f"{100 * killed / counted if counted else 0:.0f} % |")
    return "\n".join(lines)


def details(reports: list[ExerciseReport]) -> list[str]:
    """One line per survivor, rejected variant, equivalent and error."""
    lines = []
    for r in reports:
        where = f"{r.unit}/{r.exercise}"
        lines += [f"{where}: error: {r.error}"] if r.error else []
        lines += [f"{where}: survived: {s}" for s in r.survivors]
        lines += [f"{where}: variant rejected: {v}" for v in r.rejected_variants]
        lines += [f"{where}: equivalent: {e}" for e in r.equivalents]
    return lines


def audit_units(console, root: Path, names: list[str] | tuple = (), only: set[str] | None = None,
                sample: int | None = None, jobs: int = 2) -> tuple[list[ExerciseReport], float]:
    """``dlcourse audit``: audit the units ``names`` (default: all) with a progress bar on ``console``;
    return the reports and the seconds taken."""
    from rich.progress import Progress

    from .config import unit_named, units as all_units

    chosen = [unit_named(root, name) for name in names] if names else all_units(root)
    started = time.monotonic()
    with Progress(console=console, transient=True) as bar:
        tasks = {unit.name: bar.add_task(unit.name, total=None) for unit in chosen}

        def on_progress(unit, exercise, done, total):
            bar.update(tasks[unit], description=f"{unit} · {exercise} {done}/{total}", advance=1)

        reports = audit_course([unit.folder for unit in chosen], only, sample, jobs, on_progress)
    return reports, time.monotonic() - started


def report_lines(reports: list[ExerciseReport], markdown: bool = False) -> list[str]:
    """What ``dlcourse audit`` prints: the table (plain or Markdown), then one line per detail."""
    table = markdown_table(reports) if markdown else "\n".join(
        f"{r.unit:24} {r.exercise:28} {r.killed:3}/{r.mutants - len(r.equivalents):<3} killed  {_rate(r):>6}"
        f"  variants {r.variants_accepted}/{r.variants}{'  ERROR' if r.error else ''}" for r in reports)
    return [table] + [("- " if markdown else "  ") + line for line in details(reports)]


if __name__ == "__main__":                           # a unit worker of audit_course
    _worker(Path(sys.argv[1]), set(json.loads(sys.argv[2])) or None, json.loads(sys.argv[3]))
