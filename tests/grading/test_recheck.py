"""The grader's re-check outside the kernel: honest work passes, tampering inside the kernel does not.

Each notebook runs in a real kernel with recording on (as the grader runs it), then
:func:`course_lib.grading.recheck.verdicts` re-runs the gradebook's grade cells in this
process from the record.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.conftest import make_course
from course_lib.checks import evidence
from course_lib.grading import recheck as trusted
from course_lib.grading.check import execute, score_cells

UNIT, NOTEBOOK = "01_linear_regression", "linear_regression.ipynb"

PATCH_NUMPY = '''\
import numpy, builtins
numpy.allclose = lambda *args, **kwargs: True            # every comparison "matches"
numpy.isclose = lambda *args, **kwargs: True
builtins.abs = lambda x: 0 * x
def mse_loss(y_pred, y):
    return 0.0
'''
PATCH_CHECKS = '''\
import course_lib.checks.linear as checks
checks.assert_close = lambda *args, **kwargs: None       # silence the comparison where it is used
checks.assert_scalar = lambda name, value: 0.0
def mse_gradients(X, y, w, b):
    return X[0], 0.0
'''
PATCH_IPYTHON = '''\
import ast
class DropCalls(ast.NodeTransformer):                     # remove every check call from later cells
    def visit_Expr(self, node):
        return None if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "").startswith("check_") else node
get_ipython().ast_transformers.append(DropCalls())
def predict(X, w, b):
    return X @ w
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("trusted"), [UNIT])


def grade_cells(course):
    source = nbformat.read(course / "build" / "source" / UNIT / NOTEBOOK, 4)
    return [(c.metadata.nbgrader.grade_id, c.source) for c in source.cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def run_recorded(course, tmp_path, monkeypatch, replace=None):
    """Execute the solution notebook (with answer cells replaced) with recording on."""
    notebook = nbformat.read(course / "build" / "source" / UNIT / NOTEBOOK, 4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
    path = tmp_path / NOTEBOOK
    nbformat.write(notebook, path)
    record = tmp_path / "evidence.jsonl"
    monkeypatch.setenv(evidence.RECORD_ENV, str(record))
    executed = execute(path)
    in_kernel = {r.grade_id: r.passed for r in score_cells(executed)}
    return executed, in_kernel, trusted.verdicts(grade_cells(course), record), record


def test_every_unit01_grade_cell_is_replayable(course):
    assert all(trusted.is_replayable(source) for _, source in grade_cells(course))
    assert not trusted.is_replayable("assert predict(1) == 2")
    assert not trusted.is_replayable("from course_lib.checks.linear import check_predict\ncheck_predict(lambda X: X)")


@pytest.mark.slow
def test_honest_solution_passes_the_recheck(course, tmp_path, monkeypatch):
    _, in_kernel, found, record = run_recorded(course, tmp_path, monkeypatch)
    assert all(in_kernel.values()) and len(found) == 8
    assert all(v.replayed and v.passed for v in found.values()), found
    assert all("__array__" in line or "value" in line for line in record.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("grade_id,answer", [("mse_loss_answer", PATCH_NUMPY),
                                             ("mse_gradients_answer", PATCH_CHECKS),
                                             ("predict_answer", PATCH_IPYTHON)])
def test_tampering_inside_the_kernel_fails_the_recheck(course, tmp_path, monkeypatch, grade_id, answer):
    executed, in_kernel, found, _ = run_recorded(course, tmp_path, monkeypatch, {grade_id: answer})
    target = grade_id.removesuffix("_answer")
    assert in_kernel[target], "the tampering should fool the check inside the kernel"
    assert found[target].replayed and not found[target].passed
    notes = trusted.apply_verdicts(executed, found)
    assert any(note.startswith(target) for note in notes)
    assert {r.grade_id: r.passed for r in score_cells(executed)}[target] is False


def test_forged_or_missing_evidence_earns_nothing(course, tmp_path):
    cells = [c for c in grade_cells(course) if c[0] == "mse_loss"]
    record = tmp_path / "evidence.jsonl"
    record.write_text("not json\n" + json.dumps({"key": "0" * 64, "value": 1.0}) + "\n")
    found = trusted.verdicts(cells, record)
    assert found["mse_loss"].replayed and not found["mse_loss"].passed
    assert "found no record of the check's calls" in found["mse_loss"].message
    assert not trusted.verdicts(cells, tmp_path / "absent.jsonl")["mse_loss"].passed


def test_data_round_trip_is_exact():
    import numpy as np
    value = (np.arange(6, dtype=np.float32).reshape(2, 3) / 7, 1.5, [np.float64(0.1), None], {"a": np.int64(3)})
    back = evidence.from_data(json.loads(json.dumps(evidence.to_data(value))))
    assert back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert back[1:3] == (1.5, [0.1, None]) and back[3] == {"a": 3}
    with pytest.raises(evidence.NotRecordable):
        evidence.to_data(object())


@pytest.mark.parametrize("junk", [
    "[" * 100_000 + "\n",                                                     # deeper than the parser goes
    "[" * 100 + "]" * 100 + "\n",                                             # valid JSON, nested too deeply
    "x" * (evidence.MAX_RECORD_BYTES + 1),                                    # larger than the grader reads
])
def test_a_hostile_record_fails_every_replayable_cell_without_crashing(course, tmp_path, junk):
    cells = grade_cells(course)
    record = tmp_path / "evidence.jsonl"
    record.write_text(json.dumps({"key": "0" * 64, "value": 1.0}) + "\n" + junk)
    found = trusted.verdicts(cells + [("by_hand", "assert predict(1) == 2")], record)
    assert not found["by_hand"].replayed                     # not replayable: keeps the kernel's verdict
    replayable = [found[grade_id] for grade_id, _ in cells]
    assert replayable and all(v.replayed and not v.passed for v in replayable)
    assert all(v.message.startswith("the record of your results could not be read") for v in replayable)


def test_a_record_within_the_bounds_is_read(tmp_path):
    record = tmp_path / "evidence.jsonl"
    nested = "[" * (evidence.MAX_DEPTH - 1) + "]" * (evidence.MAX_DEPTH - 1)   # the line's dict is one more
    record.write_bytes(b"\xff\xfe not UTF-8\n" + f'{{"key": "k", "value": {nested}}}\n'.encode())
    assert list(evidence.Replayer.from_file(record).outcomes) == ["k"]
