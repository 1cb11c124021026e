"""``dlcourse``: the course's command line. Thin: it parses, then calls ``course_lib.grading``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .grading.course import CourseError, find_root


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
    from .grading.selfcheck import check_with_table

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
    from .grading.kernels import install_kernels

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
    from .grading.course import units
    from .grading.nbconfig import SOURCE_DIRECTORY

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


from .grading.autograde import autograde_command  # noqa: E402

main.add_command(autograde_command)

from .grading.feedback import feedback_command  # noqa: E402
from .grading.reports import grades_command  # noqa: E402

main.add_command(feedback_command)
main.add_command(grades_command)

from .grading.submit import submit_command  # noqa: E402

main.add_command(submit_command)

from .grading.collect import collect_command  # noqa: E402

main.add_command(collect_command)

from .grading.similarity import similarity_command  # noqa: E402

main.add_command(similarity_command)

from .grading.audit import audit_command  # noqa: E402

main.add_command(audit_command)

if __name__ == "__main__":
    main()
