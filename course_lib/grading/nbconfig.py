"""The course as nbgrader sees it: one function that fills an nbgrader ``Config``.

``nbgrader_config.py`` at the repository root calls :func:`configure`; tests and the
build's temporary course folders call it too, so every nbgrader run uses the same
settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

COURSE_ID = "dl-fundamentals"
SOURCE_DIRECTORY = "build/source"
RELEASE_DIRECTORY = "notebooks"
CELL_TIMEOUT_S = 120          # sized for the longest training cell, with room for a slow laptop
NOTEBOOK_TIMEOUT_S = 600      # a whole notebook: ~1 min on a laptop, 10x room
KERNEL_MEMORY_MB = 4096       # a TensorFlow kernel needs ~650 MB before any work


def configure(c, root: str | Path) -> None:
    """Fill nbgrader config ``c`` for the course rooted at ``root``."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                        IgnorePattern, LimitOutput, SaveAutoGrades)

    from .preprocessors import CourseExecute, NameFailedExercises, TolerateStderr

    ensure_environment_on_path()
    root = Path(root).resolve()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE_DIRECTORY
    c.CourseDirectory.release_directory = RELEASE_DIRECTORY
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Execute.timeout = CELL_TIMEOUT_S
    c.Execute.startup_timeout = 120
    c.CourseExecute.timeout = CELL_TIMEOUT_S
    c.CourseExecute.startup_timeout = 120
    c.Autograde.autograde_preprocessors = [
        CourseExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        TolerateStderr, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    # The Validate button (`nbgrader validate`) must agree with the grader. nbgrader 0.9.6
    # does not mark Validator.preprocessors configurable, so set the trait's default.
    from nbgrader.validator import Validator
    Validator.class_traits()["preprocessors"].default_value = [
        CheckCellMetadata, ClearOutput, CourseExecute, TolerateStderr, NameFailedExercises]


def ensure_environment_on_path() -> None:
    """Put this Python's ``bin`` folder first on PATH.

    nbgrader runs ``alembic`` (and starts kernels) by name; called as
    ``.venv/bin/dlcourse`` without an activated environment, they would not be found.
    """
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
