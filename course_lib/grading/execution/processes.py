"""Killing what a graded kernel left running, and the cores a process may use: shared by the executor,
the warm kernels' sandbox and the worker pools."""

from __future__ import annotations

import os

import psutil


def kill_processes(processes: list[psutil.Process]) -> None:
    """SIGKILL each process that is not already dead, then wait (up to 5 s) until they are gone."""
    alive = []
    for process in processes:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue   # already dead (a sandbox's bwrap, say); waiting for its parent to reap it takes seconds
            process.kill()
            alive.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(alive, timeout=5)


def session_members(session_id: int) -> list[psutil.Process]:
    """Processes in the session ``session_id`` (the kernel starts one; its children stay in it)."""
    members = []
    for process in psutil.process_iter():
        try:
            if process.pid != session_id and os.getsid(process.pid) == session_id:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def allowed_cores() -> list[int]:
    """The cores this thread may run on (Linux affinity, which the processes it starts inherit);
    none where the system does not say (macOS)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []
