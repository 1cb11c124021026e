"""Feedback without hidden tests, and grade reports, on a small autograded class of unit 01.

The class is graded with stock ``nbgrader autograde`` (``dlcourse autograde`` writes the
same gradebook and autograded notebooks):

* ``full``: the solution notebook;
* ``blank``: the untouched release;
* ``sum_mse``: ``mse_loss`` returns the *sum* of squared errors (a visible check catches it);
* ``fixed_n``: ``mse_loss`` divides by a hard-coded 7, the size the visible check uses, so only
  a hidden test fails and IPython's traceback points at the hidden-test line;
* ``ghost``: a submission the gradebook has but no autograded notebook (how ``dlcourse
  autograde`` records an unreadable notebook);
* ``absent``: a student in the gradebook who submitted nothing.
"""

from __future__ import annotations

import csv
import html
import re
import warnings

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tests.conftest import ROOT, make_course, run_tool, scores, submit, with_answer
from course_lib.grading.feedback import (HIDDEN_LINE_NOTE, HIDDEN_NOTICE, HiddenTests, failure_message,
                                         generate_feedback, sanitise_notebook, split_hidden)
from course_lib.grading.grades import message_key

UNIT = "01_linear_regression"
NOTEBOOK = "linear_regression"
STUDENTS = ["full", "blank", "sum_mse", "fixed_n"]
SUM_MSE = "def mse_loss(y_pred, y):\n    return np.sum((y_pred - y) ** 2)\n"
FIXED_N = "def mse_loss(y_pred, y):\n    return np.sum((y_pred - y) ** 2) / 7   # the visible check has 7 examples\n"
SUM_DIAGNOSIS = "Likely mistake: that is the sum of squared errors: divide by N (use a mean)."


def hidden_lines_of_solution() -> list[str]:
    """The hidden-test lines of unit 01, read straight from the instructor's source."""
    text = (ROOT / "solutions" / UNIT / f"{NOTEBOOK}.py").read_text()
    blocks = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert len(lines) >= 8, "unit 01 should have hidden tests"
    return lines


def visible_text(page: str) -> str:
    """What a browser shows: no style or script blocks, no tags, entities decoded."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def revealed(page: str) -> list[str]:
    """Hidden-test lines, or their argument lists, that ``page`` shows."""
    text, found = visible_text(page), []
    for line in hidden_lines_of_solution():
        arguments = line[line.index("(") + 1:line.rindex(")")].split(", ", 1)[-1] if "(" in line else line
        for needle in (line, arguments):
            if needle in text or needle in page:
                found.append(needle)
    return found + (["HIDDEN TESTS marker"] if "HIDDEN TESTS" in text else [])



@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class above, autograded, with feedback and reports written by the CLI."""
    from nbgrader.api import Gradebook

    course = make_course(tmp_path_factory.mktemp("class"), [UNIT])
    solution = course / "build" / "source" / UNIT / f"{NOTEBOOK}.ipynb"
    scratch = tmp_path_factory.mktemp("answers")
    submit(course, "full", UNIT, solution)
    submit(course, "blank", UNIT, course / "notebooks" / UNIT / f"{NOTEBOOK}.ipynb")
    for student, code in (("sum_mse", SUM_MSE), ("fixed_n", FIXED_N)):
        answer = with_answer(solution, "mse_loss_answer", code, scratch / f"{student}.ipynb")
        submit(course, student, UNIT, answer, f"{NOTEBOOK}.ipynb")
    run_tool("nbgrader", "autograde", UNIT, "--force", cwd=course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in ("ghost", "absent"):
            gradebook.update_or_create_student(student)
        with warnings.catch_warnings():     # nbgrader's own SQLAlchemy autoflush notices
            warnings.simplefilter("ignore")
            gradebook.add_submission(UNIT, "ghost")
    feedback = run_tool("dlcourse", "feedback", "01", cwd=course)
    grades = run_tool("dlcourse", "grades", UNIT, "--out", str(course / "reports"), cwd=course)
    return {"course": course, "feedback_log": feedback.stdout, "grades_log": grades.stdout}


def page(graded, student: str) -> str:
    return (graded["course"] / "feedback" / student / UNIT / f"{NOTEBOOK}.html").read_text(encoding="utf-8")


def read_csv(graded, name: str) -> list[dict[str, str]]:
    with open(graded["course"] / "reports" / name, newline="") as stream:
        return list(csv.DictReader(stream))


# --------------------------------------------------------------------------- feedback

@pytest.mark.slow
def test_feedback_is_written_for_every_graded_student(graded):
    for student in [*STUDENTS, "ghost"]:
        assert page(graded, student).lstrip().startswith("<!DOCTYPE html>")
    assert not (graded["course"] / "feedback" / "absent").exists()
    assert "Wrote 5 feedback page(s) for 5 student(s)" in graded["feedback_log"]


@pytest.mark.slow
def test_feedback_never_shows_hidden_tests(graded):
    for student in [*STUDENTS, "ghost"]:
        assert revealed(page(graded, student)) == [], student


@pytest.mark.slow
def test_the_leak_detector_finds_what_stock_feedback_shows(graded):
    """The autograded notebook rendered as it is (as stock generate_feedback does) shows the hidden tests."""
    from nbconvert.exporters import HTMLExporter

    autograded = graded["course"] / "autograded" / "fixed_n" / UNIT / f"{NOTEBOOK}.ipynb"
    body, _ = HTMLExporter().from_filename(str(autograded))
    found = revealed(body)
    assert "check_mse_loss(mse_loss, seed=5, num_examples=2)" in found
    assert "HIDDEN TESTS marker" in found


@pytest.mark.slow
def test_a_hidden_test_failure_shows_its_message_but_not_its_line(graded):
    text = visible_text(page(graded, "fixed_n"))
    assert "mse_loss(y_pred, y) has the right shape but the wrong values." in text
    assert "✓ mse_loss: a scalar equal to mean((y_pred - y)**2)" in text      # the visible check passed
    assert HIDDEN_LINE_NOTE in text                                           # where it failed, without the code
    assert "check_mse_loss(mse_loss)" in text                                 # the visible line stays
    assert "6 of 11 points" in text


@pytest.mark.slow
def test_failure_messages_and_scores_are_shown(graded):
    text = visible_text(page(graded, "sum_mse"))
    assert SUM_DIAGNOSIS in text
    assert "6 of 11 points" in text and "Score: 6.0 / 11.0" in text
    summary = text[text.index("6 of 11 points"):text.index("Unit 01")]
    assert re.search(r"mse_loss\s*0 / 1\s*no points\s*" + re.escape(SUM_DIAGNOSIS), summary), summary
    assert re.search(r"predict\s*1 / 1\s*full marks\s*all checks passed", summary), summary


@pytest.mark.slow
def test_feedback_pages_render_maths_offline_and_fit_a_phone_and_paper(graded):
    for student in ("sum_mse", "ghost"):
        body = page(graded, student)
        assert not re.search(r"<script[^>]*\bsrc=[\"']?(https?:)?//", body, flags=re.I), student
        assert "x-mathjax-config" not in body
        assert 'name="viewport" content="width=device-width' in body and "@media print" in body
    body = page(graded, "sum_mse")
    assert body.count("<math") > 10
    assert not re.search(r"\$[^$\n]+\$", visible_text(body)), "raw TeX left in the page"


@pytest.mark.slow
def test_each_exercise_row_links_to_its_cell(graded):
    body = page(graded, "sum_mse")
    summary = body[body.index('class="dlcourse-summary"'):body.index("</table>")]
    targets = re.findall(r'href="#([^"]+)"', summary)
    assert targets[:3] == ["predict", "squared_errors", "mse_loss"] and len(targets) == 8
    for target in targets:
        assert f'<a name="{target}"></a>' in body, target


@pytest.mark.slow
def test_a_student_who_passed_sees_the_check_lines(graded):
    text = visible_text(page(graded, "full"))
    assert "11 of 11 points" in text
    for line in ("✓ predict: shape (5,) and values match X @ w + b",
                 "✓ predict: shape (11,) and values match X @ w + b",     # printed by a hidden test
                 "✓ mse_loss: a scalar equal to mean((y_pred - y)**2)"):
        assert line in text
    assert "Traceback" not in text


@pytest.mark.slow
def test_blank_release_feedback_points_at_the_students_own_code(graded):
    text = visible_text(page(graded, "blank"))
    assert "0 of 11 points" in text
    assert "`predict` is not written yet: replace `raise NotImplementedError()`" in text
    assert "----> 4     raise NotImplementedError()" in text      # the student's frame is kept


@pytest.mark.slow
def test_a_submission_without_a_gradable_notebook_gets_a_page(graded):
    text = visible_text(page(graded, "ghost"))
    assert f"No gradable {NOTEBOOK}.ipynb was found" in text and "0 of 11 points" in text


@pytest.mark.slow
def test_running_feedback_again_is_safe(graded):
    course = graded["course"]
    before = page(graded, "sum_mse")
    result = generate_feedback(course, UNIT, students=["sum_mse", "nobody"])
    assert result.students == ["sum_mse"] and result.problems == [f"nobody: no graded submission of {UNIT} in the gradebook"]
    assert visible_text(page(graded, "sum_mse")) == visible_text(before)   # widget views get fresh random ids
    folder = course / "feedback" / "sum_mse" / UNIT
    assert sorted(p.name for p in folder.iterdir()) == [f"{NOTEBOOK}.html"]    # no temporary files left


@pytest.mark.slow
def test_cli_rejects_an_unknown_assignment_in_one_line(graded):
    result = run_tool("dlcourse", "feedback", "99_nothing", cwd=graded["course"], check=False)
    assert result.returncode == 2 and "no assignment '99_nothing'" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- sanitising, without nbgrader

def _grade_cell(source, outputs, grade_id="mse_loss"):
    cell = new_code_cell(source, outputs=outputs, execution_count=8)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 1}
    return cell


GRADE_SOURCE = ("from course_lib.checks.linear import check_mse_loss\n\ncheck_mse_loss(mse_loss)\n"
                "### BEGIN HIDDEN TESTS\ncheck_mse_loss(mse_loss, seed=5, num_examples=2)\n"
                "check_mse_loss(mse_loss, seed=6, num_examples=50)\n### END HIDDEN TESTS")
FRAME = ("\x1b[36mCell\x1b[39m \x1b[32mIn[8]\x1b[39m\x1b[32m, line 5\x1b[39m\n"
         "\x1b[32m      3\x1b[39m check_mse_loss(mse_loss)\n"
         "\x1b[32m      4\x1b[39m \x1b[38;5;66;03m### BEGIN HIDDEN TESTS\x1b[39;00m\n"
         "\x1b[32m----> \x1b[39m\x1b[32m5\x1b[39m check_mse_loss(mse_loss, seed=\x1b[32m5\x1b[39m, num_examples=\x1b[32m2\x1b[39m)\n"
         "\x1b[32m      6\x1b[39m check_mse_loss(mse_loss, seed=\x1b[32m6\x1b[39m, num_examples=\x1b[32m50\x1b[39m)\n")


def _sanitised(outputs, released=None):
    notebook = new_notebook(cells=[_grade_cell(GRADE_SOURCE, outputs)])
    hidden = HiddenTests.collect([GRADE_SOURCE], visible=[split_hidden(GRADE_SOURCE)[0]])
    changes = sanitise_notebook(notebook, released or {}, hidden)
    return notebook.cells[0], changes


def _plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_split_hidden_matches_what_nbgrader_releases():
    visible, hidden = split_hidden(GRADE_SOURCE)
    assert visible == "from course_lib.checks.linear import check_mse_loss\n\ncheck_mse_loss(mse_loss)"
    assert hidden == ["check_mse_loss(mse_loss, seed=5, num_examples=2)", "check_mse_loss(mse_loss, seed=6, num_examples=50)"]


def test_grade_cell_source_becomes_the_released_one():
    cell, _ = _sanitised([], released={"mse_loss": "check_mse_loss(mse_loss)  # released"})
    assert cell.source == "check_mse_loss(mse_loss)  # released"
    cell, _ = _sanitised([])        # no release: the markers decide
    assert "seed=5" not in cell.source and "HIDDEN" not in cell.source and cell.source.endswith("\ncheck_mse_loss(mse_loss)")


def test_traceback_lines_from_hidden_tests_are_dropped():
    error = new_output("error", ename="CheckFailure", evalue="mse_loss(y_pred, y) has the right shape but the wrong values.",
                       traceback=["\x1b[31m----------\x1b[39m", FRAME, "\x1b[31mCheckFailure\x1b[39m: mse_loss(...) wrong"])
    cell, changes = _sanitised([error])
    text = _plain("\n".join(cell.outputs[0].traceback))
    assert "seed=5" not in text and "seed=6" not in text and "HIDDEN" not in text
    assert "      3 check_mse_loss(mse_loss)" in text and HIDDEN_LINE_NOTE in text
    assert cell.outputs[0].evalue.startswith("mse_loss(y_pred, y) has the right shape")
    assert changes


def test_plain_python_tracebacks_are_cleaned_too():
    entry = ('  File "<grade cell>", line 5, in <module>\n    check_mse_loss(mse_loss, seed=5, num_examples=2)\n'
             "AssertionError: wrong")
    cell, _ = _sanitised([new_output("error", ename="AssertionError", evalue="wrong", traceback=[entry])])
    assert "seed=5" not in "".join(cell.outputs[0].traceback)


def test_outputs_that_quote_hidden_tests_are_replaced():
    """A student cell that prints the grader's cell history (``_ih``) must not leak it through feedback."""
    leak = new_output("stream", name="stdout", text="print(_ih[-1]):\ncheck_mse_loss(mse_loss, seed=6, num_examples=50)\n")
    fine = new_output("stream", name="stdout", text="✓ mse_loss: a scalar equal to mean((y_pred - y)**2)\n")
    html_leak = new_output("display_data", data={"text/html": "<pre>check_mse_loss(mse_loss, seed=5, num_examples=2)</pre>",
                                                 "text/plain": "x"})
    quoting = new_output("error", ename="NameError", evalue="check_mse_loss(mse_loss, seed=5, num_examples=2) failed",
                         traceback=["NameError: ..."])
    cell, _ = _sanitised([leak, fine, html_leak, quoting])
    texts = [o.get("text", "") for o in cell.outputs]
    assert texts[0] == HIDDEN_NOTICE + "\n" and texts[1] == fine.text and texts[2] == HIDDEN_NOTICE + "\n"
    assert cell.outputs[3].evalue == HIDDEN_NOTICE


def test_failure_message_prefers_the_diagnosis():
    diagnosed = _grade_cell("", [new_output("error", ename="CheckFailure", traceback=[],
                                            evalue="x has the right shape but the wrong values.\n  expected: 1\n"
                                                   f"{SUM_DIAGNOSIS}")])
    assert failure_message(diagnosed) == SUM_DIAGNOSIS
    plain = _grade_cell("", [new_output("error", ename="NameError", evalue="name 'predict' is not defined", traceback=[])])
    assert failure_message(plain) == "NameError: name 'predict' is not defined"
    assert failure_message(_grade_cell("", [new_output("stream", name="stdout", text="✓ ok\n")])) == ""


def test_message_key_groups_the_same_mistake_on_other_numbers():
    first = "history[-1] = 1.9554 but the MSE of the returned w, b on all of X is 0.06844: record the loss"
    second = "history[-1] = 13.688 but the MSE of the returned w, b on all of X is 0.06844: record the loss"
    assert message_key(first) == message_key(second)
    assert message_key("dw has shape (5, 1), expected (5,).") == "dw has shape (5, 1), expected (5,)."


# --------------------------------------------------------------------------- reports

@pytest.mark.slow
def test_grades_csv_matches_the_gradebook(graded):
    rows = read_csv(graded, "grades.csv")
    assert list(rows[0]) == ["student", "notebook", "exercise", "score", "max_score"]
    students = sorted({row["student"] for row in rows})
    assert students == sorted([*STUDENTS, "ghost", "absent"])
    for student in [*STUDENTS, "ghost"]:
        expected = scores(graded["course"], UNIT, student)
        mine = {row["exercise"]: float(row["score"]) for row in rows if row["student"] == student}
        assert mine == {k: v or 0.0 for k, v in expected.items() if k not in ("total", "max")}, student
    absent = [row for row in rows if row["student"] == "absent"]
    assert len(absent) == 8 and all(float(row["score"]) == 0 for row in absent)
    assert sum(float(row["max_score"]) for row in absent) == 11
    assert [row["exercise"] for row in absent][:3] == ["predict", "squared_errors", "mse_loss"]   # notebook order


@pytest.mark.slow
def test_totals_and_known_mistakes(graded):
    totals = {row["student"]: row for row in read_csv(graded, "totals.csv")}
    assert {s: float(r["final_score"]) for s, r in totals.items()} == {
        "full": 11, "blank": 0, "sum_mse": 6, "fixed_n": 6, "ghost": 0, "absent": 0}
    assert totals["absent"]["submitted"] == "no" and totals["ghost"]["submitted"] == "yes"
    rows = read_csv(graded, "grades.csv")
    by = {(r["student"], r["exercise"]): float(r["score"]) for r in rows}
    assert by["sum_mse", "mse_loss"] == 0 and by["fixed_n", "mse_loss"] == 0 and by["full", "mse_loss"] == 1
    assert by["sum_mse", "predict"] == 1


@pytest.mark.slow
def test_item_analysis_counts_full_partial_and_zero(graded):
    rows = read_csv(graded, "grades.csv")
    items = {row["exercise"]: row for row in read_csv(graded, "item_analysis.csv")}
    assert len(items) == 8
    for exercise, item in items.items():
        graded_scores = [(float(r["score"]), float(r["max_score"])) for r in rows
                         if r["exercise"] == exercise and r["student"] != "absent"]
        assert int(item["full"]) == sum(s >= m for s, m in graded_scores)
        assert int(item["partial"]) == sum(0 < s < m for s, m in graded_scores)
        assert int(item["zero"]) == sum(s == 0 for s, m in graded_scores)
        assert int(item["not_submitted"]) == 1
    assert (items["mse_loss"]["full"], items["mse_loss"]["zero"]) == ("1", "4")     # full vs blank, sum, fixed_n, ghost
    assert (items["predict"]["full"], items["predict"]["zero"]) == ("3", "2")


@pytest.mark.slow
def test_message_counts_name_the_mistakes(graded):
    messages = read_csv(graded, "messages.csv")
    mse = {row["message"]: row for row in messages if row["exercise"] == "mse_loss"}
    assert mse[SUM_DIAGNOSIS]["count"] == "1" and mse[SUM_DIAGNOSIS]["students"] == "sum_mse"
    # a plain value mismatch is summarised with its hint, the one line that says what to do
    wrong = [row for message, row in mse.items() if message.startswith(
        "mse_loss(y_pred, y) has the right shape but the wrong values. Hint: ")]
    assert len(wrong) == 1 and wrong[0]["students"] == "fixed_n"
    assert "`mse_loss` is not written yet: replace `raise NotImplementedError()` with your code and run its cell." in mse
    # the same downstream failure on different numbers is one row
    sgd = [row for row in messages if row["exercise"] == "train_sgd" and row["message"].startswith("history[-1]")]
    assert len(sgd) == 1 and sorted(sgd[0]["students"].split()) == ["fixed_n", "sum_mse"]


@pytest.mark.slow
def test_markdown_histogram_and_printed_table(graded):
    folder = graded["course"] / "reports"
    markdown = (folder / "item_analysis.md").read_text()
    assert "| notebook | exercise | max | full | partial | zero | not submitted | mean |" in markdown
    assert f"| mse_loss | {SUM_DIAGNOSIS} | 1 |" in markdown
    assert (folder / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = graded["grades_log"]
    assert "Item analysis of 01_linear_regression" in log and "mse_loss" in log
    assert "no graded submission (0 points): absent" in log
    assert not list(folder.glob(".*tmp"))
