"""ONE way to load the course: where it lives, its units, and its nbgrader configuration.

A unit is a folder ``solutions/NN_slug/`` with a ``unit.toml``::

    title = "A one-layer network is linear regression"
    kernel = "cpu"            # or "gpu": the kernel spec its notebooks name
    release_files = []        # files beside the sources that students receive

and one or more notebook sources (jupytext py:percent files).

nbgrader sees the course through :func:`configure`: ``nbgrader_config.py`` at the
repository root calls it, and so do tests and the build's temporary course folders, so
every nbgrader run uses the same settings. :func:`load_course_config` reads a course's
configuration as ``nbgrader`` run in its folder would; :func:`scratch_config` does the same
for a grading worker's private scratch course.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


COURSE_ID = "dl-fundamentals"
SOURCE_DIRECTORY = "build/source"
RELEASE_DIRECTORY = "notebooks"
CELL_TIMEOUT_S = 120          # sized for the longest training cell, with room for a slow laptop
NOTEBOOK_TIMEOUT_S = 600      # a whole notebook: ~1 min on a laptop, 10x room
KERNEL_MEMORY_MB = 4096       # a TensorFlow kernel needs ~650 MB before any work



class CourseError(Exception):
    """A problem an instructor or student can fix; the CLI prints it as one line."""


@dataclass(frozen=True)
class Unit:
    """One unit of the course, read from ``solutions/<name>/unit.toml``."""

    name: str
    folder: Path
    title: str
    kernel: str = "cpu"
    release_files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sources(self) -> list[Path]:
        """The unit's notebook sources: ``*.py`` files that carry a jupytext header."""
        return sorted(p for p in self.folder.glob("*.py") if _is_jupytext_source(p))


def _is_jupytext_source(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:2000]
    return "jupytext:" in head and "format_name: percent" in head


def find_root(start: Path | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` with ``nbgrader_config.py`` and ``solutions/``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    package_root = Path(__file__).resolve().parents[2]   # an editable install points at the repository
    if (package_root / "nbgrader_config.py").is_file():
        return package_root
    raise CourseError(f"no course found at or above {start}: run this inside the course repository")


def course_root(start: Path | None = None) -> Path:
    """The nbgrader course being graded: the nearest folder at or above ``start`` (default: the
    working directory) with an ``nbgrader_config.py``, as nbgrader finds it; else the repository."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    return find_root(start)


def read_unit(folder: Path) -> Unit:
    """Parse ``folder/unit.toml``."""
    try:
        meta = tomllib.loads((folder / "unit.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CourseError(f"{folder / 'unit.toml'}: {error}") from error
    kernel = meta.get("kernel", "cpu")
    if kernel not in ("cpu", "gpu"):
        raise CourseError(f"{folder / 'unit.toml'}: kernel must be 'cpu' or 'gpu', not {kernel!r}")
    return Unit(name=folder.name, folder=folder, title=meta["title"], kernel=kernel,
                release_files=tuple(meta.get("release_files", [])))


def units(root: Path) -> list[Unit]:
    """Every unit under ``root/solutions``, in order."""
    return [read_unit(folder) for folder in sorted((root / "solutions").iterdir())
            if (folder / "unit.toml").is_file()]


def unit_named(root: Path, name: str) -> Unit:
    """The unit called ``name`` (``01_linear_regression``, or just ``01``)."""
    for unit in units(root):
        if name in (unit.name, unit.name.split("_", 1)[0]):
            return unit
    raise CourseError(f"no unit {name!r}; units: {', '.join(u.name for u in units(root))}")


# --------------------------------------------------------------------------- nbgrader

def configure(c, root: str | Path) -> None:
    """Fill nbgrader config ``c`` for the course rooted at ``root``."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                        IgnorePattern, LimitOutput, SaveAutoGrades)

    from .execution.preprocessors import CourseExecute, NameFailedExercises, TolerateStderr

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


def load_course_config(root: Path):
    """The course's nbgrader configuration, as ``nbgrader`` run in ``root`` would load it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if (root / "nbgrader_config.py").is_file():
        return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config = Config()
    configure(config, root)
    return config


def scratch_config(scratch_root: Path, config_text: str | None):
    """The course's configuration (``config_text``: its ``nbgrader_config.py``, or None) for a
    scratch course at ``scratch_root``, whatever the instructor's file says about paths."""
    if config_text:
        (scratch_root / "nbgrader_config.py").write_text(config_text, encoding="utf-8")
    config = load_course_config(scratch_root)
    config.CourseDirectory.root = str(scratch_root)
    config.CourseDirectory.db_url = f"sqlite:///{scratch_root / 'gradebook.db'}"
    return config
