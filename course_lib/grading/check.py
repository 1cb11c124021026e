"""``dlcourse check NOTEBOOK``: the student's self-check, run the way the grader runs it.

A fresh kernel executes every cell (in the notebook's own folder, so data files
resolve), errors do not stop the run, and each grade cell is scored with nbgrader's
own rule, except that text on stderr costs nothing (see
:mod:`course_lib.grading.execution.preprocessors`). The notebook file is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from .config import CourseError
from .messages import error_output, exercise_line, failure_message
from .config import CELL_TIMEOUT_S
from .execution.preprocessors import tolerate_stderr


@dataclass
class ExerciseResult:
    """The outcome of one grade cell."""

    grade_id: str
    points: float
    max_points: float
    message: str = ""           # the failure's summary line (:mod:`.messages`)
    traceback: str = ""         # the failure as the notebook shows it (ANSI colours kept)

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points

    @property
    def line(self) -> str:
        """``grade_id failed (0 / 1 points): summary``: the words the table and the Validate button use."""
        return exercise_line(self.grade_id, self.points, self.max_points, self.message)


def _traceback(cell) -> str:
    output = error_output(cell)
    return "\n".join(output.get("traceback", [])) if output is not None else ""


def score_cells(notebook) -> list[ExerciseResult]:
    """Score every autograded cell of an executed notebook with nbgrader's rule."""
    from nbgrader.utils import determine_grade, is_grade, is_solution

    results = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            continue
        tolerate_stderr(cell)
        points, max_points = determine_grade(cell)
        results.append(ExerciseResult(cell.metadata["nbgrader"]["grade_id"], float(points or 0),
                                      max_points, failure_message(cell), _traceback(cell)))
    return results


def execute(path: Path, timeout: int = CELL_TIMEOUT_S, progress=None) -> nbformat.NotebookNode:
    """Execute a copy of the notebook at ``path`` in a fresh kernel; return the executed copy.

    ``progress(done, total)`` is called after each cell when given.
    """
    from nbclient import NotebookClient

    from .execution.kernels import IpcKernelMixin, resolve_kernel

    class Client(IpcKernelMixin, NotebookClient):
        pass

    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, wrong version
        raise CourseError(f"{path} is not a readable notebook: {error}") from error
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    done = 0

    def on_cell_executed(**_):
        nonlocal done
        done += 1
        if progress:
            progress(done, len(code_cells))

    requested = notebook.metadata.get("kernelspec", {}).get("name")
    client = Client(notebook, timeout=timeout, startup_timeout=120, allow_errors=True,
                            kernel_name=resolve_kernel(requested),
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=on_cell_executed)
    client.execute()
    return notebook


def check(path: Path, progress=None) -> list[ExerciseResult]:
    """Execute ``path`` and score its exercises."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: no such notebook")
    return score_cells(execute(path, progress=progress))


def check_with_table(console, path: Path, verbose: bool = False) -> list[ExerciseResult]:
    """:func:`check` ``path`` with a progress bar on ``console``, then print the table of exercises.

    Each failed exercise's row shows its summary line; ``verbose`` also prints each
    failure whole, as the notebook shows it, below the table.
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    with Progress(TextColumn("running {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(path.name, total=None)
        results = check(path, progress=lambda done, total: bar.update(task, completed=done, total=total))
    table = Table(title=f"Self-check of {path.name}")
    for column in ("exercise", "result", "points", "what to fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.grade_id, "[green]passed[/]" if r.passed else "[red]failed[/]",
                      f"{r.points:g} / {r.max_points:g}", escape(r.message))
    console.print(table)
    if verbose:
        for r in results:
            if not r.passed:
                console.print(Rule(style="red"))
                console.print(f"[bold]{escape(r.line)}[/]", soft_wrap=True)
                console.print(Text.from_ansi(r.traceback or r.message or "(lost points without an error message)"))
    return results
