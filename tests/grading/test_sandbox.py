"""The grading sandbox and the trusted re-check, seen from inside a graded kernel and from the grader.

One small class of unit 01 submissions is graded once by the real ``dlcourse autograde``
(the ``graded`` fixture):

* ``probe``: the solution plus a cell that looks around from inside the kernel (files,
  user, environment, network, writes) and prints what it found as JSON, and a ``numpy.py``
  beside the notebook that would break the notebook if it shadowed NumPy;
* ``runaway``: the solution plus an endless loop (the cell time limit must interrupt it and
  the kernel carry on), a 40 MB print, 200 000 prints, a background process and a fork bomb;
* ``patch``: a wrong ``mse_loss`` that patches NumPy and builtins so that the checks pass
  inside the kernel; ``wrong``: the same wrong ``mse_loss`` without the patching.

Then a copy of the course whose configuration points at a missing ``bwrap`` shows the
fallback: a refusal with ``--sandbox required``, a loud warning and a note otherwise.
The fast tests at the end cover the pieces without a kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

from tests.conftest import make_course, run_tool, scores, submit
from course_lib.grading.execution import limited_kernel, sandbox
from course_lib.grading.gradebook import read_log
from course_lib.grading.execution.outputs import NOTE_PREFIX, OutputLimiter

UNIT, NB = "01_linear_regression", "linear_regression.ipynb"
OPTIONS = ["--jobs", "2", "--cell-timeout", "10", "--memory-mb", "1500"]
SLEEP_MARKER = "3917"   # `sleep 3917`: the background process, found by its command line

WRONG_MSE = "def mse_loss(y_pred, y):\n    return 0.0\n"
PATCH_MSE = ("import numpy, builtins\n"
             "numpy.allclose = lambda *args, **kwargs: True\n"
             "numpy.isclose = lambda *args, **kwargs: True\n"
             "builtins.abs = lambda x: 0 * x\n" + WRONG_MSE)

PROBE = '''\
import json, os, socket, sys
import numpy
course, home = {course!r}, {home!r}
report = {{"uid": os.getuid(), "euid": os.geteuid(), "cwd": os.getcwd(), "home": os.environ.get("HOME"),
          "numpy": numpy.__file__, "workdir": sorted(os.listdir(".")),
          "nbgrader_env": sorted(k for k in os.environ if k.startswith("NBGRADER")),
          "env": sorted(os.environ), "visible": {{}}, "writes": {{}}}}
for path in (course, course + "/gradebook.db", course + "/build/source", course + "/submitted", home):
    report["visible"][path] = sorted(os.listdir(path)) if os.path.isdir(path) else os.path.exists(path)
skip, report["found"] = ("/proc", "/sys", "/dev", "/usr", "/etc", sys.prefix, sys.base_prefix), []
for folder, folders, files in os.walk("/"):
    folders[:] = [f for f in folders if not os.path.join(folder, f).startswith(skip)]
    report["found"] += [os.path.join(folder, f) for f in files if f == "gradebook.db" or f.endswith(".ipynb")]
for path in ("/home/student/mine.txt", "/tmp/mine.txt", "/etc/mine.txt", "/mine.txt", sys.prefix + "/mine.txt",
             os.path.dirname(numpy.__file__) + "/mine.txt", course + "/mine.txt",
             os.path.dirname(__import__("course_lib").__file__) + "/mine.txt"):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        report["writes"][path] = "written"
        os.remove(path)   # (leave nothing behind, should this ever run unsandboxed)
    except OSError as error:
        report["writes"][path] = type(error).__name__
try:
    with open("big.bin", "wb") as handle:
        handle.write(b"0" * 9 * 2**20)
    report["big_file"] = "written"
except OSError as error:
    report["big_file"] = str(error)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    report["network"] = "reached"
except OSError as error:
    report["network"] = str(error)
print("PROBE " + json.dumps(report))
'''

RUNAWAY = [
    "while True:\n    pass",
    "print('y' * 40_000_000)",
    "for i in range(200_000):\n    print(i)",
    "import subprocess, sys\n"
    f"subprocess.Popen(['sleep', '{SLEEP_MARKER}'], start_new_session=True)\n"
    "print('KERNEL ' + ' '.join(sys.argv))",
    "import os, time\n"
    "while True:   # every process forks every 0.2 s: 2, 4, 8, ... processes\n"
    "    time.sleep(0.2)\n"
    "    try:\n"
    "        os.fork()\n"
    "    except OSError:\n"
    "        pass",
]


def _with_cells(solution: Path, target: Path, extra: list[str] = (), replace: dict | None = None) -> Path:
    notebook = nbformat.read(solution, 4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    nbformat.write(notebook, target)
    return target


def _outputs(course: Path, student: str) -> list[str]:
    notebook = nbformat.read(course / "autograded" / student / UNIT / NB, 4)
    return [str(output.get("text") or output.get("data", {}).get("text/plain", ""))   # streams, and the grader's notes
            for cell in notebook.cells for output in cell.get("outputs", [])]


def _marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if marker in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _why_no_sandbox() -> str:
    try:
        sandbox.probe()
        return ""
    except sandbox.SandboxUnavailable as error:
        return str(error)


NO_SANDBOX = _why_no_sandbox()
needs_sandbox = pytest.mark.skipif(bool(NO_SANDBOX), reason=f"no grading sandbox here: {NO_SANDBOX}")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("sandbox") / "course", [UNIT])
    with open(course / "nbgrader_config.py", "a") as handle:   # small limits the tests can reach quickly
        handle.write("c = get_config()\nc.LimitedExecute.processes = 40\nc.LimitedExecute.file_mb = 8\n")
    answers = tmp_path_factory.mktemp("answers")
    solution = course / "build" / "source" / UNIT / NB
    probe = PROBE.format(course=str(course), home=str(Path.home()))
    submit(course, "probe", UNIT, _with_cells(solution, answers / "probe.ipynb", [probe]), NB)
    (course / "submitted" / "probe" / UNIT / "numpy.py").write_text("raise ImportError('shadowed numpy')\n")
    submit(course, "runaway", UNIT, _with_cells(solution, answers / "runaway.ipynb", RUNAWAY), NB)
    submit(course, "patch", UNIT, _with_cells(solution, answers / "patch.ipynb", replace={"mse_loss_answer": PATCH_MSE}), NB)
    submit(course, "wrong", UNIT, _with_cells(solution, answers / "wrong.ipynb", replace={"mse_loss_answer": WRONG_MSE}), NB)
    run = run_tool("dlcourse", "autograde", UNIT, *OPTIONS, "--sandbox", "required", cwd=course, timeout=600)
    outputs = _outputs(course, "probe")
    lines = [line for text in outputs for line in text.splitlines() if line.startswith("PROBE ")]
    assert lines, f"the probe printed nothing:\n{outputs}\n{run.stdout}"
    return {"course": course, "run": run, "report": json.loads(lines[0][len("PROBE "):]),
            "rows": {row["student"]: row for row in read_log(course)}}


@pytest.mark.slow
@needs_sandbox
def test_the_kernel_sees_only_its_own_folder(graded):
    report, course = graded["report"], graded["course"]
    assert report["cwd"] == report["home"] == sandbox.WORKDIR
    assert set(report["workdir"]) <= {NB, "numpy.py", ".ipython"} and NB in report["workdir"]
    assert report["found"] == [f"{sandbox.WORKDIR}/{NB}"], "other notebooks or a gradebook are visible"
    visible = report["visible"]
    # the course root shows at most the folders bound read-only below it (course_lib, a venv)
    allowed = {p.relative_to(course).parts[0] for p in map(Path, sandbox.python_folders("python"))
               if course in p.parents}
    assert visible[str(course)] is False or set(visible[str(course)]) <= allowed
    for hidden in ("gradebook.db", "build/source", "submitted"):
        assert visible[f"{course}/{hidden}"] is False, hidden
    home = Path.home()
    under_home = {p.relative_to(home).parts[0] for p in map(Path, sandbox.python_folders("python"))
                  if home in p.parents}
    assert visible[str(home)] is False or set(visible[str(home)]) <= under_home


@pytest.mark.slow
@needs_sandbox
def test_the_kernel_is_not_root_has_no_network_and_a_clean_environment(graded):
    report = graded["report"]
    assert report["uid"] != 0 and report["euid"] != 0
    assert "unreachable" in report["network"].lower(), report["network"]
    assert report["nbgrader_env"] == []
    assert "DLCOURSE_EVIDENCE_FILE" in report["env"] and "PYTHONSAFEPATH" in report["env"]
    assert not any(name.startswith(("JPY_", "NBGRADER")) for name in report["env"])


@pytest.mark.slow
@needs_sandbox
def test_a_local_numpy_does_not_shadow_numpy_and_writes_stay_inside(graded):
    report = graded["report"]
    # the numpy.py handed in beside the notebook is not even copied to the grading folder
    assert "site-packages" in report["numpy"] and "numpy.py" not in report["workdir"]
    assert "not copied to the grading folder: numpy.py" in graded["rows"]["probe"]["notes"]
    writes = report["writes"]
    assert writes.pop("/home/student/mine.txt") == writes.pop("/tmp/mine.txt") == "written"
    assert writes and all(result != "written" for result in writes.values()), writes
    assert "File too large" in report["big_file"]
    assert scores(graded["course"], UNIT, "probe")["total"] == 11


@pytest.mark.slow
@needs_sandbox
def test_runaway_code_is_stopped_and_nothing_outlives_the_submission(graded):
    course, rows = graded["course"], graded["rows"]
    notes = rows["runaway"]["notes"]
    assert scores(course, UNIT, "runaway")["total"] == 11, notes   # every grade cell ran before the mess
    assert "was stopped at the 10 s cell time limit" in notes     # interrupted, and the kernel went on
    assert "printed more output than the grader keeps" in notes
    # the fork bomb: stopped by the process count or the memory watchdog (or, where the process
    # rlimit holds it down, by the cell time limit); either way its cell ends in an error
    bomb = nbformat.read(course / "autograded" / "runaway" / UNIT / NB, 4).cells[-1]
    assert bomb.source == RUNAWAY[-1] and any(o.output_type == "error" for o in bomb.outputs), bomb.outputs
    outputs = _outputs(course, "runaway")
    assert any(text.startswith(NOTE_PREFIX) for text in outputs)
    size = (course / "autograded" / "runaway" / UNIT / NB).stat().st_size
    assert size < 6 * 2**20, f"the autograded notebook holds {size} bytes"
    kernel = [line for text in outputs for line in text.splitlines() if line.startswith("KERNEL ")]
    assert kernel, "the background-process cell did not run"
    connection_file = kernel[0].split(" -f ")[1].split()[0]
    assert not _marked_processes(f"sleep {SLEEP_MARKER}"), "a background process outlived its submission"
    assert not _marked_processes(connection_file), "the kernel or its forks outlived the submission"
    assert not _marked_processes("kernel_zygote"), "a warm kernels' zygote outlived the grading run"


@pytest.mark.slow
@needs_sandbox
def test_patching_numpy_and_builtins_earns_only_what_the_work_earns(graded):
    course, rows = graded["course"], graded["rows"]
    assert scores(course, UNIT, "patch") == scores(course, UNIT, "wrong")
    assert scores(course, UNIT, "patch")["mse_loss"] == 0
    assert "mse_loss: passed inside the kernel, failed the grader's re-check" in rows["patch"]["notes"]
    assert "re-check" not in rows["wrong"]["notes"] and "re-check" not in rows["probe"]["notes"]
    assert "WITHOUT the sandbox" not in graded["run"].stdout


@pytest.mark.slow
@needs_sandbox
def test_without_bubblewrap_grading_warns_or_refuses(graded, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write("c.LimitedExecute.bwrap = '/nonexistent/bwrap'\n")
    rows_before = len(read_log(course))
    refused = run_tool("dlcourse", "autograde", UNIT, "--student", "wrong", "--force", "--sandbox", "required",
                       cwd=course, check=False)
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "sandbox is required but cannot start: bubblewrap (/nonexistent/bwrap) is not installed" in refused.stderr
    assert len(read_log(course)) == rows_before, "nothing may be graded when the sandbox is required"

    # (an honest-enough submission: the probe would write into the real system unsandboxed)
    run = run_tool("dlcourse", "autograde", UNIT, "--student", "wrong", "--force", "--jobs", "1", cwd=course)
    warning = "WARNING: grading WITHOUT the sandbox (bubblewrap (/nonexistent/bwrap) is not installed)"
    assert run.stdout.count(warning) == 2, run.stdout   # before and after the run
    row = read_log(course)[-1]
    assert row["student"] == "wrong" and "graded WITHOUT the sandbox" in row["notes"]
    assert scores(course, UNIT, "wrong") == scores(graded["course"], UNIT, "wrong")


# --------------------------------------------------------------------------- fast tests, no kernel

def test_sandbox_command_binds_no_course_home_or_scratch(tmp_path):
    bwrap = sandbox.Bubblewrap("/usr/bin/bwrap", user_namespace=True)
    data = tmp_path / "data.csv"
    data.write_text("x\n")
    argv = sandbox.command(bwrap, ["python", "-m", "ipykernel_launcher"], files=[data], channel=tmp_path / "k",
                           evidence_dir=tmp_path / "e", env=sandbox.environment({"NBGRADER_EXECUTION": "autograde",
                                                                                 "OMP_NUM_THREADS": "1"}, "/x/bin"))
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-user", "--die-with-parent", "--new-session",
                 "--clearenv", "--disable-userns"):
        assert flag in argv, flag
    assert argv[argv.index("--uid") + 1] == "65534"
    sources = [argv[i + 1] for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind")]
    for secret in (Path.home(), Path.cwd(), tmp_path):
        assert str(secret) not in sources, secret
    assert argv[argv.index(str(data)) + 1] == f"{sandbox.WORKDIR}/data.csv"
    env = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--setenv"}
    assert env["PYTHONSAFEPATH"] == "1" and env["HOME"] == sandbox.WORKDIR and env["OMP_NUM_THREADS"] == "1"
    assert not any(name.startswith("NBGRADER") for name in env)
    assert argv[argv.index("--") + 1:] == ["python", "-m", "ipykernel_launcher"]
    # every bind comes after the private /tmp, so a venv or checkout under /tmp stays visible
    tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
    first_python_bind = min(i for i, arg in enumerate(argv) if arg == "--ro-bind"
                            and any(argv[i + 1] == str(f) for f in sandbox.python_folders(sys.executable)))
    assert tmpfs < first_python_bind


def test_resolve_modes(tmp_path):
    assert sandbox.resolve("off") == (None, "the sandbox is turned off (--sandbox off)")
    missing = str(tmp_path / "bwrap")
    assert sandbox.resolve("auto", missing) == (None, f"bubblewrap ({missing}) is not installed")
    with pytest.raises(sandbox.SandboxUnavailable, match="is not installed"):
        sandbox.resolve("required", missing)
    with pytest.raises(ValueError):
        sandbox.resolve("sometimes")


def test_launcher_takes_resource_limits():
    rlimits, rest = limited_kernel.take_rlimits(["--memory-mb", "64", "--rlimit", "nproc=40", "--rlimit",
                                                 "fsize=1024", "--", "python", "--rlimit", "x"])
    assert rlimits == {"nproc": 40, "fsize": 1024}
    assert rest == ["--memory-mb", "64", "--", "python", "--rlimit", "x"]
    with pytest.raises(SystemExit):
        limited_kernel.take_rlimits(["--rlimit", "cpu=1", "--", "python"])


def _stream(text, name="stdout"):
    return _message("stream", {"name": name, "text": text})


def _message(kind, content):
    return {"msg_type": kind, "header": {"msg_type": kind}, "content": content, "parent_header": {}}


def test_output_limiter_merges_cuts_and_keeps_errors():
    limiter = OutputLimiter(per_output=100, per_cell=250)
    outputs = []

    def feed(msg):   # what LimitedExecute does around nbclient's own handling
        if not limiter.absorb(msg, outputs, True):
            output = nbformat.v4.output_from_msg(msg)
            outputs.append(output)
            limiter.created(output)

    for i in range(1000):               # many small prints: one output, cut at the per-output limit
        feed(_stream(f"{i}\n"))
    feed(_stream("z" * 10_000, "stderr"))                        # one huge line: cut
    feed(_message("display_data", {"data": {"text/plain": "p" * 60}, "metadata": {}}))   # past the budget
    feed(_message("error", {"ename": "AssertionError", "evalue": "e" * 500, "traceback": ["t" * 300]}))
    limiter.finish_cell(outputs)
    assert [o.output_type for o in outputs] == ["stream", "stream", "display_data", "error", "display_data"]
    assert outputs[0].text.startswith("0\n1\n2\n") and len(outputs[0].text) == 100
    assert outputs[1].text == "z" * 100
    assert outputs[2].data["text/plain"].startswith(NOTE_PREFIX)                  # a placeholder, not the data
    assert outputs[3].ename == "AssertionError" and len(outputs[3].evalue) == 100   # kept, so the check fails
    assert outputs[4].data["text/plain"].startswith(NOTE_PREFIX) and str(1000 * 3) not in outputs[4].data["text/plain"]
    assert limiter.kept == 0 and limiter.dropped == 0   # ready for the next cell


def test_local_workers_start_from_the_parents_sandbox_probe(monkeypatch):
    """Each probe imports every kernel's packages in a sandbox (seconds of CPU): workers do not repeat it."""
    from course_lib.grading.pools import LocalWorkers

    key = ("bwrap-of-this-test", os.geteuid(), ())
    found = sandbox.Bubblewrap("/opt/this-test/bwrap", user_namespace=True)
    monkeypatch.setitem(sandbox._PROBED, key, found)
    workers = LocalWorkers(1)
    try:
        in_worker = workers.pool.submit(sandbox.findings).result(timeout=120)
        workers.restart()                      # a pool started again after a crash gets them too
        after_restart = workers.pool.submit(sandbox.findings).result(timeout=120)
    finally:
        workers.close()
    assert in_worker["probed"][key] == found and after_restart["probed"][key] == found


def test_adopted_findings_answer_the_probe_without_running_bubblewrap(monkeypatch):
    def no_sandbox_here(path):
        raise AssertionError("probed again")

    monkeypatch.setattr(sandbox, "_PROBED", {})
    monkeypatch.setattr(sandbox, "_KERNEL_PYTHONS", {})
    monkeypatch.setattr(sandbox, "_probe", no_sandbox_here)
    monkeypatch.setattr(sandbox, "course_kernels", lambda: [])
    found = sandbox.Bubblewrap("/opt/this-test/bwrap", user_namespace=False)
    sandbox.adopt({"probed": {("bwrap", os.geteuid(), ()): found}, "kernel_pythons": {}})
    assert sandbox.probe("bwrap") == found
    with pytest.raises(AssertionError, match="probed again"):
        sandbox.probe("another-bwrap")


def test_the_probe_checks_the_kernels_side_by_side_and_reports_the_first_failure_in_order(monkeypatch):
    """Each kernel's check starts a Python (tenths of a second): all at once, errors as before."""
    import threading

    kernels = [("first", "/opt/a/python", {}), ("second", "/opt/b/python", {}), ("third", "/opt/c/python", {})]
    all_running = threading.Barrier(len(kernels), timeout=30)   # broken unless the checks overlap

    def check(bwrap, name, python, env):
        all_running.wait()
        if name != "first":
            raise sandbox.SandboxUnavailable(f"kernel {name} cannot import numpy")

    monkeypatch.setattr(sandbox, "_PROBED", {})
    monkeypatch.setattr(sandbox, "_probe", lambda path: sandbox.Bubblewrap(path, user_namespace=True))
    monkeypatch.setattr(sandbox, "course_kernels", lambda: kernels)
    monkeypatch.setattr(sandbox, "_probe_imports", check)
    with pytest.raises(sandbox.SandboxUnavailable, match="kernel second cannot import numpy"):
        sandbox.probe("bwrap")


def test_grading_processes_skip_the_iri_grammars_and_still_validate_notebooks():
    """jsonschema compiles rfc3987_syntax's grammars on import (most of a second); nbformat never uses them."""
    code = ("import sys, course_lib.grading.worker, nbformat\n"
            "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]))\n"
            "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code'})\n"
            "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('invalid found')\n"
            "print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["invalid", "found", "True"]
