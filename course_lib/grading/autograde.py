"""``dlcourse autograde ASSIGNMENT``: grade a whole class in parallel, resumably, with progress.

Stock ``nbgrader autograde`` grades one notebook at a time, shows no progress, stops the
whole batch on one notebook with a copy-pasted cell and skips a student whose notebook is
missing without a word. This command keeps nbgrader's grading (its Autograde converter in
the workers, its ``SaveAutoGrades`` here) and changes how the work is driven:

* **Workers** (:mod:`course_lib.grading.worker`, pooled by :mod:`.pools`): long-lived processes, one per core
  by default (``--jobs``), or the workers of a Dask cluster (``--scheduler``). Each grades
  one submission at a time in a private scratch course and returns plain data. Each kernel
  runs in a bubblewrap sandbox (``--sandbox``, :mod:`course_lib.grading.execution.sandbox`); where none
  can start, grading goes on unsandboxed with a loud warning and a note on every row.
* **One writer** (:mod:`.gradebook`): this process is the only writer of the master gradebook and of
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

This module is the driver only: :func:`autograde` plans the run (:func:`plan`), dispatches
the submissions to the workers (:func:`dispatch`) and records each result as it arrives.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import CourseError, load_course_config
from .gradebook import (GradingLog, Outcome, db_path, remove_stale_folders, set_busy_timeout,
                        snapshot_gradebook)
from .pools import MAX_POOL_RESTARTS, DaskWorkers, LocalWorkers, default_jobs, start_forkserver


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


# --------------------------------------------------------------------------- the run

@dataclass
class Plan:
    """What one run grades: the assignment's notebooks and test cells, and the submissions."""

    root: Path
    assignment: str
    config: object
    coursedir: object
    notebooks: list[str]
    test_cells: dict[str, list[str]]
    submissions: dict[str, Path]
    problems: list[str]


def plan(root: Path, assignment: str, students: list[str]) -> Plan:
    """Read the course, its gradebook and ``submitted/``; raise :class:`CourseError` when nothing can be graded."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    config = load_course_config(root)
    coursedir = CourseDirectory(config=config)
    path = db_path(coursedir.db_url)
    if not path.is_file():
        raise CourseError(f"no gradebook at {path}: run `dlcourse build` first")
    set_busy_timeout()
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
    submissions, problems = find_submissions(root, coursedir.submitted_directory, assignment, students)
    if not submissions:
        where = root / coursedir.submitted_directory
        wanted = f" from {', '.join(students)}" if students else ""
        raise CourseError(f"no submissions of {assignment}{wanted} in {where} "
                          f"(expected {coursedir.submitted_directory}/<student>/{assignment}/<notebook>.ipynb)")
    return Plan(root, assignment, config, coursedir, notebooks, test_cells, submissions, problems)


def autograde(root: Path, assignment: str, *, jobs: int | None = None, students: list[str] | tuple = (),
              force: bool = False, scheduler: str | None = None, limits=None,
              reporter: Reporter | None = None) -> Summary:
    """Grade every submission of ``assignment`` in the course at ``root`` that is not graded yet.

    ``students`` restricts the run to those students; ``force`` regrades graded ones;
    ``scheduler`` sends the work to a Dask cluster instead of ``jobs`` local processes;
    ``limits`` is a :class:`~course_lib.grading.execution.limited_execute.Limits`. Raises
    :class:`CourseError` (nothing graded) for a missing gradebook or assignment or when
    there is nothing to grade.
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's own session warnings
    start = time.monotonic()
    if not scheduler:
        start_forkserver()
    reporter = reporter or Reporter()
    run = plan(Path(root).resolve(), assignment, list(students or []))
    summary = Summary(assignment=assignment, problems=run.problems)
    remove_stale_folders(run.root / run.coursedir.autograded_directory, assignment)
    log = GradingLog(run.root, assignment, run.config, run.notebooks)
    workers = None
    try:
        todo = [(student, folder) for student, folder in run.submissions.items() if force or not log.done(student)]
        summary.already_graded += [student for student in run.submissions if student not in dict(todo)]
        if not todo:
            summary.seconds = time.monotonic() - start
            return summary
        jobs = max(1, jobs or default_jobs())
        common = _common_payload(run, jobs, scheduler, limits)
        if not scheduler:   # (a cluster's workers each say so in their submissions' notes)
            summary.warnings += _sandbox_warnings(run.config, common.limits)
        workers = DaskWorkers(scheduler, common) if scheduler else LocalWorkers(jobs)
        summary.workers = workers.description
        summary.warnings += workers.warnings
        reporter.start(len(todo), summary)

        def record(result) -> None:
            outcome = log.record(result)
            summary.outcomes.append(outcome)
            reporter.result(outcome, len(summary.outcomes), len(todo))

        dispatch(workers, common, todo, run.submissions, record, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        if workers is not None:
            workers.close(kill=True)
            workers = None
    finally:
        if workers is not None:
            workers.close()
        log.close()
        reporter.finish()
        summary.seconds = time.monotonic() - start
    return summary


def _common_payload(run: Plan, jobs: int, scheduler: str | None, limits):
    """What every worker needs for this run (:class:`~course_lib.grading.worker.CommonPayload`)."""
    from .execution.limited_execute import Limits
    from .intake.validate import read_folder
    from .worker import CommonPayload

    coursedir, root = run.coursedir, run.root
    source = root / coursedir.source_directory / run.assignment
    source_files = {rel: data for rel, data in (read_folder(source, list(coursedir.ignore)).items()
                                                 if source.is_dir() else []) if not rel.endswith(".ipynb")}
    limits = limits or Limits()
    if not scheduler and not limits.threads:   # share the cores among the kernels run side by side
        limits = replace(limits, threads=max(1, default_jobs() // jobs))
    config_path = root / "nbgrader_config.py"
    return CommonPayload(assignment=run.assignment, notebooks=run.notebooks,
                         snapshot_db=snapshot_gradebook(db_path(coursedir.db_url)),
                         config_text=config_path.read_text(encoding="utf-8") if config_path.is_file() else None,
                         source_files=source_files, limits=limits, ignore=list(coursedir.ignore),
                         test_cells=run.test_cells, instructor_code=_instructor_code(source, run.notebooks))


def dispatch(workers, common, todo: list[tuple[str, Path]], submissions: dict[str, Path], record,
             summary: Summary) -> None:
    """Keep ``workers`` busy with ``todo`` and ``record`` each result as it arrives.

    A worker process that dies costs its submission one retry on a fresh pool (a second
    death records it as failed); a pool that keeps breaking is given up after
    :data:`~course_lib.grading.pools.MAX_POOL_RESTARTS` restarts. One loop on purpose: the
    queue, the futures in flight and the retry counts change together.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from .worker import GradeResult

    assignment = common.assignment
    queue = list(todo)
    pending: dict = {}
    lost: dict[str, int] = {}   # student -> times a worker died while grading it

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


def _instructor_code(source: Path, notebooks: list[str]) -> dict[str, list[str]]:
    """The release's plain code cells per notebook (the own-work rule leaves the instructor's alone)."""
    import nbformat

    from .recheck import instructor_code

    found = {}
    for name in notebooks:
        path = source / f"{name}.ipynb"
        if path.is_file():
            found[name] = instructor_code(nbformat.read(path, 4))
    return found


def _sandbox_warnings(config, limits) -> list[str]:
    """The loud warning when kernels will run unsandboxed here; CourseError when the sandbox is
    required and cannot start, or when a course kernel cannot import what grading needs at all."""
    from .execution.limited_execute import sandbox_setting
    from .execution.sandbox import (SandboxUnavailable, course_kernels, for_each_kernel, kernel_python, resolve,
                                    warning)

    def check(name: str, python: str, env: dict[str, str]) -> None:
        try:
            kernel_python(python, env)
        except SandboxUnavailable as error:
            raise CourseError(f"kernel {name} cannot run graded notebooks: {error}") from None

    for_each_kernel(check, course_kernels())
    mode, bwrap = sandbox_setting(config)
    try:
        _, problem = resolve(limits.sandbox or mode, bwrap)
    except SandboxUnavailable as error:
        raise CourseError(f"the grading sandbox is required but cannot start: {error}") from None
    return [warning(problem)] if problem else []
