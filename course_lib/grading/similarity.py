"""``dlcourse similarity UNIT``: answer cells that are near-identical between students, or to a reference.

Evidence for a person, never a penalty: nothing here touches grades. For one unit it reads
every student's submitted notebooks (``submitted/STUDENT/UNIT/*.ipynb``), takes each answer
cell (nbgrader ``solution: true``, keyed by ``grade_id``) and compares, per exercise:

* every pair of students;
* each student with the *reference solution* (the solution cell of ``build/source/UNIT/``,
  else of the unit's source in ``solutions/``);
* each student with the *reference implementation*: every top-level function of the same
  name as a function the answer defines, in the reference modules of ``course_lib``
  (``linear``, ``layers``, ``conv``, ...; read from their source files, so TensorFlow is
  never imported).

**Normalisation.** A cell is parsed with :mod:`ast` and unparsed again, so whitespace,
comments, quotes, parentheses and the spelling of literals (``1.`` / ``1.0``, ``x**2`` /
``x ** 2``) disappear. Docstrings, bare strings and type annotations are dropped. The names the
cell defines are renamed: its functions and their arguments ``v0, v1, ...`` in order of
appearance (the signature fixes that order), every other name it binds (assigned variables,
loop and ``with`` targets, inner functions) the placeholder ``_``. Numbering local variables
too would make a copy that swaps two independent lines renumber every name after them, so the
copy would look different everywhere. Names the cell only reads (``np``, ``predict`` from an
earlier cell, builtins) and attributes are kept: renaming them would make honest answers look
alike. A cell that does not parse (an IPython magic) falls back to its raw tokens without
comments. A cell still holding the release stub (``raise NotImplementedError()`` and nothing
else) is untouched and ignored.

**Score.** ``difflib.SequenceMatcher(None, a, b).ratio()`` on the two normalised token
streams: twice the number of tokens in matching blocks over the total, so 1.0 is the same
program up to renaming and formatting, and 0.92 means 92 % of the tokens line up in order.
It was chosen over a winnowing/fingerprint Jaccard because answers are short (tens to a few
hundred tokens), where k-gram fingerprints are coarse (one changed token destroys k of
them) and their score is hard to read; the ratio is order-aware and explains itself in the
side-by-side view. It is kept fast for a large class by comparing each *distinct*
normalised answer once (identical answers share one comparison) and by skipping pairs whose
cheap upper bounds (``real_quick_ratio``, ``quick_ratio``) are already below the threshold;
both bounds are exact, so no pair above the threshold is missed.

**Threshold.** :data:`DEFAULT_THRESHOLD` (0.92) comes from the generated class in
``tests/grading/test_similarity.py``: copies with renamed variables, other comments, other formatting,
or the reference's source score 0.97 to 1.0, a copy with one line added and two swapped 0.925
to 0.96, and the closest of ten genuinely different honest answers 0.91 (two students who
wrote the same loop the notebook describes). Exercises that prescribe their structure bring
honest answers close, so in a large class expect some honest pairs near the threshold: read
them, do not count them.

**Too small to judge.** An exercise whose reference answer (else its typical answer) has
fewer than :data:`MIN_TOKENS` tokens in its function bodies (``return X @ w + b``) has only a
handful of correct spellings: identical answers there are expected, so such exercises are
listed apart, with how many students share the most common answer, and never flagged. In
larger exercises a pair is flagged only when both answers have at least ``MIN_TOKENS``
tokens.
"""

from __future__ import annotations

import ast
import difflib
import html
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .config import RELEASE_DIRECTORY, SOURCE_DIRECTORY, CourseError, find_root, unit_named
from .normalise import Normalised, defined_functions, normalise

DEFAULT_THRESHOLD = 0.92
#: answers (function bodies) shorter than this many normalised tokens are too small to judge
MIN_TOKENS = 40
#: ``course_lib`` modules that are not references of any exercise
NOT_REFERENCES = {"__init__", "cli", "plotting", "widgets"}
REFERENCE_SOLUTION = "reference solution"
SUBMITTED_DIRECTORY = "submitted"   # nbgrader's default, which the course keeps





















# --------------------------------------------------------------------------- reading the class

@dataclass
class Answer:
    """One answer cell: a student's, or a reference's (``student`` names the reference then)."""

    student: str
    exercise: str
    source: str
    form: Normalised
    notebook: str = ""

    @property
    def is_reference(self) -> bool:
        return self.student == REFERENCE_SOLUTION or self.student.startswith("course_lib.")


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def answer_cells(notebook) -> dict[str, str]:
    """``{grade_id: source}`` of a notebook's answer cells (nbgrader ``solution: true``)."""
    cells = {}
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            cells.setdefault(str(meta["grade_id"]), _source(cell))
    return cells


def _read(path: Path) -> dict | None:
    """A notebook as plain JSON (nbformat's validation costs more than the comparison), or None."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None   # an unreadable notebook has no answers to compare; the grader reports it
    return notebook if isinstance(notebook, dict) else None


def reference_notebooks(root: Path, unit: str) -> dict[str, object]:
    """``{notebook name: notebook}`` of the unit's solution: ``build/source/UNIT``, else ``solutions/UNIT``."""
    built = sorted((root / SOURCE_DIRECTORY / unit).glob("*.ipynb"))
    if built:
        return {p.stem: nb for p in built if (nb := _read(p)) is not None}
    from .build import source_notebook

    try:
        source_unit = unit_named(find_root(root), unit)
    except CourseError:
        return {}
    return {p.stem: source_notebook(p, source_unit) for p in source_unit.sources}


def reference_functions(package: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """``{function name: [(qualified name, source), ...]}`` of the top-level functions of ``course_lib``'s
    reference modules, read from their files (nothing is imported)."""
    package = package or Path(__file__).resolve().parents[1]
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted(package.glob("*.py")):
        if path.stem in NOT_REFERENCES:
            continue
        text = path.read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                found[node.name].append((f"course_lib.{path.stem}.{node.name}", ast.get_source_segment(text, node)))
    return found


def resolve_unit(root: Path, unit: str) -> str:
    """The unit's full name: ``unit`` may be ``01`` or ``01_linear_regression``.

    The unit is looked up among the folders of ``build/source``, ``notebooks`` and
    ``submitted/*`` (without nbgrader, whose import alone takes seconds).
    """
    submitted = root / SUBMITTED_DIRECTORY
    folders = [*(root / SOURCE_DIRECTORY).glob("*"), *(root / RELEASE_DIRECTORY).glob("*"), *submitted.glob("*/*")]
    names = {p.name for p in folders if p.is_dir() and not p.name.startswith(".")}
    matches = sorted(n for n in names if unit in (n, n.split("_", 1)[0]))
    if not matches:
        raise CourseError(f"no unit {unit!r} in the course at {root}: neither built, released nor submitted; "
                          f"units found: {', '.join(sorted(names)) or 'none'}")
    return matches[0]


def read_answers(root: Path, unit: str) -> tuple[str, dict[str, list[Answer]], dict[str, list[Answer]], list[str]]:
    """``(unit, {exercise: student answers}, {exercise: reference answers}, students)`` for one unit.

    Answer cells that are still the release stub are left out.
    """
    from .autograde import find_submissions

    unit = resolve_unit(root, unit)
    references = reference_notebooks(root, unit)
    order: list[str] = []
    refs: dict[str, list[Answer]] = defaultdict(list)
    library = reference_functions()
    for name, notebook in references.items():
        for exercise, source in answer_cells(notebook).items():
            order.append(exercise)
            refs[exercise].append(Answer(REFERENCE_SOLUTION, exercise, source, normalise(source), name))
            for function in defined_functions(source):
                for qualified, code in library.get(function, []):
                    refs[exercise].append(Answer(qualified, exercise, code, normalise(code), name))
    folders, _ = find_submissions(root, SUBMITTED_DIRECTORY, unit, [])
    answers: dict[str, list[Answer]] = defaultdict(list)
    for student, folder in folders.items():
        seen: set[str] = set()
        paths = sorted(folder.glob("*.ipynb"), key=lambda p: (p.stem not in references, p.name))
        for path in paths:
            notebook = _read(path)
            if notebook is None:
                continue
            for exercise, source in answer_cells(notebook).items():
                if exercise in seen:
                    continue
                seen.add(exercise)
                form = normalise(source)
                if not form.untouched:
                    answers[exercise].append(Answer(student, exercise, source, form, path.stem))
    ranked = {name: i for i, name in enumerate(order)}
    ordered = sorted(set(order) | set(answers), key=lambda e: (ranked.get(e, len(ranked)), e))
    return unit, {e: answers.get(e, []) for e in ordered}, refs, sorted(folders)


# --------------------------------------------------------------------------- scoring

@dataclass
class Pair:
    """Two answers to one exercise and their similarity."""

    exercise: str
    left: Answer
    right: Answer
    score: float


@dataclass
class ExerciseResult:
    """What the report says about one exercise."""

    exercise: str
    answered: int
    comparisons: int = 0
    flagged: list[Pair] = field(default_factory=list)
    small: bool = False
    typical_size: int = 0
    largest_group: int = 0          # students who share the most common normalised answer


@dataclass
class SimilarityReport:
    """Everything ``dlcourse similarity`` found for one unit."""

    unit: str
    threshold: float
    students: list[str]
    exercises: list[ExerciseResult]
    seconds: float = 0.0

    @property
    def flagged(self) -> list[Pair]:
        return [pair for result in self.exercises for pair in result.flagged]


def ratio_at_least(a: tuple[str, ...], b: tuple[str, ...], threshold: float,
                   matcher: difflib.SequenceMatcher | None = None) -> float | None:
    """``SequenceMatcher`` ratio of the token streams ``a`` and ``b``, or None when it is below ``threshold``.

    Pass a ``matcher`` whose second sequence is already ``b`` to reuse its index.
    """
    if matcher is None:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    else:
        matcher.set_seq1(a)
    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
        return None
    score = matcher.ratio()
    return score if score >= threshold else None


def compare_exercise(exercise: str, answers: list[Answer], references: list[Answer],
                     threshold: float, min_tokens: int = MIN_TOKENS) -> ExerciseResult:
    """Score every pair of ``answers`` and every answer against ``references``; flag pairs at or above ``threshold``."""
    groups: dict[tuple[str, ...], list[Answer]] = defaultdict(list)
    for answer in answers:
        groups[answer.form.tokens].append(answer)
    solution = [r for r in references if r.student == REFERENCE_SOLUTION and not r.form.untouched]
    sizes = [r.form.size for r in solution] or [a.form.size for a in answers]
    typical = int(statistics.median(sizes)) if sizes else 0
    result = ExerciseResult(exercise, len(answers), typical_size=typical,
                            largest_group=max((len(g) for g in groups.values()), default=0))
    result.small = typical < min_tokens
    if result.small:
        return result
    forms = [tokens for tokens, group in groups.items() if group[0].form.size >= min_tokens]
    for i, b in enumerate(forms):
        matcher = difflib.SequenceMatcher(None, b=b, autojunk=False)
        same = groups[b]
        for x in range(len(same)):   # identical normalised answers
            for y in range(x + 1, len(same)):
                result.flagged.append(Pair(exercise, same[x], same[y], 1.0))
        result.comparisons += len(same) * (len(same) - 1) // 2
        for a in forms[:i]:
            result.comparisons += len(groups[a]) * len(same)
            score = ratio_at_least(a, b, threshold, matcher)
            if score is not None:
                result.flagged += [Pair(exercise, left, right, score) for left in groups[a] for right in same]
        for reference in references:
            if reference.form.untouched or not reference.form.tokens:
                continue
            result.comparisons += len(same)
            score = ratio_at_least(reference.form.tokens, b, threshold, matcher)
            if score is not None:
                result.flagged += [Pair(exercise, reference, answer, score) for answer in same]
    result.flagged.sort(key=lambda p: (-p.score, p.left.student, p.right.student))
    return result


def similarity(root: Path, unit: str, threshold: float = DEFAULT_THRESHOLD,
               min_tokens: int = MIN_TOKENS) -> SimilarityReport:
    """Read the unit's submissions and compare their answer cells, exercise by exercise."""
    started = time.perf_counter()
    unit, answers, references, students = read_answers(Path(root), unit)
    results = [compare_exercise(exercise, found, references.get(exercise, []), threshold, min_tokens)
               for exercise, found in answers.items()]
    return SimilarityReport(unit, threshold, students, results, time.perf_counter() - started)


# --------------------------------------------------------------------------- the page

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }
.notice { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.8em 1em; border-radius: 6px; }
table.summary { border-collapse: collapse; margin: 1em 0; }
table.summary td, table.summary th { border: 1px solid #d0d7de; padding: 0.3em 0.7em; text-align: left; }
.pair { border: 1px solid #d0d7de; border-radius: 6px; margin: 1em 0; padding: 0.5em 1em; }
.sides { display: flex; gap: 1em; }
.sides > div { flex: 1; min-width: 0; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.score { font-weight: bold; }
.muted { color: #57606a; }
"""


def _side(answer: Answer) -> str:
    who = "reference" if answer.is_reference else "student"
    return (f'<div><p>{who} <code>{html.escape(answer.student)}</code></p>'
            f"<pre>{html.escape(answer.source)}</pre>"
            f'<details><summary class="muted">normalised</summary><pre>{html.escape(answer.form.text)}</pre>'
            "</details></div>")


def _exercise_note(result: ExerciseResult) -> str:
    if result.small:
        return (f"too small to judge: the answer has about {result.typical_size} tokens; "
                f"{result.largest_group} of {result.answered} answers are identical after normalisation")
    if not result.answered:
        return "no student answered it"
    return f"{len(result.flagged)} pair(s) at or above the threshold"


def render_html(report: SimilarityReport, shown: int = 200) -> str:
    """A self-contained page (no network URLs): per exercise, flagged pairs side by side (the
    ``shown`` highest; the rest as a table of scores and ids)."""
    e = html.escape
    rows, sections = [], []
    for result in report.exercises:
        rows.append(f'<tr><td><a href="#{e(result.exercise, quote=True)}"><code>{e(result.exercise)}</code></a></td>'
                    f"<td>{result.answered}</td><td>{len(result.flagged)}</td>"
                    f"<td>{e(_exercise_note(result))}</td></tr>")
        if result.small:
            continue
        pairs = "".join(
            f'<div class="pair"><p><span class="score">{pair.score:.2f}</span> '
            f"<code>{e(pair.left.student)}</code> and <code>{e(pair.right.student)}</code></p>"
            f'<div class="sides">{_side(pair.left)}{_side(pair.right)}</div></div>'
            for pair in result.flagged[:shown]) or '<p class="muted">No pair at or above the threshold.</p>'
        rest = result.flagged[shown:]
        if rest:
            pairs += (f"<p>{len(rest)} more pair(s), without their cells:</p>"
                      '<table class="summary"><thead><tr><th>score</th><th>one</th><th>other</th></tr></thead><tbody>'
                      + "".join(f"<tr><td>{p.score:.2f}</td><td><code>{e(p.left.student)}</code></td>"
                                f"<td><code>{e(p.right.student)}</code></td></tr>" for p in rest)
                      + "</tbody></table>")
        sections.append(f'<h2 id="{e(result.exercise, quote=True)}"><code>{e(result.exercise)}</code></h2>'
                        f"<p>{result.answered} answer(s), {result.comparisons} comparison(s), "
                        f"{len(result.flagged)} flagged.</p>{pairs}")
    small = [r for r in report.exercises if r.small]
    apart = ("<h2>Too small to judge</h2><p>Their correct answers are naturally identical, so identical "
             "answers say nothing; they are not compared.</p><ul>"
             + "".join(f"<li><code>{e(r.exercise)}</code>: {e(_exercise_note(r))}</li>" for r in small)
             + "</ul>") if small else ""
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>Similarity of answers: {e(report.unit)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Similarity of answers: {e(report.unit)}</h1>"
        '<p class="notice"><strong>Nothing here is penalised.</strong> This page is evidence for a person to '
        "read, not a verdict: similar answers can have honest reasons (a short exercise, a hint in the "
        "notebook, working together where that is allowed). Grades are not changed by it.</p>"
        f"<p>{len(report.students)} student(s); pairs whose similarity is at least {report.threshold:.2f} "
        "are shown. Answers are compared after normalisation (the cell's functions and their arguments "
        "numbered <code>v0, v1, ...</code>, its other variables written <code>_</code>; comments, docstrings, "
        "whitespace and literal formatting dropped: open <em>normalised</em> under a cell to see what was "
        "compared); the score is the share of "
        "tokens that line up in order (1.00: the same program). <code>reference solution</code> is the "
        "instructor's solution cell; <code>course_lib.*</code> is the library's reference implementation.</p>"
        '<table class="summary"><thead><tr><th>exercise</th><th>answers</th><th>flagged pairs</th>'
        f"<th>note</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + "".join(sections) + apart + "</body></html>")


# --------------------------------------------------------------------------- the summary

def print_summary(report: SimilarityReport, console, output: Path, shown: int = 10) -> None:
    """Per exercise: answers, flagged pairs and the highest score as a rich table, then the pairs."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Similar answers in {report.unit} (threshold {report.threshold:.2f})")
    for column, justify in (("exercise", "left"), ("answers", "right"), ("flagged", "right"), ("note", "left")):
        table.add_column(column, justify=justify, no_wrap=True)
    for result in report.exercises:
        with_reference = sum(p.left.is_reference for p in result.flagged)
        note = "too small to judge" if result.small else (
            f"{with_reference} with a reference" if result.flagged else "")
        flagged = f"[yellow]{len(result.flagged)}[/]" if result.flagged else "0"
        table.add_row(escape(result.exercise), str(result.answered), flagged, note)
    console.print(table)
    if not report.students:
        console.print(f"[yellow]no submissions of {escape(report.unit)} in {SUBMITTED_DIRECTORY}/ "
                      f"(expected {SUBMITTED_DIRECTORY}/STUDENT/{escape(report.unit)}/*.ipynb)[/]", soft_wrap=True)
    for result in report.exercises:
        if not result.flagged:
            continue
        pairs = [f"{p.score:.2f} {p.left.student} ~ {p.right.student}" for p in result.flagged[:shown]]
        more = len(result.flagged) - shown
        console.print(escape(f"{result.exercise}: " + ", ".join(pairs) + (f", and {more} more" if more > 0 else "")),
                      soft_wrap=True)
    console.print(f"{len(report.flagged)} pair(s) flagged among {len(report.students)} student(s) in "
                  f"{report.seconds:.1f} s. Nothing is penalised: read the pairs side by side in {output}",
                  soft_wrap=True)


def write_report(root: Path, unit: str, threshold: float = DEFAULT_THRESHOLD,
                 output: Path | None = None) -> tuple[SimilarityReport, Path]:
    """Compare ``unit``'s answers and write the page (default: ``similarity.html`` in ``root``)."""
    from .feedback import write_atomic

    report = similarity(root, unit, threshold)
    output = output or root / "similarity.html"
    write_atomic(output, render_html(report))
    return report, output
