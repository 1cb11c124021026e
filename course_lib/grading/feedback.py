"""``dlcourse feedback ASSIGNMENT``: per-student HTML feedback that never shows hidden tests.

Stock ``nbgrader generate_feedback`` renders the autograded notebook as it is, and the
grade cells of an autograded notebook hold the instructor's source: the hidden tests
are printed in every student's feedback (nbgrader issue 917), and IPython tracebacks
quote them again. This module renders the same feedback with nbgrader's own machinery
(its ``GetGrades`` preprocessor and ``feedback`` HTML template), from a *sanitised* copy:

1. every grade cell's source becomes the student-visible version of that cell, taken
   from the release (``notebooks/<assignment>/<notebook>.ipynb``, matched by
   ``grade_id``), or, where the release lacks it, the source with its
   ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` block removed;
2. outputs are kept (the ✓ lines and failure messages are the point of feedback), but
   traceback lines that quote a hidden-test line (or a hidden-test marker) are dropped,
   and any other output that contains a hidden-test line is replaced by a notice;
3. a table at the top lists every exercise's points from the gradebook and the summary
   line of its failure (:mod:`.messages`, the words ``dlcourse check`` uses), linked to
   the exercise's cell;
4. the maths is rendered to MathML and the page carries its own CSS for phones and
   printing (:mod:`.offline_page`): it needs no network and loads no script.

Files go to ``feedback/<student>/<assignment>/<notebook>.html`` (nbgrader's layout, so
``nbgrader release_feedback`` works on them), each written atomically; running the
command again rewrites them.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .config import CourseError, load_course_config
from .messages import failure_message

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_NOTICE = "[output not shown: it quoted the grader's hidden tests]"
HIDDEN_LINE_NOTE = "(the failing line is a hidden test; its code is not shown)"
#: hidden lines shorter than this are matched only as whole traceback lines, never as substrings
MIN_SUBSTRING_LENGTH = 12
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTEXT_PREFIX = re.compile(r"^\s*(?:-*>\s*)?\d+\s?")   # IPython's "----> 5 " and "      3 "


# --------------------------------------------------------------------------- the course

@dataclass
class Course:
    """What the feedback and report commands need to know about an nbgrader course folder."""

    root: Path
    db_url: str
    autograded: Path
    feedback: Path
    release: Path
    begin_hidden: str = BEGIN_HIDDEN
    end_hidden: str = END_HIDDEN

    @classmethod
    def load(cls, root: Path) -> "Course":
        """Read the course's ``nbgrader_config.py`` as ``nbgrader`` run in ``root`` would."""
        from nbgrader.coursedir import CourseDirectory

        root = Path(root).resolve()
        config = load_course_config(root)
        coursedir = CourseDirectory(config=config)
        coursedir.root = str(root)
        hidden = config.get("ClearHiddenTests", {})
        return cls(root=root, db_url=coursedir.db_url,
                   autograded=root / coursedir.autograded_directory,
                   feedback=root / coursedir.feedback_directory,
                   release=root / coursedir.release_directory,
                   begin_hidden=hidden.get("begin_test_delimeter", BEGIN_HIDDEN),
                   end_hidden=hidden.get("end_test_delimeter", END_HIDDEN))

    def gradebook(self):
        """nbgrader's ``Gradebook`` on this course's database (use it as a context manager)."""
        from nbgrader.api import Gradebook

        if self.db_url.startswith("sqlite:///") and not Path(self.db_url[len("sqlite:///"):]).is_file():
            raise CourseError(f"no gradebook at {self.db_url[len('sqlite:///'):]}: build and autograde the "
                              "assignment first")   # nbgrader would create an empty one
        return Gradebook(self.db_url)


def resolve_assignment(gradebook, name: str) -> str:
    """The gradebook's assignment called ``name``, or the only one whose name starts ``name_`` (``01``)."""
    names = sorted(a.name for a in gradebook.assignments)
    if name in names:
        return name
    matches = [n for n in names if n.startswith(f"{name}_")]
    if len(matches) == 1:
        return matches[0]
    raise CourseError(f"the gradebook has no assignment {name!r}; it has: {', '.join(names) or 'none'}"
                      " (build and autograde it first)")


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- hidden tests

def split_hidden(source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN) -> tuple[str, list[str]]:
    """``(visible source, hidden lines)``: the source without its hidden-test regions, as nbgrader releases it.

    Marker lines are dropped with the region; an unterminated region runs to the end
    of the cell (nbgrader would refuse to release it; feedback must not leak it).
    """
    visible, hidden, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible), hidden


@dataclass
class HiddenTests:
    """The hidden-test lines of one notebook, and the matching rules for outputs."""

    lines: set[str] = field(default_factory=set)
    markers: tuple[str, str] = (BEGIN_HIDDEN, END_HIDDEN)

    @classmethod
    def collect(cls, sources: Iterable[str], visible: Iterable[str] = (),
                markers: tuple[str, str] = (BEGIN_HIDDEN, END_HIDDEN)) -> "HiddenTests":
        """Hidden lines of ``sources``, minus any line that students see anyway (``visible`` sources)."""
        hidden: set[str] = set()
        for source in sources:
            hidden.update(line.strip() for line in split_hidden(source, *markers)[1])
        seen = {line.strip() for source in visible for line in source.split("\n")}
        return cls({line for line in hidden if line and line not in seen}, markers)

    @property
    def long_lines(self) -> list[str]:
        return [line for line in self.lines if len(line) >= MIN_SUBSTRING_LENGTH]

    def in_text(self, text: str) -> bool:
        """True when ``text`` (ANSI colours ignored) quotes a hidden line."""
        plain = _ANSI.sub("", text)
        return any(line in plain for line in self.long_lines) or any(
            self._line_reveals(one) for one in plain.split("\n"))

    def _line_reveals(self, plain_line: str) -> bool:
        if any(marker in plain_line for marker in self.markers):
            return True
        content = _CONTEXT_PREFIX.sub("", plain_line, count=1).strip()
        return bool(content) and (content in self.lines or plain_line.strip() in self.lines
                                  or any(line in plain_line for line in self.long_lines))

    def clean_traceback_entry(self, entry: str) -> str:
        """One IPython traceback entry without the lines that quote hidden tests.

        A dropped line that IPython marked as the failing one (``---->``) becomes a note,
        so the student still sees *where* the failure happened.
        """
        kept = []
        for line in entry.split("\n"):
            plain = _ANSI.sub("", line)
            if not self._line_reveals(plain):
                kept.append(line)
            elif plain.lstrip().startswith("-") and ">" in plain.split()[0]:
                kept.append(f"----> {HIDDEN_LINE_NOTE}")
        return "\n".join(kept)


def _output_texts(output) -> list[str]:
    if output.get("output_type") == "stream":
        return [_join(output.get("text", ""))]
    if output.get("output_type") in ("execute_result", "display_data"):
        return [_join(v) for k, v in output.get("data", {}).items() if k.startswith("text/") or k.endswith("json")]
    if output.get("output_type") == "error":
        return [str(output.get("ename", "")), str(output.get("evalue", "")), *map(str, output.get("traceback", []))]
    return []


def _join(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def sanitise_notebook(notebook, released: dict[str, str], hidden: HiddenTests) -> list[str]:
    """Make an autograded notebook safe to show its student, in place; return what was changed.

    ``released`` maps grade ids to the release's (student-visible) cell sources.
    """
    from nbformat.v4 import new_output

    changes = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if meta.get("grade") and not meta.get("solution"):
            visible = released.get(grade_id)
            if visible is None:
                visible = split_hidden(cell.source, *hidden.markers)[0]
            if visible != cell.source:
                cell.source = visible
                changes.append(f"{grade_id}: source replaced by the released version")
        elif any(marker in cell.get("source", "") for marker in hidden.markers):
            cell.source = split_hidden(cell.source, *hidden.markers)[0]
            changes.append(f"{grade_id or 'a cell'}: hidden-test region removed")
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                traceback = [hidden.clean_traceback_entry(entry) for entry in output.get("traceback", [])]
                if traceback != output.get("traceback", []):
                    changes.append(f"{grade_id or 'a cell'}: hidden-test lines removed from a traceback")
                output["traceback"] = traceback
                if hidden.in_text(str(output.get("evalue", ""))):
                    output["evalue"] = HIDDEN_NOTICE
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {HIDDEN_NOTICE}"]
                    changes.append(f"{grade_id or 'a cell'}: an error message quoting hidden tests replaced")
            elif any(hidden.in_text(text) for text in _output_texts(output)):
                output = new_output("stream", name="stdout", text=HIDDEN_NOTICE + "\n")
                changes.append(f"{grade_id or 'a cell'}: an output quoting hidden tests replaced")
            outputs.append(output)
        cell["outputs"] = outputs
    return changes


def leaks(notebook, hidden: HiddenTests) -> list[str]:
    """Where a sanitised notebook still quotes a hidden line (grade cells and outputs); empty when safe."""
    found = []
    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        texts = [cell.get("source", "")] if meta.get("grade") or meta.get("locked") else []
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            texts += _output_texts(output)
        if any(hidden.in_text(text) for text in texts):
            found.append(f"cell {index} ({meta.get('grade_id', 'no grade id')})")
    return found


# --------------------------------------------------------------------------- scores and messages

@dataclass
class ExerciseGrade:
    """One grade cell of one student's notebook, as the gradebook has it."""

    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool = False
    message: str = ""

    @property
    def status(self) -> str:
        if self.needs_manual_grade:
            return "needs manual grading"
        if self.score >= self.max_score:
            return "full marks"
        return "partial" if self.score > 0 else "no points"


def grade_cell_order(notebook) -> list[str]:
    """Grade ids of a notebook's graded cells (cells with points), in notebook order."""
    return [cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]


def notebook_grades(gradebook, assignment: str, notebook: str, student: str,
                    order: list[str] | None = None) -> list[ExerciseGrade]:
    """Every graded cell of ``student``'s ``notebook``, from the gradebook, in ``order`` where given."""
    submitted = gradebook.find_submission_notebook(notebook, assignment, student)
    grades = {}
    for grade in submitted.grades:
        score = grade.score if grade.score is not None else 0.0
        grades[grade.name] = ExerciseGrade(grade.name, float(score), float(grade.max_score),
                                           bool(grade.needs_manual_grade))
    ranked = {name: i for i, name in enumerate(order or [])}
    return sorted(grades.values(), key=lambda g: (ranked.get(g.grade_id, len(ranked)), g.grade_id))


def _code_spans(escaped: str) -> str:
    """Escaped text with its `backtick` spans as ``<code>`` (check messages quote code that way)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def summary_html(grades: list[ExerciseGrade], notebook: str, late_penalty: float = 0.0,
                 note: str = "") -> str:
    """The table at the top of a feedback page: points and the failure's summary line per exercise, each linked to its cell."""
    earned = sum(g.score for g in grades) - (late_penalty or 0.0)
    total = sum(g.max_score for g in grades)
    colours = {"full marks": "#1a7f37", "partial": "#9a6700", "no points": "#cf222e",
               "needs manual grading": "#6e7781"}
    rows = []
    for g in grades:
        message = g.message or ("all checks passed" if g.status == "full marks" else "")
        rows.append(
            "<tr>"
            f'<td><a href="#{html.escape(g.grade_id, quote=True)}"><code>{html.escape(g.grade_id)}</code></a></td>'
            f'<td class="center">{g.score:g} / {g.max_score:g}</td>'
            f'<td style="color: {colours[g.status]}">{html.escape(g.status)}</td>'
            f"<td>{_code_spans(html.escape(message))}</td>"
            "</tr>")
    if late_penalty:
        rows.append(f'<tr><td>late submission</td><td class="center">-{late_penalty:g}</td><td></td><td></td></tr>')
    return (
        '<div class="dlcourse-summary">'
        f"<h3>{html.escape(notebook)}: {earned:g} of {total:g} points</h3>"
        + (f"<p><strong>{html.escape(note)}</strong></p>" if note else "")
        + "<p>Each exercise below shows the checks you can run yourself. Grading also ran hidden "
          "tests of the same kind with other data; their code is not shown, but their messages "
          "(the lines starting with ✓, and any failure) are.</p>"
          '<table class="table table-condensed table-striped">'
          "<thead><tr><th>exercise</th><th class=\"center\">points</th><th>result</th>"
          "<th>what to fix</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></div>")


# --------------------------------------------------------------------------- rendering

@dataclass
class FeedbackResult:
    """What one run of :func:`generate_feedback` did."""

    assignment: str
    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)


def _exporter():
    """nbconvert's HTMLExporter with nbgrader's feedback template, configured as GenerateFeedback does."""
    import nbgrader
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    package = Path(nbgrader.__file__).resolve().parent
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(package / "server_extensions" / "formgrader" / "templates")]
    config.HTMLExporter.extra_template_paths = [
        str(package / "server_extensions" / "formgrader" / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    from jinja2 import DictLoader

    from .offline_page import NO_MATHJAX_TEMPLATE

    return HTMLExporter(config=config, extra_loaders=[DictLoader({"mathjax.html.j2": NO_MATHJAX_TEMPLATE})])


def _released_sources(course: Course, assignment: str, notebook: str) -> tuple[dict[str, str], list[str], list[str]]:
    """``({grade_id: visible source}, release cell sources, release grade order)`` of one released notebook."""
    import nbformat

    path = course.release / assignment / f"{notebook}.ipynb"
    if not path.is_file():
        return {}, [], []
    released = nbformat.read(path, as_version=4)
    sources = {}
    for cell in released.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            sources[grade_id] = split_hidden(cell.source, course.begin_hidden, course.end_hidden)[0]
    return sources, [c.source for c in released.cells], grade_cell_order(released)


def _missing_page(notebook: str, student: str, table: str) -> str:
    from .offline_page import finish_page

    return finish_page("<!DOCTYPE html><html><head><meta charset=\"utf-8\" />"
                       f"<title>{html.escape(notebook)}</title></head><body style=\"font-family: sans-serif; margin: 2em\">"
                       f"<p>Feedback for {html.escape(student)}.</p>{table}</body></html>")


def render_notebook(course: Course, exporter, assignment: str, student: str, notebook: str,
                    gradebook_sources: list[str], released: tuple[dict[str, str], list[str], list[str]]) -> str:
    """The feedback HTML of one student's autograded notebook (or a page saying it was not graded)."""
    import nbformat
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbformat.v4 import new_markdown_cell
    from nbgrader.preprocessors import GetGrades

    from .offline_page import finish_page, prerender_math

    released_by_id, release_sources, order = released
    path = course.autograded / student / assignment / f"{notebook}.ipynb"
    with course.gradebook() as gradebook:
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        late_penalty = float(submitted.late_submission_penalty or 0.0)
        grades = notebook_grades(gradebook, assignment, notebook, student, order)
    if not path.is_file():
        note = (f"No gradable {notebook}.ipynb was found in your submission, so its exercises score zero. "
                "Check the file name and that it opens in Jupyter, then ask your instructor.")
        return _missing_page(notebook, student, summary_html(grades, notebook, late_penalty, note))

    executed = nbformat.read(path, as_version=4)
    if not order:
        ranked = {name: i for i, name in enumerate(grade_cell_order(executed))}
        grades.sort(key=lambda g: ranked.get(g.grade_id, len(ranked)))
    hidden = HiddenTests.collect([c.get("source", "") for c in executed.cells] + gradebook_sources,
                                 visible=release_sources, markers=(course.begin_hidden, course.end_hidden))
    messages = {c.metadata["nbgrader"]["grade_id"]: failure_message(c) for c in executed.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    sanitise_notebook(executed, released_by_id, hidden)
    for grade in grades:
        if grade.score < grade.max_score:
            grade.message = messages.get(grade.grade_id, "")
            if hidden.in_text(grade.message):
                grade.message = HIDDEN_NOTICE
    remaining = leaks(executed, hidden)
    if remaining:   # cannot happen after sanitise_notebook; never ship a leak if it does
        raise CourseError(f"feedback for {student} would show hidden tests in {', '.join(remaining)}")
    # a markdown cell passes its HTML through unchanged (a raw cell would be cleaned to a few tags)
    executed.cells.insert(0, new_markdown_cell(summary_html(grades, notebook, late_penalty)))

    from jupyter_core.paths import jupyter_config_dir

    resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": student,
                              "db_url": course.db_url},
                 "config_dir": jupyter_config_dir()}
    executed, resources = GetGrades().preprocess(executed, resources)
    executed, resources = CSSHTMLHeaderPreprocessor().preprocess(executed, resources)
    maths = prerender_math(executed)
    body, _ = exporter.from_notebook_node(executed, resources=resources)
    return finish_page(body, maths)


def generate_feedback(root: Path, assignment: str, students: Iterable[str] = (),
                      progress: Callable[[str, int, int], None] | None = None) -> FeedbackResult:
    """Write sanitised feedback for every graded student of ``assignment`` (or only ``students``).

    ``progress(student, done, total)`` is called after each student.
    """
    course = Course.load(root)
    with course.gradebook() as gradebook:
        assignment = resolve_assignment(gradebook, assignment)
        record = gradebook.find_assignment(assignment)
        notebooks = sorted(nb.name for nb in record.notebooks)
        graded = sorted(s.student.id for s in record.submissions)
        gradebook_sources = {nb.name: [cell.source for cell in nb.source_cells] for nb in record.notebooks}
    result = FeedbackResult(assignment)
    wanted = list(dict.fromkeys(students)) or graded
    for student in wanted:
        if student not in graded:
            result.problems.append(f"{student}: no graded submission of {assignment} in the gradebook")
    chosen = [s for s in wanted if s in graded]
    released = {nb: _released_sources(course, assignment, nb) for nb in notebooks}
    for nb in notebooks:
        if not released[nb][0]:
            result.problems.append(f"{course.release.name}/{assignment}/{nb}.ipynb not found: hidden tests are "
                                   "removed by their markers instead")
    exporter = _exporter()
    for done, student in enumerate(chosen, 1):
        for nb in notebooks:
            page = render_notebook(course, exporter, assignment, student, nb, gradebook_sources[nb], released[nb])
            target = course.feedback / student / assignment / f"{nb}.html"
            write_atomic(target, page)
            result.written.append(target)
        result.students.append(student)
        if progress:
            progress(student, done, len(chosen))
    return result
