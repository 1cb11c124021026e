"""``dlcourse autograde ASSIGNMENT``: grade a whole class in parallel, resumably, with progress.

Stock ``nbgrader autograde`` grades one notebook at a time, shows no progress, stops the
whole batch on one notebook with a copy-pasted cell and skips a student whose notebook is
missing without a word. This command keeps nbgrader's grading (its Autograde converter in
the workers, its ``SaveAutoGrades`` here) and changes how the work is driven:

* **Workers** (:mod:`course_lib.grading.grade_worker`): long-lived processes, one per core
  by default (``--jobs``), or the workers of a Dask cluster (``--scheduler``). Each grades
  one submission at a time in a private scratch course and returns plain data. Each kernel
  runs in a bubblewrap sandbox (``--sandbox``, :mod:`course_lib.grading.sandbox`); where none
  can start, grading goes on unsandboxed with a loud warning and a note on every row.
* **One writer**: this process is the only writer of the master gradebook and of
  ``autograded/``. For each result, as it arrives, it (1) marks the submission's grades
  as pending, (2) replaces ``autograded/<student>/<assignment>/`` atomically (a new folder
  beside it, then renames), (3) records the grades with nbgrader's own ``SaveAutoGrades``
  and ``AssignLatePenalties`` on the autograded notebooks, (4) appends a row to
  ``grading-log.csv`` in the course root and advances the progress bar.
* **Resumable**: a submission is done when the gradebook has it with an automatic score
  for every autograded cell and its autograded folder is complete. Killing the run at any
  moment (even SIGKILL) and running it again grades only what is missing; SQLite's atomic
  commits and the unique (student, assignment) and (cell, notebook) rows mean nothing is
  lost or doubled. ``--force`` regrades; a newer ``timestamp.txt`` (a resubmission) does too.
* **Every submission gets a row**: a notebook that is missing, misnamed, not JSON or of
  another format scores zero with a note; a copy-pasted cell is repaired and graded once;
  a grader error is recorded with a note, flagged for manual grading, and retried on the
  next run. Limits per cell, per notebook and per kernel keep one runaway notebook from
  holding up the batch.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import click

from . import nbconfig
from .course import CourseError, course_root

LOG_NAME = "grading-log.csv"
LOG_FIELDS = ["run", "finished_at", "assignment", "student", "status", "seconds", "score",
              "max_score", "worker", "notes"]
MANIFEST = ".dlcourse-autograde.json"   # nbgrader ignores dot files (feedback, zip collect)
MAX_POOL_RESTARTS = 3   # a pool whose workers keep dying is given up after this many restarts


@dataclass
class Outcome:
    """One graded submission, as recorded."""

    student: str
    status: str
    seconds: float
    score: float
    max_score: float
    notes: list[str] = field(default_factory=list)
    worker: str = ""


@dataclass
class Summary:
    """What a run did."""

    assignment: str
    outcomes: list[Outcome] = field(default_factory=list)
    already_graded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)     # about folders, not submissions
    seconds: float = 0.0
    workers: str = ""
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)    # printed loudly before and after the run

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class Reporter:
    """Progress callbacks of :func:`autograde` (the CLI draws a progress bar)."""

    def start(self, total: int, summary: Summary) -> None: ...
    def result(self, outcome: Outcome, done: int, total: int) -> None: ...
    def finish(self) -> None: ...


# --------------------------------------------------------------------------- course and gradebook

def load_course_config(root: Path):
    """The course's nbgrader configuration, as ``nbgrader`` run in ``root`` would load it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .nbconfig import configure

    if (root / "nbgrader_config.py").is_file():
        return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config = Config()
    configure(config, root)
    return config


_BUSY_TIMEOUT_SET = False


def _set_busy_timeout() -> None:
    """Every SQLite connection of this process waits up to 60 s for a lock instead of failing."""
    global _BUSY_TIMEOUT_SET
    if _BUSY_TIMEOUT_SET:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _busy_timeout(connection, _record):
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA busy_timeout = 60000")

    _BUSY_TIMEOUT_SET = True


def _db_path(db_url: str) -> Path:
    if not db_url.startswith("sqlite:///"):
        raise CourseError(f"dlcourse autograde needs an SQLite gradebook; the course uses {db_url}")
    return Path(db_url[len("sqlite:///"):])


def snapshot_gradebook(db_path: Path) -> bytes:
    """A copy of the gradebook with the assignments and their source cells but no students.

    Taken with SQLite's backup API (consistent even while someone writes); workers grade
    against it, so no worker ever opens the master gradebook or sees another student.
    """
    import sqlite3

    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook

    with tempfile.TemporaryDirectory(prefix="dlcourse-snapshot-") as folder:
        copy = Path(folder) / "gradebook.db"
        source = sqlite3.connect(db_path, timeout=60)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
            for model in (Comment, Grade, SubmittedNotebook, SubmittedAssignment, Student):
                target.execute(f"DELETE FROM {model.__tablename__}")
            target.commit()
            target.execute("VACUUM")
        finally:
            source.close()
            target.close()
        return copy.read_bytes()


def _autogradable(grade) -> bool:
    """A grade the autograder must fill: a code grade cell that is not also an answer cell."""
    from nbgrader.api import GradeCell

    cell = grade.cell
    if not isinstance(cell, GradeCell) or cell.cell_type != "code":
        return False
    return cell.name not in {c.name for c in grade.notebook.notebook.solution_cells}


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(gradebook, coursedir, root: Path, assignment: str, student: str) -> bool:
    """Whether ``student``'s submission is completely graded (so a resumed run skips it)."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return False
    for notebook in submission.notebooks:
        if any(grade.auto_score is None and _autogradable(grade) for grade in notebook.grades):
            return False
    folder = root / coursedir.autograded_directory / student / assignment
    manifest = _read_manifest(folder)
    if not manifest or manifest.get("status") == "failed":
        return False
    if any(not (folder / f"{name}.ipynb").is_file() for name in manifest.get("graded", [])):
        return False
    try:   # resubmitted since it was graded
        submitted_at = coursedir.get_existing_timestamp(str(root / coursedir.submitted_directory / student / assignment))
    except Exception:
        submitted_at = None
    if submitted_at and submission.timestamp and submitted_at > submission.timestamp:
        return False
    return True


# --------------------------------------------------------------------------- recording

class _SharedGradebook:
    """Stands in for nbgrader's ``Gradebook`` class inside its preprocessors: ``Gradebook(db_url)``
    hands back this run's one open gradebook, and leaving ``with`` does not close it."""

    def __init__(self, gradebook):
        self._gradebook = gradebook

    def __call__(self, *args, **kwargs):
        return self

    def __enter__(self):
        return self._gradebook

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return getattr(self._gradebook, name)


@contextmanager
def _on_gradebook(gradebook):
    """Run nbgrader's SaveAutoGrades and AssignLatePenalties, unchanged, on ``gradebook``."""
    import nbgrader.preprocessors.latesubmissions as late
    import nbgrader.preprocessors.saveautogrades as save

    saved = save.Gradebook, late.Gradebook
    save.Gradebook = late.Gradebook = _SharedGradebook(gradebook)
    try:
        yield
    finally:
        save.Gradebook, late.Gradebook = saved


class Recorder:
    """Writes results into the master course: ``autograded/``, the gradebook, the timing log."""

    def __init__(self, root: Path, assignment: str, config, notebooks: list[str]):
        from nbgrader.api import Gradebook
        from nbgrader.coursedir import CourseDirectory

        self.root, self.assignment, self.config, self.notebooks = root, assignment, config, notebooks
        self.coursedir = CourseDirectory(config=config)
        self.db_url = self.coursedir.db_url
        _set_busy_timeout()
        self.gradebook = Gradebook(self.db_url, self.coursedir.course_id)
        from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

        steps = list(config.Autograde.get("autograde_preprocessors") or [])
        names = {getattr(s, "__name__", str(s).rpartition(".")[2]) for s in steps}
        self.save = SaveAutoGrades(config=config)
        self.late = AssignLatePenalties(config=config) if (not steps or "AssignLatePenalties" in names) else None
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}"
        self.log_path = root / LOG_NAME
        self.permissions = int(str(664 if self.coursedir.groupshared else 444), 8)

    def close(self) -> None:
        self.gradebook.close()

    def done(self, student: str) -> bool:
        return is_done(self.gradebook, self.coursedir, self.root, self.assignment, student)

    def record(self, result) -> Outcome:
        """Record one :class:`~course_lib.grading.grade_worker.GradeResult`; return the outcome."""
        gb, assignment, student = self.gradebook, self.assignment, result.student
        notes = list(result.notes)
        if result.status == "failed" and self.done(student):
            # keep the complete earlier grading rather than replace it with an error
            notes.append("kept the previous grading of this submission")
            submission = gb.find_submission(assignment, student)
            outcome = Outcome(student, "failed", result.seconds, submission.score, submission.max_score,
                              notes, result.worker)
            self._log(outcome)
            return outcome
        gb.update_or_create_student(student)
        kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
        submission = gb.update_or_create_submission(assignment, student, **kwargs)
        # 1. pending: a run killed from here on leaves this submission "not done"
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = None
        gb.db.commit()
        # 2. the autograded folder, replaced in one rename
        self._write_autograded(result, notes)
        # 3. grades, with nbgrader's own preprocessors
        import nbformat

        for name in self.notebooks:
            if name in result.notebooks:
                notebook = nbformat.reads(result.notebooks[name], as_version=4)
                resources = {"unique_key": name, "output_files_dir": f"{name}_files",
                             "nbgrader": {"student": student, "assignment": assignment,
                                          "notebook": name, "db_url": self.db_url}}
                with _on_gradebook(gb):
                    self.save.preprocess(notebook, resources)
                    if self.late is not None:
                        self.late.preprocess(notebook, resources)
            else:   # not gradable: zero, as nbgrader scores a missing notebook
                for grade in gb.find_submission_notebook(name, assignment, student).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = result.status == "failed"
        for notebook in submission.notebooks:   # a test cell the student deleted did not pass
            for grade in notebook.grades:
                if grade.auto_score is None and _autogradable(grade):
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
        gb.db.commit()
        outcome = Outcome(student, result.status, result.seconds, submission.score, submission.max_score,
                          notes, result.worker)
        # 4. the timing log (after the commit: a logged submission is a recorded one)
        self._log(outcome)
        return outcome

    def _write_autograded(self, result, notes: list[str]) -> None:
        dest = self.root / self.coursedir.autograded_directory / result.student / self.assignment
        dest.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{self.assignment}.new-", dir=dest.parent))
        for rel, data in result.files.items():
            (new / rel).parent.mkdir(parents=True, exist_ok=True)
            (new / rel).write_bytes(data)
        for name, text in result.notebooks.items():
            (new / f"{name}.ipynb").write_text(text, encoding="utf-8")
        for path in new.rglob("*"):
            if path.is_file():
                path.chmod(self.permissions)
        manifest = {"student": result.student, "assignment": self.assignment, "status": result.status,
                    "graded": sorted(result.notebooks), "notes": notes, "seconds": round(result.seconds, 3),
                    "worker": result.worker, "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (new / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        new.chmod(0o2775 if self.coursedir.groupshared else 0o755)
        old = None
        if dest.exists():
            old = dest.parent / f".{self.assignment}.old-{uuid.uuid4().hex[:8]}"
            os.rename(dest, old)
        os.rename(new, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _log(self, outcome: Outcome) -> None:
        new_file = not self.log_path.exists() or self.log_path.stat().st_size == 0
        with open(self.log_path, "a+", newline="", encoding="utf-8") as handle:
            if not new_file:   # a run killed mid-line leaves a partial row: start a fresh line
                handle.seek(0, os.SEEK_END)
                handle.seek(handle.tell() - 1)
                if handle.read(1) != "\n":
                    handle.write("\n")
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(LOG_FIELDS)
            writer.writerow([self.run_id, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             self.assignment, outcome.student, outcome.status, f"{outcome.seconds:.2f}",
                             f"{outcome.score:g}", f"{outcome.max_score:g}", outcome.worker,
                             " | ".join(outcome.notes)])
            handle.flush()
            os.fsync(handle.fileno())


def read_log(root: Path) -> list[dict[str, str]]:
    """The rows of ``grading-log.csv`` (tolerates a partial last line from a killed run)."""
    path = root / LOG_NAME
    if not path.exists():
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        if row.get("notes") is not None:   # complete rows only
            rows.append(row)
    return rows


def _remove_stale_folders(autograded: Path, assignment: str) -> None:
    """Half-written folders from a killed run (``.<assignment>.new-*`` / ``.old-*``)."""
    if not autograded.is_dir():
        return
    for student in autograded.iterdir():
        for stale in list(student.glob(f".{assignment}.new-*")) + list(student.glob(f".{assignment}.old-*")):
            shutil.rmtree(stale, ignore_errors=True)


# --------------------------------------------------------------------------- finding submissions

def find_submissions(root: Path, submitted_dir: str, assignment: str, only: list[str]) -> tuple[dict[str, Path], list[str]]:
    """``({student: folder}, problems)`` for ``assignment`` under ``root/submitted``."""
    submitted = root / submitted_dir
    problems, found = [], {}
    if submitted.is_dir():
        for entry in sorted(submitted.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                problems.append(f"{submitted_dir}/{entry.name} is not a student folder; ignored")
                continue
            folder = entry / assignment
            if folder.is_dir():
                found[entry.name] = folder
                continue
            near = difflib.get_close_matches(assignment, [p.name for p in entry.iterdir() if p.is_dir()], n=1, cutoff=0.75)
            if near and (not only or entry.name in only):
                problems.append(f"{submitted_dir}/{entry.name} has no {assignment} folder but has '{near[0]}': "
                                f"rename it to {assignment} to grade it")
    if only:
        for student in only:
            if student not in found:
                problems.append(f"no submission of {assignment} from student {student!r}")
        found = {s: f for s, f in found.items() if s in only}
    return found, problems


# --------------------------------------------------------------------------- executors

def start_forkserver() -> str:
    """Start the fork server that local workers are forked from, importing nbgrader in it now.

    Called first thing, so the fork server's imports (seconds) overlap with this process's
    own; each worker is then a cheap fork with nbgrader already imported.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(["course_lib.grading.grade_worker"])
    forkserver.ensure_running()
    return "forkserver"


class _LocalWorkers:
    """Long-lived worker processes on this machine (nbgrader is imported once, in the fork server)."""

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from .grade_worker import warm_up

        self.jobs = jobs
        self.context = multiprocessing.get_context(start_forkserver())
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=self.context, initializer=warm_up)
        self.window = 2 * jobs
        self.description = f"{jobs} local worker{'s' if jobs != 1 else ''}"

    def submit(self, common, student: str, folder: Path):
        from .grade_worker import SubmissionPayload, grade_submission

        return self.pool.submit(grade_submission, common, SubmissionPayload(student, folder=str(folder)))

    def restart(self) -> None:
        from concurrent.futures import ProcessPoolExecutor

        from .grade_worker import warm_up

        self.close(kill=True)
        self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=self.context, initializer=warm_up)

    def close(self, kill: bool = False) -> None:
        if kill:
            _kill_descendants()
        self.pool.shutdown(wait=not kill, cancel_futures=True)


class _DaskWorkers:
    """The workers of a Dask distributed cluster; submissions travel as bytes."""

    def __init__(self, address: str, common):
        try:
            from distributed import Client
        except ImportError as error:   # pragma: no cover - a dependency of the course
            raise CourseError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from error
        try:
            self.client = Client(address, timeout="10s")
        except OSError as error:
            raise CourseError(f"cannot reach the Dask scheduler at {address}: {error}") from error
        threads = sum(self.client.nthreads().values()) or 1
        self.window = 2 * threads
        self.description = f"Dask cluster at {address} ({threads} worker thread{'s' if threads != 1 else ''})"
        self.common = self.client.scatter(common, broadcast=True)

    def submit(self, common, student: str, folder: Path):
        from concurrent.futures import Future

        from .grade_worker import SubmissionPayload, grade_submission, read_folder

        payload = SubmissionPayload(student, files=read_folder(folder, common.ignore))
        remote = self.client.submit(grade_submission, self.common, payload, pure=False,
                                    key=f"grade-{student}-{uuid.uuid4().hex[:8]}")
        local: Future = Future()

        def _copy(done):
            try:
                local.set_result(done.result())
            except BaseException as error:  # noqa: BLE001
                local.set_exception(error)

        remote.add_done_callback(_copy)
        return local

    def restart(self) -> None:
        pass

    def close(self, kill: bool = False) -> None:
        self.client.close()


def _kill_descendants() -> None:
    """Kill the worker processes this run started, and everything they started (kernels).

    multiprocessing's own helpers (the fork server and the resource tracker, children of this
    process) are left alone: they exit with this process, and killing the fork server behind
    multiprocessing's back would break the next pool.
    """
    import psutil

    me = os.getpid()
    children = []
    for child in psutil.Process(me).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.ppid() == me and ("resource_tracker" in command or "forkserver" in command):
                continue
            children.append(child)
        except psutil.Error:
            pass
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)


def default_jobs() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- the run

def autograde(root: Path, assignment: str, *, jobs: int | None = None, students: list[str] | tuple = (),
              force: bool = False, scheduler: str | None = None, limits=None,
              reporter: Reporter | None = None) -> Summary:
    """Grade every submission of ``assignment`` in the course at ``root`` that is not graded yet.

    ``students`` restricts the run to those students; ``force`` regrades graded ones;
    ``scheduler`` sends the work to a Dask cluster instead of ``jobs`` local processes;
    ``limits`` is a :class:`~course_lib.grading.grade_worker.Limits`. Raises
    :class:`CourseError` (nothing graded) for a missing gradebook or assignment or when
    there is nothing to grade.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    from .grade_worker import CommonPayload, GradeResult, Limits, read_folder

    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's own session warnings
    start = time.monotonic()
    if not scheduler:
        start_forkserver()
    reporter = reporter or Reporter()
    root = Path(root).resolve()
    config = load_course_config(root)
    coursedir = CourseDirectory(config=config)
    db_path = _db_path(coursedir.db_url)
    if not db_path.is_file():
        raise CourseError(f"no gradebook at {db_path}: run `dlcourse build` first")
    _set_busy_timeout()
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        known = [a.name for a in gradebook.assignments]
        try:
            master = gradebook.find_assignment(assignment)
        except MissingEntry:
            near = difflib.get_close_matches(assignment, known, n=1, cutoff=0.5) or [
                a for a in known if a.startswith(assignment)][:1]
            hint = f"; did you mean {near[0]}?" if near else (f"; the gradebook has {', '.join(known)}" if known else "")
            raise CourseError(f"no assignment {assignment!r} in the gradebook{hint} "
                              f"(`dlcourse build` adds the course's units)") from None
        notebooks = sorted(nb.name for nb in master.notebooks)
        test_cells = {nb.name: [c.name for c in nb.grade_cells if c.cell_type == "code"
                                and c.name not in {s.name for s in nb.solution_cells}] for nb in master.notebooks}
    if not notebooks:
        raise CourseError(f"assignment {assignment!r} has no notebooks in the gradebook; run `dlcourse build`")
    students = list(students or [])
    submissions, problems = find_submissions(root, coursedir.submitted_directory, assignment, students)
    if not submissions:
        where = root / coursedir.submitted_directory
        wanted = f" from {', '.join(students)}" if students else ""
        raise CourseError(f"no submissions of {assignment}{wanted} in {where} "
                          f"(expected {coursedir.submitted_directory}/<student>/{assignment}/<notebook>.ipynb)")

    summary = Summary(assignment=assignment, problems=problems)
    _remove_stale_folders(root / coursedir.autograded_directory, assignment)
    recorder = Recorder(root, assignment, config, notebooks)
    workers = None
    try:
        todo = []
        for student, folder in submissions.items():
            if not force and recorder.done(student):
                summary.already_graded.append(student)
            else:
                todo.append((student, folder))
        if not todo:
            summary.seconds = time.monotonic() - start
            return summary
        source = root / coursedir.source_directory / assignment
        source_files = {rel: data for rel, data in (read_folder(source, list(coursedir.ignore)).items()
                                                     if source.is_dir() else []) if not rel.endswith(".ipynb")}
        jobs = max(1, jobs or default_jobs())
        limits = limits or Limits()
        if not scheduler and not limits.threads:   # share the cores among the kernels run side by side
            limits = replace(limits, threads=max(1, default_jobs() // jobs))
        config_path = root / "nbgrader_config.py"
        common = CommonPayload(assignment=assignment, notebooks=notebooks, snapshot_db=snapshot_gradebook(db_path),
                               config_text=config_path.read_text(encoding="utf-8") if config_path.is_file() else None,
                               source_files=source_files, limits=limits, ignore=list(coursedir.ignore),
                               test_cells=test_cells, instructor_code=_instructor_code(source, notebooks))
        if not scheduler:   # (a cluster's workers each say so in their submissions' notes)
            summary.warnings += _sandbox_warnings(config, limits)
        workers = _DaskWorkers(scheduler, common) if scheduler else _LocalWorkers(jobs)
        summary.workers = workers.description
        reporter.start(len(todo), summary)
        queue = list(todo)
        pending: dict = {}
        lost: dict[str, int] = {}   # student -> times a worker died while grading it

        def record(result) -> None:
            outcome = recorder.record(result)
            summary.outcomes.append(outcome)
            reporter.result(outcome, len(summary.outcomes), len(todo))

        def fill() -> bool:
            """Keep the workers busy; False when the pool broke while submitting."""
            while queue and len(pending) < workers.window:
                student, folder = queue[0]
                try:
                    future = workers.submit(common, student, folder)
                except BrokenProcessPool:
                    return False
                queue.pop(0)
                pending[future] = student
            return True

        restarts = 0
        healthy = fill()
        while pending or not healthy:
            broken = not healthy
            if pending:
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    student = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:   # a worker process died: retry once on a fresh pool
                        broken = True
                        lost[student] = lost.get(student, 0) + 1
                        if lost[student] < 2:
                            queue.insert(0, (student, submissions[student]))
                            continue
                        result = GradeResult(student=student, assignment=assignment, status="failed",
                                             notes=["the grading worker process died twice while grading this "
                                                    "submission; run again to retry"])
                    except Exception as error:   # a Dask worker lost, a cancelled task
                        result = GradeResult(student=student, assignment=assignment, status="failed",
                                             notes=[f"grader error: {type(error).__name__}: {error}"])
                    record(result)
            if broken:
                for student in pending.values():
                    queue.insert(0, (student, submissions[student]))
                pending.clear()
                restarts += 1
                summary.problems.append(f"a grading worker process died; the workers were restarted "
                                        f"and its submissions retried (restart {restarts})")
                if restarts > MAX_POOL_RESTARTS:
                    for student, _ in queue:
                        record(GradeResult(student=student, assignment=assignment, status="failed",
                                           notes=["the grading worker processes keep dying; see the errors above"]))
                    queue.clear()
                    break
                workers.restart()
            healthy = fill()
    except KeyboardInterrupt:
        summary.interrupted = True
        if workers is not None:
            workers.close(kill=True)
            workers = None
    finally:
        if workers is not None:
            workers.close()
        recorder.close()
        reporter.finish()
        summary.seconds = time.monotonic() - start
    return summary


def _instructor_code(source: Path, notebooks: list[str]) -> dict[str, list[str]]:
    """The release's plain code cells per notebook (the own-work rule leaves the instructor's alone)."""
    import nbformat

    from .trusted import instructor_code

    found = {}
    for name in notebooks:
        path = source / f"{name}.ipynb"
        if path.is_file():
            found[name] = instructor_code(nbformat.read(path, 4))
    return found


def _sandbox_warnings(config, limits) -> list[str]:
    """The loud warning when kernels will run unsandboxed here; CourseError when the sandbox is
    required and cannot start, or when a course kernel cannot import what grading needs at all."""
    from .grade_worker import sandbox_setting
    from .sandbox import SandboxUnavailable, course_kernels, kernel_python, resolve, warning

    for name, python, env in course_kernels():
        try:
            kernel_python(python, env)
        except SandboxUnavailable as error:
            raise CourseError(f"kernel {name} cannot run graded notebooks: {error}") from None
    mode, bwrap = sandbox_setting(config)
    try:
        _, problem = resolve(limits.sandbox or mode, bwrap)
    except SandboxUnavailable as error:
        raise CourseError(f"the grading sandbox is required but cannot start: {error}") from None
    return [warning(problem)] if problem else []


# --------------------------------------------------------------------------- command line

class _PlainReporter(Reporter):
    """One line per graded submission (for logs and pipes): done/total, rate and ETA."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo

    def start(self, total, summary):
        self.started, self.total = time.monotonic(), total
        for line in summary.warnings:
            self.echo(line)
        self.echo(f"grading {total} submission{'s' if total != 1 else ''} of {summary.assignment} "
                  f"on {summary.workers}")

    def result(self, outcome, done, total):
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        self.echo(f"[{done}/{total}] {outcome.student}: {outcome.score:g}/{outcome.max_score:g} points, "
                  f"{outcome.status}, {outcome.seconds:.1f} s | {rate * 60:.1f}/min, ETA {_duration(eta)}")
        for note in outcome.notes:
            self.echo(_note_line(outcome, note))


class _BarReporter(Reporter):
    """A rich progress bar: done/total, rate, elapsed, ETA; problems printed above it."""

    def __init__(self, console):
        self.console = console

    def start(self, total, summary):
        from rich.markup import escape
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn)
        from rich.text import Text

        class Rate(ProgressColumn):
            """Submissions per minute since the start (steadier than rich's recent-window speed)."""

            def render(self, task):
                rate = task.completed / task.elapsed * 60 if task.elapsed and task.completed else 0
                return Text(f"{rate:.1f}/min" if rate else "-/min")

        class Eta(ProgressColumn):
            def render(self, task):
                if not task.completed or not task.elapsed:
                    return Text("ETA -")
                return Text(f"ETA {_duration((task.total - task.completed) * task.elapsed / task.completed)}")

        for line in summary.warnings:
            self.console.print(f"[bold red]{escape(line)}[/]", soft_wrap=True)
        self.console.print(f"grading {total} submission{'s' if total != 1 else ''} of "
                           f"{summary.assignment} on {summary.workers}")
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                            TimeElapsedColumn(), Eta(), console=self.console)
        self.bar.start()
        self.task = self.bar.add_task(summary.assignment, total=total)

    def result(self, outcome, done, total):
        from rich.markup import escape

        colour = {"limit": "yellow", "invalid": "yellow", "failed": "red"}.get(outcome.status, "white")
        for note in outcome.notes:
            self.bar.console.print(f"[{colour}]{escape(_note_line(outcome, note))}[/]", soft_wrap=True)
        self.bar.update(self.task, completed=done)

    def finish(self):
        if hasattr(self, "bar"):
            self.bar.stop()


def _note_line(outcome: Outcome, note: str) -> str:
    return f"{outcome.student} ({outcome.status}, {outcome.score:g}/{outcome.max_score:g} points): {note}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def print_summary(summary: Summary, console, log_path: Path) -> None:
    """The report: one line per problem (never wrapped, so it greps), counts, time, the log's path."""
    from rich.markup import escape

    def line(text: str, style: str = "") -> None:
        console.print(f"[{style}]{escape(text)}[/]" if style else escape(text), soft_wrap=True)

    for problem in summary.problems:
        line(f"note: {problem}", "yellow")
    for o in summary.outcomes:
        style = {"ok": "", "limit": "yellow", "invalid": "yellow", "failed": "red"}[o.status]
        for note in o.notes:
            line(_note_line(o, note), style)
    counts: dict[str, int] = {}
    for o in summary.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    graded = len(summary.outcomes)
    detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    rate = graded / summary.seconds * 60 if summary.seconds else 0
    text = (f"Graded {graded} submission{'s' if graded != 1 else ''} of {summary.assignment}"
            + (f" ({detail})" if detail else "") + f" in {_duration(summary.seconds)}"
            + (f" on {summary.workers}, {rate:.1f}/min" if graded else "") + ".")
    if summary.already_graded:
        n = len(summary.already_graded)
        text += f" {n} already graded (use --force to regrade {'it' if n == 1 else 'them'})."
    line(text)
    if graded:
        line(f"Timings and notes: {log_path}")
    if summary.failed:
        line(f"{len(summary.failed)} submission(s) could not be graded (grader error); "
             f"run the same command again to retry them.", "red")
    if summary.interrupted:
        line("Interrupted. Run the same command again to grade the rest.", "red")
    unsandboxed = [o for o in summary.outcomes if any("graded WITHOUT the sandbox" in n for n in o.notes)]
    for warning in summary.warnings or ([f"WARNING: {len(unsandboxed)} submission(s) were graded WITHOUT "
                                         f"the sandbox; see their notes"] if unsandboxed else []):
        line(warning, "bold red")


@click.command("autograde")
@click.argument("assignment")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per core).")
@click.option("--student", "students", multiple=True, metavar="ID",
              help="Grade only this student (repeat, or separate IDs with commas, for more).")
@click.option("--force", is_flag=True, help="Regrade submissions that are already graded.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Grade on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786) instead of local processes.")
@click.option("--cell-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help=f"Time limit per cell (default: {nbconfig.CELL_TIMEOUT_S}).")
@click.option("--notebook-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help=f"Wall-clock limit per notebook (default: {nbconfig.NOTEBOOK_TIMEOUT_S}).")
@click.option("--memory-mb", type=click.IntRange(min=0), default=None, metavar="MB",
              help=f"Memory limit per kernel, 0 for none (default: {nbconfig.KERNEL_MEMORY_MB}).")
@click.option("--sandbox", type=click.Choice(["auto", "required", "off"]), default=None,
              help="Run each kernel in a bubblewrap sandbox: auto (where it can start, else warn), "
                   "required (refuse without it) or off (default: the course config's "
                   "LimitedExecute.sandbox, else auto).")
def autograde_command(assignment, jobs, students, force, scheduler, cell_timeout, notebook_timeout, memory_mb,
                      sandbox):
    """Grade every submission of ASSIGNMENT in submitted/, in parallel; resume where a run stopped.

    Grades go to the gradebook, executed notebooks to autograded/, and one line per
    submission (seconds, score, status, notes) to grading-log.csv in the course root.
    Exits 1 when a submission could not be graded because of a grader error.
    """
    import sys

    if not scheduler:
        start_forkserver()
    from rich.console import Console

    from .grade_worker import Limits

    limits = Limits()
    for name, value in (("cell_timeout_s", cell_timeout), ("notebook_timeout_s", notebook_timeout),
                        ("memory_mb", memory_mb), ("sandbox", sandbox)):
        if value is not None:
            limits = replace(limits, **{name: value})
    students = [s.strip() for item in students for s in item.split(",") if s.strip()]
    root = course_root()
    console = Console(highlight=False)
    reporter = _BarReporter(console) if console.is_terminal else _PlainReporter(lambda line: click.echo(line))
    summary = autograde(root, assignment, jobs=jobs, students=students, force=force, scheduler=scheduler,
                        limits=limits, reporter=reporter)
    print_summary(summary, console, root / LOG_NAME)
    if summary.interrupted:
        sys.exit(130)
    sys.exit(1 if summary.failed else 0)
