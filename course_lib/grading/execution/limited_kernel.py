"""Start a Jupyter kernel under resource limits: ``python -I -m course_lib.grading.execution.limited_kernel
--memory-mb N [--limit data|as] [--rlimit NAME=N ...] [--parent-pid PID] [--scheduling batch]
-- <kernel argv>``.

The grader rewrites a kernel spec's ``argv`` to go through this launcher (see
:class:`course_lib.grading.execution.limited_execute.LimitedExecute`); in the sandbox the launcher runs
inside it (:mod:`course_lib.grading.execution.sandbox`). It sets the limits with ``setrlimit`` and
then ``exec``\\ s the kernel, so the kernel keeps the launcher's process id and the limits,
and student code cannot raise them (soft limit = hard limit). Core dumps are always off.

``--rlimit NAME=N`` sets one more limit: ``nproc`` (processes and threads: a fork bomb
gets ``BlockingIOError``), ``fsize`` (bytes in any one file the kernel writes: Python gets
``OSError: File too large``), ``nofile`` (open file descriptors). Linux counts ``nproc``
per user, and not at all for processes whose user is root outside every namespace: the
grader passes it only in the sandbox's own user namespace, where that user is the sandbox
alone, and its watchdog counts the kernel's processes as well.

``--limit data`` (the default) caps ``RLIMIT_DATA``, the private writable memory a process
has asked for; ``--limit as`` caps ``RLIMIT_AS``, its whole address space. TensorFlow and
CUDA reserve address space far beyond what they use (a small Keras fit on 2 cores: 2.7 GB
of address space, 0.53 GB of data, 0.67 GB resident), so a data limit fits what a notebook
really uses. Either way an allocation past the limit fails, and Python raises
``MemoryError`` in the student's cell instead of the machine swapping or the kernel
being killed by the system.

``--scheduling batch`` runs the kernel, and every thread it starts, under Linux's
``SCHED_BATCH`` policy (see :func:`schedule`).

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
RLIMITS = {"nproc": resource.RLIMIT_NPROC, "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE}
SCHEDULING = ("normal", "batch")


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


def schedule(policy: str) -> None:
    """Run this process, and the threads and processes it starts from now on, under ``policy``:
    ``"batch"`` (Linux ``SCHED_BATCH``) or ``"normal"`` (left as it is).

    Under ``SCHED_BATCH`` a thread that wakes up waits for the next scheduler tick instead of
    taking the core from the thread that woke it; the policy is meant for work nobody watches,
    as grading is, and needs no privilege. It matters for TensorFlow's input pipelines: when
    a ``tf.data`` iterator is deleted, its cancellation wakes the autotuning thread before it
    marks the iterator cancelled. On a busy core (a kernel pinned to its share, or every core
    grading) the woken thread runs at once, sees no cancellation, and sleeps out its period
    (10-20 ms) while the notebook waits for it; each training epoch deletes an iterator.
    Kept from preempting, it runs after the cancellation is marked, and stops at once
    (``benchmarks/tf_data_idle.py``: 20 ms idle per iterator on one core under the normal
    policy, under 0.5 ms under batch).
    """
    if policy != "batch" or not hasattr(os, "SCHED_BATCH"):   # not Linux: nothing to do
        return
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as error:
        print(f"limited_kernel: could not set batch scheduling: {error}", file=sys.stderr)


def parse(argv: list[str]) -> tuple[int, str, int | None, str, list[str]]:
    """``(memory_mb, limit, parent_pid, scheduling, kernel_argv)`` from this launcher's arguments."""
    if "--" not in argv:
        raise SystemExit("usage: limited_kernel --memory-mb N [--limit data|as] [--rlimit NAME=N] [--parent-pid PID] "
                         "[--scheduling normal|batch] -- KERNEL ARGV")
    split = argv.index("--")
    options, kernel_argv = argv[:split], argv[split + 1:]
    memory_mb, limit, parent_pid, scheduling = 0, "data", None, "normal"
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
        elif option == "--scheduling":
            if value not in SCHEDULING:
                raise SystemExit(f"limited_kernel: --scheduling must be one of {list(SCHEDULING)}")
            scheduling = value
        else:
            raise SystemExit(f"limited_kernel: unknown option {option}")
    if not kernel_argv:
        raise SystemExit("limited_kernel: no kernel command after --")
    return memory_mb, limit, parent_pid, scheduling, kernel_argv


def take_rlimits(argv: list[str]) -> tuple[dict[str, int], list[str]]:
    """``({name: value}, the other arguments)``: the ``--rlimit NAME=N`` options before ``--``."""
    split = argv.index("--") if "--" in argv else len(argv)
    rlimits, rest, index = {}, [], 0
    while index < split:
        if argv[index] == "--rlimit":
            name, _, value = (argv[index + 1] if index + 1 < split else "").partition("=")
            if name not in RLIMITS or not value.isdigit():
                raise SystemExit(f"limited_kernel: --rlimit needs NAME=N with NAME one of {sorted(RLIMITS)}")
            rlimits[name] = int(value)
            index += 2
        else:
            rest.append(argv[index])
            index += 1
    return rlimits, rest + argv[split:]


def lower_limit(which: int, value: int, what: str) -> None:
    """Set soft = hard = ``value``, never above the hard limit already in place."""
    _, hard = resource.getrlimit(which)
    cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
    try:
        resource.setrlimit(which, (cap, cap))
    except (ValueError, OSError) as error:
        print(f"limited_kernel: could not set the {what} limit: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    rlimits, argv = take_rlimits(sys.argv[1:] if argv is None else argv)
    memory_mb, limit, parent_pid, scheduling, kernel_argv = parse(argv)
    schedule(scheduling)
    if parent_pid:
        _die_with_parent(parent_pid)
    if memory_mb > 0:
        lower_limit(LIMITS[limit], memory_mb * 1024 * 1024, "memory")
    for name, value in rlimits.items():
        lower_limit(RLIMITS[name], value, name)
    lower_limit(resource.RLIMIT_CORE, 0, "core dump")
    # glibc reserves 64 MB of address space per thread arena; two arenas are plenty for a kernel
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    os.execvp(kernel_argv[0], kernel_argv)


if __name__ == "__main__":
    main()
