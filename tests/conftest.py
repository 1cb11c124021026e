"""What tests in more than one folder share: the repository, its units, temporary nbgrader courses,
and the references as a student would type them. Each folder's own ``conftest.py`` holds what
only its tests share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading.config import units

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UNIT_NAMES = [unit.name for unit in units(ROOT)]

NBGRADER_CONFIG = """\
from pathlib import Path
from course_lib.grading.config import configure
configure(get_config(), Path(__file__).resolve().parent)
"""


def tool_env() -> dict[str, str]:
    """The environment for subprocesses: this venv's bin first on PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_tool(*args: str, cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a console script of this venv (``dlcourse``, ``nbgrader``) and capture its output."""
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=tool_env(), text=True,
                            capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def make_course(folder: Path, unit_names: list[str]) -> Path:
    """A temporary nbgrader course with ``unit_names`` built from this repository's sources."""
    from course_lib.grading.build import build

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    build(ROOT, only=unit_names, output_root=folder)
    return folder


def submit(course: Path, student: str, unit: str, notebook: Path, name: str | None = None) -> Path:
    """Place ``notebook`` as ``student``'s submission of ``unit`` (nbgrader's layout)."""
    target = course / "submitted" / student / unit / (name or notebook.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, target)
    return target


def with_answer(source: Path, grade_id: str, code: str, target: Path) -> Path:
    """A copy of notebook ``source`` at ``target`` whose cell ``grade_id`` holds ``code``."""
    import nbformat

    notebook = nbformat.read(source, 4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
    nbformat.write(notebook, target)
    return target


def scores(course: Path, unit: str, student: str) -> dict[str, float]:
    """``{grade_id: score}`` plus ``"total"`` and ``"max"`` for one student's unit, from the gradebook."""
    from nbgrader.api import Gradebook

    result: dict[str, float] = {"total": 0.0, "max": 0.0}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(unit, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                result[grade.name] = grade.score
            result["total"] += notebook.score
            result["max"] += notebook.max_score
    return result


def pytest_addoption(parser):
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="keep the browser test's screenshot of every step in DIR")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# ------------------------------------------------------------------ references as a student would type them
def typed_by_a_student(module_name: str):
    """A copy of reference module ``module_name`` whose functions are compiled again from its source.

    The checks' tests build correct and wrong answers from the references. The own-work rule
    (``course_lib.checks.own_work``) refuses the references themselves, by their code objects;
    a student who typed the same code by hand is not refused (its limit, stated in the README).
    This copy is that student: the same source, new code objects, calls between its functions
    staying inside the copy. The rule's own tests use the real modules.
    """
    import importlib
    import inspect
    import types

    module = importlib.import_module(module_name)
    name = f"{module_name}_typed_by_a_student"
    if name in sys.modules:
        return sys.modules[name]
    copy = types.ModuleType(name)
    copy.__package__ = module.__package__
    copy.__file__ = module.__file__
    sys.modules[name] = copy           # dataclasses look their module up while the source runs
    exec(compile(inspect.getsource(module), f"<{name}>", "exec"), copy.__dict__)
    return copy
