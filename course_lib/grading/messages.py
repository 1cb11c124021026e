"""The one-line summary of a failed exercise, shared by ``dlcourse check``, the Validate
button, ``dlcourse feedback`` and ``dlcourse grades``.

A check's message runs over several lines: what is wrong, the expected and the actual
values, the largest difference, then (when the answer matches a known wrong formula) a
``Likely mistake:`` line, or else a ``Hint:``. A table has room for one line, so it shows
the most useful one: the likely mistake when there is one; when the first line only says
that the values are wrong, that line and the hint; otherwise the first line, which then
is specific (a shape, NaN, a crash). A grader-side problem (the re-check found no record) keeps
words that say so, never words that blame the answer.
"""

from __future__ import annotations

#: errors whose message is written for the student, so their class name is left out
CHECK_ERRORS = ("AssertionError", "CheckFailure", "CheckedByGrader")
#: the first line of a value mismatch (:func:`course_lib.checks.compare.assert_close`): true but generic
GENERIC_ENDING = "has the right shape but the wrong values."
LIKELY = "Likely mistake:"
HINT = "Hint:"


def error_output(cell):
    """The first ``error`` output of a code cell, or None."""
    for output in cell.get("outputs", []) if cell.get("cell_type", "code") == "code" else []:
        if output.get("output_type") == "error":
            return output
    return None


def summary_line(ename: str, evalue: str) -> str:
    """The most useful single line of an error ``ename: evalue`` (see the module's docstring)."""
    from .recheck import GRADER_ERROR, MISS_MESSAGE

    ename = str(ename or "Error")
    text = str(evalue or "")
    if ename == GRADER_ERROR and text.startswith(MISS_MESSAGE.split(": ")[0]):
        return MISS_MESSAGE.split(". ")[0] + "."     # a grader-side miss: its first sentence, nothing more
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = next((one for one in lines if one.startswith(LIKELY)), None)
    if line is None and lines and lines[0].endswith(GENERIC_ENDING):
        hint = next((one for one in lines if one.startswith(HINT)), None)
        line = f"{lines[0]} {hint}" if hint else None
    line = line or (lines[0] if lines else "")
    if ename in CHECK_ERRORS and line:
        return line
    return f"{ename}: {line}".rstrip(": ") if line else ename


def failure_message(cell) -> str:
    """The one-line summary of a grade cell's error; empty when the cell raised nothing."""
    output = error_output(cell)
    if output is None:
        return ""
    return summary_line(output.get("ename"), output.get("evalue"))


def exercise_line(grade_id: str, points: float, max_points: float, message: str = "") -> str:
    """``predict failed (0 / 1 points): summary``: one exercise in the words of ``dlcourse check``.

    The Validate button starts each failed exercise's report with this line too.
    """
    verdict = "passed" if points >= max_points else "failed"
    return f"{grade_id} {verdict} ({points:g} / {max_points:g} points)" + (f": {message}" if message else "")
