"""Start a Jupyter kernel under a memory limit: ``python -I -m course_lib.grading.limited_kernel
--memory-mb N [--limit data|as] [--parent-pid PID] -- <kernel argv>``.

The grader rewrites a kernel spec's ``argv`` to go through this launcher (see
:class:`course_lib.grading.grade_worker.LimitedExecute`). It sets the limit with
``setrlimit`` and then ``exec``\\ s the kernel, so the kernel keeps the launcher's process
id and the limit, and student code cannot raise it (soft limit = hard limit).

``--limit data`` (the default) caps ``RLIMIT_DATA``, the private writable memory a process
has asked for; ``--limit as`` caps ``RLIMIT_AS``, its whole address space. TensorFlow and
CUDA reserve address space far beyond what they use (a small Keras fit on 2 cores: 2.7 GB
of address space, 0.53 GB of data, 0.67 GB resident), so a data limit fits what a notebook
really uses. Either way an allocation past the limit fails, and Python raises
``MemoryError`` in the student's cell instead of the machine swapping or the kernel
being killed by the system.

``--parent-pid`` makes the kernel die with the grading process that started it
(Linux ``PR_SET_PDEATHSIG``), so killing a grading run leaves no kernel behind.

This module imports only the standard library: it runs before every graded kernel.
"""

from __future__ import annotations

import os
import resource
import signal
import sys

LIMITS = {"data": resource.RLIMIT_DATA, "as": resource.RLIMIT_AS}


def _die_with_parent(parent_pid: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:   # the parent died before prctl: nobody will signal us
        os._exit(1)


def parse(argv: list[str]) -> tuple[int, str, int | None, list[str]]:
    """``(memory_mb, limit, parent_pid, kernel_argv)`` from this launcher's arguments."""
    if "--" not in argv:
        raise SystemExit("usage: limited_kernel --memory-mb N [--limit data|as] [--parent-pid PID] -- KERNEL ARGV")
    split = argv.index("--")
    options, kernel_argv = argv[:split], argv[split + 1:]
    memory_mb, limit, parent_pid = 0, "data", None
    it = iter(options)
    for option in it:
        value = next(it, None)
        if value is None:
            raise SystemExit(f"limited_kernel: {option} needs a value")
        if option == "--memory-mb":
            memory_mb = int(value)
        elif option == "--limit":
            if value not in LIMITS:
                raise SystemExit(f"limited_kernel: --limit must be one of {sorted(LIMITS)}")
            limit = value
        elif option == "--parent-pid":
            parent_pid = int(value)
        else:
            raise SystemExit(f"limited_kernel: unknown option {option}")
    if not kernel_argv:
        raise SystemExit("limited_kernel: no kernel command after --")
    return memory_mb, limit, parent_pid, kernel_argv


def main(argv: list[str] | None = None) -> None:
    memory_mb, limit, parent_pid, kernel_argv = parse(sys.argv[1:] if argv is None else argv)
    if parent_pid:
        _die_with_parent(parent_pid)
    if memory_mb > 0:
        cap = memory_mb * 1024 * 1024
        try:
            resource.setrlimit(LIMITS[limit], (cap, cap))
        except (ValueError, OSError) as error:   # a hard limit already lower: keep it
            print(f"limited_kernel: could not set the memory limit: {error}", file=sys.stderr)
    # glibc reserves 64 MB of address space per thread arena; two arenas are plenty for a kernel
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    os.execvp(kernel_argv[0], kernel_argv)


if __name__ == "__main__":
    main()
