"""The same grade on any machine: grading that never relies on bitwise-equal floating point.

The graded kernel and the grader's trusted re-check are two processes. Their numerical
libraries may pick other kernels (``OPENBLAS_CORETYPE``), thread counts or builds, and so
compute a check's inputs with other last bits. ``tests/release/test_notebooks.py`` grades every
unit's solution with the real ``dlcourse autograde`` while the kernels run another
OpenBLAS core type and one BLAS thread (:func:`tests.grading.conftest.other_numerics_env`), and requires
full marks with no re-check note; the attack corpus grades its honest submissions the same
way (``tests/grading/test_attack_corpus.py``). Here: that the kernels really compute differently,
the record's identity and tolerance, and the sandbox's environment and binds.

The sandbox must also bind what the kernel imports (the course installed from another
folder than the grader's) and say why, before grading anyone, when a kernel cannot start.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, UNIT_NAMES, make_course, scores, submit, tool_env, typed_by_a_student
from tests.grading.conftest import grader_blas, kernel_numerics
from course_lib.checks import evidence
from course_lib.checks.linear import _problem, check_mse_gradients
from course_lib.grading.execution import sandbox
from course_lib.grading.gradebook import read_log
from course_lib.grading.worker import real_cause


def _autograde(course: Path, unit: str, env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.cli", "autograde", unit, "--jobs", "1", *options],
                          cwd=course, env=env, text=True, capture_output=True, timeout=900)


# ------------------------------------------------------------------ every unit, other numerics in the kernel
# Every unit's solution and untouched release are graded this way in tests/release/test_notebooks.py.
def test_the_kernels_really_run_other_numerics(tmp_path):
    """The overriding kernel spec reaches the kernel inside the sandbox: its BLAS is not the grader's."""
    numerics = kernel_numerics()
    if "OPENBLAS_CORETYPE" not in numerics:
        pytest.fail("this test needs an x86-64 machine to force another OpenBLAS core type")
    bwrap = sandbox.probe()
    python = sandbox.course_kernels()[0][1]
    env = sandbox.environment(numerics, str(Path(python).parent))
    report = ("import numpy\nfrom threadpoolctl import threadpool_info\n"
              "print([i.get('architecture') for i in threadpool_info() if i.get('internal_api') == 'openblas'][0])")
    argv = sandbox.command(bwrap, [python, "-c", report], files=[], channel=tmp_path, evidence_dir=None, env=env)
    inside = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
    assert inside and inside.lower() != grader_blas().lower(), (inside, grader_blas())


# ------------------------------------------------------------------ the record, found by identity
def _stand_in(*args):
    raise AssertionError("a replay must not call the student's function")


def test_a_record_made_with_other_bits_replays(tmp_path, monkeypatch):
    """Inputs with other last bits (as another BLAS computes them) still find their record."""
    record = tmp_path / "calls.jsonl"
    monkeypatch.setattr(evidence, "_recorder", evidence.Recorder(str(record)))

    def noisy_problem(seed, num_examples, num_features):
        X, y, w, b = _problem(seed, num_examples, num_features)
        return X, y * (1 + 1e-15), np.nextafter(w, np.inf), b     # the last bits differ

    def mse_gradients(X, y, w, b):
        residual = X @ w + b - y
        return 2 * X.T @ residual / len(y), 2 * residual.mean()

    from course_lib.checks import linear
    monkeypatch.setattr(linear, "_problem", noisy_problem)
    check_mse_gradients(mse_gradients, seed=12, num_examples=1, num_features=2)
    monkeypatch.undo()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["key"] for line in lines] == [
        "course_lib.checks.linear.check_mse_gradients(*,num_examples=1,num_features=2,seed=12)|mse_gradients#0"]

    replayer = evidence.Replayer.from_file(record)
    token = evidence.replayer.set(replayer)
    try:
        check_mse_gradients(_stand_in, seed=12, num_examples=1, num_features=2)   # replays: calls nothing
    finally:
        evidence.replayer.reset(token)


def test_a_value_answer_of_any_type_replays(tmp_path, monkeypatch):
    """An int, string or tuple answer is a literal in the kernel and a stand-in in the re-run: same key."""
    from course_lib.checks.calling import student_value

    @evidence.graded_check
    def check_answer(answer, seed=0):
        assert student_value("answer", answer, seed) == ("b", 3)

    record = tmp_path / "calls.jsonl"
    monkeypatch.setattr(evidence, "_recorder", evidence.Recorder(str(record)))
    check_answer(("b", 3), seed=1)
    monkeypatch.undo()
    token = evidence.replayer.set(evidence.Replayer.from_file(record))
    try:
        check_answer(_stand_in, seed=1)
    finally:
        evidence.replayer.reset(token)


def test_grade_cells_pass_student_objects_by_position_and_parameters_by_keyword():
    """What the call identity relies on, held for every grade cell of every unit."""
    import ast
    import re

    wrong = []
    for path in sorted((ROOT / "solutions").glob("*/*.py")):
        for cell in re.split(r"^# %%", path.read_text(), flags=re.M):
            header, _, body = cell.partition("\n")
            if '"grade": true' not in header or '"solution": true' in header:
                continue
            body = "\n".join(line for line in body.splitlines() if not line.startswith("###"))
            for node in ast.walk(ast.parse(body)):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_"):
                    if any(not isinstance(a, ast.Name) for a in node.args) or any(
                            not _is_literal(k.value) for k in node.keywords):
                        wrong.append(f"{path.parent.name}: {ast.unparse(node)}")
    assert not wrong, wrong


def _is_literal(node) -> bool:
    import ast
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def test_a_record_for_other_inputs_is_not_used(tmp_path, monkeypatch):
    """The same key with clearly different inputs (another seed's data) is a miss, not a pass."""
    record = tmp_path / "calls.jsonl"
    monkeypatch.setattr(evidence, "_recorder", evidence.Recorder(str(record)))
    check_mse_gradients(typed_by_a_student("course_lib.linear").mse_gradients, seed=1)
    line = json.loads(record.read_text())
    line["key"] = line["key"].replace("seed=1", "seed=2")            # moved to another test's key
    record.write_text(json.dumps(line) + "\n")
    monkeypatch.undo()
    token = evidence.replayer.set(evidence.Replayer.from_file(record))
    try:
        with pytest.raises(evidence.ReplayMiss, match="other inputs"):
            check_mse_gradients(_stand_in, seed=2)
    finally:
        evidence.replayer.reset(token)


@pytest.mark.parametrize("change,same", [
    (lambda a: a * (1 + 1e-13), True),          # rounding of another BLAS
    (lambda a: a + 1e-3, False),                 # another value
    (lambda a: a[::-1], False),                  # the same numbers in another order
    (lambda a: -a, False),                       # a sign
    (lambda a: a.astype(int), False),            # integers instead of floats
])
def test_input_sketches_compare_with_a_tolerance(change, same):
    a = np.random.default_rng(0).normal(size=(7, 3))
    ours, theirs = evidence.sketch((a, 3, "x")), json.loads(json.dumps(evidence.sketch((change(a), 3, "x"))))
    assert evidence.same_inputs(theirs, ours) is same


def test_checks_that_grade_cells_call_all_identify_their_calls():
    """Every check a grade cell may call is marked, or the trusted re-check would not replay it."""
    import importlib
    import pkgutil

    import course_lib.checks as checks
    unmarked = []
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"course_lib.checks.{info.name}")
        if getattr(module, "TRUSTED_REPLAY", False):
            unmarked += [f"{info.name}.{name}" for name, value in vars(module).items()
                         if name.startswith("check_") and callable(value) and not getattr(value, "graded_check", False)]
    assert not unmarked, f"checks without @graded_check: {unmarked}"


# ------------------------------------------------------------------ the sandbox's environment and binds
def test_the_sandbox_keeps_the_numerical_variables(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("SECRET_TOKEN", "x")
    env = sandbox.environment({"OPENBLAS_NUM_THREADS": "1"}, "/usr/bin")
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["OPENBLAS_L2_SIZE"] == "1048576"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert "NBGRADER_EXECUTION" not in env and "SECRET_TOKEN" not in env
    assert sandbox.environment({"OPENBLAS_CORETYPE": "Nehalem"}, "/usr/bin")["OPENBLAS_CORETYPE"] == "Nehalem"


def _kernels_importing(folder: Path, package: Path) -> dict[str, str]:
    """Course kernel specs under ``folder`` whose Python imports ``course_lib`` from ``package``'s parent."""
    from jupyter_client.kernelspec import KernelSpecManager

    from course_lib.grading.execution.kernels import KERNELS
    for name in KERNELS:
        spec = KernelSpecManager().get_kernel_spec(name)
        (folder / "kernels" / name).mkdir(parents=True)
        (folder / "kernels" / name / "kernel.json").write_text(json.dumps({
            "argv": spec.argv, "display_name": spec.display_name, "language": "python",
            "env": {**(spec.env or {}), "PYTHONPATH": str(package.parent)}}))
    return {**tool_env(), "JUPYTER_PATH": str(folder)}


@pytest.mark.slow
def test_a_course_installed_from_another_folder_is_graded_in_the_sandbox(tmp_path):
    """The grader runs from a clone while the kernels import the course installed in the environment
    (the README's JupyterHub set-up): the sandbox binds what the kernel imports, not the grader's copy."""
    clone = tmp_path / "clone" / "course_lib"
    shutil.copytree(ROOT / "course_lib", clone, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**tool_env(), "PYTHONPATH": str(clone.parent)}
    unit = UNIT_NAMES[0]
    course = make_course(tmp_path / "course", [unit])
    where = "import course_lib; print(course_lib.__file__)"
    grader = subprocess.run([sys.executable, "-c", where], text=True, capture_output=True, env=env, cwd=course)
    kernel = subprocess.run([sandbox.course_kernels()[0][1], "-c", where], text=True, capture_output=True,
                            env=tool_env(), cwd=course)
    assert grader.stdout.startswith(str(clone)) and not kernel.stdout.startswith(str(clone)), (grader, kernel)
    for source in sorted((course / "build" / "source" / unit).glob("*.ipynb")):
        submit(course, "solution", unit, source)
    run = _autograde(course, unit, env, "--sandbox", "required")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    got = scores(course, unit, "solution")
    assert got["total"] == got["max"] > 0, (got, read_log(course))


def test_a_kernel_that_cannot_import_the_course_is_refused_before_grading(tmp_path):
    broken = tmp_path / "broken" / "course_lib"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('the course copy here is broken on purpose')\n")
    env = _kernels_importing(tmp_path / "jupyter", broken)
    unit = UNIT_NAMES[0]
    course = make_course(tmp_path / "course", [unit])
    submit(course, "solution", unit, next((course / "build" / "source" / unit).glob("*.ipynb")))
    run = _autograde(course, unit, env)
    assert run.returncode != 0
    assert "broken on purpose" in run.stdout + run.stderr, run.stdout[-2000:] + run.stderr[-2000:]
    assert not read_log(course), "nobody may be graded by a kernel that cannot start"


def test_a_sandbox_that_hides_the_course_says_why(monkeypatch):
    """Binds that miss the kernel's course_lib fail the probe with the ImportError and the paths."""
    name, python, env = sandbox.course_kernels()[0]
    bwrap = sandbox.probe()
    real = sandbox.python_folders
    monkeypatch.setattr(sandbox, "python_folders",
                        lambda *a, **k: [f for f in real(*a, **k) if f.name != "course_lib"])
    with pytest.raises(sandbox.SandboxUnavailable) as refused:
        sandbox._probe_imports(bwrap, name, python, env)
    message = str(refused.value)
    assert "No module named 'course_lib'" in message and "course_lib comes from" in message, message


@pytest.mark.parametrize("outcome,cause", [
    ({"success": False, "log": "[ERROR] There was an error processing assignment\nTraceback...\n"
                                "ModuleNotFoundError: No module named 'course_lib'\n",
      "error": "Traceback...\nnbgrader.converters.base.NbGraderException: Please see the the above traceback "
               "for details\n"},
     "ModuleNotFoundError: No module named 'course_lib'"),
    ({"success": False, "log": "[ERROR] Kernel died while waiting for execute reply.\n",
      "error": "NbGraderException: Please see the the above traceback for details"},
     "Kernel died while waiting for execute reply."),
    ({"success": False}, "nbgrader gave no reason"),
])
def test_a_grader_error_row_carries_its_real_cause(outcome, cause):
    assert real_cause(outcome) == cause
