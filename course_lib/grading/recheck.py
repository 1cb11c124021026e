"""Score grade cells in the grader's own process, from recorded evidence.

Inside the graded kernel, every call a check makes to a student's function is recorded
as data (:mod:`course_lib.checks.evidence`). Here, outside the kernel, each grade cell's
code *from the gradebook* (so edited, deleted or forged cells do not matter) runs again
with the grader's own NumPy and ``course_lib``; the student's functions are stand-ins
that replay the record. The verdict therefore depends only on what the student's
functions returned, never on anything the notebook patched (NumPy, builtins, IPython
transformers, the checks themselves).

A grade cell is *replayable* when it only imports checks from modules that declare
``TRUSTED_REPLAY = True`` (their checks touch student code only through ``call_student``
or ``observe`` and judge only recorded data), each marked with
:func:`~course_lib.checks.evidence.graded_check` (so that its calls are found by what
identifies them, never by the floating-point bits of their inputs), and calls them with names and literals
(numbers, strings, and tuples or lists of them). Other cells keep the verdict from the
kernel, and the report says so.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
from dataclasses import dataclass

import numpy as np
from nbformat.v4 import new_output

from ..checks import evidence

GRADER_ERROR = "CheckedByGrader"
#: a re-check that finds no record of a call: the kernel stopped before it (a crash or time
#: limit in an earlier cell shows there), or a record was lost; never a wrong answer as such
MISS_MESSAGE = ("The grader could not confirm this check: it found no record of the check's calls to your "
                "functions from the graded run. This happens when the graded run stopped before this cell "
                "(see any earlier error or time limit), or when the grader lost the record. If "
                "`dlcourse check` passes this exercise on your notebook, ask your instructor to look.")


@dataclass(frozen=True)
class Verdict:
    """The trusted outcome of one grade cell; ``replayed`` is False when it could not be re-run."""

    grade_id: str
    replayed: bool
    passed: bool = False
    message: str = ""


class _StandIn:
    """Takes the place of a student's function; a check may only call it through call_student."""

    def __init__(self, name: str):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise evidence.ReplayMiss(f"`{self.__name__}` was called outside call_student")


class _Namespace(dict):
    """Grade-cell locals: names the cell does not define are the student's, as stand-ins."""

    def __missing__(self, key):
        if hasattr(builtins, key):
            raise KeyError(key)            # fall through to the real builtins
        return _StandIn(key)


def _is_plain_argument(node: ast.expr) -> bool:
    """A name (the student's, or a check's), or a literal such as ``-1`` or ``((400, 32), (5, 8))``."""
    if isinstance(node, ast.Name):
        return True
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def is_replayable(source: str) -> bool:
    """True when every statement imports trusted checks or calls one with names and literals."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib.checks."):
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                return False
            if not getattr(module, "TRUSTED_REPLAY", False):
                return False
            # each imported check must identify its calls (evidence.graded_check), or nothing replays
            if not all(getattr(getattr(module, alias.name, None), "graded_check", False) for alias in node.names):
                return False
            imported.update(alias.asname or alias.name for alias in node.names)
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Name) and node.value.func.id in imported
              and all(_is_plain_argument(a) for a in node.value.args)
              and all(k.arg is not None and _is_plain_argument(k.value) for k in node.value.keywords)):
            continue
        else:
            return False
    return bool(imported)


def verdicts(grade_cells: list[tuple[str, str]], evidence_file) -> dict[str, Verdict]:
    """Re-run each ``(grade_id, source)`` grade cell against the record in ``evidence_file``.

    A record that cannot be read as a whole fails every replayable cell, with a note saying so.
    """
    try:
        replayer = evidence.Replayer.from_file(evidence_file)
    except evidence.UnreadableRecord as problem:
        message = f"the record of your results could not be read ({problem}); the check cannot confirm them."
        return {grade_id: Verdict(grade_id, True, False, message) if is_replayable(source)
                else Verdict(grade_id, replayed=False) for grade_id, source in grade_cells}
    results = {}
    token = evidence.replayer.set(replayer)
    try:
        for grade_id, source in grade_cells:
            if not is_replayable(source):
                results[grade_id] = Verdict(grade_id, replayed=False)
                continue
            namespace = _Namespace()
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"<grade cell {grade_id}>", "exec"),
                         {"__builtins__": builtins, "np": np}, namespace)
            except evidence.ReplayMiss as miss:
                results[grade_id] = Verdict(grade_id, True, False, MISS_MESSAGE + f" [{miss}]")
            except AssertionError as failure:
                results[grade_id] = Verdict(grade_id, True, False, str(failure))
            except Exception as error:     # a damaged record must not crash the grader
                results[grade_id] = Verdict(grade_id, True, False, f"{type(error).__name__}: {error}")
            else:
                results[grade_id] = Verdict(grade_id, True, True)
    finally:
        evidence.replayer.reset(token)
    return results


def own_work_verdicts(notebook, grade_cells: list[tuple[str, str]], instructor_sources=()
                      ) -> tuple[dict[str, Verdict], list[str]]:
    """Failing verdicts for the grade cells whose exercise uses its own reference, judged from the
    notebook's source (:func:`course_lib.checks.own_work.scan_notebook`), never from the kernel,
    and one report note per such grade cell.

    ``grade_cells`` are the gradebook's ``(grade_id, source)``: their imports name the unit's
    checks modules and so the references they declare. ``instructor_sources`` are the release's
    plain code cells, which may use references in demonstrations.
    """
    from ..checks import own_work

    references = own_work.unit_references(source for _, source in grade_cells)
    wanted = {grade_id for grade_id, _ in grade_cells}
    found: dict[str, Verdict] = {}
    notes: list[str] = []
    for finding in own_work.scan_notebook(list(notebook.cells), references, instructor_sources):
        for grade_id in finding.grade_ids:
            if grade_id in wanted and grade_id not in found:
                found[grade_id] = Verdict(grade_id, True, False, own_work.message(finding.reached))
                notes.append(f"{grade_id}: own-work rule: the answer uses "
                             f"{', '.join(finding.reached)} (cell {finding.cell_index + 1}); scored 0")
    return found, notes


def instructor_code(source_notebook) -> list[str]:
    """The release's plain code cells (no nbgrader role): the instructor's own demonstrations."""
    return [cell.source for cell in source_notebook.cells
            if cell.cell_type == "code" and not cell.metadata.get("nbgrader")]


def _kernel_passed(cell) -> bool:
    return not any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def apply_verdicts(notebook, found: dict[str, Verdict]) -> list[str]:
    """Make each replayed grade cell's outputs say what the trusted verdict says.

    Returns notes for the report: cells whose kernel verdict disagreed with the grader's.
    nbgrader then scores the cells from these outputs as usual.
    """
    notes = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        verdict = found.get(grade_id)
        if cell.get("cell_type") != "code" or verdict is None or not verdict.replayed:
            continue
        in_kernel = _kernel_passed(cell)
        if verdict.passed == in_kernel:
            continue
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        if verdict.passed:
            cell["outputs"].append(new_output("stream", name="stdout",
                                              text="✓ re-checked by the grader: your functions' results are correct\n"))
            notes.append(f"{grade_id}: failed inside the kernel but the grader's re-check passed")
        else:
            first = verdict.message.splitlines()[0] if verdict.message else "the re-check failed"
            cell["outputs"].append(new_output("error", ename=GRADER_ERROR, evalue=verdict.message,
                                              traceback=[f"{GRADER_ERROR}: {verdict.message}"]))
            notes.append(f"{grade_id}: passed inside the kernel, failed the grader's re-check ({first})")
    return notes
