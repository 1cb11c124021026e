"""Warm kernels: graded kernels forked, inside the sandbox, from a process that has imported
what the notebook imports.

A TensorFlow notebook's kernel spends seconds of CPU importing ``ipykernel`` and
``tensorflow`` before its first cell: in a class of hundreds, the largest cost the grader
can save without changing what the student's code computes. Each grading thread keeps one
:class:`Zygote`: a bubblewrap sandbox (:mod:`.sandbox`, the same folders, namespaces and
environment a cold kernel gets) running :mod:`.kernel_zygote`, which imports those modules
once and forks one kernel per notebook.

One sandbox then holds one student's kernel after another, never two at once. What keeps
them apart:

* before each kernel the grader kills every process in the sandbox but the zygote
  (:meth:`Zygote.clear`), so nothing a student started outlives their notebook;
* the zygote then empties the working folder (``$HOME``), ``/tmp`` and ``/dev/shm`` and
  copies in the next submission's files;
* the zygote runs no student code; it is process 1 of the sandbox, which nothing inside can
  kill or stop (as the sandbox's own reaper is for a cold kernel, and like it the kernel's
  parent), and non-dumpable: a kernel cannot trace it or read its pipes to the grader;
* the folder shared with the grader (connection files and sockets, the evidence file) gets
  a fresh subfolder per kernel, and the grader empties it after each;
* each kernel gets fresh seeds for ``random`` and NumPy's global generator, its own
  session and the rlimits a cold kernel gets.

Any failure (the zygote does not start, dies, or cannot prepare a kernel) falls back to a
cold kernel for that notebook: slower, never a different grade.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type

from ...checks.evidence import RECORD_ENV
from ..exercise_cells import without_magics
from . import sandbox as sandboxing
from .jupyter_workarounds import ReadyKernelClient
from .processes import allowed_cores, kill_processes

ZYGOTE_MODULE = "course_lib.grading.execution.kernel_zygote"
# Imported in the zygote when the notebook imports them: large third-party packages whose
# import has no effect a kernel could notice and that are safe to fork after importing (none
# starts a thread on import but OpenBLAS, whose threads stop at a fork and restart in the
# child). Never course_lib: its evidence recorder reads the kernel's variables as it is imported.
PRELOADABLE = ("numpy", "matplotlib", "matplotlib.pyplot", "tensorflow", "keras")
START_TIMEOUT_S = 120    # importing TensorFlow on a loaded machine
REPLY_TIMEOUT_S = 30     # emptying the folders and forking


class ZygoteFailed(RuntimeError):
    """The zygote could not start or could not give a kernel (the caller starts a cold one)."""


def preloads(notebook) -> tuple[str, ...]:
    """The :data:`PRELOADABLE` modules ``notebook``'s code cells import, in that order."""
    found = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(without_magics(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:   # `import a.b.c` imports a, a.b and a.b.c
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tuple(name for name in PRELOADABLE if name in found)


def standard_kernel(argv: list[str]) -> bool:
    """Whether a kernel spec's ``argv`` is ``[python, -m, ipykernel_launcher, -f, {connection_file}]``."""
    return len(argv) == 5 and argv[1:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _running(process: psutil.Process) -> bool:
    """Alive and not a zombie (a dead child its parent has not collected yet)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class ForkedKernel:
    """A kernel forked by the zygote, seen from the grader: what ``subprocess.Popen`` offers a
    jupyter-client provisioner (it is not this process's child, so it is watched by pid)."""

    stdin = stdout = stderr = None
    returncode = None   # once ended, 0: the real exit status is the zygote's to collect, not ours

    def __init__(self, pid: int):
        self.pid = pid
        self._process = psutil.Process(pid)

    def poll(self) -> int | None:
        if _running(self._process):
            return None
        self.returncode = 0 if self.returncode is None else self.returncode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(9)

    def terminate(self) -> None:
        self.send_signal(15)


class Zygote:
    """One sandbox whose zygote process forks kernels for ``python`` with ``env`` and ``modules``."""

    def __init__(self, bubblewrap, python: str, env: dict[str, str], modules: tuple[str, ...], tmpfs_mb: int):
        self.key = _key(bubblewrap, python, env, modules, tmpfs_mb)
        self.shared = Path(tempfile.mkdtemp(prefix="dlcourse-warm-"))
        self._count, self.closed = 0, False
        argv = sandboxing.command(bubblewrap, [python, "-m", ZYGOTE_MODULE, *modules], files=[],
                                  channel=self.shared, evidence_dir=None, env=env, tmpfs_mb=tmpfs_mb,
                                  kernel_python=python, as_pid_1=True)
        self._errors = tempfile.TemporaryFile(mode="w+")   # its stderr: why it did not start, if it did not
        self.sandbox = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._errors, text=True, start_new_session=True)
        try:
            ready = self._read(START_TIMEOUT_S)
            if "ready" not in ready:
                raise ZygoteFailed(ready.get("error", ready))
            self.pid = self._host_pid(ready["ready"])
            self._zygote = psutil.Process(self.pid)
        except (ZygoteFailed, psutil.Error, ValueError) as error:
            self._errors.seek(0)
            last = [line for line in self._errors.read().splitlines() if line.strip()][-1:]
            self.close()
            raise ZygoteFailed(f"the kernel zygote did not start: {error}{': ' + last[0] if last else ''}") from None

    # ---- the conversation with the zygote
    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.sandbox.stdout], [], [], timeout)
        line = self.sandbox.stdout.readline() if ready else ""
        if not line:
            raise ZygoteFailed("no answer" if not ready else "it exited")
        return json.loads(line)

    def _host_pid(self, inner: int) -> int:
        """The pid, outside the sandbox, of the process the sandbox knows as ``inner``."""
        for process in psutil.Process(self.sandbox.pid).children(recursive=True):
            try:
                with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
                    ids = next(line for line in status if line.startswith("NSpid:")).split()[1:]
            except (OSError, StopIteration):
                continue
            if ids and int(ids[-1]) == inner:
                return process.pid
        raise ZygoteFailed(f"process {inner} is not in the sandbox")

    def alive(self) -> bool:
        return self.sandbox.poll() is None and _running(self._zygote)

    # ---- kernels
    def kernel_folder(self) -> Path:
        """A fresh folder for the next kernel's connection file, sockets, files and evidence."""
        self._count += 1
        folder = self.shared / f"kernel-{self._count}"
        folder.mkdir()
        return folder

    def fork(self, folder: Path, connection_file: str, files: list[Path], env: dict[str, str],
             rlimits: dict[str, int], scheduling: str = "normal") -> ForkedKernel:
        """Fork a kernel that reads ``connection_file``, in a working folder holding copies of ``files``,
        with ``env`` added, ``rlimits`` set and the ``scheduling`` policy of :func:`.limited_kernel.schedule`."""
        work = folder / "files"
        work.mkdir()
        for path in files:
            if path.is_dir():
                shutil.copytree(path, work / path.name, symlinks=True)
            else:
                shutil.copyfile(path, work / path.name)
        self.clear()
        request = {"connection_file": connection_file, "files": str(work), "env": env, "rlimits": rlimits,
                   "scheduling": scheduling}
        try:
            self.sandbox.stdin.write(json.dumps(request) + "\n")
            self.sandbox.stdin.flush()
            reply = self._read(REPLY_TIMEOUT_S)
        except (OSError, ValueError) as error:
            raise ZygoteFailed(f"the kernel zygote stopped answering: {error}") from None
        shutil.rmtree(work, ignore_errors=True)   # copied in: the kernel need not see them twice
        if "pid" not in reply:
            raise ZygoteFailed(f"the kernel zygote could not prepare a kernel: {reply.get('error')}")
        return ForkedKernel(self._host_pid(reply["pid"]))

    def clear(self) -> None:
        """Kill every process in the sandbox but the zygote, over and over until none is left
        (a process may fork while the others die)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                others = [p for p in psutil.Process(self.sandbox.pid).children(recursive=True)
                          if p.pid != self.pid and _running(p)]
            except psutil.NoSuchProcess:
                raise ZygoteFailed("the kernel zygote has ended") from None
            if not others:
                return
            if time.monotonic() > deadline:
                raise ZygoteFailed(f"{len(others)} process(es) left in the sandbox would not die")
            for process in others:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.02)

    def finished(self, folder: Path) -> None:
        """After a kernel: nothing of it may run on, and its folder goes."""
        try:
            self.clear()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self, keep_files: bool = False) -> None:
        """End the sandbox; its shared folder goes too unless ``keep_files`` (a cold kernel uses
        a folder in it: the caller removes it later, :meth:`remove_files`)."""
        self.closed = True
        try:
            sandbox = psutil.Process(self.sandbox.pid)
            kill_processes([sandbox, *sandbox.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
        for pipe in (self.sandbox.stdin, self.sandbox.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.sandbox.wait()
        self._errors.close()
        if not keep_files:
            self.remove_files()

    def remove_files(self) -> None:
        shutil.rmtree(self.shared, ignore_errors=True)


# --------------------------------------------------------------------------- one per grading thread

_ZYGOTES: dict[int, Zygote] = {}


def _key(bubblewrap, python: str, env: dict[str, str], modules: tuple[str, ...], tmpfs_mb: int) -> tuple:
    """What a zygote's kernels depend on: another value needs another zygote. (Its kernels also
    inherit the cores it was started on: this thread's, see ``worker._kept_to``.)"""
    return bubblewrap, python, tuple(sorted(env.items())), modules, tmpfs_mb, tuple(allowed_cores())


def zygote(bubblewrap, python: str, env: dict[str, str], modules: tuple[str, ...], tmpfs_mb: int) -> Zygote:
    """This thread's zygote for these settings: the one it has, or a new one in its place."""
    thread = threading.get_ident()
    current = _ZYGOTES.get(thread)
    if current is not None and current.key == _key(bubblewrap, python, env, modules, tmpfs_mb) and current.alive():
        return current
    if current is not None:
        del _ZYGOTES[thread]
        current.close()
    _ZYGOTES[thread] = Zygote(bubblewrap, python, env, modules, tmpfs_mb)
    return _ZYGOTES[thread]


def discard(zygote_: Zygote, keep_files: bool = False) -> None:
    """Give up a zygote that failed (the next notebook starts a new one)."""
    for thread, known in list(_ZYGOTES.items()):
        if known is zygote_:
            del _ZYGOTES[thread]
    zygote_.close(keep_files)


@atexit.register
def close_all() -> None:
    while _ZYGOTES:
        _, found = _ZYGOTES.popitem()
        found.close()


# --------------------------------------------------------------------------- one kernel

class WarmLaunch:
    """One kernel's use of a zygote: its folder in the shared folder, the fork, the clean-up."""

    def __init__(self, manager, zygote_: Zygote, folder: Path):
        self.manager, self.zygote, self.folder = manager, zygote_, folder
        self.evidence = folder / "evidence.jsonl"

    @classmethod
    def offer(cls, manager, bubblewrap, python: str, env: dict[str, str], modules: tuple[str, ...],
              tmpfs_mb: int, rlimits: dict[str, int], *, files, record_evidence: bool, log,
              scheduling: str = "normal") -> WarmLaunch | None:
        """Give ``manager`` (a :class:`WarmKernelManager`) a ``fork`` from this thread's zygote for
        ``python`` with the sandbox environment ``env``; None (a cold kernel) if no zygote starts.

        The connection file and sockets move into a fresh folder the zygote's sandbox shares;
        ``files()`` lists what the working folder gets, ``rlimits`` and ``scheduling`` what the
        kernel sets.
        """
        try:
            found = zygote(bubblewrap, python, env, modules, tmpfs_mb)
        except ZygoteFailed as error:
            log.warning("starting a cold kernel: %s", error)
            return None
        launch = cls(manager, found, found.kernel_folder())
        manager.ip, manager.connection_file = str(launch.folder / "kernel"), str(launch.folder / "kernel.json")
        extra = {RECORD_ENV: str(launch.evidence)} if record_evidence else {}

        def fork() -> ForkedKernel:
            try:
                return found.fork(launch.folder, manager.connection_file, files(), extra, rlimits, scheduling)
            except BaseException:
                discard(found, keep_files=True)   # the cold kernel started instead uses the folder
                raise

        manager.fork = fork
        return launch

    def done(self, evidence_file: str, log) -> bool:
        """After the kernel: its evidence to ``evidence_file`` (where the re-check reads it), the
        sandbox cleared for the next. Whether the kernel was forked."""
        if not self.manager.forked:
            if self.zygote.closed:   # given up when the fork failed; the cold kernel is done with the folder
                self.zygote.remove_files()
            return False
        try:
            if evidence_file and self.evidence.is_file() and not self.evidence.is_symlink():
                shutil.copyfile(self.evidence, evidence_file)
            self.zygote.finished(self.folder)
        except (OSError, psutil.Error, ZygoteFailed) as error:
            log.warning("giving up the kernel zygote: %s", error)
            discard(self.zygote)
        return True


# --------------------------------------------------------------------------- the kernel manager

class WarmKernelManager(AsyncKernelManager):
    """A kernel manager that takes its kernel from a zygote when given one (``fork``).

    ``fork`` returns a :class:`ForkedKernel`; when it fails (and gives up its zygote), the
    kernel command already in place, the cold sandbox's, is launched as usual.
    """

    client_factory = Type(ReadyKernelClient, klass=ReadyKernelClient)
    fork = None        # set by the executor, per kernel
    forked = False     # whether the running kernel came from a zygote

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # jupyter-client's documented place to "launch kernel subprocesses differently"
        if self.fork is not None:
            try:
                process = self.fork()
            except (ZygoteFailed, OSError, psutil.Error) as error:
                self.log.warning("starting a cold kernel instead of a warm one: %s", error)
            else:
                self.provisioner.process = process
                self.provisioner.pid, self.provisioner.pgid = process.pid, None
                self.forked = True
                self._reconcile_connection_info(self.provisioner.connection_info)
                return
        await super()._async_launch_kernel(kernel_cmd, **kw)
