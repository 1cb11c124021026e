"""Fork graded kernels from a process that has already imported their heavy modules.

Run inside a grading sandbox as ``python -m course_lib.grading.execution.kernel_zygote
MODULE ...`` (see :mod:`course_lib.grading.execution.warm_kernels`, which starts it and
talks to it). It imports ``ipykernel`` and the given modules (``tensorflow`` alone is
seconds of CPU), says ``{"ready": PID}`` on its standard output, then answers one JSON
line per kernel asked for on its standard input::

    {"connection_file": PATH, "files": FOLDER, "env": {...}, "rlimits": {"data": N, ...}}
    -> {"pid": PID}   (or {"error": "why"})

For each request it first empties the sandbox's writable folders (the working folder,
which is also ``$HOME``, ``/tmp`` and ``/dev/shm``: whatever the previous kernel left,
an IPython start-up file, say, must not reach the next student) except mount points, and
copies the submission's files from ``FOLDER`` into the working folder. The grader has
killed every other process in the sandbox before it asks. Then it forks; the child starts
a new session, points its standard streams at ``/dev/null`` (closing this process's pipes
to the grader), sets the variables and rlimits, and becomes ``python -m ipykernel_launcher
-f PATH``.

This process never runs a student's code. It is process 1 of its sandbox (bubblewrap's
``--as-pid-1``), so it is every kernel's parent, as bubblewrap's reaper is a cold kernel's,
and it collects orphans as a process 1 must. Linux delivers no signal from inside the
sandbox to its process 1 unless that process handles it: this one handles only SIGCHLD
(a stray one just collects children), so a kernel can neither kill nor stop it. It makes
itself non-dumpable, so a kernel running as the same user can neither trace it nor read its
memory or its pipes through ``/proc``.

Only the standard library is imported before the modules asked for.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys

from .limited_kernel import LIMITS, RLIMITS, lower_limit, schedule
from .sandbox import WORKDIR

WRITABLE = (WORKDIR, "/tmp", "/dev/shm")
PR_SET_DUMPABLE = 4


def mount_points() -> set[str]:
    """Where something is mounted in this process's view (they cannot be removed, only kept)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        return {line.split()[4].encode().decode("unicode_escape") for line in table}


def remove(path: str) -> None:
    """Remove a file or a whole folder, first giving back the permissions a student took away."""
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
        for entry in os.scandir(path):
            remove(entry.path)
        os.rmdir(path)
    else:
        os.unlink(path)


def empty(folder: str, keep: set[str]) -> None:
    """Remove everything in ``folder`` except the paths in ``keep`` and the folders above them."""
    for entry in os.scandir(folder):
        if entry.path in keep:
            continue
        if any(kept.startswith(entry.path + "/") for kept in keep):
            empty(entry.path, keep)
        else:
            remove(entry.path)


def copy_in(source: str, target: str) -> None:
    """Copy the submission's files (``source``, a folder the grader filled) into ``target``."""
    import shutil

    for entry in os.scandir(source):
        destination = os.path.join(target, entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, destination, symlinks=True)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, destination)


def reap(*_) -> None:
    """Collect the kernels that have ended, so none stays a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reseed() -> None:
    """Fresh seeds for the random generators seeded at import, as a newly started kernel has
    (else every kernel forked from here would draw the same "random" numbers)."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def become_kernel(request: dict) -> None:
    """In the forked child: turn into ``python -m ipykernel_launcher -f CONNECTION_FILE``."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # as Python starts every process
    os.close(_replies.fileno())
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.environ.update(request.get("env", {}))
    for name, value in request.get("rlimits", {}).items():
        lower_limit({**LIMITS, **RLIMITS}[name], int(value), name)
    lower_limit(resource.RLIMIT_CORE, 0, "core dump")
    schedule(request.get("scheduling", "normal"))
    os.chdir(WORKDIR)
    reseed()
    sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def serve(modes: dict[str, int]) -> None:
    """Answer kernel requests until the grader closes standard input."""
    for line in sys.stdin:
        reap()
        try:
            request = json.loads(line)
            keep = mount_points()
            for folder in WRITABLE:
                empty(folder, keep)
                os.chmod(folder, modes[folder])
            copy_in(request["files"], WORKDIR)
        except (OSError, ValueError, KeyError) as error:
            say({"error": f"{type(error).__name__}: {error}"})
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                become_kernel(request)
                code = 0
            finally:
                os._exit(code)
        say({"pid": pid})


_replies = None   # the pipe to the grader (standard output, moved off fd 1 so imports cannot print into it)


def say(message: dict) -> None:
    _replies.write(json.dumps(message) + "\n")
    _replies.flush()


def main(modules: list[str]) -> None:
    global _replies
    _replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    importlib.import_module("ipykernel.kernelapp")
    for name in modules:
        importlib.import_module(name)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # Python's handler would let a kernel's SIGINT end it
    modes = {folder: os.stat(folder).st_mode & 0o7777 for folder in WRITABLE}
    say({"ready": os.getpid()})
    serve(modes)


if __name__ == "__main__":
    main(sys.argv[1:])
