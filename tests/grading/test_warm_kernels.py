"""Warm kernels: forked in the sandbox from a zygote, one student after another, kept apart.

Three notebooks run through :class:`LimitedExecute` in this test process, one after the
other, as a grading worker runs a class: the first leaves everything it can behind (files in
``$HOME``, ``/tmp`` and ``/dev/shm``, an IPython start-up file, a folder it locked, a
background process in its own session); the second looks for all of it, for the zygote's
memory and pipes, and for its own parent; the third signals the zygote (SIGINT, SIGTERM,
SIGSTOP, SIGKILL), which must shrug them off; the fourth must still run, forked. Grades with warm kernels equal stock nbgrader's in the units' end-to-end
tests (``tests/release/test_notebooks.py``) and in the attack corpus, which grade with them.
"""

from __future__ import annotations

import json

import nbformat
import psutil
import pytest

from course_lib.grading.execution import sandbox, warm_kernels
from course_lib.grading.execution.limited_execute import LimitedExecute

LEAVE_BEHIND = '''\
import os, json, subprocess, random, numpy
os.makedirs(os.path.expanduser("~/.ipython/profile_default/startup"), exist_ok=True)
with open(os.path.expanduser("~/.ipython/profile_default/startup/00-planted.py"), "w") as handle:
    handle.write("PLANTED = True\\n")
for path in ("/tmp/planted", "/dev/shm/planted", os.path.expanduser("~/planted"), "/tmp/matplotlib/planted"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
os.makedirs(os.path.expanduser("~/locked/inner"))
os.chmod(os.path.expanduser("~/locked"), 0)
subprocess.Popen(["sleep", "4242"], start_new_session=True)
print("SEEDS", json.dumps([random.random(), float(numpy.random.rand())]))
'''

LOOK_AROUND = '''\
import os, sys, json, random, numpy
def readable(path):
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        return True
    except OSError:
        return False
zygote = os.getppid()
with open(f"/proc/{zygote}/cmdline", "rb") as handle:
    parent = handle.read().replace(b"\\0", b" ").decode()
others = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            others.append(handle.read().replace(b"\\0", b" ").decode())
    except OSError:
        pass
report = {"planted": "PLANTED" in globals(), "home": sorted(os.listdir(os.path.expanduser("~"))),
          "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
          "matplotlib": sorted(os.listdir("/tmp/matplotlib")) if os.path.isdir("/tmp/matplotlib") else [],
          "ipython": sorted(f for _, _, files in os.walk(os.path.expanduser("~/.ipython")) for f in files),
          "parent": parent, "processes": others,
          "zygote_memory": readable(f"/proc/{zygote}/mem"), "zygote_pipe": readable(f"/proc/{zygote}/fd/0"),
          "seeds": [random.random(), float(numpy.random.rand())]}
print("REPORT", json.dumps(report))
'''

KILL_ZYGOTE = ("import os, signal, numpy\n"
               "for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGSTOP, signal.SIGKILL):\n"
               "    os.kill(os.getppid(), sig)\n"
               "print('alive')")


@pytest.fixture(autouse=True)
def no_zygote_left():
    """The zygotes these tests start live in this process: end them (other tests look for strays)."""
    yield
    warm_kernels.close_all()


def _run(sources, folder, **settings):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata.kernelspec = {"name": "dlcourse-cpu", "display_name": "course", "language": "python"}
    folder.mkdir()
    (folder / "data.csv").write_text("1,2\n")
    executor = LimitedExecute(sandbox="required", warm_kernels=True, timeout=60, **settings)
    notebook, _ = executor.preprocess(notebook, {"metadata": {"path": str(folder)}})
    return notebook, executor


def _printed(notebook, prefix):
    for cell in notebook.cells:
        for output in cell.outputs:
            for line in output.get("text", "").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
    raise AssertionError(f"nothing printed {prefix!r}: {[c.outputs for c in notebook.cells]}")


def test_the_notebook_imports_decide_what_the_zygote_preloads():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np\nfrom keras import layers"),
        nbformat.v4.new_code_cell("import tensorflow.math\nimport course_lib.checks\nfrom . import x"),
        nbformat.v4.new_code_cell("this is not python"),
        nbformat.v4.new_markdown_cell("import matplotlib"),
    ])
    assert warm_kernels.preloads(notebook) == ("numpy", "tensorflow", "keras")
    assert warm_kernels.standard_kernel(["/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    assert not warm_kernels.standard_kernel(["/venv/bin/python", "-m", "other_kernel", "-f", "{connection_file}"])


@pytest.mark.slow
def test_consecutive_warm_kernels_share_nothing(tmp_path):
    sandbox.probe()   # a sandbox must start here (bubblewrap is installed by `make setup`)
    first, executor = _run([LEAVE_BEHIND], tmp_path / "first")
    assert executor.forked, "the first kernel was not forked from a zygote"
    assert not [p for p in psutil.process_iter(["cmdline"]) if "4242" in " ".join(p.info["cmdline"] or [])], \
        "the first student's background process outlived the notebook"
    second, executor = _run([LOOK_AROUND], tmp_path / "second")
    assert executor.forked
    report = json.loads(_printed(second, "REPORT"))
    assert "kernel_zygote" in report["parent"]
    assert report["planted"] is False
    assert set(report["home"]) <= {"data.csv", ".ipython"}, report["home"]   # IPython makes .ipython
    assert "00-planted.py" not in report["ipython"], report["ipython"]
    assert "planted" not in report["tmp"], report["tmp"]
    assert "planted" not in report["matplotlib"] and report["shm"] == []
    assert not any("sleep" in command for command in report["processes"]), report["processes"]
    assert report["zygote_memory"] is False and report["zygote_pipe"] is False
    assert report["seeds"] != json.loads(_printed(first, "SEEDS")), "forked kernels drew the same random numbers"
    third, executor = _run([KILL_ZYGOTE], tmp_path / "third")
    assert _printed(third, "alive") == "", "a kernel stopped or killed the zygote, its process 1"
    assert executor.forked
    fourth, executor = _run(["import numpy\nprint('ran', numpy.ones(2).sum())"], tmp_path / "fourth")
    assert _printed(fourth, "ran") == "2.0" and executor.forked


@pytest.mark.slow
def test_a_cold_kernel_is_started_when_the_notebook_imports_nothing_heavy(tmp_path):
    notebook, executor = _run(["print('cold', 1 + 1)"], tmp_path / "plain")
    assert _printed(notebook, "cold") == "2" and not executor.forked
