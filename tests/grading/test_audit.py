"""The audit gate: every exercise's grade cell kills its solution's mutants and accepts its variants.

``dlcourse audit --quick`` (:mod:`course_lib.grading.audit`) runs on every unit: a fixed-seed
sample of mutants per exercise must be killed at least 90 % of the time (reviewed equivalents
aside), and every valid variant listed in ``solutions/NN_slug/audit.toml`` must pass. A check
weakened so that it no longer tells right from wrong fails here. The unit tests below show
the mutation operators and that an audit catches a check that asserts nothing.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import ROOT
from course_lib.grading import audit
from course_lib.grading.config import units

HEADER = """# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---
"""


def _unit(folder, check_body: str):
    """A one-exercise unit whose grade cell runs ``check_body`` on the student's ``double``."""
    folder.mkdir()
    source = HEADER + textwrap.dedent('''
    # %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
    import numpy as np

    # %% nbgrader={"grade": false, "grade_id": "double_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
    def double(x):
        ### BEGIN SOLUTION
        return 2 * x + 0
        ### END SOLUTION

    # %% nbgrader={"grade": true, "grade_id": "double", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
    ''') + check_body + "\n"
    (folder / "double.py").write_text(source)
    return folder


def test_mutants_cover_the_issue_operators():
    source = textwrap.dedent('''
    def f(X, w, y):
        ### BEGIN SOLUTION
        r = X @ w - y
        loss = np.mean(r[1:] ** 2, axis=0, keepdims=True)
        return loss if loss > 0 else X.T
        ### END SOLUTION
    ''')
    kinds = {m.kind for m in audit.mutants(source)}
    assert {"operator swapped", "constant changed", "mean swapped", "axis changed", "axis dropped",
            "keepdims dropped", "transpose added", "transpose removed", "term deleted", "arguments swapped",
            "slice bound moved", "comparison flipped", "return replaced by an input"} <= kinds
    changes = {m.change for m in audit.mutants(source)}
    assert "X @ w - y -> X @ w + y" in changes
    assert "def f(X, w, y)" not in " ".join(changes)      # the signature never changes


def test_a_check_that_asserts_nothing_is_caught(tmp_path):
    weak = _unit(tmp_path / "weak", "double(np.arange(3.0))")
    [report] = audit.audit_unit(weak)
    assert report.mutants >= 3 and report.killed == 0 and not report.ok
    strong = _unit(tmp_path / "strong", "assert np.allclose(double(np.arange(-2.0, 3.0)), [-4, -2, 0, 2, 4])")
    [report] = audit.audit_unit(strong)
    # what survives is `2 * x + 0 -> 2 * x - 0` or `-> 2 * x`: equivalents, which audit.toml would list
    assert report.killed >= report.mutants - 2 and not report.error
    assert all("0" in s for s in report.survivors)


def test_every_solution_block_of_a_cell_is_mutated():
    source = textwrap.dedent('''
    def forward(x):
        ### BEGIN SOLUTION
        return x + 1
        ### END SOLUTION


    def backward(x):
        ### BEGIN SOLUTION
        return x - 1
        ### END SOLUTION
    ''')
    changes = {m.change for m in audit.mutants(source)}
    assert {"x + 1 -> x - 1", "x - 1 -> x + 1"} <= changes


def test_grade_cells_sharing_one_answer_cell_judge_it_together(tmp_path):
    """Two functions in one answer cell, graded by two cells: a change to the second function is
    judged by the second grade cell (the first one cannot see it), and both names show."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "shared.py").write_text(HEADER + textwrap.dedent('''
    # %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
    import numpy as np

    # %% nbgrader={"grade": false, "grade_id": "pair_answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
    def double(x):
        ### BEGIN SOLUTION
        return 2 * x
        ### END SOLUTION


    def halve(x):
        ### BEGIN SOLUTION
        return x / 2
        ### END SOLUTION

    # %% nbgrader={"grade": true, "grade_id": "double", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
    assert np.allclose(double(np.arange(-2.0, 3.0)), [-4, -2, 0, 2, 4])

    # %% nbgrader={"grade": true, "grade_id": "halve", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
    assert np.allclose(halve(np.arange(-2.0, 3.0)), [-1, -0.5, 0, 0.5, 1])
    '''))
    [report] = audit.audit_unit(folder)
    assert report.exercise == "double + halve" and not report.error
    assert report.mutants >= 4 and report.killed == report.mutants, report.survivors
    [only_halve] = audit.audit_unit(folder, only={"halve"})
    assert only_halve.exercise == "double + halve"


def test_a_solution_that_fails_its_own_check_is_an_error(tmp_path):
    folder = _unit(tmp_path / "broken", "assert double(1.0) == 3.0")
    [report] = audit.audit_unit(folder)
    assert report.error and not report.ok


@pytest.mark.slow
def test_every_exercise_kills_its_mutants_and_accepts_its_variants():
    reports = audit.audit_course([unit.folder for unit in units(ROOT)], sample=audit.QUICK_SAMPLE, jobs=2)
    weak = [r for r in reports if not r.ok]
    assert reports and not weak, "\n" + audit.markdown_table(weak) + "\n" + "\n".join(audit.details(weak))
