"""Every unit end to end under real grading: build, release, autograde.

For each unit, graded by ``dlcourse autograde`` (nbgrader's autograde in a sandbox, then
the trusted re-check) while the kernels compute with another OpenBLAS core type and one
BLAS thread than the grader (:func:`tests.grading.conftest.other_numerics_env`: the same grade on any
machine, issue 12): the instructor's solution scores full marks with no re-check note;
the untouched student release scores zero without stopping the grader. Stock ``nbgrader
autograde`` grades unit 01 too (the course stays an ordinary nbgrader course). The
release holds no solution line and no hidden test; locked cells stay locked. These tests
run for every folder in ``solutions/``.
"""

from __future__ import annotations

import re
import subprocess

import nbformat
import pytest

from tests.conftest import BIN, ROOT, UNIT_NAMES, make_course, run_tool, scores, submit, tool_env
from tests.grading.conftest import other_numerics_env
from course_lib.grading.gradebook import read_log

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=UNIT_NAMES)
def graded(request, tmp_path_factory):
    """A temporary course with one unit, a solution submission and an untouched one, autograded."""
    unit = request.param
    course = make_course(tmp_path_factory.mktemp(unit), [unit])
    for source in sorted((course / "build" / "source" / unit).glob("*.ipynb")):
        submit(course, "solution", unit, source)
        submit(course, "untouched", unit, course / "notebooks" / unit / source.name)
    env = {**tool_env(), **other_numerics_env(tmp_path_factory.mktemp(f"{unit}-kernels"))}
    result = subprocess.run([str(BIN / "dlcourse"), "autograde", unit, "--jobs", "2"], cwd=course, env=env,
                            text=True, capture_output=True, timeout=900)
    return unit, course, result


def test_autograde_completes(graded):
    unit, course, result = graded
    assert result.returncode == 0, result.stdout + result.stderr
    assert (course / "autograded" / "untouched" / unit).is_dir()


def test_solution_scores_full_marks(graded):
    unit, course, _ = graded
    got = scores(course, unit, "solution")
    assert got["max"] > 0
    failed = {k: v for k, v in got.items() if k not in ("total", "max") and not v}
    assert got["total"] == got["max"], f"{unit}: the solution lost points in {failed}"
    notes = [row["notes"] for row in read_log(course) if row["student"] == "solution"]
    assert notes and not any("re-check" in note or "own-work" in note for note in notes), notes


def test_untouched_release_scores_zero(graded):
    unit, course, _ = graded
    got = scores(course, unit, "untouched")
    assert got["max"] > 0 and got["total"] == 0, f"{unit}: the untouched release earned {got}"


def test_solution_and_release_have_the_same_exercises(graded):
    unit, course, _ = graded
    assert set(scores(course, unit, "solution")) == set(scores(course, unit, "untouched"))


def test_stock_nbgrader_grades_the_course(tmp_path):
    """The course is an ordinary nbgrader course: stock ``nbgrader autograde`` gives unit 01's solution full marks."""
    unit = UNIT_NAMES[0]
    course = make_course(tmp_path / "course", [unit])
    for source in sorted((course / "build" / "source" / unit).glob("*.ipynb")):
        submit(course, "solution", unit, source)
    result = run_tool("nbgrader", "autograde", unit, "--force", cwd=course, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    got = scores(course, unit, "solution")
    assert got["max"] > 0 and got["total"] == got["max"], got


def _marked_blocks(text: str, begin: str, end: str) -> list[str]:
    """Lines strictly between ``begin`` and ``end`` markers in a source."""
    return [line.strip() for block in re.findall(rf"{begin}\n(.*?)\n\s*{end}", text, re.S)
            for line in block.splitlines()]


@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_release_leaks_no_solution_or_hidden_test(unit):
    release = ROOT / "notebooks" / unit
    notebooks = sorted(release.glob("*.ipynb"))
    assert notebooks, f"{unit} has no released notebook: run `dlcourse build`"
    # code cells only: the markdown may quote a line of the solution as a hint on purpose
    released_code = "\n".join(cell.source for nb in notebooks for cell in nbformat.read(nb, 4).cells
                              if cell.cell_type == "code")
    for source in sorted((ROOT / "solutions" / unit).glob("*.py")):
        text = source.read_text()
        secret = (_marked_blocks(text, "### BEGIN SOLUTION", "### END SOLUTION")
                  + _marked_blocks(text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
        assert secret, f"{source} has no solution or hidden-test blocks"
        # every line substantial enough to identify (short ones like `return w, b` are common prose)
        leaked = [line for line in secret if len(line) > 25 and line in released_code]
        assert not leaked, f"{unit}: release contains solution/hidden lines: {leaked[:3]}"
    assert "BEGIN SOLUTION" not in released_code and "HIDDEN TESTS" not in released_code


@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_release_is_clean_and_locked(unit):
    for path in sorted((ROOT / "notebooks" / unit).glob("*.ipynb")):
        notebook = nbformat.read(path, 4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name in ("dlcourse-cpu", "dlcourse-gpu")
        grade_cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(grade_cells) >= 6, f"{path}: a unit needs at least 6 graded exercises"
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path}: outputs kept"
        for cell in grade_cells:
            assert cell.metadata.nbgrader.get("locked") and cell.metadata.get("editable") is False
        answers = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert answers and all("raise NotImplementedError()" in c.source for c in answers)


@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_self_check_passes_solution_and_fails_release(unit, tmp_path):
    """``dlcourse check`` exits 0 on the solution and 1 on the untouched release, with a table."""
    course = make_course(tmp_path / "course", [unit])
    source = sorted((course / "build" / "source" / unit).glob("*.ipynb"))[0]
    passed = run_tool("dlcourse", "check", str(source), cwd=tmp_path, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "failed" not in passed.stdout and "passed" in passed.stdout
    release = course / "notebooks" / unit / source.name
    failed = run_tool("dlcourse", "check", str(release), cwd=tmp_path, check=False)
    assert failed.returncode == 1 and "not written yet" in failed.stdout
    assert nbformat.read(release, 4) == nbformat.read(ROOT / "notebooks" / unit / source.name, 4), \
        "the self-check must not modify the notebook"
