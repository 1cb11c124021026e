"""What a student sees: a failed check in the notebook, `dlcourse check`'s table, the Validate
button's report, the one-line summary every command shares, offline maths, and the lab's settings.

The notebook tests execute a small notebook in the course's kernel (as JupyterLab runs it)
and read the error output the kernel sends, ANSI colours removed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from rich.console import Console

from course_lib.checks.compare import CheckFailure
from course_lib.grading import check, feedback, grades, messages
from course_lib.grading.messages import exercise_line, failure_message, summary_line
from course_lib.grading.offline_page import PAGE_STYLE, finish_page, prerender_math
from course_lib.grading.recheck import GRADER_ERROR, MISS_MESSAGE

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BIAS = "Likely mistake: the bias b is missing: add `+ b`."
NO_BIAS = "import numpy as np\n\ndef predict(X, w, b):\n    return np.dot(X, w)\n"
CRASHES = "def predict(X, w, b):\n    scores = X @ w\n    return scores + b.intercept   # the student's line\n"
HELPER_FILES = ("compare.py", "evidence.py", "checks/linear.py", "tracebacks.py")


def grade_cell(grade_id: str, source: str, points: int = 1):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
                                 "schema_version": 3, "solution": False, "task": False}
    return cell


def answer_cell(grade_id: str, source: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}
    return cell


def student_notebook() -> nbformat.NotebookNode:
    """Two exercises: a wrong ``predict`` (no bias), then one whose ``predict`` crashes; a third passes."""
    notebook = new_notebook(cells=[
        answer_cell("no_bias_answer", NO_BIAS),
        grade_cell("no_bias", "from course_lib.checks.linear import check_predict\n\ncheck_predict(predict)"),
        answer_cell("crash_answer", CRASHES),
        grade_cell("crash", "check_predict(predict, seed=3)"),
        answer_cell("right_answer", "def predict(X, w, b):\n    return X @ w + b\n"),
        grade_cell("right", "check_predict(predict, seed=4)"),
    ])
    notebook.metadata["kernelspec"] = {"name": "dlcourse-cpu", "display_name": "Python 3 (DL course, CPU)",
                                       "language": "python"}
    return notebook


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "exercises.ipynb"
    nbformat.write(student_notebook(), path)
    return path


@pytest.fixture(scope="module")
def executed(written):
    return check.execute(written)


def cell(notebook, grade_id: str):
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def shown(code_cell) -> str:
    """The error output as the notebook shows it: the traceback, colours removed."""
    error = next(o for o in code_cell.outputs if o.output_type == "error")
    return ANSI.sub("", "\n".join(error.traceback))


# --------------------------------------------------------------------------- item 1: the notebook

@pytest.mark.slow
def test_a_failed_check_shows_its_message_and_the_grade_cell_line_only(executed):
    text = shown(cell(executed, "no_bias"))
    assert BIAS in text and "has the right shape but the wrong values" in text
    assert "----> 3 check_predict(predict)" in text            # where, in the student's notebook
    for helper in HELPER_FILES:
        assert helper not in text, text
    assert "Traceback" in text and "CheckFailure" in text


@pytest.mark.slow
def test_a_crash_in_the_students_code_keeps_the_traceback_to_their_line(executed):
    text = shown(cell(executed, "crash"))
    assert "----> 3     return scores + b.intercept   # the student's line" in text
    assert "AttributeError: 'float' object has no attribute 'intercept'" in text
    assert "`predict` raised AttributeError" in text
    assert text.index("b.intercept") < text.index("`predict` raised")      # the cause first, as Python prints it
    for helper in HELPER_FILES:
        assert helper not in text, text


@pytest.mark.slow
def test_a_passing_check_and_the_error_fields_are_unchanged(executed):
    assert not any(o.output_type == "error" for o in cell(executed, "right").outputs)
    error = next(o for o in cell(executed, "no_bias").outputs if o.output_type == "error")
    assert error.ename == "CheckFailure" and error.evalue.endswith(BIAS)


def test_outside_ipython_a_failure_keeps_its_ordinary_traceback():
    """pytest and the grader's re-check see Python's own traceback: nothing is hidden there."""
    from course_lib.checks.linear import check_predict

    def predict(X, w, b):
        return X @ w

    with pytest.raises(CheckFailure, match="bias b is missing") as failure:
        check_predict(predict)
    assert any(entry.path.name == "compare.py" for entry in failure.traceback)
    with pytest.raises(RuntimeError):
        failure.value._render_traceback_()     # IPython falls back to its own traceback then


# --------------------------------------------------------------------------- one summary line

def error_cell(ename: str, evalue: str):
    return grade_cell("x", "", 1) | {"outputs": [new_output("error", ename=ename, evalue=evalue, traceback=[])]}


@pytest.mark.parametrize("ename, evalue, expected", [
    ("CheckFailure", "y has the right shape but the wrong values.\n  expected: [1]\n  got: [2]\n"
                     "  largest difference: 1\n" + BIAS, BIAS),
    ("CheckFailure", "dw has the right shape but the wrong values.\n  expected: [1]\nHint: dw = 2/N * X.T @ r.",
     "dw has the right shape but the wrong values. Hint: dw = 2/N * X.T @ r."),
    ("CheckFailure", "y has shape (5, 1), expected (5,). It has the right number of entries.\nHint: ravel.",
     "y has shape (5, 1), expected (5,). It has the right number of entries."),
    ("CheckFailure", "`predict` raised ValueError: shapes (5,3) and (2,) not aligned\nRun the answer cell.",
     "`predict` raised ValueError: shapes (5,3) and (2,) not aligned"),
    ("NameError", "name 'predict' is not defined", "NameError: name 'predict' is not defined"),
    ("AssertionError", "", "AssertionError"),
])
def test_the_summary_is_the_most_useful_line(ename, evalue, expected):
    assert summary_line(ename, evalue) == expected
    assert failure_message(error_cell(ename, evalue)) == expected


def test_a_grader_side_miss_is_not_worded_as_the_students_fault():
    line = summary_line(GRADER_ERROR, MISS_MESSAGE + " [check_predict(seed=0)|predict#0: recorded, but for other inputs]")
    assert line.startswith("The grader could not confirm this check")
    assert "[" not in line and "#0" not in line
    for blame in ("your notebook", "did not run", "wrong", "mistake"):
        assert blame not in line


def test_check_feedback_and_grades_share_one_summary():
    assert feedback.failure_message is messages.failure_message
    assert grades.failure_message is messages.failure_message
    assert not hasattr(check, "first_failure_line")


# --------------------------------------------------------------------------- item 2: dlcourse check

@pytest.mark.slow
def test_the_check_table_shows_the_likely_mistake_and_verbose_the_whole_failure(written):
    console = Console(record=True, width=220, color_system=None)
    results = check.check_with_table(console, written, verbose=True)
    assert [(r.grade_id, r.passed) for r in results] == [("no_bias", False), ("crash", False), ("right", True)]
    assert results[0].message == BIAS
    text = console.export_text()
    table = text[:text.index("─" * 10, text.index("right"))]
    assert re.search(r"no_bias\s*│\s*failed\s*│\s*0 / 1\s*│\s*" + re.escape(BIAS), table), table
    assert "has the right shape but the wrong values" not in table
    whole = text[text.index(results[0].line):]
    assert "largest difference:" in whole and "----> 3 check_predict(predict)" in whole
    assert "return scores + b.intercept" in whole


def test_the_table_without_verbose_has_no_tracebacks(monkeypatch, tmp_path):
    result = check.ExerciseResult("no_bias", 0.0, 1.0, BIAS, "Traceback (most recent call last) ...")
    monkeypatch.setattr(check, "check", lambda path, progress=None: [result])
    console = Console(record=True, width=200, color_system=None)
    check.check_with_table(console, tmp_path / "x.ipynb")
    text = console.export_text()
    assert BIAS in text and "Traceback" not in text


# --------------------------------------------------------------------------- item 4: the Validate button

@pytest.mark.slow
def test_the_validate_report_names_the_exercise_as_dlcourse_check_does(executed, written):
    from course_lib.grading.execution.preprocessors import name_failed_exercise

    results = {r.grade_id: r for r in check.score_cells(executed)}
    line = name_failed_exercise(cell(executed, "no_bias"))
    assert line == results["no_bias"].line == "no_bias failed (0 / 1 points): " + BIAS
    first = shown(cell(executed, "no_bias")).split("\nCheckFailure")[0]
    assert " ".join(first.split()).startswith(" ".join(line.split()))           # the same words, wrapped
    assert max(len(row) for row in first.splitlines()[:3]) <= 90                 # the dialog does not wrap lines
    assert name_failed_exercise(cell(executed, "right")) == ""


def test_the_validate_button_runs_the_naming_preprocessor():
    from nbgrader.validator import Validator
    from traitlets.config import Config

    from course_lib.grading.config import configure
    from course_lib.grading.execution.preprocessors import NameFailedExercises, TolerateStderr

    configure(Config(), ".")
    chain = Validator.class_traits()["preprocessors"].default_value
    assert chain.index(NameFailedExercises) > chain.index(TolerateStderr)


def test_exercise_line_words():
    assert exercise_line("mse_loss", 0, 1, "Likely mistake: x") == "mse_loss failed (0 / 1 points): Likely mistake: x"
    assert exercise_line("mse_loss", 2, 2) == "mse_loss passed (2 / 2 points)"


# --------------------------------------------------------------------------- item 3: offline maths

def test_maths_becomes_mathml_and_code_keeps_its_dollars():
    notebook = new_notebook(cells=[
        new_markdown_cell("The model is $\\hat{y} = w^\\top x + b$ and\n\n$$L = \\frac{1}{N}\\sum_n r_n^2$$\n\n"
                          "It costs $5 and $6 dollars; `echo $HOME` and `$x$` are code.\n"
                          "```\nprice = '$3$'\n```\n"),
        new_code_cell("x = '$a$'"),
    ])
    rendered = prerender_math(notebook)
    source = notebook.cells[0].source
    assert len(rendered) == 2 and "$\\hat" not in source and "$$" not in source
    assert "$5 and $6" in source and "`echo $HOME`" in source and "`$x$`" in source and "'$3$'" in source
    assert notebook.cells[1].source == "x = '$a$'"
    page = finish_page("<html><head><title>t</title></head><body><p>" + source + "</p></body></html>", rendered)
    assert page.count("<math") == 2 and '<math display="block">' in page and "<mover" in page
    assert "http" not in page.split("<style>")[0] + page.split("</style>")[1]    # no xmlns, no URL
    assert page.index('name="viewport"') < page.index("</head>")


def test_unreadable_tex_is_shown_as_code_not_as_dollars():
    notebook = new_notebook(cells=[new_markdown_cell("Broken: $\\frac{1}{$ here.")])
    rendered = prerender_math(notebook)
    page = finish_page("<head></head>" + notebook.cells[0].source, rendered)
    assert "$" not in page.replace(PAGE_STYLE, "")


def test_the_page_style_serves_phones_and_paper():
    assert 'content="width=device-width, initial-scale=1"' in PAGE_STYLE
    assert "@media (max-width:" in PAGE_STYLE and "@media print" in PAGE_STYLE


# --------------------------------------------------------------------------- item 4: the lab's settings

def test_the_lab_turns_jupyter_news_off_in_the_courses_own_settings(tmp_path):
    """JupyterLab itself reads the course's defaults: no news pop-up, no update check."""
    from course_lib.cli import LAB_CONFIG_DIR, lab_environment

    shipped = json.loads((LAB_CONFIG_DIR / "labconfig" / "default_setting_overrides.json").read_text())
    assert shipped["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    home = tmp_path / "home"
    env = lab_environment({"HOME": str(home), "PATH": "", "JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["JUPYTER_CONFIG_PATH"].split(":") == [str(LAB_CONFIG_DIR), "/elsewhere"]
    code = ("import json; from jupyterlab_server.settings_utils import _get_overrides; "
            "print(json.dumps(_get_overrides('/nonexistent')[0]))")
    read = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    overrides = json.loads(read.stdout)
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert not home.exists()       # nothing written to the student's home


@pytest.mark.slow
def test_an_unwritten_answer_shows_what_to_do_without_the_stubs_traceback(tmp_path):
    """Found by the browser test: the stub's NotImplementedError traceback buried the message."""
    notebook = new_notebook(cells=[
        answer_cell("stub_answer", "def predict(X, w, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"),
        grade_cell("stub", "from course_lib.checks.linear import check_predict\n\ncheck_predict(predict)")])
    notebook.metadata["kernelspec"] = {"name": "dlcourse-cpu", "display_name": "Python 3 (DL course, CPU)",
                                       "language": "python"}
    path = tmp_path / "stub.ipynb"
    nbformat.write(notebook, path)
    text = shown(cell(check.execute(path), "stub"))
    assert "`predict` is not written yet" in text, text
    assert "NotImplementedError\n" not in text and "direct cause" not in text and text.count("Traceback") == 1, text
