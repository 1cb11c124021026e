"""The master gradebook's one writer: ``autograded/``, the gradebook and ``grading-log.csv``.

For each result of :mod:`.worker`, as it arrives, :class:`GradingLog` (1) marks the
submission's grades as pending, (2) replaces ``autograded/<student>/<assignment>/``
atomically (a new folder beside it, then renames), (3) records the grades with nbgrader's
own ``SaveAutoGrades`` and ``AssignLatePenalties`` on the autograded notebooks, (4) appends
a row to ``grading-log.csv`` in the course root. :func:`is_done` tells a resumed run what
is graded already; :func:`snapshot_gradebook` is the students-free copy workers grade against.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import CourseError

LOG_NAME = "grading-log.csv"
LOG_FIELDS = ["run", "finished_at", "assignment", "student", "status", "seconds", "score",
              "max_score", "worker", "notes"]
MANIFEST = ".dlcourse-autograde.json"   # nbgrader ignores dot files (feedback, zip collect)


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


_BUSY_TIMEOUT_SET = False


def set_busy_timeout() -> None:
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


def db_path(db_url: str) -> Path:
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


def autogradable(grade) -> bool:
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
        if any(grade.auto_score is None and autogradable(grade) for grade in notebook.grades):
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


class GradingLog:
    """Writes results into the master course: ``autograded/``, the gradebook, the timing log."""

    def __init__(self, root: Path, assignment: str, config, notebooks: list[str]):
        from nbgrader.api import Gradebook
        from nbgrader.coursedir import CourseDirectory

        self.root, self.assignment, self.config, self.notebooks = root, assignment, config, notebooks
        self.coursedir = CourseDirectory(config=config)
        self.db_url = self.coursedir.db_url
        set_busy_timeout()
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
        """Record one :class:`~course_lib.grading.worker.GradeResult`; return the outcome."""
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
                if grade.auto_score is None and autogradable(grade):
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


def remove_stale_folders(autograded: Path, assignment: str) -> None:
    """Half-written folders from a killed run (``.<assignment>.new-*`` / ``.old-*``)."""
    if not autograded.is_dir():
        return
    for student in autograded.iterdir():
        for stale in list(student.glob(f".{assignment}.new-*")) + list(student.glob(f".{assignment}.old-*")):
            shutil.rmtree(stale, ignore_errors=True)
