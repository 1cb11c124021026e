"""``dlcourse grades ASSIGNMENT``: grade exports and an item analysis for instructors.

Everything comes from the gradebook (scores) and the autograded notebooks (failure
messages), so it works after ``dlcourse autograde`` and after stock ``nbgrader autograde``.
Files written to ``--out`` (default ``grades/<assignment>/`` in the course folder):

* ``grades.csv``: long format, one row per student, notebook and exercise (grade cell):
  ``student, notebook, exercise, score, max_score``. Every student in the gradebook
  appears; a student without a submission scores 0 on every exercise.
* ``totals.csv``: one row per student: total score, maximum, late penalty, final
  score and whether a submission was graded.
* ``item_analysis.csv``: per exercise, how many graded students earned full, partial and
  zero points (students without a submission are counted apart), and the mean score.
* ``messages.csv``: per exercise and check message (the one-line summary that
  ``dlcourse check`` and feedback show too, :mod:`.messages`), how many students hit it, and who.
* ``item_analysis.md``: the two tables above as Markdown.
* ``histogram.png``: the distribution of final scores of the graded students.

Each file is written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .feedback import Course, grade_cell_order, resolve_assignment, write_atomic
from .messages import failure_message


@dataclass
class ExerciseRow:
    """One student's score on one exercise (grade cell)."""

    student: str
    notebook: str
    exercise: str
    score: float
    max_score: float
    submitted: bool
    message: str = ""           # the failure's summary line (:mod:`.messages`), when the student lost points


@dataclass
class StudentTotal:
    """One student's totals on the assignment."""

    student: str
    score: float
    max_score: float
    late_penalty: float
    submitted: bool

    @property
    def final(self) -> float:
        return max(self.score - self.late_penalty, 0.0)


@dataclass
class ItemRow:
    """How the class did on one exercise."""

    notebook: str
    exercise: str
    max_score: float
    full: int = 0
    partial: int = 0
    zero: int = 0
    not_submitted: int = 0
    total_score: float = 0.0

    @property
    def graded(self) -> int:
        return self.full + self.partial + self.zero

    @property
    def mean_score(self) -> float:
        return self.total_score / self.graded if self.graded else 0.0


@dataclass
class MessageRow:
    """One check message and the students whose answer produced it."""

    notebook: str
    exercise: str
    message: str
    students: list[str] = field(default_factory=list)


@dataclass
class GradeReport:
    """Everything ``dlcourse grades`` computes for one assignment."""

    assignment: str
    rows: list[ExerciseRow]
    totals: list[StudentTotal]
    items: list[ItemRow]
    messages: list[MessageRow]


def _exercise_order(course: Course, assignment: str, notebook: str, names: list[str]) -> list[str]:
    """Grade ids in notebook order (from the release, else any autograded copy), then the rest by name."""
    import nbformat

    candidates = [course.release / assignment / f"{notebook}.ipynb",
                  *sorted(course.autograded.glob(f"*/{assignment}/{notebook}.ipynb"))[:1]]
    order: list[str] = []
    for path in candidates:
        if path.is_file():
            try:
                order = grade_cell_order(nbformat.read(path, as_version=4))
                break
            except Exception:   # an unreadable copy only loses the ordering
                continue
    ranked = {name: i for i, name in enumerate(order)}
    return sorted(names, key=lambda name: (ranked.get(name, len(ranked)), name))


NO_NOTEBOOK = "(no autograded notebook: the submission had no gradable copy of it)"


def _messages(course: Course, assignment: str, notebook: str, student: str) -> dict[str, str]:
    """``{grade_id: first failure line}`` from a student's autograded notebook (:data:`NO_NOTEBOOK` without one)."""
    import nbformat

    path = course.autograded / student / assignment / f"{notebook}.ipynb"
    try:
        executed = nbformat.read(path, as_version=4)
    except Exception:   # missing or unreadable: the submission had no gradable notebook
        return defaultdict(lambda: NO_NOTEBOOK)
    return {cell.metadata["nbgrader"]["grade_id"]: failure_message(cell) for cell in executed.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def collect(root: Path, assignment: str) -> GradeReport:
    """Read the scores of every student in the gradebook and the failure messages of their notebooks."""
    course = Course.load(root)
    rows: list[ExerciseRow] = []
    totals: list[StudentTotal] = []
    with course.gradebook() as gradebook:
        assignment = resolve_assignment(gradebook, assignment)
        record = gradebook.find_assignment(assignment)
        layout = {nb.name: {cell.name: float(cell.max_score) for cell in nb.grade_cells} for nb in record.notebooks}
        notebooks = sorted(layout)
        order = {nb: _exercise_order(course, assignment, nb, list(layout[nb])) for nb in notebooks}
        submissions = {s.student.id: s for s in record.submissions}
        for student in sorted(s.id for s in gradebook.students):
            submission = submissions.get(student)
            scores: dict[tuple[str, str], float] = {}
            penalty = 0.0
            if submission is not None:
                for submitted_nb in submission.notebooks:
                    penalty += float(submitted_nb.late_submission_penalty or 0.0)
                    for grade in submitted_nb.grades:
                        scores[submitted_nb.name, grade.name] = float(grade.score or 0.0)
            score_sum, max_sum = 0.0, 0.0
            for nb in notebooks:
                messages = _messages(course, assignment, nb, student) if submission is not None else {}
                for exercise in order[nb]:
                    max_score = layout[nb][exercise]
                    score = scores.get((nb, exercise), 0.0)
                    message = messages.get(exercise, "") if score < max_score else ""
                    rows.append(ExerciseRow(student, nb, exercise, score, max_score, submission is not None, message))
                    score_sum += score
                    max_sum += max_score
            totals.append(StudentTotal(student, score_sum, max_sum, penalty, submission is not None))
    return GradeReport(assignment, rows, totals, item_analysis(rows), message_counts(rows))


def item_analysis(rows: list[ExerciseRow]) -> list[ItemRow]:
    """Per exercise: graded students with full, partial and zero points; students without a submission."""
    items: dict[tuple[str, str], ItemRow] = {}
    for row in rows:
        item = items.setdefault((row.notebook, row.exercise), ItemRow(row.notebook, row.exercise, row.max_score))
        if not row.submitted:
            item.not_submitted += 1
            continue
        item.total_score += row.score
        if row.score >= row.max_score:
            item.full += 1
        elif row.score > 0:
            item.partial += 1
        else:
            item.zero += 1
    return list(items.values())


_DECIMAL = re.compile(r"(?<![\w.])-?(?:\d+\.\d+|\.\d+|\d+(?=e[-+]?\d))(?:e[-+]?\d+)?")


def message_key(message: str) -> str:
    """``message`` with its decimal numbers replaced by ``…``, so that the same mistake on other data groups together.

    Whole numbers (shapes, step counts) are kept: they usually name the case that failed.
    """
    return _DECIMAL.sub("…", message)


def message_counts(rows: list[ExerciseRow]) -> list[MessageRow]:
    """Per exercise and failure message (decimals masked), the students who got it; most frequent first."""
    found: dict[tuple[str, str, str], MessageRow] = {}
    position: dict[tuple[str, str], int] = {}
    for row in rows:
        position.setdefault((row.notebook, row.exercise), len(position))
        if row.submitted and row.score < row.max_score:
            message = message_key(row.message) if row.message else "(lost points without an error message)"
            found.setdefault((row.notebook, row.exercise, message),
                             MessageRow(row.notebook, row.exercise, message)).students.append(row.student)
    return sorted(found.values(), key=lambda m: (position[m.notebook, m.exercise], -len(m.students), m.message))


# --------------------------------------------------------------------------- files

def _csv(header: list[str], records: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:g}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: GradeReport) -> str:
    """The item analysis and the message counts as Markdown tables."""
    graded = sum(t.submitted for t in report.totals)
    lines = [f"# Item analysis: {report.assignment}", "",
             f"{graded} graded submission(s), {len(report.totals) - graded} student(s) without one.", "",
             "| notebook | exercise | max | full | partial | zero | not submitted | mean |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for item in report.items:
        lines.append(f"| {_md_cell(item.notebook)} | {_md_cell(item.exercise)} | {_number(item.max_score)} | "
                     f"{item.full} | {item.partial} | {item.zero} | {item.not_submitted} | {item.mean_score:.2f} |")
    lines += ["", "## Check messages", "", "| exercise | message | students |", "| --- | --- | ---: |"]
    for message in report.messages:
        lines.append(f"| {_md_cell(message.exercise)} | {_md_cell(message.message)} | {len(message.students)} |")
    return "\n".join(lines) + "\n"


def histogram_png(report: GradeReport) -> bytes:
    """A histogram of the graded students' final scores, as PNG bytes (matplotlib's Agg backend)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    graded = [t for t in report.totals if t.submitted]
    finals = [t.final for t in graded]
    maximum = max((t.max_score for t in report.totals), default=1.0) or 1.0
    figure = Figure(figsize=(6.4, 3.6))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    if maximum <= 60:
        bins = np.arange(0.0, np.floor(maximum) + 2.0) - 0.5
    else:
        bins = np.linspace(0.0, maximum, 21)
    ax.hist(finals, bins=bins, color="#3b75af", edgecolor="white")
    ax.set_xlim(bins[0], bins[-1])
    ax.set_xlabel(f"total score (of {maximum:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    missing = len(report.totals) - len(graded)
    ax.set_title(f"{report.assignment}: {len(graded)} graded" + (f", {missing} without a submission" if missing else ""))
    if finals:
        ax.axvline(float(np.mean(finals)), color="black", linestyle="--", linewidth=1,
                   label=f"mean {np.mean(finals):.1f}")
        ax.legend(loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_reports(report: GradeReport, out: Path) -> list[Path]:
    """Write the CSV, Markdown and PNG files of ``report`` into ``out``; return their paths."""
    out = Path(out)
    files = {
        "grades.csv": _csv(["student", "notebook", "exercise", "score", "max_score"],
                           [[r.student, r.notebook, r.exercise, _number(r.score), _number(r.max_score)]
                            for r in report.rows]),
        "totals.csv": _csv(["student", "score", "max_score", "late_penalty", "final_score", "submitted"],
                           [[t.student, _number(t.score), _number(t.max_score), _number(t.late_penalty),
                             _number(t.final), "yes" if t.submitted else "no"] for t in report.totals]),
        "item_analysis.csv": _csv(["notebook", "exercise", "max_score", "full", "partial", "zero",
                                   "not_submitted", "mean_score"],
                                  [[i.notebook, i.exercise, _number(i.max_score), i.full, i.partial, i.zero,
                                    i.not_submitted, f"{i.mean_score:.4g}"] for i in report.items]),
        "messages.csv": _csv(["notebook", "exercise", "message", "count", "students"],
                             [[m.notebook, m.exercise, m.message, len(m.students), " ".join(m.students)]
                              for m in report.messages]),
        "item_analysis.md": markdown(report),
        "histogram.png": histogram_png(report),
    }
    written = []
    for name, data in files.items():
        write_atomic(out / name, data)
        written.append(out / name)
    return written


def print_tables(report: GradeReport, console) -> None:
    """The item analysis and the most frequent messages as rich tables."""
    from rich.table import Table

    table = Table(title=f"Item analysis of {report.assignment}")
    for column, justify in (("exercise", "left"), ("max", "right"), ("full", "right"), ("partial", "right"),
                            ("zero", "right"), ("not submitted", "right"), ("mean", "right")):
        table.add_column(column, justify=justify)
    several = len({i.notebook for i in report.items}) > 1
    for item in report.items:
        name = f"{item.notebook}/{item.exercise}" if several else item.exercise
        table.add_row(name, _number(item.max_score), f"[green]{item.full}[/]", f"[yellow]{item.partial}[/]",
                      f"[red]{item.zero}[/]", str(item.not_submitted), f"{item.mean_score:.2f}")
    console.print(table)
    if report.messages:
        messages = Table(title="Check messages (the summary line of each failure)")
        messages.add_column("exercise")
        messages.add_column("message", overflow="fold")
        messages.add_column("students", justify="right")
        for message in report.messages:
            messages.add_row(message.exercise, message.message, str(len(message.students)))
        console.print(messages)
