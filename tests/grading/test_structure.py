"""Damaged notebook structure is put back from the gradebook before grading (course_lib.grading.intake.structure)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import ROOT, make_course
from course_lib.grading.intake.validate import check_notebook, is_code
from course_lib.grading.intake.structure import assignment_cells, restore_metadata, restore_tests

UNIT, NAME = "01_linear_regression", "linear_regression"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("structure"), [UNIT])


@pytest.fixture(scope="module")
def cells(course):
    return assignment_cells(course / "gradebook.db", UNIT, [NAME])[NAME]


def _load(path) -> dict:
    return json.loads(path.read_text())


def _ids(content: dict) -> list[str | None]:
    return [c["metadata"].get("nbgrader", {}).get("grade_id") for c in content["cells"]]


def _cell(content: dict, grade_id: str) -> dict:
    return next(c for c in content["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def test_the_gradebook_gives_the_cells_in_notebook_order(cells):
    release = _load(ROOT / "notebooks" / UNIT / f"{NAME}.ipynb")
    assert [c.name for c in cells] == [g for g in _ids(release) if g]
    predict = next(c for c in cells if c.name == "predict")
    assert predict.is_test and predict.locked and predict.points == 1
    assert not next(c for c in cells if c.name == "predict_answer").is_test


@pytest.mark.parametrize("source", ["release", "solution"])
def test_honest_notebooks_are_left_alone(course, cells, source):
    path = (ROOT / "notebooks" / UNIT if source == "release" else course / "build" / "source" / UNIT) / f"{NAME}.ipynb"
    content = _load(path)
    before = _ids(content)
    assert restore_metadata(content, cells) == []
    assert restore_tests(content, cells) == []
    assert _ids(content) == before


def test_forged_metadata_is_restored_and_named(course, cells):
    content = _load(course / "build" / "source" / UNIT / f"{NAME}.ipynb")
    _cell(content, "mse_gradients")["metadata"]["nbgrader"].update(points=20, solution=True, locked=False, score=20)
    content["metadata"]["nbgrader"] = {"score": 11}
    notes = restore_metadata(content, cells)
    meta = _cell(content, "mse_gradients")["metadata"]["nbgrader"]
    assert (meta["points"], meta["solution"], meta["locked"], "score" in meta) == (2, False, True, False)
    assert "nbgrader" not in content["metadata"]
    assert any("'mse_gradients'" in n and "locked, points, score, solution" in n for n in notes)
    assert any("notebook-level" in n for n in notes)


def test_a_renamed_or_deleted_test_is_put_back_after_its_answer(course, cells):
    solution = _load(course / "build" / "source" / UNIT / f"{NAME}.ipynb")
    content = copy.deepcopy(solution)
    _cell(content, "train_sgd")["metadata"]["nbgrader"]["grade_id"] = "train_sgd_bonus"
    content["cells"].remove(_cell(content, "predict"))
    notes = restore_metadata(content, cells) + restore_tests(content, cells)
    ids = _ids(content)
    assert ids.index("predict") == ids.index("predict_answer") + 1
    assert ids.index("train_sgd") == ids.index("train_sgd_answer") + 1
    assert "train_sgd_bonus" not in ids
    restored = _cell(content, "predict")
    assert restored["source"] == next(c.source for c in cells if c.name == "predict")
    assert restored["metadata"]["nbgrader"]["points"] == 1
    assert any("'train_sgd_bonus'" in n for n in notes)
    assert any("test cell 'predict' was missing" in n for n in notes)
    assert any("test cell 'train_sgd' was missing" in n for n in notes)


def test_an_edited_locked_cell_is_named_and_the_whole_notebook_still_validates(course, cells):
    content = _load(ROOT / "notebooks" / UNIT / f"{NAME}.ipynb")
    _cell(content, "predict")["source"] = 'print("all checks passed")'
    notebook, notes, problem = check_notebook(json.dumps(content).encode(), f"{NAME}.ipynb", cells)
    assert problem is None and notebook is not None
    assert notes == ["locked cell 'predict' was edited; the original ran instead"]


def test_python_code_beside_the_notebook_is_recognised():
    files = {"numpy.py": b"", "course_lib/__init__.py": b"", "course_lib/checks/linear.py": b"",
             "ipykernel_launcher.py": b"", "data.csv": b"", "notes/readme.txt": b"", "x.pth": b""}
    assert sorted(rel for rel in files if is_code(rel, files)) == [
        "course_lib/__init__.py", "course_lib/checks/linear.py", "ipykernel_launcher.py", "numpy.py", "x.pth"]
