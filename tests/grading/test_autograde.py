"""``dlcourse autograde``: parallel, resumable, limited, and equal to stock nbgrader's grades.

One class of unit 01 submissions is graded once for most tests (the ``graded`` fixture):
a first ``dlcourse autograde --jobs 2`` is killed with SIGKILL (its whole process group)
after its first result is logged, and a second run finishes the job. The class mixes
correct, wrong and blank work with the cases that trip stock nbgrader (a copy-pasted
cell, a missing, misnamed, broken or old-format notebook) and with runaway answers (an
endless loop, a memory bomb). Stock ``nbgrader autograde`` grades a copy of the ordinary
submissions, and the scores must be equal.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from tests.conftest import BIN, make_course, run_tool, scores, submit, tool_env
from course_lib.grading.execution import limited_kernel
from course_lib.grading.autograde import autograde
from course_lib.grading.config import CourseError
from course_lib.grading.execution.limited_execute import KILLED, NOT_RUN, LimitedExecute
from course_lib.grading.gradebook import LOG_NAME, MANIFEST, read_log
from course_lib.grading.intake.validate import check_notebook, repair_duplicates, validate_submission

UNIT = "01_linear_regression"
NB = "linear_regression.ipynb"
LIMIT_OPTIONS = ["--cell-timeout", "10", "--memory-mb", "1500"]

WRONG_SAMPLER = '''\
def sample_minibatch(X, y, batch_size, rng):
    rows = rng.integers(0, X.shape[0], size=batch_size)   # with replacement: a real mistake
    return X[rows], y[rows]
'''
WRONG_PREDICT = '''\
def predict(X, w, b):
    return X @ w   # forgot the bias
'''
ORDINARY = ["sol", "wrong", "wrong2", "blank"]          # graded by stock nbgrader too
INVALID = {"badjson": "is not valid JSON", "v3": "notebook format 3",
           "missing": "is missing from the submission", "misnamed": "found linear_regression-Copy1.ipynb instead"}


def _cells(notebook, grade_id):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def _edited(solution: Path, target: Path, grade_id: str, source=None, prepend: str = "") -> Path:
    notebook = nbformat.read(solution, 4)
    cell = _cells(notebook, grade_id)[0]
    cell.source = prepend + (cell.source if source is None else source)
    nbformat.write(notebook, target)
    return target


def _build_class(course: Path, scratch: Path) -> None:
    solution = course / "build" / "source" / UNIT / NB
    release = course / "notebooks" / UNIT / NB
    submit(course, "sol", UNIT, solution)
    submit(course, "wrong", UNIT, _edited(solution, scratch / "wrong.ipynb", "sample_minibatch_answer", WRONG_SAMPLER), NB)
    submit(course, "wrong2", UNIT, _edited(solution, scratch / "wrong2.ipynb", "predict_answer", WRONG_PREDICT), NB)
    submit(course, "blank", UNIT, release)
    # an ordinary copy and paste: the 'predict' test cell twice, same cell id and all
    notebook = nbformat.read(solution, 4)
    index = notebook.cells.index(_cells(notebook, "predict")[0])
    notebook.cells.insert(index + 1, copy.deepcopy(notebook.cells[index]))
    (scratch / "dup.ipynb").write_text(json.dumps(notebook))   # nbformat.write would fix the id
    submit(course, "dup", UNIT, scratch / "dup.ipynb", NB)
    submit(course, "loop", UNIT, _edited(solution, scratch / "loop.ipynb", "mse_loss_answer",
                                         prepend="while True:\n    pass\n"), NB)
    submit(course, "membomb", UNIT, _edited(solution, scratch / "bomb.ipynb", "squared_errors_answer",
                                            prepend="_hog = bytearray(4 * 1024**3)\n"), NB)
    folder = course / "submitted"
    (folder / "badjson" / UNIT).mkdir(parents=True)
    (folder / "badjson" / UNIT / NB).write_text(solution.read_text()[:5000])
    (folder / "v3" / UNIT).mkdir(parents=True)
    (folder / "v3" / UNIT / NB).write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                                       "worksheets": [{"cells": []}]}))
    (folder / "missing" / UNIT).mkdir(parents=True)
    (folder / "missing" / UNIT / "notes.txt").write_text("I could not finish, sorry")
    submit(course, "misnamed", UNIT, solution, "linear_regression-Copy1.ipynb")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded by a killed run and a resumed one; the stock course graded by nbgrader."""
    course = make_course(tmp_path_factory.mktemp("class"), [UNIT])
    _build_class(course, tmp_path_factory.mktemp("answers"))
    stock = tmp_path_factory.mktemp("stock") / "course"
    shutil.copytree(course, stock)
    for student in os.listdir(stock / "submitted"):
        if student not in ORDINARY:
            shutil.rmtree(stock / "submitted" / student)

    # run 1: SIGKILL the whole process group once a first submission is recorded
    first = subprocess.Popen([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", "2", *LIMIT_OPTIONS],
                             cwd=course, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    started: set[psutil.Process] = set()
    while time.monotonic() < deadline and first.poll() is None:
        started.update(_descendants(first.pid))
        if any(row["status"] in ("ok", "limit") for row in read_log(course)):
            break
        time.sleep(0.1)
    started.update(_descendants(first.pid))
    assert first.poll() is None, "the first run finished before it could be killed:\n" + first.stdout.read()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(30)
    _, alive = psutil.wait_procs(list(started), timeout=15)
    for process in alive:   # (a failure, asserted below) do not let it hold the output pipe open
        process.kill()
    first_output = first.stdout.read()
    killed_rows = read_log(course)

    # run 2: resume
    second = run_tool("dlcourse", "autograde", UNIT, "--jobs", "2", *LIMIT_OPTIONS, cwd=course, check=False)
    run_tool("nbgrader", "autograde", UNIT, cwd=stock)
    return {"course": course, "stock": stock, "killed_rows": killed_rows, "first_output": first_output,
            "orphans": alive, "second": second}


def _submission_counts(course: Path) -> dict[str, int]:
    with sqlite3.connect(course / "gradebook.db") as db:
        return dict(db.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id"))


@pytest.mark.slow
def test_a_killed_run_resumes_without_loss_or_doubles(graded):
    course, second = graded["course"], graded["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert not graded["orphans"], f"processes outlived the killed run: {graded['orphans']}"
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    everyone = set(os.listdir(course / "submitted"))
    assert _submission_counts(course) == {student: 1 for student in everyone}
    first_run = {row["student"] for row in graded["killed_rows"]}
    rows = read_log(course)
    second_run = [row["student"] for row in rows if row["run"] != graded["killed_rows"][0]["run"]]
    assert first_run and len(first_run) < len(everyone), graded["first_output"]
    assert not first_run & set(second_run), "the second run regraded submissions the first had recorded"
    assert sorted(second_run) == sorted(everyone - first_run)
    assert f"{len(first_run)} already graded" in second.stdout
    for student in everyone:   # every autograded folder complete; no half-written folder left
        folder = course / "autograded" / student / UNIT
        assert json.loads((folder / MANIFEST).read_text())["status"] != "failed"
    assert not list((course / "autograded").glob(f"*/.{UNIT}.*"))


@pytest.mark.slow
def test_grades_equal_stock_nbgrader(graded):
    course, stock = graded["course"], graded["stock"]
    for student in ORDINARY:
        assert scores(course, UNIT, student) == scores(stock, UNIT, student), student
    assert scores(course, UNIT, "sol")["total"] == 11
    assert scores(course, UNIT, "wrong")["total"] == 10
    assert scores(course, UNIT, "blank")["total"] == 0
    assert scores(course, UNIT, "wrong2")["predict"] == 0


@pytest.mark.slow
def test_a_copy_pasted_cell_counts_once_and_earns_its_points(graded):
    course = graded["course"]
    assert scores(course, UNIT, "dup") == scores(course, UNIT, "sol")
    autograded = nbformat.read(course / "autograded" / "dup" / UNIT / NB, 4)
    assert len(_cells(autograded, "predict")) == 1
    row = {r["student"]: r for r in read_log(course)}["dup"]
    assert row["status"] == "ok" and "linear_regression.ipynb: cell 'predict' appears 2 times" in row["notes"], row
    # the console says so too, in whichever run graded 'dup': the killed run may have recorded it
    # and died before printing its line (the resumed one then skips it as graded)
    report = graded["first_output"] + graded["second"].stdout
    printed = [line for line in report.splitlines() if line.startswith("dup (")]
    assert all("cell 'predict' appears 2 times" in line for line in printed), printed


@pytest.mark.slow
def test_each_unusable_submission_gets_a_zero_row_and_one_line(graded):
    course = graded["course"]
    report = graded["first_output"] + graded["second"].stdout
    rows = {row["student"]: row for row in read_log(course)}
    for student, why in INVALID.items():
        got = scores(course, UNIT, student)
        assert got["total"] == 0 and got["max"] == 11, student
        assert rows[student]["status"] == "invalid" and why in rows[student]["notes"], rows[student]
        lines = [line for line in report.splitlines() if line.startswith(f"{student} (invalid") and why in line]
        assert lines, f"no report line for {student}:\n{report}"
    # the notebook the misnamed student did hand in is named, with what to do
    assert "rename it to linear_regression.ipynb" in rows["misnamed"]["notes"]


INDEPENDENT = {"predict": 1, "mse_gradients": 2, "gradient_descent_step": 1, "sample_minibatch": 1}


@pytest.mark.slow
def test_a_runaway_answer_costs_only_what_depends_on_it(graded):
    """The endless loop and the memory bomb cost their exercise (and the later exercises that
    call that function); exercises that do not depend on it keep their points, and the batch goes on."""
    course = graded["course"]
    rows = {row["student"]: row for row in read_log(course)}
    loop = scores(course, UNIT, "loop")
    assert loop["mse_loss"] == 0 and loop["squared_errors"] == 1
    assert {k: loop[k] for k in INDEPENDENT} == INDEPENDENT
    assert rows["loop"]["status"] == "limit"
    assert "'mse_loss_answer' was stopped at the 10 s cell time limit" in rows["loop"]["notes"]
    bomb = scores(course, UNIT, "membomb")
    assert bomb["squared_errors"] == 0
    assert {k: bomb[k] for k in INDEPENDENT} == INDEPENDENT
    assert rows["membomb"]["status"] == "limit"
    assert "'squared_errors_answer' ran out of memory (limit 1500 MB per kernel)" in rows["membomb"]["notes"]
    autograded = nbformat.read(course / "autograded" / "membomb" / UNIT / NB, 4)
    assert _errors(_cells(autograded, "squared_errors_answer")[0])[0][0] == "MemoryError"


@pytest.mark.slow
def test_progress_and_timing_log(graded):
    out = graded["second"].stdout
    total = len(os.listdir(graded["course"] / "submitted")) - len({r["student"] for r in graded["killed_rows"]})
    assert f"grading {total} submissions of {UNIT} on 2 local workers" in out
    assert f"[{total}/{total}] " in out and "/min, ETA" in out
    rows = read_log(graded["course"])
    assert list(rows[0]) == ["run", "finished_at", "assignment", "student", "status", "seconds", "score",
                             "max_score", "worker", "notes"]
    by_student = {row["student"]: row for row in rows}
    assert by_student["sol"]["status"] == "ok" and by_student["sol"]["score"] == "11"
    assert 0.5 < float(by_student["sol"]["seconds"]) < 120
    assert float(by_student["badjson"]["seconds"]) < 5
    assert "Timings and notes:" in out and LOG_NAME in out


@pytest.mark.slow
def test_rerun_grades_nothing_and_force_regrades_one_student(graded):
    course = graded["course"]
    before = {student: scores(course, UNIT, student) for student in ("sol", "wrong")}
    rows_before = len(read_log(course))
    again = run_tool("dlcourse", "autograde", UNIT, cwd=course)
    assert "Graded 0 submissions" in again.stdout and "already graded (use --force" in again.stdout
    assert len(read_log(course)) == rows_before

    stamp = json.loads((course / "autograded" / "sol" / UNIT / MANIFEST).read_text())["graded_at"]
    time.sleep(1)
    forced = run_tool("dlcourse", "autograde", UNIT, "--student", "wrong", "--force", "--jobs", "1", cwd=course)
    new_rows = read_log(course)[rows_before:]
    assert [row["student"] for row in new_rows] == ["wrong"], forced.stdout
    assert json.loads((course / "autograded" / "sol" / UNIT / MANIFEST).read_text())["graded_at"] == stamp
    assert {student: scores(course, UNIT, student) for student in ("sol", "wrong")} == before
    assert set(_submission_counts(course).values()) == {1}


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced_and_its_submission_retried(graded):
    course = graded["course"]
    before = scores(course, UNIT, "blank")
    rows_before = len(read_log(course))
    run = subprocess.Popen([str(BIN / "dlcourse"), "autograde", UNIT, "--student", "blank", "--force", "--jobs", "1"],
                           cwd=course, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed, deadline = None, time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        for process in _descendants(run.pid):
            try:
                command = " ".join(process.cmdline())
                # the sandbox of the kernel (cold) or of the zygote it is forked from (warm)
                if "bwrap" in command and ("ipykernel_launcher" in command or "kernel_zygote" in command):
                    killed = process.parent()   # the worker grading 'blank'
                    killed.kill()
                    break
            except psutil.Error:
                continue
        time.sleep(0.05)
    output = run.communicate(timeout=300)[0]
    assert killed is not None and run.returncode == 0, output
    assert "a grading worker process died; the workers were restarted" in output
    assert [row["student"] for row in read_log(course)[rows_before:]] == ["blank"]
    assert scores(course, UNIT, "blank") == before


@pytest.mark.slow
def test_dask_cluster_gives_the_same_grades(graded, tmp_path):
    """Also with two threads in one worker: nbgrader's process-wide working folder and
    environment let a process grade one submission at a time (they broke each other's runs)."""
    from distributed import LocalCluster

    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)
    students = ["sol", "wrong2", "dup", "misnamed"]
    # threads of this process, on loopback; tcp so that the dlcourse process can connect
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2, host="127.0.0.1",
                      protocol="tcp", dashboard_address=None) as cluster:
        result = run_tool("dlcourse", "autograde", UNIT, "--scheduler", cluster.scheduler_address, "--force",
                          *[arg for s in students for arg in ("--student", s)], cwd=course)
    assert "Dask cluster at tcp://127.0.0.1" in result.stdout
    assert "grades one submission at a time" in result.stdout + result.stderr
    assert "grader error" not in result.stdout + result.stderr
    regraded = [row for row in read_log(course)[len(read_log(graded["course"])):]]
    assert sorted(row["student"] for row in regraded) == sorted(students)
    for student in students:
        assert scores(course, UNIT, student) == scores(graded["course"], UNIT, student), student


def test_missing_assignment_and_empty_submitted_are_one_line_errors(tmp_path, root):
    from nbgrader.api import Gradebook

    from course_lib.grading.config import ensure_environment_on_path

    ensure_environment_on_path()   # a new gradebook runs `alembic`
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "dl-fundamentals") as gradebook:
        gradebook.add_assignment(UNIT)
        gradebook.add_notebook("linear_regression", UNIT)
    result = run_tool("dlcourse", "autograde", "01_linear_regresion", cwd=course, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no assignment '01_linear_regresion' in the gradebook; did you mean 01_linear_regression?" in result.stderr
    with pytest.raises(CourseError, match=f"no submissions of {UNIT} in .*submitted"):
        autograde(course, UNIT)
    (course / "submitted" / "alice").mkdir(parents=True)
    with pytest.raises(CourseError, match="no submissions"):
        autograde(course, UNIT)
    (course / "gradebook.db").unlink()
    with pytest.raises(CourseError, match="no gradebook"):
        autograde(course, UNIT)


# --------------------------------------------------------------------------- fast unit tests

def test_validation_names_what_is_wrong():
    assert "not valid JSON (line 1" in check_notebook(b'{"cells": [', "a.ipynb")[2]
    assert "notebook format 3" in check_notebook(b'{"nbformat": 3, "worksheets": []}', "a.ipynb")[2]
    assert "not a Jupyter notebook" in check_notebook(b'[1, 2]', "a.ipynb")[2]
    assert "not a text file" in check_notebook(b"\xff\xfe\x00", "a.ipynb")[2]
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    notebook, notes, problem = check_notebook(nbformat.writes(good).encode(), "a.ipynb")
    assert problem is None and notes == [] and notebook.cells[0].source == "x = 1"
    gradable, problems, notes = validate_submission({"Copy of a.ipynb": b"{}", "data.csv": b""}, ["a"])
    assert not gradable and "a.ipynb is missing; found Copy of a.ipynb instead" in problems["a"]


def test_duplicates_keep_the_last_copy_and_get_unique_ids():
    grade = {"grade": True, "grade_id": "t1", "locked": True, "points": 1, "schema_version": 3,
             "solution": False, "task": False}
    cells = [{"id": "a", "cell_type": "code", "metadata": {"nbgrader": dict(grade)}, "source": "", "outputs": []},
             {"id": "a", "cell_type": "code", "metadata": {"nbgrader": dict(grade)}, "source": "", "outputs": []},
             {"id": "b", "cell_type": "code", "metadata": {}, "source": "", "outputs": []}]
    notebook = {"cells": cells}
    notes = repair_duplicates(notebook)
    assert [c["id"] for c in cells] == ["a", "a-2", "b"]
    assert "nbgrader" not in cells[0]["metadata"] and cells[1]["metadata"]["nbgrader"]["grade_id"] == "t1"
    assert len(notes) == 1 and "'t1' appears 2 times" in notes[0]


def test_launcher_sets_the_limit_then_execs():
    assert limited_kernel.parse(["--memory-mb", "64", "--", "python", "-V"]) == (64, "data", None, "normal",
                                                                                ["python", "-V"])
    assert limited_kernel.parse(["--scheduling", "batch", "--", "python"])[3] == "batch"
    for wrong in (["--memory-mb", "64"], ["--scheduling", "fifo", "--", "python"]):
        with pytest.raises(SystemExit):
            limited_kernel.parse(wrong)
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)"
    out = subprocess.run([sys.executable, "-I", "-m", "course_lib.grading.execution.limited_kernel", "--memory-mb", "700",
                          "--limit", "as", "--", sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=tool_env())
    assert out.stdout.strip() == "700"


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_launcher_batch_scheduling_reaches_the_kernel_and_its_threads():
    code = ("import os, threading; seen = [os.sched_getscheduler(0)]; "
            "t = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0))); t.start(); t.join(); "
            "print([policy == os.SCHED_BATCH for policy in seen])")
    inherited = str([os.sched_getscheduler(0) == os.SCHED_BATCH] * 2)   # "normal" leaves the policy alone
    for scheduling, expected in (("batch", "[True, True]"), ("normal", inherited)):
        out = subprocess.run([sys.executable, "-I", "-m", "course_lib.grading.execution.limited_kernel",
                              "--scheduling", scheduling, "--", sys.executable, "-c", code],
                             capture_output=True, text=True, check=True, env=tool_env())
        assert out.stdout.strip() == expected, (scheduling, out.stderr)


def _run_cells(sources, tmp_path, **limits):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata.kernelspec = {"name": "dlcourse-cpu", "display_name": "course", "language": "python"}
    started = time.monotonic()
    notebook, _ = LimitedExecute(**limits).preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    return notebook, time.monotonic() - started


def _errors(cell):
    return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]


@pytest.mark.slow
def test_notebook_wall_clock_kills_the_kernel_and_its_children(tmp_path):
    notebook, seconds = _run_cells(
        ["import subprocess; child = subprocess.Popen(['sleep', '300']); print(child.pid)",
         "import time; time.sleep(300)", "print('after')"], tmp_path, timeout=60, notebook_timeout=4)
    assert seconds < 30
    child = int(notebook.cells[0].outputs[0].text)
    assert _errors(notebook.cells[1]) == [(KILLED, "the notebook ran longer than its 4 s time limit; "
                                                   "the kernel was stopped")]
    assert _errors(notebook.cells[2])[0][0] == NOT_RUN
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_a_kernel_that_ignores_the_interrupt_is_stopped(tmp_path):
    notebook, seconds = _run_cells(
        ["print('before')", "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
         "print('after')"], tmp_path, timeout=2, notebook_timeout=120)
    assert seconds < 60
    assert notebook.cells[0].outputs[0].text == "before\n"
    assert "did not respond" in _errors(notebook.cells[1])[-1][1]
    assert _errors(notebook.cells[2])[0][0] == NOT_RUN


def test_waits_for_kernel_messages_in_slices():
    """A message whose wake-up pyzmq missed is picked up within a slice, not at the cell timeout."""
    import asyncio
    from queue import Empty

    from course_lib.grading.execution.jupyter_workarounds import POLL_SLICE_S, poll_in_slices

    class Channel:   # the message is there, but a wait only finds it when it times out
        async def get_msg(self, timeout=None):
            if timeout is None or timeout > 5:
                await asyncio.sleep(3600)
            await asyncio.sleep(timeout)
            if timeout == 0:
                raise Empty
            return {"msg_type": "execute_reply"}

    channel = Channel()
    poll_in_slices(channel)
    started = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=120)) == {"msg_type": "execute_reply"}
    assert asyncio.run(channel.get_msg(timeout=None)) == {"msg_type": "execute_reply"}
    assert time.monotonic() - started < 4 * POLL_SLICE_S
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0))


@pytest.mark.slow
def test_a_process_tree_over_the_memory_limit_is_stopped(tmp_path):
    """Each child of a kernel has its own copy of the per-process limit; the tree as a whole is watched."""
    notebook, seconds = _run_cells(
        ["import subprocess, sys, time\n"
         # the children wait 3 s before they allocate, so the list of their ids is out before the kill
         "children = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3); "
         "x = bytearray(200 * 2**20); time.sleep(300)']) for _ in range(4)]\n"
         "print([c.pid for c in children], flush=True)\ntime.sleep(60)",
         "print('after')"], tmp_path, memory_mb=256, timeout=120)
    assert seconds < 40
    killed = _errors(notebook.cells[0])[-1]
    assert killed[0] == KILLED and "more than the 256 MB memory limit allows" in killed[1]
    children = json.loads(notebook.cells[0].outputs[0].text.replace("'", '"'))
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in children)
