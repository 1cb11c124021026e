"""The grader gives each kernel its share of the math threads (BLAS, OpenMP, TensorFlow) and of the cores.

Kernels graded side by side would each start one math thread per core and fight over the
cores; ``dlcourse autograde --jobs N`` sets every variable of ``THREAD_VARIABLES`` to
``cores // N`` in the kernel's environment (through the sandbox), and an instructor's own
setting wins over the grader's. Each local worker, and so each kernel it starts, keeps to its
own share of the cores (``pools.core_shares``), and runs under Linux's batch scheduling
(``limited_kernel.schedule``), threads it starts included.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.conftest import BIN, make_course, submit, tool_env, with_answer
from course_lib.grading import pools
from course_lib.grading.pools import core_shares, default_jobs
from course_lib.grading.execution.limited_execute import THREAD_VARIABLES, LimitedExecute

UNIT = "01_linear_regression"
NB = "linear_regression.ipynb"
PROBE = ("import json, os, threading\nprint('THREADS=' + json.dumps({k: os.environ.get(k) for k in %r}))\n"
         "print('CORES=' + json.dumps(sorted(os.sched_getaffinity(0))))\n"
         "policies = [os.sched_getscheduler(0)]\n"
         "started = threading.Thread(target=lambda: policies.append(os.sched_getscheduler(0)))\n"
         "started.start(); started.join()\n"
         "print('SCHEDULING=' + json.dumps([policy == os.SCHED_BATCH for policy in policies]))\n" % (THREAD_VARIABLES,))


def test_tensorflow_pools_are_shared_too():
    assert {"TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"} <= set(THREAD_VARIABLES)


def test_thread_env_shares_and_the_instructors_setting_wins(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert LimitedExecute(threads=3)._thread_env() == {name: "3" for name in THREAD_VARIABLES}
    assert LimitedExecute(threads=0)._thread_env() == {}
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "5")
    assert LimitedExecute(threads=1)._thread_env()["TF_NUM_INTEROP_THREADS"] == "5"


def test_cores_are_shared_out_in_nearly_equal_parts(monkeypatch):
    monkeypatch.setattr(pools.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 5})
    assert core_shares(2) == [{0, 1, 2}, {3, 5}]
    assert core_shares(5) == [{0}, {1}, {2}, {3}, {5}]
    assert core_shares(1) == [{0, 1, 2, 3, 5}]
    assert core_shares(6) == []   # more jobs than cores: nobody is pinned


def _probe_output(notebook, key: str = "THREADS="):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if key in text:
                return json.loads(text.split(key, 1)[1].splitlines()[0])
    raise AssertionError("the probe's output is missing from the autograded notebook")


def _probed_class(tmp_path, students) -> Path:
    """A course whose ``students`` each submit the solution with the PROBE before its answer."""
    course = make_course(tmp_path / "course", [UNIT])
    solution = course / "build" / "source" / UNIT / NB
    source = nbformat.read(solution, 4)
    answer = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "predict_answer")
    probed = with_answer(solution, "predict_answer", PROBE + answer.source, tmp_path / NB)
    for student in students:
        submit(course, student, UNIT, probed)
    return course


@pytest.mark.slow
def test_each_kernel_graded_side_by_side_gets_its_share(tmp_path):
    course = _probed_class(tmp_path, ("ann", "ben"))
    env = {k: v for k, v in tool_env().items() if k not in THREAD_VARIABLES}
    env["MKL_NUM_THREADS"] = "7"   # the instructor's own setting
    result = subprocess.run([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", "2"], cwd=course, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    share = str(max(1, default_jobs() // 2))
    expected = {name: share for name in THREAD_VARIABLES} | {"MKL_NUM_THREADS": "7"}
    for student in ("ann", "ben"):
        graded = nbformat.read(course / "autograded" / student / UNIT / NB, 4)
        assert _probe_output(graded) == expected, student
        shares, cores = [sorted(share) for share in core_shares(2)], _probe_output(graded, "CORES=")
        assert cores in shares if shares else cores == sorted(os.sched_getaffinity(0)), (student, cores)
        assert _probe_output(graded, "SCHEDULING=") == [True, True], student   # the kernel and its thread


class FakeClient:
    """What dask_core_shares asks of a distributed.Client: workers by host, their pids and cores."""

    def __init__(self, workers: dict[str, tuple[str, int]], cores: list[int]):
        self.workers, self.cores = workers, cores

    def scheduler_info(self):
        return {"workers": {address: {"host": host} for address, (host, _) in self.workers.items()}}

    def run(self, function):
        if function is os.getpid:
            return {address: pid for address, (_, pid) in self.workers.items()}
        return {address: self.cores for address in self.workers}


def test_each_dask_worker_of_a_machine_gets_its_share_of_its_cores():
    two_machines = {"tcp://a:1": ("a", 10), "tcp://a:2": ("a", 11), "tcp://b:1": ("b", 10)}
    assert pools.dask_core_shares(FakeClient(two_machines, [0, 1, 2, 3])) == {
        "tcp://a:1": [0, 1], "tcp://a:2": [2, 3], "tcp://b:1": [0, 1, 2, 3]}
    threads_of_one_process = {"tcp://a:1": ("a", 10), "tcp://a:2": ("a", 10)}
    assert pools.dask_core_shares(FakeClient(threads_of_one_process, [0, 1])) == {}
    more_workers_than_cores = {f"tcp://a:{n}": ("a", n) for n in range(3)}
    assert pools.dask_core_shares(FakeClient(more_workers_than_cores, [0, 1])) == {}
    assert pools.dask_core_shares(FakeClient(two_machines, [])) == {}   # no affinity (macOS)


@pytest.mark.slow
def test_each_dask_worker_keeps_its_kernels_to_its_own_cores(tmp_path):
    from distributed import LocalCluster

    students = ("ann", "ben", "cat")
    course = _probed_class(tmp_path, students)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", protocol="tcp",
                      dashboard_address=None) as cluster:
        result = subprocess.run([str(BIN / "dlcourse"), "autograde", UNIT, "--scheduler", cluster.scheduler_address],
                                cwd=course, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    shares = [sorted(share) for share in core_shares(2)]
    assert ("each kept to its share" in result.stdout) == bool(shares), result.stdout
    for student in students:
        cores = _probe_output(nbformat.read(course / "autograded" / student / UNIT / NB, 4), "CORES=")
        assert cores in shares if shares else cores == sorted(os.sched_getaffinity(0)), (student, cores)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to keep to one of them")
def test_grading_keeps_to_its_share_and_gives_it_back():
    import threading

    from course_lib.grading.worker import _kept_to

    everything, seen = sorted(os.sched_getaffinity(0)), {}

    def grade():   # affinity is per thread: in a thread of its own, as a Dask worker's grading thread
        with _kept_to([everything[-1]]):
            seen["during"] = sorted(os.sched_getaffinity(0))
        seen["after"] = sorted(os.sched_getaffinity(0))

    thread = threading.Thread(target=grade)
    thread.start()
    thread.join()
    assert seen == {"during": [everything[-1]], "after": everything}
    assert sorted(os.sched_getaffinity(0)) == everything   # the other threads were never touched
