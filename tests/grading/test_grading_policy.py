"""What stock nbgrader gets wrong and the course fixes: stderr noise and a missing GPU kernel.

Stock nbgrader scores a grade cell zero when anything reaches stderr, so a correct
answer lost its points to a TensorFlow CUDA notice or a ``logging.warning``. These
tests grade such answers with the real ``nbgrader autograde`` and the course's
configuration, and check that only real mistakes cost points.
"""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import make_course, run_tool, scores, submit, with_answer
from course_lib.grading.execution.kernels import CPU_KERNEL, resolve_kernel
from course_lib.grading.check import check as self_check

UNIT = "01_linear_regression"
NOTEBOOK = "linear_regression.ipynb"

NOISY_PREDICT = '''\
import logging, sys
def predict(X, w, b):
    """A correct answer that also writes to stderr, as library log lines do."""
    logging.warning("predict called with %d rows", len(X))
    print("W0000 cuda_executor.cc: could not open file to read NUMA node", file=sys.stderr)
    return np.dot(X, w) + b
'''

REPLACEMENT_SAMPLER = '''\
def sample_minibatch(X, y, batch_size, rng):
    rows = rng.integers(0, X.shape[0], size=batch_size)   # with replacement: a real mistake
    return X[rows], y[rows]
'''



@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("policy"), [UNIT])
    solution = course / "build" / "source" / UNIT / NOTEBOOK
    scratch = tmp_path_factory.mktemp("answers")
    submit(course, "noisy", UNIT, with_answer(solution, "predict_answer", NOISY_PREDICT, scratch / "noisy.ipynb"), NOTEBOOK)
    submit(course, "sampler_bug", UNIT,
           with_answer(solution, "sample_minibatch_answer", REPLACEMENT_SAMPLER, scratch / "bug.ipynb"), NOTEBOOK)
    run_tool("nbgrader", "autograde", UNIT, "--force", cwd=course)
    return course


@pytest.mark.slow
def test_stderr_from_a_correct_answer_costs_nothing(graded):
    got = scores(graded, UNIT, "noisy")
    assert got["total"] == got["max"], got
    # the noise really reached the grade cell (so stock nbgrader would have scored it zero)
    autograded = nbformat.read(graded / "autograded" / "noisy" / UNIT / NOTEBOOK, 4)
    predict_cell = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "predict")
    text = "".join(o.get("text", "") for o in predict_cell.outputs)
    assert "predict called with" in text and "NUMA node" in text


@pytest.mark.slow
def test_a_real_mistake_costs_exactly_its_points(graded):
    got = scores(graded, UNIT, "sampler_bug")
    assert got["sample_minibatch"] == 0
    assert got["total"] == got["max"] - 1, got


def test_missing_gpu_kernel_maps_to_cpu():
    assert resolve_kernel(CPU_KERNEL) == CPU_KERNEL
    assert resolve_kernel("dlcourse-gpu-not-installed-here") == CPU_KERNEL


@pytest.mark.slow
def test_self_check_runs_a_notebook_whose_kernel_is_missing(tmp_path, root):
    notebook = nbformat.read(root / "notebooks" / UNIT / NOTEBOOK, 4)
    notebook.metadata.kernelspec.name = "dlcourse-gpu-not-installed-here"
    path = tmp_path / NOTEBOOK
    nbformat.write(notebook, path)
    results = self_check(path)
    assert len(results) == 8 and not any(r.passed for r in results)


@pytest.mark.slow
def test_validate_button_agrees_with_the_grader(graded, tmp_path):
    """``nbgrader validate`` (JupyterLab's Validate button) passes a correct answer that logs to stderr."""
    noisy = graded / "submitted" / "noisy" / UNIT / NOTEBOOK
    result = run_tool("nbgrader", "validate", str(noisy), cwd=graded, check=False)
    assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout + result.stderr
    buggy = graded / "submitted" / "sampler_bug" / UNIT / NOTEBOOK
    result = run_tool("nbgrader", "validate", str(buggy), cwd=graded, check=False)
    assert "VALIDATION FAILED" in result.stdout and "repeats an example" in result.stdout
