"""``dlcourse collect UNIT ARCHIVES_OR_FOLDER...``: import uploaded archives into ``submitted/``.

Run in the instructor's nbgrader course folder. Each archive made by ``dlcourse submit``
is verified completely first (:func:`course_lib.grading.intake.archive.read_archive`: zip,
manifest, names, links, sizes, SHA-256) and only then written, into a temporary folder
beside its destination that is renamed into place, so a refused archive leaves
``submitted/`` as it was and an interrupted run leaves no half-written submission.

The result is nbgrader's layout, ``submitted/<student>/<unit>/<notebook>.ipynb`` with a
``timestamp.txt`` holding the manifest's time in nbgrader's format, so ``dlcourse
autograde`` and stock ``nbgrader autograde`` grade it and nbgrader's late penalties apply.

* **Duplicates** (two archives of one student and unit, in this run or across runs):
  the newest by manifest time is kept in ``submitted/``; older ones, and a submission
  that a newer one replaces, go to ``submitted-aside/<student>/<unit>/<UTC time>/``.
  Nothing is ever deleted.
* **Late work**: against ``--due``, else the assignment's due date in the gradebook.
* **Unknown students** (not in the gradebook's student list, when it has one) are
  reported and still imported: nothing handed in is lost, and the instructor can add
  the student or rename a mistyped id before grading.
* **Re-running** on the same archives changes nothing and reports them as unchanged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .intake.archive import ArchiveError, Submission, parse_time, read_archive, sha256
from .config import CourseError, load_course_config

ASIDE_DIRECTORY = "submitted-aside"
TIMESTAMP_FILE = "timestamp.txt"
NBGRADER_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"   # nbgrader's Exchange.timestamp_format, in UTC


@dataclass
class Row:
    """What happened to one archive."""

    archive: Path
    status: str                       # imported, replaced, unchanged, aside, refused
    student: str = ""
    submitted_at: datetime | None = None
    late_by: timedelta | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """What a run did."""

    unit: str
    rows: list[Row] = field(default_factory=list)
    due: datetime | None = None
    due_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[Row]:
        return [row for row in self.rows if row.status == "refused"]


@dataclass
class Course:
    """What collecting one unit needs to know about the course."""

    root: Path
    unit: str
    notebooks: set[str]
    submitted: Path
    aside: Path
    due: datetime | None = None          # aware, from the gradebook
    students: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- the course

def read_course(root: Path, unit: str) -> Course:
    """The unit's notebook names, due date and the class list, from the gradebook (else the release)."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=load_course_config(root))
    assignments: dict[str, tuple[set[str], datetime | None]] = {}
    students: set[str] = set()
    db_url = coursedir.db_url
    if not (db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file()):
        from nbgrader.api import Gradebook

        with Gradebook(db_url, coursedir.course_id) as gradebook:
            for assignment in gradebook.assignments:
                due = assignment.duedate.replace(tzinfo=timezone.utc) if assignment.duedate else None
                assignments[assignment.name] = ({f"{nb.name}.ipynb" for nb in assignment.notebooks}, due)
            students = {student.id for student in gradebook.students}
    release = root / coursedir.release_directory
    if release.is_dir():   # units not (or not yet) in the gradebook: their notebooks from the release
        for folder in sorted(release.iterdir()):
            names = {p.name for p in folder.glob("*.ipynb")} if folder.is_dir() else set()
            listed, due = assignments.get(folder.name, (set(), None))
            if names and not listed:
                assignments[folder.name] = (names, due)
    known = sorted(name for name, (names, _) in assignments.items() if names)
    matches = [name for name in known if unit in (name, name.split("_", 1)[0])]
    if not matches:
        raise CourseError(f"no unit {unit!r} in the course at {root} (neither in its gradebook nor in "
                          f"{coursedir.release_directory}/); units: {', '.join(known) or 'none'}")
    unit = matches[0]
    notebooks, due = assignments[unit]
    return Course(root=root, unit=unit, notebooks=notebooks, submitted=root / coursedir.submitted_directory,
                  aside=root / ASIDE_DIRECTORY, due=due, students=students)


def find_archives(paths: list[Path]) -> list[Path]:
    """The archives named, and every ``*.zip`` under the folders named, each once, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            archives = sorted(p for p in path.rglob("*.zip") if p.is_file())
            if not archives:
                raise CourseError(f"no .zip archives in {path}")
            found += archives
        elif path.is_file():
            found.append(path)
        else:
            raise CourseError(f"{path}: no such archive or folder")
    unique, seen = [], set()
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


# --------------------------------------------------------------------------- folders

def nbgrader_timestamp(moment: datetime) -> str:
    """``moment`` as nbgrader writes ``timestamp.txt``: UTC, ``2025-03-01 09:15:02.123456 UTC``."""
    return moment.astimezone(timezone.utc).strftime(NBGRADER_TIME_FORMAT)


def read_timestamp(folder: Path) -> datetime | None:
    """The time in ``folder/timestamp.txt`` (aware, UTC), parsed as nbgrader does; None if absent or bad."""
    from nbgrader.utils import parse_utc

    try:
        moment = parse_utc((folder / TIMESTAMP_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError, OverflowError):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment else None


def holds(folder: Path, submission: Submission) -> bool:
    """Whether ``folder`` already holds exactly ``submission``: same time, same notebooks' bytes."""
    if not folder.is_dir() or read_timestamp(folder) != submission.submitted_at.astimezone(timezone.utc):
        return False
    present = {p.name for p in folder.glob("*.ipynb")}
    return present == set(submission.files) and all(
        sha256((folder / name).read_bytes()) == sha256(data) for name, data in submission.files.items())


def _stamp(moment: datetime | None) -> str:
    """A folder name for a time: ``20250301T091502.123456Z``."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _free(folder: Path) -> Path:
    """``folder``, or ``folder-2``, ``folder-3``... whichever does not exist yet."""
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


def _staged(submission: Submission, parent: Path) -> Path:
    """A complete copy of ``submission`` in a new hidden folder under ``parent`` (to be renamed)."""
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{submission.unit}.collect-", dir=parent))
    try:
        for name, data in submission.files.items():
            (stage / name).write_bytes(data)
        (stage / TIMESTAMP_FILE).write_text(nbgrader_timestamp(submission.submitted_at), encoding="utf-8")
        stage.chmod(0o755)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (creating its parent); across file systems, copy then remove."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
    except OSError:
        shutil.move(str(source), str(target))


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def put_aside(course: Course, submission: Submission) -> tuple[Path, bool]:
    """Keep ``submission`` under ``submitted-aside/``; return its folder and whether it was already there."""
    base = course.aside / submission.student / course.unit
    folder = base / _stamp(submission.submitted_at)
    for existing in [folder, *sorted(base.glob(f"{folder.name}-*"))]:
        if holds(existing, submission):
            return existing, True
    target = _free(folder)
    stage = _staged(submission, target.parent)
    os.rename(stage, target)
    return target, False


# --------------------------------------------------------------------------- collecting

def collect(root: Path, unit: str, paths: list[Path], due: datetime | None = None) -> Summary:
    """Import the archives in ``paths`` as submissions of ``unit`` into the course at ``root``."""
    course = read_course(root, unit)
    summary = Summary(unit=course.unit)
    if due is not None:
        summary.due, summary.due_source = due, "--due"
        if course.due is not None and course.due != due:
            summary.notes.append(f"--due differs from the gradebook's due date ({when(course.due)}); nbgrader's "
                                 f"late penalties use the gradebook's")
    elif course.due is not None:
        summary.due, summary.due_source = course.due, "the gradebook"
    verified: dict[str, list[tuple[Submission, Row]]] = {}
    for path in find_archives(paths):
        try:
            submission = read_archive(path, course.unit, course.notebooks)
        except ArchiveError as error:
            summary.rows.append(Row(path, "refused", notes=[str(error)]))
            continue
        row = Row(path, "", submission.student, submission.submitted_at)
        if summary.due is not None and submission.submitted_at > summary.due:
            row.late_by = submission.submitted_at - summary.due
        if course.students and submission.student not in course.students:
            row.notes.append("not in the gradebook's student list; imported anyway (add the student with "
                             "`nbgrader db student add`, or rename the folder if the id is mistyped)")
        verified.setdefault(submission.student, []).append((submission, row))
        summary.rows.append(row)
    try:
        for student, items in verified.items():
            items.sort(key=lambda item: (item[0].submitted_at, str(item[1].archive)), reverse=True)
            newest, newest_row = items[0]
            _place(course, newest, newest_row)
            for submission, row in items[1:]:
                folder, already = put_aside(course, submission)
                row.status = "unchanged" if already else "aside"
                row.notes.append(f"an older duplicate of {newest_row.archive.name}; "
                                 f"{'already ' if already else ''}kept in {relative(folder, root)}")
    except OSError as error:   # every placement is a rename of a complete folder: running again resumes
        raise CourseError(f"cannot write {error.filename or 'the course folder'} ({error.strerror or error}); "
                          f"fix that and run the same command again") from None
    return summary


def _place(course: Course, submission: Submission, row: Row) -> None:
    """Make ``submission`` the student's submission in ``submitted/``, unless a newer one is there."""
    dest = course.submitted / submission.student / course.unit
    if holds(dest, submission):
        row.status = "unchanged"
        return
    if dest.exists():
        existing = read_timestamp(dest)
        if existing is not None and existing >= submission.submitted_at:
            folder, already = put_aside(course, submission)
            row.status = "unchanged" if already else "aside"
            row.notes.append(f"{relative(dest, course.root)} holds a submission from {when(existing)}, not older "
                             f"than this one; {'already ' if already else ''}kept in {relative(folder, course.root)}")
            return
    stage = _staged(submission, dest.parent)   # fully written before anything is moved
    if dest.exists():
        old = _free(course.aside / submission.student / course.unit / _stamp(read_timestamp(dest)))
        _move(dest, old)
        row.status = "replaced"
        row.notes.append(f"replaces the earlier submission, now kept in {relative(old, course.root)}")
    else:
        row.status = "imported"
    os.rename(stage, dest)


def when(moment: datetime) -> str:
    """``2025-03-01 09:15 UTC``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def parse_due(value: str) -> datetime:
    """``--due``: an ISO 8601 time; without a UTC offset, this computer's local time."""
    try:
        return parse_time(value)
    except ValueError:
        pass
    from dateutil.parser import isoparse

    try:
        return isoparse(value).astimezone()
    except (ValueError, OverflowError):
        raise CourseError(f"--due {value!r} is not an ISO 8601 time such as 2025-03-01T23:59+01:00") from None
