"""``dlcourse``: the course's command line. Thin: it parses, calls ``course_lib.grading``, prints.

Every ``dlcourse`` command is defined here, and only here; the work is in the module of the
same name under :mod:`course_lib.grading` (``check`` in :mod:`~course_lib.grading.check`,
``autograde`` in :mod:`~course_lib.grading.autograde`, ...), what they print in
:mod:`~course_lib.grading.console` or beside the work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .grading.audit import QUICK_SAMPLE
from .grading.config import CELL_TIMEOUT_S, KERNEL_MEMORY_MB, NOTEBOOK_TIMEOUT_S, CourseError, course_root, find_root
from .grading.similarity import DEFAULT_THRESHOLD


def _console():
    from rich.console import Console
    return Console(highlight=False)


class _Group(click.Group):
    """Print a :class:`CourseError` as one red line and exit 2, instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CourseError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="dlcourse")
def main():
    """Deep Learning Fundamentals: build, check, grade and return the course's notebooks."""


@main.command()
@click.argument("units", nargs=-1)
@click.option("--check", "check_only", is_flag=True,
              help="Build into a temporary folder and fail, naming the files, if notebooks/ is stale.")
def build(units, check_only):
    """Build the student release in notebooks/ from solutions/ (all units, or UNITS)."""
    from .grading.build import build as run_build, stale_files

    root = find_root()
    if check_only:
        stale = stale_files(root)
        if stale:
            click.secho("notebooks/ is stale; run `dlcourse build` and commit notebooks/:", fg="red", err=True)
            for line in stale:
                click.echo(f"  {line}", err=True)
            sys.exit(1)
        click.echo("notebooks/ matches solutions/.")
        return
    for folder in run_build(root, list(units) or None):
        click.echo(f"built {folder.relative_to(root)}/")


@main.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option("--verbose", "-v", is_flag=True, help="Also print each failure whole, as the notebook shows it.")
def check(notebook, verbose):
    """Run NOTEBOOK as the grader will and print a table of its exercises.

    Each failed exercise shows the most useful line of its message (the likely mistake
    or the hint where there is one). Exits 1 when any check fails (nbgrader validate
    always exits 0).
    """
    from .grading.check import check_with_table

    console = _console()
    results = check_with_table(console, notebook, verbose=verbose)
    earned, total = sum(r.points for r in results), sum(r.max_points for r in results)
    failed = [r for r in results if not r.passed]
    console.print(f"{earned:g} of {total:g} points from the visible checks."
                  + ("" if not failed else f" {len(failed)} exercise(s) to fix.")
                  + " Hidden tests run at grading time."
                  + (" Add --verbose to see each failure whole." if failed and not verbose else ""))
    sys.exit(1 if failed or not results else 0)


@main.command()
def kernels():
    """Install the course's CPU and GPU Jupyter kernels into this environment."""
    from .grading.execution.kernels import install_kernels

    for path in install_kernels():
        click.echo(f"installed kernel {Path(path).name} in {path}")


#: the Jupyter settings the course ships: JupyterLab's defaults for the lab a student opens
#: (``labconfig/default_setting_overrides.json``: no news pop-up, no update check)
LAB_CONFIG_DIR = Path(__file__).resolve().parent / "jupyter_config"


def lab_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with the course's Jupyter settings first on JUPYTER_CONFIG_PATH.

    The student's own settings (their home folder) still win over these defaults, and
    nothing is written there.
    """
    environ = dict(os.environ if environ is None else environ)
    paths = [p for p in environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p and p != str(LAB_CONFIG_DIR)]
    environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(LAB_CONFIG_DIR), *paths])
    return environ


def write_missing_sources(root: Path) -> bool:
    """Write ``build/source`` from ``solutions/`` when a checkout has none (git ignores it).

    Formgrader lists the assignments it finds there; on a fresh clone it would list none
    until ``dlcourse build``. Returns whether anything was written.
    """
    from .grading.build import write_sources
    from .grading.config import SOURCE_DIRECTORY, units

    if not (root / "solutions").is_dir() or (root / SOURCE_DIRECTORY).is_dir():
        return False
    for unit in units(root):
        write_sources(root, unit, root)
    return True


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=8888, show_default=True)
@click.option("--no-browser", is_flag=True, help="Do not try to open a browser.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
def lab(port, no_browser, jupyter_args):
    """Open JupyterLab on the course (extra arguments go to `jupyter lab`).

    The file browser opens on notebooks/; the course's settings turn off JupyterLab's
    news and update checks (no pop-up, no network).
    """
    root = find_root()
    if write_missing_sources(root):
        click.echo("wrote build/source (nbgrader's view of solutions/) so that Formgrader lists the assignments")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
               "--LabApp.default_url=/lab/tree/notebooks", f"--port={port}"]
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")   # JupyterLab refuses root otherwise; students are not root
    command += list(jupyter_args)
    click.secho("Starting JupyterLab on the course. Open the http://127.0.0.1 URL printed below "
                "(it includes your access token); stop with Ctrl+C.", fg="green")
    sys.stdout.flush()
    os.execve(sys.executable, command, lab_environment())


@main.command("autograde")
@click.argument("assignment")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per core).")
@click.option("--student", "students", multiple=True, metavar="ID",
              help="Grade only this student (repeat, or separate IDs with commas, for more).")
@click.option("--force", is_flag=True, help="Regrade submissions that are already graded.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Grade on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786) instead of local processes.")
@click.option("--cell-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help=f"Time limit per cell (default: {CELL_TIMEOUT_S}).")
@click.option("--notebook-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help=f"Wall-clock limit per notebook (default: {NOTEBOOK_TIMEOUT_S}).")
@click.option("--memory-mb", type=click.IntRange(min=0), default=None, metavar="MB",
              help=f"Memory limit per kernel, 0 for none (default: {KERNEL_MEMORY_MB}).")
@click.option("--sandbox", type=click.Choice(["auto", "required", "off"]), default=None,
              help="Run each kernel in a bubblewrap sandbox: auto (where it can start, else warn), "
                   "required (refuse without it) or off (default: the course config's "
                   "LimitedExecute.sandbox, else auto).")
@click.option("--cold-kernels", is_flag=True,
              help="Start every kernel afresh instead of forking sandboxed kernels from one that has "
                   "already imported the notebook's packages (slower; the grades are the same).")
def autograde(assignment, jobs, students, force, scheduler, cell_timeout, notebook_timeout, memory_mb, sandbox,
              cold_kernels):
    """Grade every submission of ASSIGNMENT in submitted/, in parallel; resume where a run stopped.

    Grades go to the gradebook, executed notebooks to autograded/, and one line per
    submission (seconds, score, status, notes) to grading-log.csv in the course root.
    Exits 1 when a submission could not be graded because of a grader error.
    """
    from dataclasses import replace

    from .grading.pools import start_forkserver

    if not scheduler:
        start_forkserver()
    from .grading.autograde import autograde as run_autograde
    from .grading.console import BarReporter, PlainReporter, autograde_summary
    from .grading.execution.limited_execute import Limits
    from .grading.gradebook import LOG_NAME

    limits = Limits(warm_kernels=not cold_kernels)
    for name, value in (("cell_timeout_s", cell_timeout), ("notebook_timeout_s", notebook_timeout),
                        ("memory_mb", memory_mb), ("sandbox", sandbox)):
        if value is not None:
            limits = replace(limits, **{name: value})
    students = [s.strip() for item in students for s in item.split(",") if s.strip()]
    root = course_root()
    console = _console()
    reporter = BarReporter(console) if console.is_terminal else PlainReporter(lambda line: click.echo(line))
    summary = run_autograde(root, assignment, jobs=jobs, students=students, force=force, scheduler=scheduler,
                            limits=limits, reporter=reporter)
    autograde_summary(summary, console, root / LOG_NAME)
    if summary.interrupted:
        sys.exit(130)
    sys.exit(1 if summary.failed else 0)


@main.command("feedback")
@click.argument("assignment")
@click.option("--student", "students", multiple=True, metavar="ID",
              help="Write feedback for this student only (repeat for more). Default: every graded student.")
def feedback(assignment, students):
    """Write HTML feedback for ASSIGNMENT to feedback/<student>/<assignment>/<notebook>.html.

    Each page shows the student's notebook with every check's message and the points
    per exercise from the gradebook, but never the source of hidden tests. Run it after
    `dlcourse autograde` (or `nbgrader autograde`); running it again rewrites the pages.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .grading.console import print_notes
    from .grading.feedback import Course, generate_feedback

    console = _console()
    root = course_root()
    with Progress(TextColumn("feedback {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(assignment, total=None)
        result = generate_feedback(root, assignment, students,
                                   progress=lambda student, done, total: bar.update(task, completed=done, total=total))
    print_notes(console, result.problems)
    folder = Course.load(root).feedback
    console.print(f"Wrote {len(result.written)} feedback page(s) for {len(result.students)} student(s) "
                  f"of {result.assignment} to {folder}/<student>/{result.assignment}/.", soft_wrap=True)
    if students and len(result.students) < len(set(students)):
        raise SystemExit(1)


@main.command("grades")
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the files (default: grades/<assignment>/ in the course folder).")
def grades(assignment, out):
    """Export ASSIGNMENT's grades (CSV), an item analysis (CSV, Markdown) and a score histogram (PNG).

    Every student in the gradebook appears in grades.csv; one without a graded
    submission scores 0. Prints the item analysis as a table.
    """
    from .grading.console import print_line
    from .grading.grades import collect, print_tables, write_reports

    console = _console()
    root = course_root()
    report = collect(root, assignment)
    folder = out or root / "grades" / report.assignment
    written = write_reports(report, folder)
    print_tables(report, console)
    graded = [t for t in report.totals if t.submitted]
    missing = [t.student for t in report.totals if not t.submitted]
    if missing:
        print_line(console, f"no graded submission (0 points): {', '.join(missing)}", "yellow")
    console.print(f"{len(graded)} graded of {len(report.totals)} student(s). Wrote "
                  + ", ".join(p.name for p in written) + f" to {folder}/", soft_wrap=True)


@main.command("submit")
@click.argument("notebook_or_unit")
@click.option("--student", metavar="ID", envvar="DLCOURSE_STUDENT", show_envvar=True,
              help="Your student id, as your instructor gave it.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the archive (default: submissions/ in the course).")
@click.option("--no-check", is_flag=True, help="Skip the self-check (faster).")
def submit(notebook_or_unit, student, out, no_check):
    """Pack your work on a unit into submissions/<student>_<unit>.zip, ready to upload.

    NOTEBOOK_OR_UNIT is a notebook (notebooks/01_linear_regression/linear_regression.ipynb),
    a unit folder, or a unit name (01_linear_regression, or 01). Your notebooks are
    self-checked first, then archived exactly as saved: save them in JupyterLab first.
    """
    from .grading.submit import hand_in

    hand_in(_console(), notebook_or_unit, student, out, no_check)


@main.command("collect")
@click.argument("unit")
@click.argument("archives", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--due", metavar="ISO_TIME",
              help="Due date for the late report, e.g. 2025-03-01T23:59+01:00 (without an offset: local "
                   "time). Default: the assignment's due date in the gradebook.")
def collect(unit, archives, due):
    """Import students' archives (from `dlcourse submit`) of UNIT into submitted/.

    ARCHIVES are .zip files or folders searched for them. Every archive is verified
    before anything is written; duplicates keep the newest and set the others aside in
    submitted-aside/; late and unknown students are reported. Safe to run again.
    Exits 1 when an archive was refused.
    """
    from .grading.collect import collect as run_collect, parse_due
    from .grading.console import collect_summary

    root = course_root()
    summary = run_collect(root, unit, list(archives), due=parse_due(due) if due else None)
    collect_summary(summary, _console(), root)
    sys.exit(1 if summary.refused else 0)


@main.command("similarity")
@click.argument("unit")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=DEFAULT_THRESHOLD, show_default=True,
              help="Flag pairs whose similarity (0 to 1) is at least this.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the HTML page (default: similarity.html in the course root).")
def similarity(unit, threshold, output):
    """Report answer cells of UNIT that are near-identical between students, or to the reference.

    Compares every student's answer cells per exercise after normalising names, comments,
    whitespace and literal formatting, and writes the flagged pairs side by side to an HTML
    page. Nothing is penalised: it is evidence for a person to read.
    """
    from .grading.similarity import print_summary, write_report

    report, output = write_report(course_root(), unit, threshold, output)
    print_summary(report, _console(), output)


@main.command("audit")
@click.argument("units", nargs=-1)
@click.option("--exercise", "exercise_ids", multiple=True, help="Only this exercise (its grade_id); repeatable.")
@click.option("--quick", is_flag=True, help=f"A fixed-seed sample of {QUICK_SAMPLE} mutants per exercise (as CI runs).")
@click.option("--markdown", is_flag=True, help="Print the per-exercise table as Markdown.")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Units audited at once.")
def audit(units, exercise_ids, quick, markdown, jobs):
    """Mutation-test every exercise's grade cell (all units, or UNITS) and report kill rates.

    Each mutant is a small change to the solution in solutions/; it is killed when the
    exercise's whole grade cell (hidden tests included) fails it, as the grader's re-check
    judges. Exits 1 when an exercise kills under 90 % of its non-equivalent mutants, a
    valid variant is rejected, or the solution itself fails.
    """
    from rich.console import Console

    from .grading.audit import audit_units, report_lines

    console = Console(highlight=False, stderr=True)
    reports, seconds = audit_units(console, find_root(), units, set(exercise_ids) or None,
                                   QUICK_SAMPLE if quick else None, jobs)
    for line in report_lines(reports, markdown):
        click.echo(line)
    click.echo(f"\n{len(reports)} exercises audited in {seconds:.0f} s{' (--quick sample)' if quick else ''}.")
    sys.exit(0 if reports and all(r.ok for r in reports) else 1)


if __name__ == "__main__":
    main()
