"""The report's notes about output: only output the grader trimmed or lost is reported as such.

Fast: no kernel. The cells are what :class:`~course_lib.grading.execution.limited_execute.LimitedExecute`
leaves after execution, passed through nbgrader's ``LimitOutput`` as autograding does.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import LimitOutput

from course_lib.grading.execution.limited_execute import KILLED, Limits, _error_output, limit_notes
from course_lib.grading.execution.outputs import NOTE_PREFIX, OutputLimiter

PRINT = "step      1: loss 0.50000000, weights [0.1234, 0.5678, 0.9012]\n"


def _stream(text: str) -> dict:
    return {"msg_type": "stream", "header": {"msg_type": "stream"}, "parent_header": {},
            "content": {"name": "stdout", "text": text}}


def _graded(limiter: OutputLimiter, messages: int, lost: bool = False, stopped: bool = False):
    """One executed cell of ``messages`` prints, then nbgrader's LimitOutput, as autograding runs them."""
    cell = nbformat.v4.new_code_cell("for step in range(n): print(...)")
    limiter.start_cell()
    for _ in range(messages):
        msg = _stream(PRINT)
        if not limiter.absorb(msg, cell.outputs, True):
            output = nbformat.v4.output_from_msg(msg)
            cell.outputs.append(output)
            limiter.created(output)
    if lost:
        limiter.lost()
    if stopped:
        cell.outputs.append(_error_output(KILLED, "the kernel died while running this cell"))
    limiter.finish_cell(cell.outputs, kernel_stopped=stopped)
    notebook = nbformat.v4.new_notebook(cells=[cell])
    LimitOutput().preprocess(notebook, {})
    return notebook


def test_many_prints_cut_by_the_grader_are_reported_past_nbgraders_line_limit():
    notebook = _graded(OutputLimiter(per_output=100_000, per_cell=400_000), 20_000)
    outputs = notebook.cells[0].outputs
    assert "... Output truncated ..." in outputs[0].text          # nbgrader kept 1000 lines of the stream
    assert outputs[-1].data["text/plain"].startswith(NOTE_PREFIX)   # and our note survived it
    assert limit_notes(notebook, "nb", Limits()) == [
        "nb.ipynb: 'cell 1' printed more output than the grader keeps; the rest was dropped"]


def test_output_within_the_limits_is_not_reported():
    assert limit_notes(_graded(OutputLimiter(per_output=100_000, per_cell=400_000), 1500), "nb", Limits()) == []


def test_a_stopped_kernel_is_not_reported_as_too_much_output():
    notebook = _graded(OutputLimiter(per_output=100_000, per_cell=400_000), 3, lost=True, stopped=True)
    notes = limit_notes(notebook, "nb", Limits())
    assert len(notes) == 1 and "the kernel died" in notes[0] and "output" not in notes[0]


def test_output_that_never_arrived_is_reported_as_lost_not_as_trimmed():
    notes = limit_notes(_graded(OutputLimiter(per_output=100_000, per_cell=400_000), 3, lost=True), "nb", Limits())
    assert notes == ["nb.ipynb: some of the output of 'cell 1' did not reach the grader (too much output, "
                     "or one output larger than the grader reads)"]
