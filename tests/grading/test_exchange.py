"""The shared-server path: stock nbgrader exchange with this course, end to end.

On a JupyterHub, students fetch and submit with nbgrader's Assignment list (the same
``nbgrader fetch_assignment`` / ``nbgrader submit`` commands run here) and the
instructor collects and grades. Here one machine plays all parts: a temporary exchange
folder, an instructor and two students, each with their own HOME (and so their own
Jupyter config and nbgrader cache), USER/LOGNAME and working folder. The exchange
settings live only in each account's own ``~/.jupyter/nbgrader_config.py``; the course's
``nbgrader_config.py`` is the one every course uses.

nbgrader names a submission after the operating-system account that runs ``submit``;
creating accounts needs root, so each simulated student's config states its id
(``CourseDirectory.student_id``), which nbgrader then uses instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat

from tests.conftest import BIN, make_course, scores, submit, tool_env
from course_lib.grading.config import COURSE_ID

UNIT = "01_linear_regression"
NB = "linear_regression.ipynb"
WRONG_PREDICT = '''\
def predict(X, w, b):
    return X @ w   # forgot the bias
'''


class Account:
    """A user of the shared server: a HOME with a Jupyter config, and a working folder."""

    def __init__(self, base: Path, name: str, exchange: Path, student: bool):
        self.name, self.home, self.work = name, base / f"home-{name}", base / f"work-{name}"
        (self.home / ".jupyter").mkdir(parents=True)
        self.work.mkdir()
        lines = ["c = get_config()", f"c.CourseDirectory.course_id = {COURSE_ID!r}",
                 f"c.Exchange.root = {str(exchange)!r}"]
        if student:
            lines.append(f"c.CourseDirectory.student_id = {name!r}")
        (self.home / ".jupyter" / "nbgrader_config.py").write_text("\n".join(lines) + "\n")

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**tool_env(), "HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
               "JUPYTER_CONFIG_DIR": str(self.home / ".jupyter"),
               "JUPYTER_DATA_DIR": str(self.home / ".local" / "share" / "jupyter")}
        result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd or self.work, env=env, text=True,
                                capture_output=True, timeout=600)
        assert result.returncode == 0, f"{self.name}: {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        return result


def test_release_fetch_submit_collect_autograde(tmp_path):
    course = make_course(tmp_path / "course", [UNIT])
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    instructor = Account(tmp_path, "instructor", exchange, student=False)
    alice = Account(tmp_path, "alice", exchange, student=True)
    bob = Account(tmp_path, "bob", exchange, student=True)

    instructor.run("nbgrader", "release_assignment", UNIT, cwd=course)
    release = course / "notebooks" / UNIT / NB
    for student in (alice, bob):
        student.run("nbgrader", "fetch_assignment", UNIT)
        fetched = student.work / UNIT / NB
        assert fetched.read_bytes() == release.read_bytes()
        listed = student.run("nbgrader", "list").stderr    # what the Assignment list shows (nbgrader logs to stderr)
        assert f"{COURSE_ID} {UNIT} (already downloaded)" in listed

    # alice hands in the solution, bob forgets the bias in predict
    solution = nbformat.read(course / "build" / "source" / UNIT / NB, 4)
    nbformat.write(solution, alice.work / UNIT / NB)
    answer = next(c for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "predict_answer")
    answer.source = WRONG_PREDICT
    nbformat.write(solution, bob.work / UNIT / NB)
    for student in (alice, bob):
        student.run("nbgrader", "submit", UNIT)
    inbound = sorted(p.name.split("+")[0] for p in (exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == ["alice", "bob"]

    instructor.run("nbgrader", "collect", UNIT, cwd=course)
    for student in (alice, bob):
        folder = course / "submitted" / student.name / UNIT
        assert (folder / NB).read_bytes() == (student.work / UNIT / NB).read_bytes()
        assert (folder / "timestamp.txt").is_file()
    submit(course, "bob-in-place", UNIT, bob.work / UNIT / NB)    # the reference: the same notebook, placed by hand
    instructor.run("dlcourse", "autograde", UNIT, "--jobs", "2", cwd=course)

    alice_scores, bob_scores = scores(course, UNIT, "alice"), scores(course, UNIT, "bob")
    assert alice_scores["total"] == alice_scores["max"] > 0
    assert bob_scores["predict"] == 0
    assert bob_scores["total"] < bob_scores["max"]
    assert bob_scores == scores(course, UNIT, "bob-in-place")
