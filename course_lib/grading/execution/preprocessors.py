"""nbgrader preprocessors that fix two ways stock nbgrader takes points from correct work.

* :class:`CourseExecute` runs each notebook in the kernel it names, or in the CPU
  kernel where that one (the GPU kernel) is not installed.
* :class:`TolerateStderr` stops log lines from costing points: stock nbgrader scores
  a grade cell zero when *anything* reached stderr (a TensorFlow CUDA notice, a
  ``logging.warning``). A failed check always raises, which is an ``error`` output,
  so treating stderr as ordinary output loses no real failure.

And one for the Validate button (``nbgrader validate``), whose report quotes each failed
cell's traceback: :class:`NameFailedExercises` starts it with the line ``dlcourse check``
shows for that exercise (:func:`.messages.exercise_line`), so both name a failure alike.
"""

from __future__ import annotations

import textwrap

from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import determine_grade, is_grade

from .kernels import IpcKernelMixin, resolve_kernel
from ..messages import error_output, exercise_line, failure_message


class CourseExecute(IpcKernelMixin, Execute):
    """nbgrader's ``Execute``, with the GPU-to-CPU kernel fallback and kernels on Unix sockets."""

    def preprocess(self, nb, resources=None, km=None):
        requested = nb.metadata.get("kernelspec", {}).get("name")
        self.kernel_name = resolve_kernel(requested, self.log)
        return super().preprocess(nb, resources, km)


def tolerate_stderr(cell) -> int:
    """Relabel a grade cell's stderr stream outputs as stdout; return how many changed."""
    changed = 0
    if cell.cell_type == "code" and is_grade(cell):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["name"] = "stdout"
                changed += 1
    return changed


class TolerateStderr(NbGraderPreprocessor):
    """Keep stderr text visible but stop it from zeroing a grade cell."""

    def preprocess_cell(self, cell, resources, index):
        if tolerate_stderr(cell):
            self.log.debug("stderr in grade cell %s kept as ordinary output", cell.metadata.get("nbgrader", {}).get("grade_id"))
        return cell, resources


VALIDATE_WIDTH = 90   # characters: fits nbgrader's Validate dialog at its default size


def name_failed_exercise(cell) -> str:
    """Put the ``dlcourse check`` line first in a failed grade cell's traceback; return that line ("" if none)."""
    output = error_output(cell) if cell.cell_type == "code" and is_grade(cell) else None
    if output is None:
        return ""
    points, max_points = determine_grade(cell)
    line = exercise_line(cell.metadata["nbgrader"]["grade_id"], float(points or 0), float(max_points or 0),
                         failure_message(cell))
    # wrapped: the Validate dialog shows tracebacks as preformatted text, without wrapping
    output["traceback"] = [textwrap.fill(line, width=VALIDATE_WIDTH, subsequent_indent="    ",
                                         break_on_hyphens=False), *output.get("traceback", [])]
    return line


class NameFailedExercises(NbGraderPreprocessor):
    """For the Validate button only: name each failed exercise as ``dlcourse check`` does, above its traceback."""

    def preprocess_cell(self, cell, resources, index):
        name_failed_exercise(cell)
        return cell, resources
