"""The worker side of ``dlcourse autograde``: grade ONE submission in a private scratch course.

A worker is a long-lived process (a ``ProcessPoolExecutor`` worker or a Dask worker) that
imports nbgrader once and then calls :func:`grade_submission` for one student at a time:

1. It builds a scratch nbgrader course in a temporary folder: a copy of the gradebook
   snapshot the parent took at the start of the run (assignment structure and source cells
   only, no other student), the course's ``nbgrader_config.py``, the non-notebook files of
   the assignment's source folder, and this one submission.
2. It validates the submission (:mod:`.intake.validate`): a missing or misnamed notebook, a
   file that is not JSON, a notebook of another format version or with broken nbgrader
   metadata is not graded and gets a note; a copy-pasted cell is repaired so that each
   exercise counts once, and graded.
3. It runs nbgrader's own Autograde converter in-process, one notebook at a time, with the
   course's configuration and :class:`~.execution.limited_execute.LimitedExecute` in place of the course's executor: each
   kernel in a bubblewrap sandbox (:mod:`.execution.sandbox`; unsandboxed with a note where none can
   start), a time limit per cell and per notebook, memory, process, file and output limits.
4. It re-checks the grade cells outside the kernel (:func:`recheck`): the gradebook's test
   code runs again here against what the student's functions returned in the kernel, so
   tampering inside the kernel cannot earn points.
5. It returns a plain :class:`GradeResult` (autograded notebooks as JSON text, the files
   nbgrader copied beside them, the submission time stamp, seconds, status and notes).
   It never raises for a bad submission; a grader error comes back as ``status="failed"``.

The parent (:mod:`course_lib.grading.autograde`, through :mod:`.gradebook`) is the only writer of the master gradebook
and of ``autograded/``; nothing here touches the master course.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from . import config as course
from .execution import sandbox as sandboxing
from .execution.limited_execute import Limits, apply_limits, limit_notes, sandbox_setting
from .intake import structure
from .intake.validate import is_code, read_folder, validate_submission

STATUS_ORDER = ("ok", "limit", "invalid", "failed")   # worst last
SCRATCH_PREFIX = "dlcourse-grade-"
# nbgrader grades with process-wide state: it changes the working folder to the course root
# (converters.base) and sets NBGRADER_EXECUTION in os.environ (converters.autograde). Two
# threads grading in one process (a Dask worker with --nthreads 2) break each other's runs,
# so a process grades one submission at a time; its other threads wait.
ONE_AT_A_TIME = threading.Lock()


@dataclass
class CommonPayload:
    """What every submission of one run needs; built once by the parent."""

    assignment: str
    notebooks: list[str]                 # the assignment's notebook names, without .ipynb
    snapshot_db: bytes                   # gradebook snapshot: the assignment, no students
    config_text: str | None              # the course's nbgrader_config.py, or None
    source_files: dict[str, bytes]       # non-notebook files of build/source/<assignment>
    limits: Limits = field(default_factory=Limits)
    ignore: list[str] = field(default_factory=list)
    test_cells: dict[str, list[str]] = field(default_factory=dict)   # notebook -> autograded test cell ids
    # notebook -> the release's plain code cells: the instructor's own, which may use references
    instructor_code: dict[str, list[str]] = field(default_factory=dict)
    # Dask worker address -> the cores its grading thread and kernels keep to (pools.dask_core_shares)
    core_shares: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class SubmissionPayload:
    """One student's submission: a folder on this machine, or its files as bytes (Dask)."""

    student: str
    folder: str | None = None
    files: dict[str, bytes] | None = None

    def read_files(self, ignore: list[str]) -> dict[str, bytes]:
        if self.files is not None:
            return self.files
        return read_folder(Path(self.folder), ignore)


@dataclass
class GradeResult:
    """What a worker returns for one submission (plain data, picklable)."""

    student: str
    assignment: str
    status: str = "ok"                                   # ok, limit, invalid or failed
    notebooks: dict[str, str] = field(default_factory=dict)   # name -> autograded notebook JSON
    files: dict[str, bytes] = field(default_factory=dict)     # other files for autograded/
    timestamp: datetime | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    worker: str = ""

    def worsen(self, status: str) -> None:
        if STATUS_ORDER.index(status) > STATUS_ORDER.index(self.status):
            self.status = status


# --------------------------------------------------------------------------- the worker

def course_config(scratch_root: Path, config_text: str | None, limits: Limits) -> Config:
    """The course's nbgrader configuration for a scratch course at ``scratch_root``, with ``limits``."""
    config = course.scratch_config(scratch_root, config_text)
    apply_limits(config, limits)
    return config


_QUIET = False


def _quiet_worker() -> None:
    """Keep nbgrader's and nbclient's log lines out of the instructor's terminal (they are captured)."""
    global _QUIET
    if _QUIET:
        return
    logger = logging.getLogger("traitlets")
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    course.ensure_environment_on_path()
    _remove_stale_scratch()
    _QUIET = True


def _remove_stale_scratch() -> None:
    """Remove scratch folders left by workers that were killed (their process is gone)."""
    tmp = Path(tempfile.gettempdir())
    for folder in tmp.glob(f"{SCRATCH_PREFIX}*"):
        try:   # another worker may be removing the same folder right now
            pid = int(folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0])
            if pid != os.getpid() and not psutil.pid_exists(pid) and folder.owner() == _user():
                shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError, KeyError):
            continue


def _user() -> str:
    import getpass
    return getpass.getuser()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def grade_submission(common: CommonPayload, submission: SubmissionPayload) -> GradeResult:
    """Grade one submission in a scratch course; never raises for a bad submission."""
    with ONE_AT_A_TIME, _kept_to(_dask_share(common)):
        return _grade_submission(common, submission)


def _dask_share(common: CommonPayload) -> list[int] | None:
    """The cores this Dask worker keeps its grading to (``common.core_shares``); None elsewhere."""
    if not common.core_shares:
        return None
    try:
        from distributed import get_worker

        return common.core_shares.get(get_worker().address)
    except (ImportError, ValueError):   # not in a Dask worker
        return None


@contextlib.contextmanager
def _kept_to(cores: list[int] | None):
    """Keep this thread, and the processes it starts (kernels, the zygote), to ``cores`` meanwhile
    (Linux sets affinity per thread: the worker's other threads are left as they are)."""
    before = None
    if cores:
        try:
            before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, cores)
        except (AttributeError, OSError):   # no affinity here, or cores this process may not use
            before = None
    try:
        yield
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


def _grade_submission(common: CommonPayload, submission: SubmissionPayload) -> GradeResult:
    start = time.monotonic()
    result = GradeResult(student=submission.student, assignment=common.assignment, worker=worker_name())
    scratch = None
    try:
        _quiet_worker()
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        with warnings.catch_warnings():   # nbgrader's SQLAlchemy and nbformat chatter
            warnings.simplefilter("ignore")
            _grade_in(scratch, common, submission, result)
    except BaseException as error:   # noqa: BLE001 - a worker must always answer
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        result.notebooks.clear()
        result.worsen("failed")
        result.notes.append(f"grader error: {last}")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        result.seconds = time.monotonic() - start
    return result


def _grade_in(scratch: Path, common: CommonPayload, submission: SubmissionPayload, result: GradeResult) -> None:
    """Steps 1 to 4 of the module's docstring, in ``scratch``; the outcome goes into ``result``."""
    assignment, student = common.assignment, submission.student
    _write_scratch_course(scratch, common)
    files = submission.read_files(common.ignore)
    cells = structure.assignment_cells(scratch / "gradebook.db", assignment, common.notebooks)
    gradable, problems, notes = validate_submission(files, common.notebooks, cells)
    result.notes += [problems[name] for name in common.notebooks if name in problems] + notes
    if problems:
        result.worsen("invalid")
    submitted = scratch / "submitted" / student / assignment
    _write_submission(submitted, files, gradable, common, result)

    config = course_config(scratch, common.config_text, common.limits)
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    if gradable and not _sandbox_or_note(config, result):
        return
    tests = grade_cell_sources(coursedir.db_url, assignment, list(gradable))   # before any student code runs
    try:
        result.timestamp = coursedir.get_existing_timestamp(str(submitted))
    except Exception:   # an unreadable timestamp.txt: grade it as nbgrader would without one
        result.notes.append("timestamp.txt could not be read; the submission has no time stamp")
    autograded = scratch / coursedir.autograded_directory / student / assignment
    for name in common.notebooks:
        if name in gradable:
            coursedir.notebook_id = name
            _grade_notebook(name, scratch, api, config, common, student, tests[name], autograded, result)
    # the files nbgrader put beside the notebooks before running them (not what the run wrote)
    wanted = {rel for rel in files if not rel.endswith(".ipynb")} | set(common.source_files)
    for rel in sorted(wanted):
        if (autograded / rel).is_file():
            result.files[rel] = (autograded / rel).read_bytes()


def _write_scratch_course(scratch: Path, common: CommonPayload) -> None:
    """The gradebook snapshot and the assignment's source files, in the scratch course."""
    (scratch / "gradebook.db").write_bytes(common.snapshot_db)
    source = scratch / course.SOURCE_DIRECTORY / common.assignment
    source.mkdir(parents=True)
    for rel, data in common.source_files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)


def _write_submission(submitted: Path, files: dict[str, bytes], gradable: dict, common: CommonPayload,
                      result: GradeResult) -> None:
    """The submission in the scratch course: its validated notebooks and data files, never its code."""
    submitted.mkdir(parents=True)
    code = sorted(rel for rel in files if is_code(rel, files) and rel not in common.source_files)
    if code:
        result.notes.append(f"not copied to the grading folder: {', '.join(code)} (Python code beside the "
                            f"notebook could stand in for the course's modules; only the notebook and data "
                            f"files are graded)")
    for rel, data in files.items():
        if (rel.endswith(".ipynb") and "/" not in rel) or rel in code:
            continue   # notebooks: only the validated ones, written below
        (submitted / rel).parent.mkdir(parents=True, exist_ok=True)
        (submitted / rel).write_bytes(data)
    for name, notebook in gradable.items():
        nbformat.write(notebook, submitted / f"{name}.ipynb")


def _grade_notebook(name: str, scratch: Path, api, config, common: CommonPayload, student: str,
                    tests: list[tuple[str, str]], autograded: Path, result: GradeResult) -> None:
    """nbgrader's autograde of one notebook, then the trusted re-check and the limit notes."""
    evidence = scratch / "evidence" / name / "calls.jsonl"   # the kernel's record, for the re-check
    config.LimitedExecute.evidence_file = str(evidence)
    outcome = api.autograde(common.assignment, student, force=True, create=True)
    path = autograded / f"{name}.ipynb"
    if not outcome.get("success") or not path.is_file():
        result.worsen("failed")
        result.notes.append(f"{name}.ipynb: grader error: {real_cause(outcome)}")
        return
    text = path.read_text(encoding="utf-8")
    graded = nbformat.reads(text, as_version=4)
    notes, changed = recheck(graded, tests, evidence, common.instructor_code.get(name, []))
    result.notes += [f"{name}.ipynb: {note}" for note in notes]
    result.notebooks[name] = nbformat.writes(graded) if changed else text
    present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in graded.cells}
    deleted = [cell for cell in common.test_cells.get(name, []) if cell not in present]
    if deleted:
        result.notes.append(f"{name}.ipynb: test cell(s) {', '.join(deleted)} missing from the notebook "
                            f"(deleted?); scored 0")
    hit = limit_notes(graded, name, common.limits)
    if hit:
        result.worsen("limit")
        result.notes += hit


# "SomeError: message" in a traceback or a log line ("[ERROR] ..." prefixes allowed)
_EXCEPTION_LINE = re.compile(r"^\s*(?:\[\w+\]\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Warning))\s*:\s*(\S.*)$")


_WRAPPERS = ("NbGraderException", "nbgrader.converters.base.NbGraderException")


def real_cause(outcome: dict) -> str:
    """The line that says why nbgrader's ``autograde`` failed, from its log and traceback.

    nbgrader ends with ``NbGraderException: Please see the above traceback``; the cause
    (a kernel that died, a module it could not import, a timeout) is in the log above it.
    """
    text = "\n".join(str(outcome.get(key) or "") for key in ("log", "error"))
    causes = [f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"
              for m in map(_EXCEPTION_LINE.match, text.splitlines())
              if m and m.group(1) not in _WRAPPERS and "see the above traceback" not in m.group(2).lower()]
    if causes:
        return causes[-1][:500]
    errors = [line.split("]", 1)[-1].strip() for line in text.splitlines()
              if line.startswith("[ERROR]") and "above traceback" not in line]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (errors[-1] if errors else lines[-1] if lines else "nbgrader gave no reason")[:500]


def _sandbox_or_note(config: Config, result: GradeResult) -> bool:
    """Whether to grade: add the report's note when kernels will run unsandboxed; refuse
    (status failed) when the sandbox is required but cannot start here."""
    mode, bwrap = sandbox_setting(config)
    try:
        _, problem = sandboxing.resolve(mode, bwrap)
    except sandboxing.SandboxUnavailable as error:
        result.worsen("failed")
        result.notes.append(f"not graded: the sandbox is required but cannot start on {socket.gethostname()} "
                            f"({error})")
        return False
    if problem:
        result.notes.append(sandboxing.unsandboxed_note(problem))
    return True


def grade_cell_sources(db_url: str, assignment: str, notebooks: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``{notebook: [(grade_id, source), ...]}``: the autograded test cells as the gradebook stores them.

    Never read from a submitted notebook, so an edited, deleted or forged test cell does
    not change what the trusted re-check runs.
    """
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(db_url) as gradebook:
        for name in notebooks:
            notebook = gradebook.find_notebook(name, assignment)
            answers = {cell.name for cell in notebook.solution_cells}
            sources = {cell.name: cell.source for cell in notebook.source_cells}
            found[name] = [(cell.name, sources.get(cell.name) or "") for cell in notebook.grade_cells
                           if cell.cell_type == "code" and cell.name not in answers]
    return found


def recheck(notebook, tests: list[tuple[str, str]], evidence: Path, instructor: list[str] = ()
            ) -> tuple[list[str], bool]:
    """Score ``tests`` again outside the kernel from the recorded ``evidence``, and apply the
    own-work rule to the notebook's source (``instructor``: the release's plain code cells,
    which may use references).

    Changes the outputs of each re-checked grade cell whose verdict differs from the
    kernel's (see :func:`course_lib.grading.recheck.apply_verdicts`), so the parent's
    ``SaveAutoGrades`` scores the trusted verdict. Cells whose checks cannot be re-run keep
    the kernel's verdict, and a note says which. Returns the report's notes and whether
    ``notebook`` changed.
    """
    from . import recheck as trusted

    found = trusted.verdicts(tests, evidence)
    own, own_notes = trusted.own_work_verdicts(notebook, tests, instructor)
    found.update(own)
    notes = trusted.apply_verdicts(notebook, found)
    changed = bool(notes)
    notes += own_notes
    kept = [grade_id for grade_id, verdict in found.items() if not verdict.replayed]
    if kept:
        notes.append(f"scored inside the kernel only (checks the grader cannot re-run): {', '.join(kept)}")
    return notes, changed


def warm_up(sandbox_findings: dict | None = None, core_shares=None) -> None:
    """Called once in each local worker process: imports are done, logging is quiet, the
    parent's sandbox probe (``sandbox.findings()``, the same machine) is taken over, and the
    worker keeps to the next of ``core_shares`` (a queue of core sets, :func:`.pools.core_shares`)."""
    _quiet_worker()
    if sandbox_findings:
        sandboxing.adopt(sandbox_findings)
    if core_shares is not None:
        try:
            os.sched_setaffinity(0, core_shares.get_nowait())
        except (queue.Empty, OSError, AttributeError):
            pass   # no share left (a pool restarted by hand), or no affinity on this system
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C is the parent's business
