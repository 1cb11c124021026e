"""The own-work rule: an exercise's points need the student's own implementation.

Judged in the kernel (a check that runs the student's function notices a call of the
unit's declared references) and outside it (an AST scan of the notebook's source). The
whole path under ``dlcourse autograde`` is in the attack corpus (``reference_*`` attacks).
"""

from __future__ import annotations

import copy
import importlib
import json
import types

import nbformat
import numpy as np
import pytest

from tests.conftest import ROOT
import course_lib.linear
from course_lib import conv, linear
from course_lib.checks import backprop, convolution, evidence, own_work
from course_lib.checks.compare import CheckFailure
from course_lib.checks.linear import check_mse_gradients, check_predict
from course_lib.grading import recheck as trusted
from course_lib.grading.build import write_sources
from course_lib.grading.config import units


# ------------------------------------------------------------------ in the kernel
def _own_predict(X, w, b):
    return np.dot(X, w) + b


def _wrapped_predict(X, w, b):
    return course_lib.linear.predict(X, w, b)


_by_getattr = getattr(importlib.import_module("course_lib." + "linear"), "pre" + "dict")
_copied = types.FunctionType(linear.predict.__code__, vars(linear), "predict")
_module_copy = types.ModuleType("my_linear")
_module_copy.__dict__.update(vars(linear))


@pytest.mark.parametrize("answer", [linear.predict, _wrapped_predict, _by_getattr, _copied,
                                    lambda X, w, b: _module_copy.predict(X, w, b)],
                         ids=["alias", "wrapper", "getattr_importlib", "copied_function", "copied_module"])
def test_an_answer_that_calls_its_reference_fails_in_the_kernel(answer):
    with pytest.raises(CheckFailure, match=r"No points for this exercise: this answer uses `course_lib\.linear"):
        check_predict(answer)


def test_own_work_passes_and_earlier_units_references_are_allowed():
    check_predict(_own_predict)

    def affine_forward(x, W, b):              # unit 02 answer that builds on unit 01's reference
        out = linear.predict(x, W[:, 0], 0.0)[:, None] * 0 + x @ W + b
        return out, (x, W, b)

    backprop.check_affine_forward(affine_forward)


def test_unit04_may_use_its_filters_but_not_its_conv():
    def conv_from_reference(x, W, b, stride=1, pad=0):
        return conv.conv2d_forward(x, W, b, stride=stride, pad=pad)

    with pytest.raises(CheckFailure, match="course_lib.conv.conv2d_forward"):
        convolution.check_conv2d_forward(conv_from_reference)
    assert conv.FILTERS and "course_lib.conv.FILTERS" not in convolution.REFERENCES


def test_the_refusal_is_recorded_and_replayed(tmp_path, monkeypatch):
    record = tmp_path / "calls.jsonl"
    monkeypatch.setattr(evidence, "_recorder", evidence.Recorder(str(record)))
    with pytest.raises(CheckFailure):
        check_mse_gradients(linear.mse_gradients, seed=3)
    monkeypatch.undo()
    assert "refused" in json.loads(record.read_text().splitlines()[-1])
    token = evidence.replayer.set(evidence.Replayer.from_file(record))
    try:
        with pytest.raises(CheckFailure, match="No points"):
            check_mse_gradients(lambda *a: None, seed=3)
    finally:
        evidence.replayer.reset(token)


def test_the_watcher_chains_an_existing_profile_hook():
    import sys
    seen = []
    sys.setprofile(lambda frame, event, arg: seen.append(event))
    try:
        with own_work.watching(("course_lib.linear",)) as reached:
            _wrapped_predict(np.ones((2, 2)), np.ones(2), 0.0)
        after = sys.getprofile()
    finally:
        sys.setprofile(None)
    assert reached == {"course_lib.linear.predict"} and seen and after is not None


def test_every_unit_declares_references_that_exist():
    import pkgutil

    import course_lib.checks as checks
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"course_lib.checks.{info.name}")
        if getattr(module, "TRUSTED_REPLAY", False):
            assert module.REFERENCES, f"{info.name} declares no references"
            assert own_work.reference_code(tuple(module.REFERENCES)), info.name


# ------------------------------------------------------------------ outside the kernel, from the source
@pytest.fixture(scope="module")
def unit01(tmp_path_factory):
    """Unit 01's instructor notebook as built, and its grade cells."""
    folder = tmp_path_factory.mktemp("source")
    write_sources(ROOT, next(u for u in units(ROOT) if u.name == "01_linear_regression"), folder)
    notebook = nbformat.read(next(folder.rglob("*.ipynb")), 4)
    grades = [(c.metadata.nbgrader.grade_id, c.source) for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")]
    return notebook, grades


def _answered(notebook, answers: dict[str, str], extra_after: dict[str, str] | None = None):
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    for grade_id, source in (extra_after or {}).items():
        index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return notebook


def _flagged(unit01, answers, extra_after=None) -> set[str]:
    notebook, grades = unit01
    found, notes = trusted.own_work_verdicts(_answered(notebook, answers, extra_after), grades,
                                             trusted.instructor_code(notebook))
    assert len(notes) == len(found)
    return set(found)


def test_the_solution_is_not_flagged(unit01):
    assert _flagged(unit01, {}) == set()


@pytest.mark.parametrize("answers,extra_after,expected", [
    ({"predict_answer": "import course_lib.linear\npredict = course_lib.linear.predict\n"}, None, {"predict"}),
    # the later answers that call mse_loss now call the reference: they lose their points too
    ({"mse_loss_answer": "from course_lib.linear import mse_loss\n"}, None,
     {"mse_loss", "train_gradient_descent", "train_sgd"}),
    ({"mse_loss_answer": "from course_lib import linear as L\n\ndef mse_loss(a, b):\n    return L.mse_loss(a, b)\n"},
     None, {"mse_loss"}),
    ({"predict_answer": "import importlib\npredict = getattr(importlib.import_module('course_lib.' + 'linear'), 'predict')\n"},
     None, {"predict"}),
    ({"squared_errors_answer": "import types, course_lib.linear as L\n"
                               "squared_errors = types.FunctionType(L.squared_errors.__code__, {}, 's')\n"},
     None, {"squared_errors"}),
    ({"predict_answer": "import inspect, course_lib\nexec(inspect.getsource(course_lib.linear))\n",
      "squared_errors_answer": "pass\n", "mse_loss_answer": "pass\n"},
     None, {"predict", "squared_errors", "mse_loss", "mse_gradients", "gradient_descent_step",
            "train_gradient_descent", "sample_minibatch", "train_sgd"}),
    ({}, {"predict": "import sys\npredict = sys.modules['course_lib.linear'].predict\n"}, {"predict"}),
    ({"train_sgd_answer": "from course_lib.linear import *\n"}, None, {"train_sgd"}),
], ids=["import_attribute", "from_import", "module_alias", "importlib_getattr", "copied_function",
        "exec_source", "added_cell_sys_modules", "star_import"])
def test_the_source_scan_finds_each_way_to_reach_a_reference(unit01, answers, extra_after, expected):
    assert _flagged(unit01, answers, extra_after) == expected


def test_the_instructors_own_demonstrations_are_not_the_students(unit01):
    notebook, grades = unit01
    references = own_work.unit_references(source for _, source in grades)
    unknown = own_work.scan_notebook(list(notebook.cells), references)        # without knowing the release
    assert unknown, "unit 01 demonstrates its reference in plain cells: edited, they would be the student's"
    assert not own_work.scan_notebook(list(notebook.cells), references, trusted.instructor_code(notebook))


def test_an_earlier_units_reference_in_a_later_unit_is_not_flagged():
    cells = [nbformat.v4.new_code_cell("from course_lib.checks.backprop import check_two_layer_loss"),
             nbformat.v4.new_code_cell("from course_lib import linear\n\ndef two_layer_loss(X, y, p):\n"
                                       "    return linear.mse_loss(X, y), {}\n")]
    cells[1].metadata["nbgrader"] = {"solution": True, "grade_id": "two_layer_loss_answer"}
    grade = nbformat.v4.new_code_cell("check_two_layer_loss(two_layer_loss)")
    grade.metadata["nbgrader"] = {"grade": True, "grade_id": "two_layer_loss", "points": 1}
    references = own_work.unit_references([cells[0].source])
    assert "course_lib.mlp" in references
    assert not own_work.scan_notebook([*cells, grade], references)
    cells[1].source = "from course_lib.mlp import two_layer_loss\n"
    assert [f.grade_ids for f in own_work.scan_notebook([*cells, grade], references)] == [["two_layer_loss"]]


def test_a_cell_that_does_not_parse_is_not_a_finding(unit01):
    assert _flagged(unit01, {"predict_answer": "def predict(X, w, b:\n    return\n"}) == set()


def test_method_calls_named_like_builtins_are_not_exec():
    """``model.compile(...)`` or ``params.update(...)`` beside a reference module is not ``compile``."""
    cells = [nbformat.v4.new_code_cell("from course_lib.checks.frameworks import check_train_keras_model"),
             nbformat.v4.new_code_cell("from course_lib import models\nmodel = models.EpochTimer()\n"
                                       "model.compile(optimizer='sgd')\nparams = {}\nparams.update(a=1)\n"),
             nbformat.v4.new_code_cell("check_train_keras_model(train_keras_model)")]
    cells[2].metadata["nbgrader"] = {"grade": True, "grade_id": "train_keras_model", "points": 1}
    references = own_work.unit_references([cells[0].source])
    assert not own_work.scan_notebook(cells, references)
    cells[1].source += "globals().update(vars(models))\n"
    assert own_work.scan_notebook(cells, references)[0].grade_ids == ["train_keras_model"]


# ------------------------------------------------------------------ value exercises do not print their answers
@pytest.mark.parametrize("answer", [np.array([[5.0, 7.0], [-2.0, 2.0]]).T, np.zeros((2, 2)), np.ones((2, 2))])
def test_a_fixed_input_value_exercise_never_prints_its_answer(answer):
    from course_lib.checks.convolution import HAND_IMAGE, HAND_KERNEL, check_hand_result
    expected = conv.correlate2d(HAND_IMAGE, HAND_KERNEL)
    with pytest.raises(CheckFailure) as failure:
        check_hand_result(answer)
    message = str(failure.value)
    assert "expected" not in message and "entries are off" in message
    assert not any(f"{v:.6g}" in message for v in expected.ravel() if v not in answer), message


def test_graph_values_say_which_node_is_wrong_not_its_value():
    values = {node: np.array(value, dtype=float) for node, value in backprop._two_layer_variant(
        backprop.TINY_X, np.asarray(backprop.TINY_Y, dtype=float).reshape(len(backprop.TINY_X), -1),
        {k: np.asarray(v, dtype=float) for k, v in backprop.TINY_PARAMS.items()}).items()
        if node in backprop._GRAPH_VALUE_NODES}
    backprop.check_graph_values(values)
    right = values["dW2"].copy()
    values["dW2"] = -right
    with pytest.raises(CheckFailure, match="wrong sign") as failure:
        backprop.check_graph_values(values)
    assert "expected" not in str(failure.value)
    assert not any(f"{v:.6g}" in str(failure.value) for v in right.ravel())
